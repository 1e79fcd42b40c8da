"""The inventory store: devices, lifecycle history, dedup windows and the durable outbox in one database.

One class holds every query; `SqliteStore` and `PostgresStore` only open connections and run transactions.
Queries are written with `?` placeholders and the PostgreSQL backend rewrites them. Each thread gets its own
connection (ingest, every forwarder loop, the API).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from gateway.errors import InvalidInput, NotFound, ReverbereError
from gateway.inventory import records
from gateway.inventory.schema import MIGRATIONS, statements

_DEVICE_SELECT = "SELECT %s FROM devices" % ", ".join(records.COLUMNS)
_UPSERT_INGEST = "INSERT INTO devices (%s) VALUES (%s) ON CONFLICT (id) DO UPDATE SET %s" % (
    ", ".join(records.COLUMNS),
    ", ".join("?" * len(records.COLUMNS)),
    ", ".join("%s = excluded.%s" % (c, c) for c in records.INGEST_COLUMNS),
)

_UPDATE_STATS = "UPDATE devices SET %s WHERE id = ?" % ", ".join("%s = ?" % c for c in records.STATS_COLUMNS)


class StoreError(ReverbereError):
    """The database refused or failed an operation."""

    exit_code = 7


@dataclass
class Batch:
    """Everything one ingest transaction writes; built by the ingest core, committed at once."""

    devices: list[dict] = field(default_factory=list)  # full rows; only ingest columns overwrite
    device_stats: list[dict] = field(default_factory=list)  # rows whose STATS_COLUMNS alone changed
    dedup: list[tuple[str, str, int, str]] = field(default_factory=list)  # node, channel, boot, spans JSON
    dedup_keep_from: list[tuple[str, str, int]] = field(default_factory=list)  # forget boots below this
    outbox: list[tuple[str, str, str, float]] = field(
        default_factory=list
    )  # kind, node, payload JSON, created
    held: list[tuple[str, str, str, float]] = field(default_factory=list)
    history: list[tuple[str, float, str, str]] = field(default_factory=list)  # node, at, event, detail JSON

    def __bool__(self) -> bool:
        return bool(
            self.devices or self.device_stats or self.dedup or self.outbox or self.held or self.history
        )


@dataclass
class OutboxItem:
    id: int
    kind: str
    payload: str  # JSON text


class Tx:
    """The operations a transaction offers, whatever the backend."""

    def __init__(self, connection: Any, translate: Callable[[str], str]) -> None:
        self._connection = connection
        self._translate = translate

    def run(self, sql: str, params: tuple | list = ()) -> Any:
        return self._connection.execute(self._translate(sql), params)

    def many(self, sql: str, rows: list[tuple]) -> None:
        if rows:
            self._many(self._translate(sql), rows)

    def _many(self, sql: str, rows: list[tuple]) -> None:
        self._connection.executemany(sql, rows)

    def all(self, sql: str, params: tuple | list = ()) -> list[tuple]:
        return list(self.run(sql, params).fetchall())

    def one(self, sql: str, params: tuple | list = ()) -> tuple | None:
        return self.run(sql, params).fetchone()


class Store:
    dialect = ""

    def __init__(self) -> None:
        self._local = threading.local()
        self._connections: list[Any] = []
        self._connections_lock = threading.Lock()
        self._bytes_lock = threading.Lock()
        self.outbox_bytes = 0
        self._admin_listeners: list[Callable[[dict], None]] = []

    # -- backend hooks -------------------------------------------------------------------------------------
    def _connect(self) -> Any:
        raise NotImplementedError

    def _transaction(self, connection: Any, write: bool) -> Any:
        """A context manager committing on success, rolling back on error, yielding a Tx."""
        raise NotImplementedError

    # -- plumbing ------------------------------------------------------------------------------------------
    def _connection(self) -> Any:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._connect()
            self._local.connection = connection
            with self._connections_lock:
                self._connections.append(connection)
        return connection

    @contextmanager
    def tx(self, write: bool = True) -> Iterator[Tx]:
        with self._transaction(self._connection(), write) as tx:
            yield tx

    def close(self) -> None:
        with self._connections_lock:
            for connection in self._connections:
                try:
                    connection.close()
                except Exception:  # closing is best effort at shutdown  # noqa: BLE001
                    pass
            self._connections.clear()
        self._local = threading.local()

    def migrate(self) -> int:
        """Apply pending migrations; return the schema version."""
        with self.tx() as tx:
            float_type = "REAL" if self.dialect == "sqlite" else "DOUBLE PRECISION"
            tx.run(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version INTEGER PRIMARY KEY, applied %s NOT NULL)" % float_type
            )
        with self.tx() as tx:
            applied = {row[0] for row in tx.all("SELECT version FROM schema_migrations")}
            for version, sql in MIGRATIONS:
                if version in applied:
                    continue
                for statement in statements(sql, self.dialect):
                    tx.run(statement)
                tx.run(
                    "INSERT INTO schema_migrations (version, applied) VALUES (?, ?)", (version, time.time())
                )
            total = tx.one("SELECT COALESCE(SUM(size), 0) FROM outbox")
        with self._bytes_lock:
            self.outbox_bytes = int(total[0])
        return max(version for version, _ in MIGRATIONS)

    def schema_version(self) -> int:
        with self.tx(write=False) as tx:
            row = tx.one("SELECT MAX(version) FROM schema_migrations")
        return int(row[0] or 0)

    def add_admin_listener(self, listener: Callable[[dict], None]) -> None:
        """`listener(row)` is called after an operator change to a device commits (the ingest cache)."""
        self._admin_listeners.append(listener)

    def _notify(self, row: dict) -> None:
        for listener in self._admin_listeners:
            listener(row)

    # -- ingest --------------------------------------------------------------------------------------------
    def load_device(self, node_id: str) -> tuple[dict | None, list[tuple[str, int, list[list[int]]]]]:
        """A device row (or None) and its dedup windows as (channel, boot, spans)."""
        with self.tx(write=False) as tx:
            found = tx.one(_DEVICE_SELECT + " WHERE id = ?", (node_id,))
            windows = tx.all("SELECT channel, boot, spans FROM dedup WHERE node_id = ?", (node_id,))
        row = records.decode(found) if found else None
        return row, [(channel, boot, json.loads(spans)) for channel, boot, spans in windows]

    def load_all_devices(self) -> list[tuple[dict, list[tuple[str, int, list[list[int]]]]]]:
        """Every device row with its dedup windows (ingest's cache at start)."""
        with self.tx(write=False) as tx:
            rows = [records.decode(row) for row in tx.all(_DEVICE_SELECT)]
            windows: dict[str, list] = {}
            for node, channel, boot, spans in tx.all("SELECT node_id, channel, boot, spans FROM dedup"):
                windows.setdefault(node, []).append((channel, boot, json.loads(spans)))
        return [(row, windows.get(row["id"], [])) for row in rows]

    def commit_batch(self, batch: Batch, max_outbox_bytes: int, held_per_device: int) -> dict[str, int]:
        """Write a batch in one transaction; return items dropped by bounds, by reason."""
        dropped: dict[str, int] = {}
        added = sum(len(item[2]) for item in batch.outbox)
        freed = 0
        with self.tx() as tx:
            tx.many(_UPSERT_INGEST, [records.encode(row, records.COLUMNS) for row in batch.devices])
            tx.many(
                _UPDATE_STATS,
                [tuple(row[c] for c in records.STATS_COLUMNS) + (row["id"],) for row in batch.device_stats],
            )
            tx.many(
                "INSERT INTO dedup (node_id, channel, boot, spans) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (node_id, channel, boot) DO UPDATE SET spans = excluded.spans",
                batch.dedup,
            )
            tx.many("DELETE FROM dedup WHERE node_id = ? AND channel = ? AND boot < ?", batch.dedup_keep_from)
            tx.many(
                "INSERT INTO outbox (kind, node_id, payload, size, created) VALUES (?, ?, ?, ?, ?)",
                [
                    (kind, node, payload, len(payload), created)
                    for kind, node, payload, created in batch.outbox
                ],
            )
            tx.many(
                "INSERT INTO held (kind, node_id, payload, size, created) VALUES (?, ?, ?, ?, ?)",
                [(kind, node, payload, len(payload), created) for kind, node, payload, created in batch.held],
            )
            tx.many("INSERT INTO lifecycle (node_id, at, event, detail) VALUES (?, ?, ?, ?)", batch.history)
            for node in {item[1] for item in batch.held}:
                count = tx.run(
                    "DELETE FROM held WHERE node_id = ? AND id NOT IN "
                    "(SELECT id FROM held WHERE node_id = ? ORDER BY id DESC LIMIT ?)",
                    (node, node, held_per_device),
                ).rowcount
                if count > 0:
                    dropped["held-full"] = dropped.get("held-full", 0) + count
            with self._bytes_lock:
                excess = self.outbox_bytes + added - max_outbox_bytes
            if excess > 0:
                freed, count = self._drop_oldest(tx, excess)
                dropped["outbox-full"] = count
        with self._bytes_lock:
            self.outbox_bytes += added - freed
        return dropped

    @staticmethod
    def _drop_oldest(tx: Tx, excess: int) -> tuple[int, int]:
        """Delete the oldest outbox items until `excess` bytes are freed; return (bytes, items)."""
        freed = count = 0
        while freed < excess:
            rows = tx.all("SELECT id, size FROM outbox ORDER BY id LIMIT 500")
            if not rows:
                break
            need, running, last = excess - freed, 0, rows[-1][0]
            for item_id, size in rows:
                running += size
                if running >= need:
                    last = item_id
                    break
            deleted = tx.all("DELETE FROM outbox WHERE id <= ? RETURNING size", (last,))
            count += len(deleted)
            freed += sum(size for (size,) in deleted)
        return freed, count

    # -- outbox for forwarders -------------------------------------------------------------------------------
    def fetch(self, forwarder: str, limit: int) -> list[OutboxItem]:
        """The next undelivered items for `forwarder`, in insertion order."""
        with self.tx(write=False) as tx:
            cursor = self._cursor(tx, forwarder)
            rows = tx.all(
                "SELECT id, kind, payload FROM outbox WHERE id > ? AND id NOT IN "
                "(SELECT id FROM delivered WHERE forwarder = ?) ORDER BY id LIMIT ?",
                (cursor, forwarder, limit),
            )
        return [OutboxItem(*row) for row in rows]

    @staticmethod
    def _cursor(tx: Tx, forwarder: str) -> int:
        row = tx.one("SELECT last_id FROM cursors WHERE forwarder = ?", (forwarder,))
        return int(row[0]) if row else 0

    def record(self, forwarder: str, finished: list[int], prune_for: list[str] | None = None) -> int:
        """Remember the items a send finished (done or refused for good).

        The cursor moves up to just before the first item still unfinished, so items to retry are fetched
        again, in order, and finished items beyond them are skipped. With `prune_for` (every forwarder's
        name), items all of them have finished are deleted in the same transaction (one commit per send
        instead of two); returns how many.
        """
        with self.tx() as tx:
            old_cursor = self._cursor(tx, forwarder)
            tx.many(
                "INSERT INTO delivered (forwarder, id) VALUES (?, ?) ON CONFLICT DO NOTHING",
                [(forwarder, item) for item in finished if item > old_cursor],
            )
            first_open = tx.one(
                "SELECT MIN(id) FROM outbox WHERE id > ? AND id NOT IN "
                "(SELECT id FROM delivered WHERE forwarder = ?)",
                (old_cursor, forwarder),
            )[0]
            if first_open is None:
                top = tx.one("SELECT MAX(id) FROM delivered WHERE forwarder = ?", (forwarder,))[0]
                new_cursor = max(old_cursor, top or 0)
            else:
                new_cursor = first_open - 1
            tx.run(
                "INSERT INTO cursors (forwarder, last_id) VALUES (?, ?) "
                "ON CONFLICT (forwarder) DO UPDATE SET last_id = excluded.last_id",
                (forwarder, new_cursor),
            )
            tx.run("DELETE FROM delivered WHERE forwarder = ? AND id <= ?", (forwarder, new_cursor))
            sizes = self._prune(tx, prune_for) if prune_for else []
        return self._pruned(sizes)

    def prune(self, forwarders: list[str]) -> int:
        """Delete items every forwarder has finished; return how many."""
        if not forwarders:
            return 0
        with self.tx() as tx:
            sizes = self._prune(tx, forwarders)
        return self._pruned(sizes)

    def _prune(self, tx: Tx, forwarders: list[str]) -> list[tuple]:
        floor = min(self._cursor(tx, name) for name in forwarders)
        return tx.all("DELETE FROM outbox WHERE id <= ? RETURNING size", (floor,))

    def _pruned(self, sizes: list[tuple]) -> int:
        with self._bytes_lock:
            self.outbox_bytes -= sum(size for (size,) in sizes)
        return len(sizes)

    def outbox_stats(self, forwarders: list[str]) -> dict[str, float]:
        """depth (items not finished by every forwarder), bytes and the oldest such item's creation time."""
        with self.tx(write=False) as tx:
            floor = min((self._cursor(tx, name) for name in forwarders), default=0)
            count, oldest = tx.one("SELECT COUNT(*), MIN(created) FROM outbox WHERE id > ?", (floor,))
        with self._bytes_lock:
            size = self.outbox_bytes
        return {"depth": int(count), "bytes": size, "oldest_created": oldest}

    # -- inventory reads -----------------------------------------------------------------------------------
    def get_device(self, node_id: str) -> dict:
        with self.tx(write=False) as tx:
            found = tx.one(_DEVICE_SELECT + " WHERE id = ?", (node_id,))
        if not found:
            raise NotFound("no device %r in the inventory" % node_id)
        return records.decode(found)

    def list_devices(self, state: str | None = None, site: str | None = None) -> list[dict]:
        where, params = [], []
        if state:
            where.append("state = ?")
            params.append(state)
        if site:
            where.append("site = ?")
            params.append(site)
        sql = _DEVICE_SELECT + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id"
        with self.tx(write=False) as tx:
            return [records.decode(row) for row in tx.all(sql, params)]

    def history(self, node_id: str, limit: int = 100) -> list[dict]:
        with self.tx(write=False) as tx:
            rows = tx.all(
                "SELECT at, event, detail FROM lifecycle WHERE node_id = ? ORDER BY id DESC LIMIT ?",
                (node_id, limit),
            )
        return [
            {"at": at, "event": event, "detail": json.loads(detail) if detail else None}
            for at, event, detail in reversed(rows)
        ]

    def count_by(self, column: str) -> dict[str, int]:
        if column not in ("state", "liveness", "site", "role"):
            raise InvalidInput("cannot count devices by %r" % column)
        with self.tx(write=False) as tx:
            return {
                key: int(n)
                for key, n in tx.all("SELECT %s, COUNT(*) FROM devices GROUP BY %s" % (column, column))
            }

    # -- operator actions ----------------------------------------------------------------------------------
    def _admin_update(
        self,
        node_id: str,
        changes: dict[str, Any],
        now: float,
        action: Callable[[Tx, dict], dict[str, Any]] | None = None,
    ) -> dict:
        with self.tx() as tx:
            found = tx.one(_DEVICE_SELECT + " WHERE id = ?", (node_id,))
            if not found:
                raise NotFound("no device %r in the inventory" % node_id)
            row = records.decode(found)
            detail = dict(changes)
            if action:
                detail.update(action(tx, row))
            if changes:
                row.update(changes)
                assignments = ", ".join("%s = ?" % column for column in changes)
                tx.run("UPDATE devices SET %s WHERE id = ?" % assignments, (*changes.values(), node_id))
            tx.run(
                "INSERT INTO lifecycle (node_id, at, event, detail) VALUES (?, ?, ?, ?)",
                (node_id, now, "admin", json.dumps(detail)),
            )
            if row["state"] == "active":
                self._enqueue_device(tx, row, now)
        self._notify(row)
        return row

    def _enqueue_device(self, tx: Tx, row: dict, now: float) -> None:
        payload = json.dumps(records.to_json(row), separators=(",", ":"))
        tx.run(
            "INSERT INTO outbox (kind, node_id, payload, size, created) VALUES (?, ?, ?, ?, ?)",
            ("device", row["id"], payload, len(payload), now),
        )
        with self._bytes_lock:
            self.outbox_bytes += len(payload)

    def approve(self, node_id: str, now: float | None = None) -> dict:
        """pending/retired -> active; observations held in quarantine go to the outbox, oldest first."""
        now = time.time() if now is None else now

        def release(tx: Tx, row: dict) -> dict[str, Any]:
            moved = tx.all("SELECT COALESCE(SUM(size), 0), COUNT(*) FROM held WHERE node_id = ?", (node_id,))[
                0
            ]
            tx.run(
                "INSERT INTO outbox (kind, node_id, payload, size, created) SELECT kind, node_id, payload, "
                "size, created FROM held WHERE node_id = ? ORDER BY id",
                (node_id,),
            )
            tx.run("DELETE FROM held WHERE node_id = ?", (node_id,))
            with self._bytes_lock:
                self.outbox_bytes += int(moved[0])
            return {"released": int(moved[1]), "from": row["state"]}

        return self._admin_update(node_id, {"state": "active"}, now, release)

    def retire(self, node_id: str, now: float | None = None) -> tuple[dict, int]:
        """-> retired; returns the record and how many held observations were discarded."""
        now = time.time() if now is None else now
        discarded = [0]

        def discard(tx: Tx, row: dict) -> dict[str, Any]:
            discarded[0] = tx.run("DELETE FROM held WHERE node_id = ?", (node_id,)).rowcount
            return {"discarded": discarded[0], "from": row["state"]}

        return self._admin_update(node_id, {"state": "retired"}, now, discard), discarded[0]

    def forget_hardware(self, node_id: str, now: float | None = None) -> dict:
        """The board of a device was swapped: forget its recorded hardware so that the next birth, with the
        new board's MAC, is accepted instead of rejected as "hw-mismatch"."""

        def clear(tx: Tx, row: dict) -> dict[str, Any]:
            tx.run("UPDATE devices SET hw = ? WHERE id = ?", ("{}", node_id))
            forgotten, row["hw"] = row["hw"], {}
            return {"hw-forgotten": forgotten}

        return self._admin_update(node_id, {}, time.time() if now is None else now, clear)

    def edit(self, node_id: str, now: float | None = None, **fields: Any) -> dict:
        """Change location ([lon, lat] or None), asset, site, operator or install_date."""
        unknown = set(fields) - set(records.EDITABLE)
        if unknown:
            raise InvalidInput(
                "cannot edit %s (editable: %s)" % (", ".join(sorted(unknown)), ", ".join(records.EDITABLE))
            )
        changes = {name: value for name, value in fields.items() if name != "location"}
        if "location" in fields:
            changes.update(zip(("lon", "lat"), check_location(fields["location"]), strict=True))
        if "site" in changes:
            check_name("site", changes["site"])
        if not changes:
            raise InvalidInput("nothing to edit")
        return self._admin_update(node_id, changes, time.time() if now is None else now)

    def import_rows(self, rows: list[dict[str, Any]], now: float | None = None) -> int:
        """Insert or update devices from validated import rows (id plus admin columns); one transaction."""
        now = time.time() if now is None else now
        changed = []
        with self.tx() as tx:
            for values in rows:
                found = tx.one(_DEVICE_SELECT + " WHERE id = ?", (values["id"],))
                row = (
                    records.decode(found)
                    if found
                    else records.new_row(values["id"], values["site"], "pending", now)
                )
                row.update({k: v for k, v in values.items() if k in records.ADMIN_COLUMNS})
                tx.run(
                    "INSERT INTO devices (%s) VALUES (%s) ON CONFLICT (id) DO UPDATE SET %s"
                    % (
                        ", ".join(records.COLUMNS),
                        ", ".join("?" * len(records.COLUMNS)),
                        ", ".join("%s = excluded.%s" % (c, c) for c in records.ADMIN_COLUMNS),
                    ),
                    records.encode(row, records.COLUMNS),
                )
                tx.run(
                    "INSERT INTO lifecycle (node_id, at, event, detail) VALUES (?, ?, ?, ?)",
                    (row["id"], now, "import", json.dumps({k: values[k] for k in sorted(values)})),
                )
                if row["state"] == "active":
                    self._enqueue_device(tx, row, now)
                changed.append(row)
        for row in changed:
            self._notify(row)
        return len(changed)


def check_name(what: str, value: Any) -> str:
    """Site and node id syntax of the wire contract."""
    if (
        not isinstance(value, str)
        or not 1 <= len(value) <= 32
        or value[0] == "-"
        or any(ch not in "abcdefghijklmnopqrstuvwxyz0123456789-" for ch in value)
    ):
        raise InvalidInput(
            "%s must be 1-32 chars of [a-z0-9-], not starting with '-', got %r" % (what, value)
        )
    return value


def check_location(value: Any) -> tuple[float | None, float | None]:
    if value is None:
        return None, None
    try:
        lon, lat = (float(part) for part in value)
    except (TypeError, ValueError):
        raise InvalidInput("location must be [lon, lat], got %r" % (value,)) from None
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise InvalidInput("location [lon, lat] out of range: %r" % (value,))
    return lon, lat
