"""The state contract operators program against: a key-value store per task.

Keys are bytes (`window_key` encodes (key, window start) keeping order);
values are Python objects. Reads see the task's own uncommitted writes; writes become
durable at the next commit, together with the outputs and input offsets they belong to.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol


class KeyValueStore(Protocol):
    """One task's view of a named store (its partition only)."""

    name: str

    def get(self, key: bytes) -> Any | None:
        """The value of `key`, or None."""
        ...

    def put(self, key: bytes, value: Any) -> None:
        """Set `key` to `value` (None deletes)."""
        ...

    def delete(self, key: bytes) -> None:
        """Remove `key`."""
        ...

    def items(self, start: bytes | None = None, end: bytes | None = None
              ) -> Iterator[tuple[bytes, Any]]:
        """Entries with start <= key < end, in key order."""
        ...


def releaser(store: KeyValueStore) -> Callable[[bytes], None]:
    """The store's `release(key)`, or a no-op for a store without one. Releasing a key is a
    hint, not a change: the caller will not read it again soon (a closed window), so a
    store that caches may drop it from memory once it is written. Reads still see it."""
    release: Callable[[bytes], None] | None = getattr(store, "release", None)
    return release if release is not None else _keep


def _keep(key: bytes) -> None:
    """A store without `release` keeps what it keeps."""


META = b"\xff\xff"
"""Keys from here on hold a processor's bookkeeping (stream time, counters), not table rows;
window keys (`window_key`) always sort before it."""


def meta_key(name: str) -> bytes:
    """A bookkeeping key of a store (after every window key)."""
    return META + name.encode()


def prefix_end(prefix: bytes) -> bytes | None:
    """The smallest key greater than every key starting with `prefix` (None: no bound)."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes([stripped[-1] + 1])


PARTITION_BYTES = 4
"""A store keeps all partitions in one keyspace: a backend key is <partition:4><key>."""


def partition_prefix(partition: int) -> bytes:
    """The prefix of every backend key of `partition`."""
    return partition.to_bytes(PARTITION_BYTES, "big")


def store_key(backend_key: bytes) -> bytes:
    """A backend key without its partition prefix: the key the store's user sees (and the
    key of its changelog record: a changelog partition holds one store partition)."""
    return backend_key[PARTITION_BYTES:]


def window_key(key: bytes, start: int) -> bytes:
    """Order-preserving (key, window start) encoding: a key's windows are contiguous and
    sorted by start, so `windows(key, t0, t1)` is one range scan."""
    return len(key).to_bytes(4, "big") + key + (start + (1 << 63)).to_bytes(8, "big")


def window_keys(packed: bytes | bytearray) -> list[bytes]:
    """The window keys whose concatenation is `packed` (each says its own length)."""
    found, i = [], 0
    while i < len(packed):
        j = i + 12 + int.from_bytes(packed[i:i + 4], "big")
        found.append(bytes(packed[i:j]))
        i = j
    return found


def split_window_key(raw: bytes) -> tuple[bytes, int]:
    """Inverse of `window_key`."""
    n = int.from_bytes(raw[:4], "big")
    return raw[4:4 + n], int.from_bytes(raw[4 + n:12 + n], "big") - (1 << 63)
