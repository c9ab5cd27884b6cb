"""A task's store: a bounded write-back cache over a backend, flushed at commit.

Reads hit the cache first; writes only touch the cache and mark the key dirty, so a hot key
costs a dict operation. The cache holds at most `cache_limit` entries, least recently used
first out: a clean entry is simply dropped, a dirty one is encoded into `pending`, which
reads consult before the backend, and which the next commit writes with the rest. (The
backend cannot take it earlier: on the embedded log it is written in the same atomic batch
as the outputs and input offsets; on Kafka, the changelog goes first.) `flush()` hands the
dirty and pending entries to the commit. Values are encoded by the pipeline's codec
(engine/api/codec.py), never pickled.

Range reads merge the backend's ordered scan with the changed keys as they go, without
building the range in memory. A store whose partition was empty when it opened holds in its
cache every key it wrote, except the ones it evicted, which it remembers (a Bloom filter,
`SeenKeys`): a miss of a key never evicted, such as a new window, costs no backend read (and
no hash while nothing was evicted). Such a key, put and deleted before the next commit (a
join's short-lived buffer), is not written at all when the backend is the durable copy.

A key the caller releases (`release`: a closed window it will not read again) leaves the
cache at the second commit after its last change, when the backend surely holds it: the
cache then holds the keys in use, however many the partition has (a released key counts as
evicted for the Bloom filter).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from itertools import islice
from typing import Any

from engine.api.codec import Codec
from engine.api.state import partition_prefix, prefix_end, store_key
from engine.state.backend import Backend
from engine.state.seen import SeenKeys

_DELETED = object()
_MISSING = object()
CACHE_ENTRIES = 100_000
"""Default cache size of one task's store, in entries."""


