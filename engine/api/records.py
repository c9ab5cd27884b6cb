"""Record shapes shared by transports, runtime and tests."""

from __future__ import annotations

from typing import NamedTuple

Headers = list[tuple[str, bytes]]
TopicPartition = tuple[str, int]


class Record(NamedTuple):
    """A stored record as a consumer sees it."""

    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: int
    headers: Headers | None


OutRecord = tuple[bytes | None, bytes | None, int, Headers | None]
"""A record to append (key, value, timestamp, headers); the log picks the partition."""
