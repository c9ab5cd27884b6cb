"""The co-partitioning assignor: partition p of every topic to one member, balanced, and
sticky (members keep what they held where the balance allows)."""

from __future__ import annotations

from types import SimpleNamespace

from aiokafka.coordinator.protocol import ConsumerProtocolMemberMetadata
from hypothesis import given
from hypothesis import strategies as st

from engine.transport.kafka_group import CoPartitionAssignor, sticky_owners


@given(st.integers(0, 40), st.dictionaries(st.text("abcdef", min_size=1, max_size=3),
                                           st.sets(st.integers(0, 45)), min_size=1,
                                           max_size=6))
def test_balanced_and_keeps_what_it_can(width: int, held: dict[str, set[int]]) -> None:
    owners = sticky_owners(width, held)
    assert len(owners) == width
    loads = [owners.count(m) for m in held]
    assert max(loads) - min(loads) <= 1
    # a member keeps min(its share, what it held that nobody before it in line kept)
    kept = sum(1 for p, m in enumerate(owners) if p in held[m])
    claimed = {p for ps in held.values() for p in ps if p < width}
    assert kept >= min(len(claimed), width // len(held))
    assert sticky_owners(width, dict(reversed(held.items()))) == owners  # order-free


def test_scale_out_moves_only_what_the_newcomer_needs() -> None:
    two = sticky_owners(12, {"a": set(), "b": set()})
    held = {m: {p for p, o in enumerate(two) if o == m} for m in "ab"}
    three = sticky_owners(12, {**held, "c": set()})
    moved = sum(1 for before, after in zip(two, three, strict=True) if before != after)
    assert moved == 4 and three.count("c") == 4
    assert sticky_owners(12, {m: {p for p, o in enumerate(three) if o == m}
                              for m in "abc"}) == three  # a rebalance with no change


def test_the_assignor_gives_partition_p_of_every_topic_to_one_member() -> None:
    cluster = SimpleNamespace(partitions_for_topic=lambda t: set(range(4)))
    members = {m: ConsumerProtocolMemberMetadata(0, ["in", "rep"], data)
               for m, data in (("m1", b"0,1,2,3"), ("m2", b""))}
    plan = CoPartitionAssignor.assign(cluster, members)
    got = {m: dict(a.assignment) for m, a in plan.items()}
    assert got["m1"]["in"] == got["m1"]["rep"] and got["m2"]["in"] == got["m2"]["rep"]
    assert len(got["m1"]["in"]) == len(got["m2"]["in"]) == 2
    assert set(got["m1"]["in"]) | set(got["m2"]["in"]) == {0, 1, 2, 3}
    said = CoPartitionAssignor(lambda: [3, 1]).metadata(["rep", "in"])
    assert (said.subscription, said.user_data) == (["in", "rep"], b"1,3")
