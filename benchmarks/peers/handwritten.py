"""Hand-written aiokafka + RocksDB (rocksdict) loops for the windows and join workloads on
Kafka (the stateless one is benchmarks.kafka.hand_written).

One group consumer with the client settings of benchmarks.kafka; per poll: decode, update a
dict of state, put the changed entries in a rocksdict WriteBatch, write it, send the outputs
in one batch per output partition (murmur2, as Kafka's clients), await every ack, commit the
offsets; stop once caught up. At-least-once, with the local RocksDB as the state store (no
changelog topic). Windows: per (product, minute) count and sum(price), one update per input,
records later than 1 s past their window dropped. Join: per partition and side, buffers
order_id -> [(ts, value)]; a buy is kept until the shipments' stream time passes it by 1 h,
a shipment until the buys' stream time passes it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import msgspec
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from aiokafka.partitioner import DefaultPartitioner
from rocksdict import Options, Rdict, WriteBatch

from benchmarks.kafka import _Assigned, caught_up
from benchmarks.peers.peerkit import GRACE_MS, WINDOW_MS, WITHIN_MS, Clock, joined, window_row

Out = tuple[bytes, bytes, int]  # key, value, timestamp
Step = Callable[[list[ConsumerRecord], WriteBatch], list[Out]]
WINDOWS_OUT, JOIN_OUT = "buys.windows.hand", "buys.shipped.hand"


async def send(producer: AIOKafkaProducer, topic: str, rows: list[Out]) -> None:
    """Send `rows` in as few batches per partition as fit, and wait for every ack."""
    parts = sorted(await producer.partitions_for(topic))
    partition_of = DefaultPartitioner()
    by_partition: dict[int, list[Out]] = {}
    for row in rows:
        by_partition.setdefault(partition_of(row[0], parts, parts), []).append(row)
    acks = []
    for partition, part_rows in by_partition.items():
        batch = producer.create_batch()
        for key, value, ts in part_rows:
            while batch.append(key=key, value=value, timestamp=ts) is None:  # full
                acks.append(await producer.send_batch(batch, topic, partition=partition))
                batch = producer.create_batch()
        acks.append(await producer.send_batch(batch, topic, partition=partition))
    await asyncio.gather(*acks)


# The client settings of benchmarks.kafka.hand_written (which are Shoal's).
CONSUMER: dict[str, Any] = {
    "enable_auto_commit": False, "auto_offset_reset": "earliest", "fetch_max_wait_ms": 100,
    "session_timeout_ms": 6_000, "heartbeat_interval_ms": 1_000,
    "max_partition_fetch_bytes": 4 << 20}
PRODUCER: dict[str, Any] = {"acks": "all", "linger_ms": 5, "max_batch_size": 1 << 20}


async def polls(consumer: AIOKafkaConsumer) -> AsyncIterator[dict[Any, list[ConsumerRecord]]]:
    """Each non-empty poll, until every assigned partition is read to its end."""
    while True:
        if fetched := await consumer.getmany(timeout_ms=100):
            yield fetched
        elif await caught_up(consumer):
            return


async def run(bootstrap: str, group: str, topics: list[str], out: str, step: Step,
              db: Rdict, clock: Clock) -> int:
    """The consume-process-produce loop; the outputs written."""
    listener = _Assigned()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, **CONSUMER)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, **PRODUCER)
    for client in (consumer, producer):
        await client.start()
    consumer.subscribe(topics, listener=listener)
    written = 0
    try:
        async for fetched in polls(consumer):
            clock.first = clock.first or listener.at[0]
            batch = WriteBatch(raw_mode=True)
            rows = step([r for records in fetched.values() for r in records], batch)
            db.write(batch)
            await send(producer, out, rows)
            written += len(rows)
            await consumer.commit({tp: rs[-1].offset + 1 for tp, rs in fetched.items()})
    finally:
        await consumer.stop()
        await producer.stop()
    return written


def windows_step(db: Rdict) -> Step:
    """Per (product, window start): (count, sum(price)), cached in a dict over `db`."""
    decode, encode = msgspec.json.decode, msgspec.json.Encoder().encode
    pack, unpack = msgspec.msgpack.encode, msgspec.msgpack.decode
    state: dict[bytes, list[Any]] = {}
    stream_time: dict[int, int] = {}

    def step(records: list[ConsumerRecord], batch: WriteBatch) -> list[Out]:
        rows: list[Out] = []
        dirty: set[bytes] = set()
        for r in records:
            buy = decode(r.value)
            ts, product = buy["ts"], buy["product"]
            now = stream_time[r.partition] = max(stream_time.get(r.partition, ts), ts)
            start = ts - ts % WINDOW_MS
            if now >= start + WINDOW_MS + GRACE_MS:
                continue  # late: its window has closed
            key = r.key + b"\0" + start.to_bytes(8, "big")
            if (acc := state.get(key)) is None:
                stored = db.get(key)
                acc = state[key] = [0, 0.0] if stored is None else unpack(stored)
            acc[0] += 1
            acc[1] += buy["price"]
            dirty.add(key)
            rows.append((r.key, encode(window_row(product, start, acc[0], acc[1])), ts))
        for key in dirty:
            batch.put(key, pack(state[key]))
        return rows

    return step


class JoinState:
    """The join buffers of one partition: per side, order_id -> [(ts, value)] and the
    side's stream time."""

    def __init__(self) -> None:
        self.buffers: tuple[dict[bytes, list[tuple[int, Any]]], ...] = ({}, {})
        self.times = [-(1 << 62), -(1 << 62)]
        self.expiry: tuple[list[tuple[int, bytes]], ...] = ([], [])  # (ts, key), in order

    def expire(self, side: int, dirty: set[tuple[int, bytes]]) -> None:
        """Drop the entries of `side` that no later record of the other side can match."""
        reach = WITHIN_MS if side == 0 else 0
        queue, limit = self.expiry[side], self.times[1 - side] - reach
        done = 0
        while done < len(queue) and queue[done][0] < limit:
            key = queue[done][1]
            kept = [e for e in self.buffers[side].get(key, ()) if e[0] >= limit]
            if kept:
                self.buffers[side][key] = kept
            else:
                self.buffers[side].pop(key, None)
            dirty.add((side, key))
            done += 1
        del queue[:done]


