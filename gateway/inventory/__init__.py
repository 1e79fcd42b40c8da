"""The inventory of sensor networks (DESIGN.md §6) and the durable outbox, in SQLite or PostgreSQL."""

from __future__ import annotations

from gateway.errors import InvalidInput
from gateway.inventory.store import Batch, Store, StoreError


def open_store(url: str, sqlite_synchronous: str = "NORMAL", migrate: bool = True) -> Store:
    """`sqlite:///PATH` or `postgresql://...`; applies pending migrations unless told not to."""
    if url.startswith("sqlite:///"):
        from gateway.inventory.sqlite import SqliteStore

        store: Store = SqliteStore(url[len("sqlite:///") :], sqlite_synchronous)
    elif url.startswith(("postgresql://", "postgres://")):
        from gateway.inventory.postgres import PostgresStore

        store = PostgresStore(url)
    else:
        raise InvalidInput("database URL must be sqlite:///PATH or postgresql://..., got %r" % url)
    if migrate:
        store.migrate()
    return store


__all__ = ["Batch", "Store", "StoreError", "open_store"]
