"""PostgreSQL backend (psycopg 3), for gateways that share one database.

Tables live in the connection's search_path: pass `?options=-csearch_path%3DSCHEMA` in the URL to keep one
gateway (or one test) in its own schema. Several gateways writing one schema are not coordinated: give each
gateway its own schema (its outbox and dedup windows are its own).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from gateway.inventory.store import Store, StoreError, Tx


class _PgTx(Tx):
    def _many(self, sql: str, rows: list[tuple]) -> None:
        with self._connection.cursor() as cursor:
            cursor.executemany(sql, rows)


class PostgresStore(Store):
    dialect = "postgresql"

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url

    def _connect(self) -> psycopg.Connection:
        try:
            return psycopg.connect(self.url, connect_timeout=10)
        except psycopg.Error as exc:
            raise StoreError("cannot connect to PostgreSQL: %s" % exc) from exc

    @contextmanager
    def _transaction(self, connection: psycopg.Connection, write: bool) -> Iterator[Tx]:
        try:
            with connection.transaction():
                yield _PgTx(connection, _placeholders)
        except psycopg.Error as exc:
            raise StoreError("PostgreSQL: %s" % exc) from exc


def _placeholders(sql: str) -> str:
    # Our queries contain no literal '?' or '%', so a plain rewrite is exact.
    return sql.replace("?", "%s")
