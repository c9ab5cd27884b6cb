"""A task's store: a write-back cache over a backend, flushed at commit.

Reads hit the cache first; writes only touch the cache and mark the key dirty, so a hot key
costs a dict operation. `flush()` hands the dirty entries (serialised) to the commit, which
writes them in the same atomic batch as the outputs and input offsets (embedded log) or
to the store's changelog (Kafka).
"""

from __future__ import annotations

import bisect
import pickle
from collections.abc import Iterator
from typing import Any

from engine.api.state import prefix_end
from engine.state.backend import Backend

_DELETED = object()
_MISSING = object()
_PROTOCOL = pickle.HIGHEST_PROTOCOL


class TaskStore:
    """`name` for one partition: keys are stored as <partition:4><key>."""

    def __init__(self, name: str, partition: int, backend: Backend,
                 cache_limit: int = 200_000) -> None:
        self.name = name
        self.partition = partition
        self.backend = backend
        self.prefix = partition.to_bytes(4, "big")
        self.cache: dict[bytes, Any] = {}
        self.dirty: set[bytes] = set()
        self.dirty_order: list[bytes] = []  # the dirty keys, sorted: range reads bisect it
        self.unordered: list[bytes] = []  # dirty keys not yet merged into dirty_order
        self.cache_limit = cache_limit
        # while the cache holds every key of the partition, a miss needs no backend read
        self.complete = cache_limit > 0 and next(
            backend.scan(self.prefix, prefix_end(self.prefix)), None) is None

    def get(self, key: bytes) -> Any | None:
        value = self.cache.get(key, _MISSING)
        if value is _MISSING:
            if self.complete:
                return None
            raw = self.backend.get(self.prefix + key)
            value = _DELETED if raw is None else pickle.loads(raw)
            if len(self.cache) < self.cache_limit:
                self.cache[key] = value
        return None if value is _DELETED else value

    def put(self, key: bytes, value: Any) -> None:
        self.cache[key] = _DELETED if value is None else value
        if key not in self.dirty:
            self.dirty.add(key)
            self.unordered.append(key)

    def delete(self, key: bytes) -> None:
        self.put(key, None)

    def items(self, start: bytes | None = None, end: bytes | None = None
              ) -> Iterator[tuple[bytes, Any]]:
        lo = self.prefix + (start or b"")
        hi = self.prefix + end if end is not None else prefix_end(self.prefix)
        merged: dict[bytes, tuple[bool, Any]] = {
            k[4:]: (True, raw) for k, raw in self.backend.scan(lo, hi)}
        order = self._ordered()
        first = 0 if start is None else bisect.bisect_left(order, start)
        last = len(order) if end is None else bisect.bisect_left(order, end)
        for key in order[first:last]:
            merged[key] = (False, self.cache[key])
        for key in sorted(merged):
            stored, value = merged[key]
            if stored:
                yield key, pickle.loads(value)
            elif value is not _DELETED:
                yield key, value

    def _ordered(self) -> list[bytes]:
        """The dirty keys in order; puts only append, the first range read after them sorts
        (a sorted run plus a few new keys sorts in about linear time)."""
        if self.unordered:
            self.dirty_order.extend(self.unordered)
            self.dirty_order.sort()
            self.unordered.clear()
        return self.dirty_order

    def flush(self) -> list[tuple[bytes, bytes | None]]:
        """The dirty entries as (backend key, bytes or None), and forget they were dirty."""
        changes = []
        for key in self.dirty:
            value = self.cache[key]
            changes.append((self.prefix + key,
                            None if value is _DELETED else pickle.dumps(value, _PROTOCOL)))
        self.dirty.clear()
        self.dirty_order.clear()
        self.unordered.clear()
        if len(self.cache) > self.cache_limit:
            self.cache.clear()
            self.complete = False
        return changes
