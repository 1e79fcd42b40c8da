"""JSON-lines file sink, the embedded default: one JSON object per outbox item, appended.

A batch is written in one go, flushed and fsynced before it is reported done, so nothing acknowledged is
lost by a crash or power cut. If writing fails (disk full, I/O error), the file is cut back to where the
batch started, so it never holds a half-written line, and the batch is kept for retry; a line torn by a
killed process is cut when the file is opened again (its items were not done, so they come again).
Line format: {"id": <outbox id>, "kind": "observation"|"device", "payload": {...}}.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

from gateway.errors import InvalidInput
from gateway.forwarders.base import Envelope, SendResult

log = logging.getLogger(__name__)


class JsonlForwarder:
    name = "file"

    def __init__(self, path: str | os.PathLike, fsync: bool = True):
        self.path = Path(path)
        self.fsync = fsync
        self._file = None

    @classmethod
    def from_url(cls, url: str, **options) -> JsonlForwarder:
        """file:///absolute/path.jsonl"""
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost") or not parts.path:
            raise InvalidInput(f"file URL must be file:///absolute/path, got {url!r}")
        return cls(unquote(parts.path), **options)

    def send(self, batch: list[Envelope]) -> SendResult:
        result = SendResult()
        lines = []
        for envelope in batch:
            try:
                line = json.dumps({"id": envelope.id, "kind": envelope.kind, "payload": envelope.payload},
                                  separators=(",", ":"), ensure_ascii=False, allow_nan=False)
            except (TypeError, ValueError) as exc:
                log.warning("file forwarder: outbox item %s is not JSON: %s", envelope.id, exc)
                result.rejected[envelope.id] = "not_json"
                continue
            lines.append((envelope.id, line))
        if not lines:
            return result
        data = "".join(line + "\n" for _id, line in lines).encode("utf-8")
        ids = [envelope_id for envelope_id, _line in lines]
        try:
            self._append(data)
        except OSError as exc:
            log.warning("file forwarder: cannot write %s (%s); keeping %d items for retry", self.path, exc, len(ids))
            result.retry.extend(ids)
            return result
        result.done.extend(ids)
        return result

    def _append(self, data: bytes) -> None:
        file = self._open()
        start = file.seek(0, os.SEEK_END)
        try:
            file.write(data)
            file.flush()
            if self.fsync:
                os.fsync(file.fileno())
        except OSError:
            self._cut_back(start)
            raise

    def _open(self):
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            created = not self.path.exists()
            if not created:
                self._cut_torn_tail()
            self._file = open(self.path, "ab")  # noqa: SIM115 - held open across batches, closed by close()
            if created and self.fsync:
                # The file's directory entry must be durable too, or a crash could lose the whole file.
                directory = os.open(self.path.parent, os.O_RDONLY)
                try:
                    os.fsync(directory)
                finally:
                    os.close(directory)
        return self._file

    def _cut_torn_tail(self) -> None:
        """A process killed in the middle of a write leaves a line without its end; its items were not
        reported done and come again, so the torn bytes go, or the next line would be glued to them."""
        with open(self.path, "rb+") as file:
            size = file.seek(0, os.SEEK_END)
            if size == 0:
                return
            file.seek(size - 1)
            if file.read(1) == b"\n":
                return
            start = max(0, size - (1 << 20))
            file.seek(start)
            tail = file.read()
            end = tail.rfind(b"\n")
            keep = start + end + 1 if end >= 0 else (0 if start == 0 else None)
            if keep is None:
                log.error("file forwarder: %s ends with a torn line longer than 1 MiB; leaving it", self.path)
                return
            log.warning("file forwarder: cutting a torn last line (%d bytes) from %s", size - keep, self.path)
            file.truncate(keep)

    def _cut_back(self, size: int) -> None:
        try:
            self._file.close()
        except OSError:
            pass
        self._file = None
        try:
            os.truncate(self.path, size)
        except OSError as exc:
            log.error("file forwarder: cannot cut %s back to %d bytes: %s", self.path, size, exc)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
