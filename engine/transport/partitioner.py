"""Kafka's default partitioner: murmur2 of the key bytes, so embedded and Kafka runs (and
outside producers) place every key in the same partition. Also librdkafka's CRC32, to check
and read inputs that its clients produced with their default partitioner."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable

_M = 0x5BD1E995
_SEED = 0x9747B28C
_MASK = 0xFFFFFFFF
_words = struct.Struct("<I").iter_unpack


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 hash of `data` as an unsigned 32-bit int."""
    length = len(data)
    h = (_SEED ^ length) & _MASK
    body = length & ~3
    for (k,) in _words(data[:body]):
        k = (k * _M) & _MASK
        k ^= k >> 24
        h = ((h * _M) & _MASK) ^ ((k * _M) & _MASK)
    rem = length & 3
    if rem:
        if rem == 3:
            h ^= data[body + 2] << 16
        if rem >= 2:
            h ^= data[body + 1] << 8
        h ^= data[body]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    return h ^ (h >> 15)


def positive_murmur2(data: bytes) -> int:
    """murmur2 as Kafka's partitioner uses it (sign bit cleared)."""
    return murmur2(data) & 0x7FFFFFFF


# The hash each partitioner of engine/api/keys.PARTITIONERS takes modulo the partition count
# (librdkafka's consistent partitioners: rd_crc32(key) % partitions, the zlib CRC-32).
KEY_HASHES: dict[str, Callable[[bytes], int]] = {"murmur2": positive_murmur2,
                                                 "crc32": zlib.crc32}


def partition_for(key: bytes, partitions: int) -> int:
    """Partition of a non-null key, exactly as Kafka's DefaultPartitioner computes it."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


class Partitioner:
    """Assigns partitions to keys (cached: hot keys cost a dict lookup) and spreads
    null-keyed records round-robin."""

    def __init__(self, cache_size: int = 100_000) -> None:
        self._hashes: dict[bytes, int] = {}
        self._cache_size = cache_size
        self._next: dict[str, int] = {}

    def hash(self, key: bytes) -> int:
        """Positive murmur2 of `key`, cached."""
        h = self._hashes.get(key)
        if h is None:
            if len(self._hashes) >= self._cache_size:
                self._hashes.clear()
            h = self._hashes[key] = murmur2(key) & 0x7FFFFFFF
        return h

    def round_robin(self, topic: str, partitions: int) -> int:
        """Next partition for a null-keyed record of `topic`."""
        nxt = self._next.get(topic, 0)
        self._next[topic] = nxt + 1
        return nxt % partitions

    def partition(self, topic: str, key: bytes | None, partitions: int) -> int:
        """Where a record of `topic` with `key` goes when the writer did not say: Kafka's
        rule (hash of the key; round-robin without one)."""
        if partitions == 1:
            return 0
        if key is None:
            return self.round_robin(topic, partitions)
        return self.hash(key) % partitions
