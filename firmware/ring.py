"""Store-and-forward buffer: a bounded, persistent, append-only ring of readings on the flash filesystem.

Every reading is appended here before it is published and handed out again until the broker has
acknowledged it, so an outage or a power cut loses nothing the bound does not count.

Layout: ``segments`` files ``<dir>/0 .. <dir>/<segments-1>``, written one after the other so wear
spreads over the whole region. Segment number ``gen`` (ever increasing) lives in file ``gen % segments``.
Each file is a sequence of records::

    magic u8 | kind u8 | length u16 | crc32 u32 (of kind, length and body) | body

    SEGMENT  gen u32, dropped u32                 first record of every file
    READING  time kind u8, boot u32, seq u32, time u64, SenML pack (CBOR bytes)
    MARK     cursor gen u32, cursor offset u32, dropped u32

Records are only ever appended to the newest segment. A power cut during an append leaves a record
whose length or CRC does not check: the scan stops there and the next append opens a fresh segment, so
a torn write loses at most the record being written. Delivery is persisted by MARK records carrying the
*cursor*, the position of the oldest reading not yet acknowledged; marks are written in batches, so a
power cut may make the node publish again readings the broker already has (at least once; the gateway
deduplicates on (node, boot, seq)), never skip one. When the ring is full the oldest segment is reused:
the undelivered readings it held are dropped and added to the persisted ``dropped`` counter.
"""

import os
import struct
from binascii import crc32

try:
    from micropython import const
except ImportError:
    def const(x):
        return x

_MAGIC = const(0xB5)
SEGMENT = const(1)
READING = const(2)
MARK = const(3)
HEADER = const(8)
_READING_FIXED = const(17)
_SEGMENT_BODY = const(8)
_MARK_BODY = const(12)
FIRST_RECORD = const(16)   # offset of the first record after a segment's SEGMENT record
_MARK_EVERY = const(16)    # acknowledged readings per MARK while a backlog drains


class RingError(ValueError):
    """A reading that cannot be stored (larger than a record may be)."""