class TaskStore:
    """`name` for one partition: keys are stored as <partition:4><key>."""

    def __init__(self, name: str, partition: int, backend: Backend,
                 cache_limit: int = CACHE_ENTRIES, codec: Codec | None = None) -> None:
        self.name = name
        codec = codec or Codec()
        self.dumps, self.loads = codec.encode, codec.decode
        self.partition = partition
        self.backend = backend
        self.prefix = partition_prefix(partition)
        self.cache: dict[bytes, Any] = {}  # in use order, least recent first
        # cached keys changed since the last flush -> True when the backend has no such key
        # (a delete of it need not be written)
        self.dirty: dict[bytes, bool] = {}
        self.pending: dict[bytes, bytes | None] = {}  # changed keys evicted since then
        self.changed: list[bytes] = []  # dirty and pending keys, sorted for range reads
        self.unordered: list[bytes] = []  # changed keys not yet merged into `changed`
        self.cache_limit = max(cache_limit, 0)
        self.evictions = 0  # keys dropped from the cache (evicted or released)
        self.released: list[bytes] = []  # keys released since the last flush
        self.releasing: list[bytes] = []  # released before it: dropped at the next flush
        # a partition empty at the start holds only what this store wrote since, and all of
        # it is cached but for the evicted keys: a miss of a key never evicted is a miss
        self.evicted: SeenKeys | None = SeenKeys() if cache_limit > 0 and next(
            backend.scan(self.prefix, prefix_end(self.prefix)), None) is None else None
        self.whole = self.evicted is not None  # every key of the partition is cached
        self.absent: bytes | None = None  # the last miss known absent (none evicted since)

    def get(self, key: bytes) -> Any | None:
        cache = self.cache
        value = cache.pop(key, _MISSING)
        if value is _MISSING:
            return None if self.whole else self._miss(key)
        cache[key] = value  # now the most recently used
        return None if value is _DELETED else value

    def _miss(self, key: bytes) -> Any | None:
        """A key not in the cache: from `pending`, else the backend (unless the cache is
        known to hold the whole partition), then cached."""
        if key in self.pending:
            raw = self.pending.pop(key)
            self.dirty[key] = False  # back in the cache, still to be written
        elif self.evicted is not None and (not self.evictions or key not in self.evicted):
            self.absent = key  # its put need not ask the filter again
            return None
        else:
            raw = self.backend.get(self.prefix + key)
        value = _DELETED if raw is None else self.loads(raw)
        self.cache[key] = value
        if len(self.cache) > self.cache_limit:
            self._evict()
        return None if value is _DELETED else value

    def put(self, key: bytes, value: Any) -> None:
        cache = self.cache
        old = cache.pop(key, _MISSING)
        cache[key] = _DELETED if value is None else value  # the most recently used
        dirty = self.dirty
        if key not in dirty:
            if old is _MISSING and self.pending and self.pending.pop(key, _MISSING) is not _MISSING:
                dirty[key] = False  # back from `pending`: already in `changed`
            else:
                self.unordered.append(key)
                # a clean deleted entry mirrors a key the backend has not; an uncached key of
                # a store holding its whole partition (never evicted) was never written
                dirty[key] = old is _DELETED or (old is _MISSING and (
                    self.whole or key == self.absent or (
                        self.evicted is not None and key not in self.evicted)))
        if old is _MISSING and len(cache) > self.cache_limit:
            self._evict()

    def delete(self, key: bytes) -> None:
        self.put(key, None)

    def _evict(self) -> None:
        """Drop the least recently used eighth of the cache (dirty entries go to
        `pending`): in batches, so the cost per access stays constant."""
        cache, dirty, pending = self.cache, self.dirty, self.pending
        self.whole = False
        keys = list(islice(cache, max(1, self.cache_limit // 8)))
        for key in keys:
            value = cache.pop(key)
            if dirty.pop(key, None) is not None:
                pending[key] = None if value is _DELETED else self.dumps(value)
        self._evicted(keys)

    def _evicted(self, keys: list[bytes]) -> None:
        """Count `keys` as dropped from the cache (the Bloom filter remembers them)."""
        self.evictions += len(keys)
        self.absent = None
        if self.evicted is not None:
            self.evicted.add_all(keys)
            if self.evicted.full:
                self.evicted = None  # too many to track: misses read the backend

    def release(self, key: bytes) -> None:
        """The caller will not read `key` again soon: drop it from the cache once written."""
        self.released.append(key)

    def _drop_released(self) -> None:
        """Uncache the keys released before the previous flush and unchanged since: that
        commit has written them, so the backend answers for them."""
        cache, dirty = self.cache, self.dirty
        dropped = [key for key in self.releasing
                   if key not in dirty and cache.pop(key, _MISSING) is not _MISSING]
        self.releasing, self.released = self.released, []
        if dropped:
            self.whole = False
            self._evicted(dropped)

    def items(self, start: bytes | None = None, end: bytes | None = None
              ) -> Iterator[tuple[bytes, Any]]:
        """Entries with start <= key < end in key order: the backend's committed entries
        merged, as the scan goes, with the keys changed since (which win)."""
        order = self._ordered()
        first = 0 if start is None else bisect.bisect_left(order, start)
        last = len(order) if end is None else bisect.bisect_left(order, end)
        changed = order[first:last]  # a copy: the caller may write while it iterates
        lo = self.prefix + (start or b"")
        hi = self.prefix + end if end is not None else prefix_end(self.prefix)
        scan = self.backend.scan(lo, hi)
        stored = next(scan, None)
        for key in changed:
            while stored is not None and store_key(stored[0]) < key:
                yield store_key(stored[0]), self.loads(stored[1])
                stored = next(scan, None)
            if stored is not None and store_key(stored[0]) == key:
                stored = next(scan, None)
            value = self._changed_value(key)
            if value is not _DELETED:
                yield key, value
        while stored is not None:
            yield store_key(stored[0]), self.loads(stored[1])
            stored = next(scan, None)

    def _changed_value(self, key: bytes) -> Any:
        """The current value of a key changed since the last flush (_DELETED if deleted)."""
        value = self.cache.get(key, _MISSING)
        if value is not _MISSING:
            return value
        raw = self.pending.get(key)
        return _DELETED if raw is None else self.loads(raw)

    def _ordered(self) -> list[bytes]:
        """The changed keys in order; puts only append, the first range read after them
        sorts (a sorted run plus a few new keys sorts in about linear time)."""
        if self.unordered:
            self.changed.extend(self.unordered)
            self.changed.sort()
            self.unordered.clear()
        return self.changed

    def flush(self) -> list[tuple[bytes, bytes | None]]:
        """The changed entries as (backend key, bytes or None), and forget they changed. A
        key written and deleted since the backend last had it is left out (and uncached)
        when the backend is the durable copy (on Kafka, the changelog needs the delete)."""
        if self.releasing or self.released:
            self._drop_released()
        prefix, cache, dumps = self.prefix, self.cache, self.dumps
        changes = [(prefix + key, raw) for key, raw in self.pending.items()]
        skip = self.backend.durable
        for key, fresh in self.dirty.items():
            value = cache[key]
            if value is not _DELETED:
                changes.append((prefix + key, dumps(value)))
            elif fresh and skip:
                del cache[key]
            else:
                changes.append((prefix + key, None))
        self.dirty.clear()
        self.absent = None
        self.pending.clear()
        self.changed.clear()
        self.unordered.clear()
        return changes
