"""Schema migrations, one SQL text per version, written once for both backends.

`{serial}` (an auto-increment primary key that is never reused), `{float}` (a double) and `{without_rowid}`
(SQLite then keeps a table in its primary-key B-tree alone: one write per dedup upsert instead of two) are
the only differences between SQLite and PostgreSQL here; JSON fields are stored as text in both so one set of
queries serves both. Applied versions are recorded in `schema_migrations`.
"""

MIGRATIONS: list[tuple[int, str]] = [
    (
        1,
        """
CREATE TABLE devices (
    id TEXT PRIMARY KEY,
    site TEXT NOT NULL,
    topic_site TEXT NOT NULL,
    role TEXT, board TEXT, hw TEXT, fw TEXT, cfg TEXT, caps TEXT, networks TEXT,
    lon {float}, lat {float}, asset TEXT, operator TEXT, install_date TEXT,
    state TEXT NOT NULL,
    liveness TEXT NOT NULL,
    first_seen {float}, last_seen {float},
    boot BIGINT, born INTEGER NOT NULL DEFAULT 0, next_seq BIGINT,
    buffered BIGINT NOT NULL DEFAULT 0, dropped BIGINT NOT NULL DEFAULT 0,
    period {float}, received BIGINT NOT NULL DEFAULT 0, duplicates BIGINT NOT NULL DEFAULT 0,
    gaps BIGINT NOT NULL DEFAULT 0,
    health TEXT, lifi TEXT, reset_cause TEXT, safe INTEGER NOT NULL DEFAULT 0, last_rebirth {float},
    created {float} NOT NULL
);
CREATE INDEX devices_state ON devices (state);
CREATE TABLE lifecycle (
    id {serial},
    node_id TEXT NOT NULL,
    at {float} NOT NULL,
    event TEXT NOT NULL,
    detail TEXT
);
CREATE INDEX lifecycle_node ON lifecycle (node_id, id);
CREATE TABLE dedup (
    node_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    boot BIGINT NOT NULL,
    spans TEXT NOT NULL,
    PRIMARY KEY (node_id, channel, boot)
){without_rowid};
CREATE TABLE outbox (
    id {serial},
    kind TEXT NOT NULL,
    node_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    size INTEGER NOT NULL,
    created {float} NOT NULL
);
CREATE TABLE held (
    id {serial},
    kind TEXT NOT NULL,
    node_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    size INTEGER NOT NULL,
    created {float} NOT NULL
);
CREATE INDEX held_node ON held (node_id, id);
CREATE TABLE cursors (
    forwarder TEXT PRIMARY KEY,
    last_id BIGINT NOT NULL
);
CREATE TABLE delivered (
    forwarder TEXT NOT NULL,
    id BIGINT NOT NULL,
    PRIMARY KEY (forwarder, id)
){without_rowid};
""",
    ),
]

DIALECTS = {
    "sqlite": {"serial": "INTEGER PRIMARY KEY AUTOINCREMENT", "float": "REAL",
               "without_rowid": " WITHOUT ROWID"},
    "postgresql": {"serial": "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY", "float": "DOUBLE PRECISION",
                   "without_rowid": ""},
}


def statements(version_sql: str, dialect: str) -> list[str]:
    text = version_sql.format(**DIALECTS[dialect])
    return [part.strip() for part in text.split(";") if part.strip()]
