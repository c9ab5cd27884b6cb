"""murmur2 partitioning must match Kafka's, byte for byte."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given
from hypothesis import strategies as st

from engine.transport import murmur2, partition_for
from engine.transport.partitioner import Partitioner

# Kafka's own test vectors (org.apache.kafka.common.utils.UtilsTest#testMurmur2).
KAFKA_VECTORS = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


def _signed(h: int) -> int:
    return h - 2**32 if h >= 2**31 else h


def test_murmur2_matches_kafka_vectors() -> None:
    for data, expected in KAFKA_VECTORS.items():
        assert _signed(murmur2(data)) == expected, data


@given(key=st.binary(min_size=0, max_size=64), partitions=st.integers(1, 64))
def test_partition_matches_aiokafka_default_partitioner(key: bytes, partitions: int) -> None:
    all_partitions = list(range(partitions))
    assert partition_for(key, partitions) == DefaultPartitioner()(key, all_partitions,
                                                                  all_partitions)


def test_cached_partitioner_agrees_and_round_robins_null_keys() -> None:
    part = Partitioner(cache_size=4)
    keys = [f"k{i}".encode() for i in range(20)] * 2
    assert [part.hash(k) % 7 for k in keys] == [partition_for(k, 7) for k in keys]
    assert [part.round_robin("t", 3) for _ in range(5)] == [0, 1, 2, 0, 1]
