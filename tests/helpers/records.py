"""Random keyed, timed records for operator property tests, and where they land."""

from __future__ import annotations

from hypothesis import strategies as st

from engine.transport import partition_for

Rec = tuple[str, int, int]  # key, event time, price

records_st = st.lists(st.tuples(st.sampled_from("abcde"), st.integers(0, 120),
                                st.integers(1, 9)), max_size=40)


def partition_of(key: str, partitions: int) -> int:
    """The partition of a str key (Kafka's default partitioner)."""
    return partition_for(key.encode(), partitions)


def offset_of(recs: list[Rec], index: int, partitions: int) -> int:
    """Offset of record `index` in its partition (records are piped one by one)."""
    p = partition_of(recs[index][0], partitions)
    return sum(1 for key, _, _ in recs[:index] if partition_of(key, partitions) == p)
