"""JSON-lines file sink: one object per outbox item, durable before done, never a half-written line."""

import errno
import json
import os

import pytest

from gateway.errors import InvalidInput
from gateway.forwarders.base import Envelope, from_url
from gateway.forwarders.jsonl import JsonlForwarder


def envelopes(first, count):
    return [Envelope(i, "observation", {"node_id": "a4cf12f00d01", "seq": i, "records": [{"n": "temp", "v": 1.5}]})
            for i in range(first, first + count)]


def lines(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_appends_one_object_per_item_across_batches_and_reopenings(tmp_path):
    path = tmp_path / "north" / "out.jsonl"
    sink = from_url(path.as_uri())
    assert sink.name == "file"
    assert sink.send(envelopes(1, 3)).done == [1, 2, 3]
    sink.close()
    sink = from_url(path.as_uri())
    assert sink.send(envelopes(4, 2)).done == [4, 5]
    sink.close()
    written = lines(path)
    assert [item["id"] for item in written] == [1, 2, 3, 4, 5]
    assert written[0] == {"id": 1, "kind": "observation",
                          "payload": {"node_id": "a4cf12f00d01", "seq": 1, "records": [{"n": "temp", "v": 1.5}]}}


def test_each_batch_is_fsynced_before_it_is_done(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    sink = JsonlForwarder(tmp_path / "out.jsonl")
    sink.send(envelopes(1, 2))
    sink.send(envelopes(3, 2))
    assert len(synced) == 3  # the new file's directory once, then each batch
    sink.close()


def test_items_that_are_not_json_are_rejected_and_the_others_written(tmp_path):
    sink = JsonlForwarder(tmp_path / "out.jsonl")
    batch = [Envelope(1, "observation", {"v": float("nan")}), Envelope(2, "device", {"b": b"raw"}),
             *envelopes(3, 1)]
    result = sink.send(batch)
    assert result.done == [3] and result.rejected == {1: "not_json", 2: "not_json"}
    assert [item["id"] for item in lines(tmp_path / "out.jsonl")] == [3]
    sink.close()


def test_a_full_disk_keeps_the_batch_for_retry():
    sink = JsonlForwarder("/dev/full", fsync=False)  # every write fails with ENOSPC
    result = sink.send(envelopes(1, 3))
    assert result.retry == [1, 2, 3] and result.done == []
    sink.close()


def test_a_failed_sync_cuts_the_file_back_so_no_line_is_half_there_or_doubled(tmp_path, monkeypatch):
    path = tmp_path / "out.jsonl"
    sink = JsonlForwarder(path)
    sink.send(envelopes(1, 2))
    size = path.stat().st_size

    def failing_fsync(fd):
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    assert sink.send(envelopes(3, 2)).retry == [3, 4]
    assert path.stat().st_size == size
    monkeypatch.undo()
    assert sink.send(envelopes(3, 2)).done == [3, 4]
    assert [item["id"] for item in lines(path)] == [1, 2, 3, 4]
    sink.close()


def test_file_url_must_be_absolute():
    with pytest.raises(InvalidInput):
        from_url("file://somehost/out.jsonl")
