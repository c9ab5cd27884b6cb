"""Record shapes shared by transports, runtime and tests, and the header of internal records.

Every record a task writes to an internal topic (repartition, foreign-key subscription and
response) carries one `shoal.seq` header: the writer (the writing task's partition), its
sequence number in that topic partition, the record's order time and flags. Writers also
append control records (no key, no value, flag MARK) that promise a lower bound for the order
time of their next records there, or say that they are idle or ended. Readers use these to
merge writers in one deterministic order and to drop replays (see docs/architecture.md).
"""

from __future__ import annotations

import struct
from typing import NamedTuple

Headers = list[tuple[str, bytes | None]]  # Kafka allows a null header value
TopicPartition = tuple[str, int]
HEADER_LIMIT = 64 * 1024
"""The most bytes of one header value that a dead letter copies from its record."""


def headers_text(headers: Headers | None) -> dict[str, str | None]:
    """Headers for people (`shoal tail`, TestDriver): UTF-8 with replacement, None kept."""
    return {str(name): None if value is None else bytes(value).decode("utf-8", "replace")
            for name, value in headers or ()}


def copied(headers: Headers | None) -> Headers:
    """A record's headers to copy into another record: values as bytes (None kept), each
    cut to HEADER_LIMIT so that a huge one cannot make the copy too large to write."""
    return [(str(name), None if value is None else bytes(value)[:HEADER_LIMIT])
            for name, value in headers or ()]


class Record(NamedTuple):
    """A stored record as a consumer sees it."""

    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: int
    headers: Headers | None


OutRecord = tuple[bytes | None, bytes | None, int, Headers | None]
"""A record to append (key, value, timestamp, headers); the log picks the partition."""

SEQ_HEADER = "shoal.seq"
MARK, IDLE, END, LOOSE = 1, 2, 4, 8
"""Flags: a control record; its writer is idle / ended; (data) not replayed exactly, so
readers apply it at least once instead of deduplicating it."""

_SEQ = struct.Struct(">iqqB")


class Seq(NamedTuple):
    """The decoded `shoal.seq` header."""

    writer: int
    seq: int
    ot: int
    flags: int


def seq_header(writer: int, seq: int, ot: int, flags: int = 0) -> tuple[str, bytes]:
    """The `shoal.seq` header of an internal record (or of a control record with MARK)."""
    return SEQ_HEADER, _SEQ.pack(writer, seq, ot, flags)


def read_seq(headers: Headers | None) -> Seq | None:
    """The `shoal.seq` header (always the first one), or None for a record without it."""
    if not headers:
        return None
    name, value = headers[0]
    if name == SEQ_HEADER and value is not None and len(value) == _SEQ.size:
        return Seq(*_SEQ.unpack(value))
    return None


def is_control(headers: Headers | None) -> bool:
    """True for a writer's control record: never shown to operators, `tail` or queries."""
    found = read_seq(headers)
    return found is not None and bool(found.flags & MARK)
