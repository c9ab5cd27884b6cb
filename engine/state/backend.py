"""Where a store's committed bytes live: a dict (tests) or a RocksDB column family."""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from typing import Protocol


class Backend(Protocol):
    """Committed, ordered bytes of one store (all partitions, keys carry the partition)."""

    def get(self, key: bytes) -> bytes | None: ...

    def scan(self, start: bytes, end: bytes | None) -> Iterator[tuple[bytes, bytes]]: ...

    def apply(self, changes: list[tuple[bytes, bytes | None]]) -> None: ...


class DictBackend:
    """An in-memory backend with the same ordering as RocksDB (bytewise)."""

    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}
        self._sorted: list[bytes] | None = None

    def get(self, key: bytes) -> bytes | None:
        return self.data.get(key)

    def scan(self, start: bytes, end: bytes | None) -> Iterator[tuple[bytes, bytes]]:
        if self._sorted is None:
            self._sorted = sorted(self.data)
        keys = self._sorted
        for i in range(bisect.bisect_left(keys, start), len(keys)):
            key = keys[i]
            if end is not None and key >= end:
                return
            yield key, self.data[key]

    def apply(self, changes: list[tuple[bytes, bytes | None]]) -> None:
        for key, value in changes:
            if value is None:
                self.data.pop(key, None)
            else:
                self.data[key] = value
        self._sorted = None
