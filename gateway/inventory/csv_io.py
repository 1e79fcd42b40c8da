"""CSV import and export of the inventory (bulk registration by the city's operators).

Import columns: `id` and `site` required; `lon`, `lat` (WGS84, both or neither), `asset`, `operator`,
`install_date` (YYYY-MM-DD) and `state` (pending/active/retired) optional. Every line is checked and every
error is reported with its line number; nothing is written unless asked to import the valid lines only.
"""

from __future__ import annotations

import csv
import datetime
import io
from typing import Any

from gateway.errors import InvalidInput
from gateway.inventory import records
from gateway.inventory.store import Store, check_location, check_name

IMPORT_COLUMNS = ("id", "site", "lon", "lat", "asset", "operator", "install_date", "state")
EXPORT_COLUMNS = IMPORT_COLUMNS + ("role", "board", "fw", "liveness", "last_seen", "boot", "received", "gaps")


class ImportErrors(InvalidInput):
    """Some lines of an import are invalid; `errors` holds (line number, message) pairs."""

    def __init__(self, errors: list[tuple[int, str]]) -> None:
        super().__init__(
            "; ".join("line %d: %s" % error for error in errors[:20])
            + (" (and %d more)" % (len(errors) - 20) if len(errors) > 20 else "")
        )
        self.errors = errors


def _row(fields: dict[str, str]) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": check_name("id", fields.get("id", "").strip()),
        "site": check_name("site", fields.get("site", "").strip()),
    }
    lon, lat = (fields.get("lon") or "").strip(), (fields.get("lat") or "").strip()
    if lon or lat:
        row["lon"], row["lat"] = check_location([lon, lat])
    for name in ("asset", "operator"):
        if (fields.get(name) or "").strip():
            row[name] = fields[name].strip()
    date = (fields.get("install_date") or "").strip()
    if date:
        try:
            row["install_date"] = datetime.date.fromisoformat(date).isoformat()
        except ValueError:
            raise InvalidInput("install_date must be YYYY-MM-DD, got %r" % date) from None
    state = (fields.get("state") or "").strip()
    if state:
        if state not in records.STATES:
            raise InvalidInput("state must be one of %s, got %r" % ("/".join(records.STATES), state))
        row["state"] = state
    return row


def parse(text: str) -> tuple[list[dict[str, Any]], list[tuple[int, str]]]:
    """Valid rows and (line, error) pairs; line numbers count the header as line 1."""
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    missing = [name for name in ("id", "site") if name not in header]
    if missing:
        return [], [(1, "header lacks column(s) %s" % ", ".join(missing))]
    unknown = [name for name in header if name not in IMPORT_COLUMNS]
    if unknown:
        return [], [(1, "unknown column(s) %s (known: %s)" % (", ".join(unknown), ", ".join(IMPORT_COLUMNS)))]
    rows, errors, seen = [], [], {}
    for fields in reader:
        line = reader.line_num
        try:
            row = _row(fields)
        except InvalidInput as exc:
            errors.append((line, str(exc)))
            continue
        if row["id"] in seen:
            errors.append((line, "id %s already on line %d" % (row["id"], seen[row["id"]])))
            continue
        seen[row["id"]] = line
        rows.append(row)
    return rows, errors


def import_csv(store: Store, text: str, valid_only: bool = False) -> dict[str, Any]:
    """Import in one transaction; raises ImportErrors if any line is invalid unless `valid_only`."""
    rows, errors = parse(text)
    if errors and not valid_only:
        raise ImportErrors(errors)
    imported = store.import_rows(rows) if rows else 0
    return {"imported": imported, "errors": [{"line": line, "error": message} for line, message in errors]}


def export_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=EXPORT_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({name: "" if row.get(name) is None else row[name] for name in EXPORT_COLUMNS})
    return out.getvalue()