def join_step(db: Rdict) -> Step:
    """Buys (side 0) joined with shipments (side 1) within [buy, buy + 1 h]."""
    decode, encode = msgspec.json.decode, msgspec.json.Encoder().encode
    pack = msgspec.msgpack.encode
    states: dict[int, JoinState] = {}

    def step(records: list[ConsumerRecord], batch: WriteBatch) -> list[Out]:
        rows: list[Out] = []
        dirty: dict[int, set[tuple[int, bytes]]] = {}
        for r in records:
            side = 0 if r.topic == "buys" else 1
            state = states.get(r.partition) or states.setdefault(r.partition, JoinState())
            value, ts = decode(r.value), r.timestamp
            state.times[side] = max(state.times[side], ts)
            lo, hi = (ts, ts + WITHIN_MS) if side == 0 else (ts - WITHIN_MS, ts)
            for t, partner in state.buffers[1 - side].get(r.key, ()):
                if lo <= t <= hi:
                    pair = (value, partner) if side == 0 else (partner, value)
                    rows.append((r.key, encode(joined(*pair)), max(t, ts)))
            state.buffers[side].setdefault(r.key, []).append((ts, value))
            state.expiry[side].append((ts, r.key))
            dirty.setdefault(r.partition, set()).add((side, r.key))
        for partition, changed in dirty.items():
            state = states[partition]
            state.expire(0, changed)
            state.expire(1, changed)
            for side, key in changed:
                entries = state.buffers[side].get(key)
                db_key = bytes((partition, side)) + key
                if entries:
                    batch.put(db_key, pack(entries))
                else:
                    batch.delete(db_key)
        return rows

    return step


WORKLOADS: dict[str, tuple[list[str], str, Callable[[Rdict], Step]]] = {
    "windows": (["buys"], WINDOWS_OUT, windows_step),
    "join": (["buys", "shipped"], JOIN_OUT, join_step),
}


async def hand_written(workload: str, bootstrap: str, scratch: Path, clock: Clock) -> tuple[
        int, str]:
    """Run one workload's loop with its RocksDB under `scratch`; (outputs, output topic)."""
    topics, out, make_step = WORKLOADS[workload]
    db = Rdict(str(scratch / "hand-rocksdb"), options=Options(raw_mode=True))
    try:
        written = await run(bootstrap, f"peers-hand-{workload}", topics, out, make_step(db),
                            db, clock)
    finally:
        db.close()
    return written, out
