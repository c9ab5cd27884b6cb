"""Which keys a store evicted from its cache: a fixed-size Bloom filter.

A task store whose partition was empty when it opened can answer a cache miss without a
backend read when the key was never evicted (everything else it wrote is still cached):
the filter says "never" for sure and
"maybe" for keys it holds (and for about 3% of the others at its capacity). It takes one
bit array of 8 bits per key of capacity; past its capacity it gives up (`full`), and the
store reads the backend for every miss, as it must for a partition it did not fill itself.
"""

from __future__ import annotations

from collections.abc import Iterable

CAPACITY = 1 << 20  # keys: a 1 MiB filter per task store


class SeenKeys:
    """A Bloom filter of byte strings with three probes from one 64-bit hash."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        bits = max(6, (capacity * 8 - 1).bit_length())
        self.mask = (1 << bits) - 1
        self.bits = bytearray(1 << (bits - 3))
        self.capacity, self.count = capacity, 0

    @property
    def full(self) -> bool:
        """True once more keys were added than it was sized for."""
        return self.count > self.capacity

    def add(self, key: bytes) -> None:
        """Remember `key` (a key seen before, as far as the filter can tell, is not counted
        again)."""
        self.add_all((key,))

    def add_all(self, keys: Iterable[bytes]) -> None:
        """`add` each of `keys` (in one loop: a commit releases thousands)."""
        bits, mask, count = self.bits, self.mask, self.count
        for key in keys:
            h = hash(key)
            a, b, c = h & mask, (h >> 21) & mask, (h >> 42 ^ h) & mask
            known = (bits[a >> 3] >> (a & 7) & bits[b >> 3] >> (b & 7)
                     & bits[c >> 3] >> (c & 7) & 1)
            bits[a >> 3] |= 1 << (a & 7)
            bits[b >> 3] |= 1 << (b & 7)
            bits[c >> 3] |= 1 << (c & 7)
            count += not known
        self.count = count

    def __contains__(self, key: bytes) -> bool:
        """False: `key` was never added. True: it may have been."""
        h, bits, mask = hash(key), self.bits, self.mask
        probe = h & mask
        if not bits[probe >> 3] >> (probe & 7) & 1:
            return False
        probe = (h >> 21) & mask
        if not bits[probe >> 3] >> (probe & 7) & 1:
            return False
        probe = (h >> 42 ^ h) & mask
        return bool(bits[probe >> 3] >> (probe & 7) & 1)
