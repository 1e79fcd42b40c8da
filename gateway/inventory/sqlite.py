"""SQLite backend (the default): WAL journal, one connection per thread.

synchronous=NORMAL by default: in WAL mode a commit is then durable against a crash or `kill -9` of the
gateway (what the QoS-1 acknowledgement promises the broker), and only a power loss or kernel crash can take
back the last commits before a checkpoint; each commit costs no fsync, which is what lets one process ingest
tens of thousands of messages a second. `sqlite_synchronous = "FULL"` fsyncs every commit for sites that need
power-loss durability at the cost of throughput.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from gateway.inventory.store import Store, StoreError, Tx


class SqliteStore(Store):
    dialect = "sqlite"

    def __init__(self, path: str, synchronous: str = "NORMAL") -> None:
        super().__init__()
        self.path = path
        self.synchronous = synchronous.upper()
        # Writers of this process (ingest, each forwarder loop, the API) queue on this lock: SQLite's own busy
        # handler polls with sleeps of up to 100 ms, which showed as latency spikes when a forwarder's
        # bookkeeping met an ingest commit. Other processes still meet the busy timeout.
        self._write_lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        try:
            connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=%s" % self.synchronous)
            connection.execute("PRAGMA busy_timeout=30000")
            # A 16 MiB page cache (per connection) holds the hot dedup and outbox pages; checkpointing the
            # WAL every 10,000 pages (~40 MiB) instead of 1,000 means ten times fewer checkpoint fsyncs.
            connection.execute("PRAGMA cache_size=-16384")
            connection.execute("PRAGMA wal_autocheckpoint=10000")
        except sqlite3.Error as exc:
            raise StoreError("cannot open SQLite database %s: %s" % (self.path, exc)) from exc
        return connection

    @contextmanager
    def _transaction(self, connection: sqlite3.Connection, write: bool) -> Iterator[Tx]:
        if not write:
            with self._steps(connection, write) as tx:
                yield tx
            return
        with self._write_lock, self._steps(connection, write) as tx:
            yield tx

    @contextmanager
    def _steps(self, connection: sqlite3.Connection, write: bool) -> Iterator[Tx]:
        try:
            # A writer takes the write lock up front (IMMEDIATE), so two writers wait for each other instead
            # of one failing mid-transaction; readers do not take it and never wait for ingest (WAL).
            connection.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        except sqlite3.Error as exc:
            raise StoreError("SQLite: %s" % exc) from exc
        try:
            yield Tx(connection, _same)
        except sqlite3.Error as exc:
            _rollback(connection)
            raise StoreError("SQLite: %s" % exc) from exc
        except BaseException:
            _rollback(connection)
            raise
        try:
            connection.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreError("SQLite commit failed: %s" % exc) from exc


def _same(sql: str) -> str:
    return sql


def _rollback(connection: sqlite3.Connection) -> None:
    if connection.in_transaction:
        connection.execute("ROLLBACK")