class Ring:
    def __init__(self, path="ring", segments=8, segment_bytes=32768, max_pack=1024):
        if segments < 3:
            raise ValueError("ring needs at least 3 segments, got %d" % segments)
        self.path = path
        self.segments = segments
        self.segment_bytes = segment_bytes
        self.max_pack = max_pack
        self._buf = bytearray(HEADER + _READING_FIXED + max_pack)
        self._view = memoryview(self._buf)
        self.dropped = 0            # readings lost to the bound, since the first boot
        self.buffered = 0           # readings stored and not yet acknowledged
        self.max_boot = 0           # highest boot found in the ring at open
        self.torn = 0               # records found damaged at open
        self._gens = [-1] * segments    # generation held by each slot, -1 when unused
        self._ends = [0] * segments     # end of the valid records of each slot
        self._counts = [0] * segments   # readings in each slot
        self._tail = None           # file object of the newest segment, open for appending
        self._tail_gen = -1
        self._tail_size = 0
        self._fresh_tail = False    # the newest segment ends in a torn record: append elsewhere
        self._cursor = (0, FIRST_RECORD)
        self._next = (0, FIRST_RECORD)  # next reading to hand out
        self._out = []              # handed out, unacknowledged: [gen, offset, acked]
        self._unmarked = 0
        self._open()

    # ------------------------------------------------------------------------------------ records

    def _frame(self, kind, body_len):
        """Fill the header in the buffer once the body sits at _buf[HEADER:HEADER+body_len]."""
        buf = self._buf
        struct.pack_into("<BBH", buf, 0, _MAGIC, kind, body_len)
        crc = crc32(self._view[1:4])
        crc = crc32(self._view[HEADER:HEADER + body_len], crc)
        struct.pack_into("<I", buf, 4, crc)

    def _read_record(self, f, limit):
        """Read the record at f's position into the buffer; -> (kind, body_len) or None when the
        rest of the file is not a whole, valid record."""
        view = self._view
        if f.readinto(view[:HEADER]) != HEADER:
            return None
        magic, kind, length, crc = struct.unpack_from("<BBHI", self._buf, 0)
        if magic != _MAGIC or HEADER + length > len(self._buf) or HEADER + length > limit:
            return None
        if f.readinto(view[HEADER:HEADER + length]) != length:
            return None
        if crc32(view[HEADER:HEADER + length], crc32(view[1:4])) != crc:
            return None
        return kind, length

    def _file(self, gen):
        return "%s/%d" % (self.path, gen % self.segments)

    # ------------------------------------------------------------------------------------ opening

    def _open(self):
        try:
            os.mkdir(self.path)
        except OSError:
            pass  # already there
        cursor = None
        for slot in range(self.segments):
            mark = self._scan(slot)
            if mark is not None and (cursor is None or mark > cursor):
                cursor = mark
        gens = [g for g in self._gens if g >= 0]
        if not gens:
            self._start_segment(0)
            self._cursor = self._next = (0, FIRST_RECORD)
            return
        oldest = min(gens)
        self._tail_gen = max(gens)
        if cursor is None or cursor[0] < oldest or self._gens[cursor[0] % self.segments] != cursor[0]:
            cursor = (oldest, FIRST_RECORD)
        self._cursor = self._next = cursor
        self.buffered = self._readings_from(cursor)
        tail_slot = self._tail_gen % self.segments
        self._tail = open(self._file(self._tail_gen), "ab")
        self._tail_size = self._ends[tail_slot]

    def _scan(self, slot):
        """Read one slot: its generation, valid end, reading count, and the last MARK it holds."""
        mark = None
        try:
            f = open("%s/%d" % (self.path, slot), "rb")
        except OSError:
            return None
        with f:
            size = f.seek(0, 2)
            f.seek(0)
            found = self._read_record(f, size)
            if found is None or found[0] != SEGMENT:
                return None
            gen, dropped = struct.unpack_from("<II", self._buf, HEADER)
            if dropped > self.dropped:
                self.dropped = dropped
            pos = FIRST_RECORD
            count = 0
            while pos < size:
                found = self._read_record(f, size - pos)
                if found is None:
                    self.torn += 1
                    break
                kind, length = found
                if kind == READING:
                    count += 1
                    boot = struct.unpack_from("<I", self._buf, HEADER + 1)[0]
                    if boot > self.max_boot:
                        self.max_boot = boot
                elif kind == MARK:
                    c_gen, c_off, dropped = struct.unpack_from("<III", self._buf, HEADER)
                    mark = (c_gen, c_off)
                    if dropped > self.dropped:
                        self.dropped = dropped
                pos += HEADER + length
        self._gens[slot] = gen
        self._ends[slot] = pos
        self._counts[slot] = count
        if pos < size and gen >= self._tail_gen:
            self._fresh_tail = True
        if gen > self._tail_gen:
            self._tail_gen = gen
            self._fresh_tail = pos < size
        return mark

    def _readings_from(self, position):
        """Readings stored at or after ``position``."""
        gen, off = position
        total = 0
        for slot in range(self.segments):
            g = self._gens[slot]
            if g > gen:
                total += self._counts[slot]
        return total + self._count_in(gen, off)

    def _count_in(self, gen, start):
        """Readings of segment ``gen`` at or after offset ``start``."""
        slot = gen % self.segments
        if self._gens[slot] != gen:
            return 0
        end = self._ends[slot]
        if start <= FIRST_RECORD:
            return self._counts[slot]
        count = 0
        with open(self._file(gen), "rb") as f:
            f.seek(start)
            pos = start
            while pos < end:
                found = self._read_record(f, end - pos)
                if found is None:
                    break
                if found[0] == READING:
                    count += 1
                pos += HEADER + found[1]
        return count

    # ----------------------------------------------------------------------------------- writing

    def _start_segment(self, gen):
        """Open segment ``gen`` (truncating the slot it reuses) with its SEGMENT record."""
        if self._tail is not None:
            self._tail.close()
        slot = gen % self.segments
        struct.pack_into("<II", self._buf, HEADER, gen, self.dropped)
        self._frame(SEGMENT, _SEGMENT_BODY)
        f = open(self._file(gen), "wb")
        f.write(self._view[:HEADER + _SEGMENT_BODY])
        f.flush()
        self._tail = f
        self._tail_gen = gen
        self._tail_size = FIRST_RECORD
        self._gens[slot] = gen
        self._ends[slot] = FIRST_RECORD
        self._counts[slot] = 0
        self._fresh_tail = False

    def _rotate(self):
        """Move appends to the next slot, dropping (and counting) what it still held undelivered."""
        gen = self._tail_gen + 1
        slot = gen % self.segments
        old = self._gens[slot]
        if old >= 0:
            lost = 0
            if self._cursor[0] <= old:
                lost = self._count_in(old, self._cursor[1] if self._cursor[0] == old else FIRST_RECORD)
                # The oldest remaining segment is the one after the reused slot.
                after = (old + 1, FIRST_RECORD)
                self._cursor = after
                if self._next[0] <= old:
                    self._next = after
                keep = []
                for entry in self._out:
                    if entry[0] > old:
                        keep.append(entry)
                self._out = keep
            self.dropped += lost
            self.buffered -= lost
            self._gens[slot] = -1
            # Persist the new count before the slot is truncated: a cut in between must not lose it.
            self._write_mark()
        self._start_segment(gen)

    def _append(self, kind, body_len):
        self._frame(kind, body_len)
        size = HEADER + body_len
        self._tail.write(self._view[:size])
        self._tail.flush()
        slot = self._tail_gen % self.segments
        self._tail_size += size
        self._ends[slot] = self._tail_size

    def _write_mark(self):
        struct.pack_into("<III", self._buf, HEADER, self._cursor[0], self._cursor[1], self.dropped)
        self._append(MARK, _MARK_BODY)
        self._unmarked = 0

    def append(self, boot, seq, time_kind, time_value, pack):
        """Store one reading (its SenML pack already CBOR-encoded); it is durable on return."""
        size = HEADER + _READING_FIXED + len(pack)
        if len(pack) > self.max_pack:
            raise RingError("reading of %d bytes exceeds the ring's %d-byte limit" % (len(pack), self.max_pack))
        if self._fresh_tail or self._tail_size + size > self.segment_bytes:
            self._rotate()
        struct.pack_into("<BIIQ", self._buf, HEADER, time_kind, boot, seq, time_value)
        start = HEADER + _READING_FIXED
        self._buf[start:start + len(pack)] = pack
        self._append(READING, _READING_FIXED + len(pack))
        self._counts[self._tail_gen % self.segments] += 1
        self.buffered += 1

    # ----------------------------------------------------------------------------------- reading

    def pending(self):
        """True when a stored reading has not been handed out yet."""
        return self.buffered > len(self._out)

    def next(self):
        """Hand out the next undelivered reading in original order:
        -> (position, boot, seq, time_kind, time_value, pack bytes), or None when all are handed out."""
        while True:
            gen, off = self._next
            if (gen, off) == (self._tail_gen, self._tail_size):
                return None
            slot = gen % self.segments
            end = self._ends[slot] if self._gens[slot] == gen else 0
            if off >= end:
                self._next = (gen + 1, FIRST_RECORD)
                continue
            with open(self._file(gen), "rb") as f:
                f.seek(off)
                found = self._read_record(f, end - off)
            if found is None:
                self._next = (gen + 1, FIRST_RECORD)
                continue
            kind, length = found
            self._next = (gen, off + HEADER + length)
            if kind != READING:
                continue
            time_kind, boot, seq, time_value = struct.unpack_from("<BIIQ", self._buf, HEADER)
            pack = bytes(self._view[HEADER + _READING_FIXED:HEADER + length])
            self._out.append([gen, off, False])
            return (gen, off), boot, seq, time_kind, time_value, pack

    def delivered(self, position):
        """The broker acknowledged the reading at ``position``; advance and, in batches, persist the
        cursor. A position no longer held (dropped meanwhile) is ignored."""
        out = self._out
        for entry in out:
            if entry[0] == position[0] and entry[1] == position[1]:
                entry[2] = True
                break
        else:
            return
        while out and out[0][2]:
            out.pop(0)
            self.buffered -= 1
            self._unmarked += 1
        self._cursor = (out[0][0], out[0][1]) if out else self._next
        if self._unmarked >= _MARK_EVERY or (not out and not self.pending()):
            self._write_mark()

    def rewind(self):
        """Hand out again from the oldest reading held, delivered or not (for inspection tools)."""
        gens = [g for g in self._gens if g >= 0]
        self._out = []
        self._next = (min(gens), FIRST_RECORD) if gens else self._cursor

    def close(self):
        if self._unmarked:
            self._write_mark()
        if self._tail is not None:
            self._tail.close()
            self._tail = None


def reading_bytes(pack_len):
    """Flash bytes one stored reading takes for a pack of ``pack_len`` bytes."""
    return HEADER + _READING_FIXED + pack_len
