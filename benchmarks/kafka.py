"""Stateless throughput on Kafka: the pipeline of benchmarks.stateless run by Shoal (one
worker in-process; one and two `shoal run` processes) against a hand-written aiokafka
consume-transform-produce loop and a Faust agent (benchmarks.faust_app), on a Tansu broker
this script starts on 127.0.0.1.

    .venv/bin/python -m benchmarks.kafka [--events N] [--seed S]

N buys are produced into `buys` (4 partitions, keyed by order_id), untimed. Each contender
reads them in its own consumer group and writes the taxed buys above 50 to its own topic
(acks=all; offsets committed after the acks: at-least-once). Tansu takes ~3 s to form a group,
so figures are given from the start and from the first assignment. Faust has no
until-caught-up mode: its worker is timed until its output topic holds the expected count
(polled every ~0.1 s), then stopped. Every output must hold exactly the expected records
(duplicates are counted), or the exit status is 1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

import msgspec
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.message_accumulator import BatchBuilder

from benchmarks.stateless import CHUNK, PARTITIONS, SOURCE, TARGET_RATIO, Buy, add_tax, generate
from engine import Pipeline, plan
from engine.runtime import Worker, WorkerConfig
from engine.transport.kafka import KafkaTransport
from tests.kafka_broker import tansu

ROOT = Path(__file__).resolve().parents[1]
SHOAL_OUT, HAND_OUT, FAUST_OUT = "buys.taxed", "buys.taxed.hand", "buys.taxed.faust"
IN_PROCESS, HAND = "shoal, 1 worker (in-process)", "hand-written aiokafka loop"
FAUST = "faust-streaming agent"
FAUST_IDLE_S, FAUST_JOIN_S, FAUST_NOTES = 10.0, 60.0, 12
PROCESSES = "shoal run, {} process{}"
APP = "from benchmarks.kafka import pipeline\n\np = pipeline({name!r}, {out!r})\n"
Expected = set[tuple[bytes, bytes]]


def pipeline(name: str, out: str) -> Pipeline:
    """filter(price > 50) -> map(add_tax) -> to(out), as in benchmarks.stateless."""
    p = Pipeline(name)
    (p.stream(SOURCE, value=Buy, key="order_id", time="ts")
     .filter(lambda b: b.price > 50).map(add_tax).to(out))
    return p


@dataclass
class Timing:
    """One run: seconds from its start and from its first partition assignment."""

    total_s: float
    joined_s: float
    ok: bool = True
    notes: list[str] = field(default_factory=list)


async def produce_input(bootstrap: str, n: int, seed: int) -> Expected:
    """Write the input in chunks of CHUNK; return the expected (key, value) outputs."""
    log = KafkaTransport(bootstrap)
    decode, encode = msgspec.json.Decoder(Buy).decode, msgspec.json.Encoder().encode
    expected: Expected = set()
    try:
        await log.create_topic(SOURCE, PARTITIONS)
        await log.create_topic(HAND_OUT, PARTITIONS)
        await log.create_topic(FAUST_OUT, PARTITIONS)
        records = generate(n, seed)
        while chunk := list(islice(records, CHUNK)):
            await log.produce(SOURCE, chunk)
            for key, value, _, _ in chunk:
                if (buy := decode(value)).price > 50:  # type: ignore[arg-type]
                    expected.add((key or b"", encode(add_tax(buy))))
    finally:
        await log.close()
    return expected


async def run_shoal(bootstrap: str) -> Timing:
    """One in-process Worker until caught up (and its clients closed)."""
    log = KafkaTransport(bootstrap)
    worker = Worker(plan(pipeline("bench-kafka", SHOAL_OUT)), log,
                    WorkerConfig(until_caught_up=True))
    assigned: list[float] = []

    def on_event(text: str) -> None:
        if text.startswith("assigned"):
            assigned.append(time.perf_counter())

    worker.on_event = on_event
    start = time.perf_counter()
    try:
        await worker.run()
    finally:
        await log.close()
    end = time.perf_counter()
    return Timing(end - start, end - assigned[0])


class _Assigned(ConsumerRebalanceListener):  # type: ignore[misc]
    """Notes when partitions are assigned; nothing to do on revocation (we commit each poll)."""

    def __init__(self) -> None:
        self.at: list[float] = []

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        pass

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self.at.append(time.perf_counter())


async def caught_up(consumer: AIOKafkaConsumer) -> bool:
    """Assigned, and every partition read up to the high watermark of its last fetch."""
    parts = consumer.assignment()
    for tp in parts:
        high = consumer.highwater(tp)
        if high is None or await consumer.position(tp) < high:
            return False
    return bool(parts)


async def hand_written(bootstrap: str) -> Timing:
    """A group consumer loop with Shoal's client settings: per poll (aiokafka's default, no
    record cap), decode, filter, enrich and encode into one batch per output partition
    (aiokafka's murmur2 partitioner), send, await every ack, then commit; stop when caught up.
    """
    decode, encode = msgspec.json.Decoder(Buy).decode, msgspec.json.Encoder().encode
    listener = _Assigned()
    start = time.perf_counter()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id="bench-kafka-hand", enable_auto_commit=False,
        auto_offset_reset="earliest", session_timeout_ms=6_000, heartbeat_interval_ms=1_000,
        fetch_max_wait_ms=100, max_partition_fetch_bytes=4 << 20)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5,
                                max_batch_size=1 << 20)
    await consumer.start()
    await producer.start()
    consumer.subscribe([SOURCE], listener=listener)
    partition_of, parts = DefaultPartitioner(), sorted(await producer.partitions_for(HAND_OUT))
    send = producer.send_batch
    try:
        while True:
            if not (fetched := await consumer.getmany(timeout_ms=100)):
                if await caught_up(consumer):
                    break
                continue
            batches: dict[int, BatchBuilder] = {}
            acks = []
            for records in fetched.values():
                for r in records:
                    if (buy := decode(r.value)).price > 50:
                        value, p = encode(add_tax(buy)), partition_of(r.key, parts, parts)
                        if (batch := batches.get(p)) is None:
                            batch = batches[p] = producer.create_batch()
                        if batch.append(key=r.key, value=value, timestamp=buy.ts) is None:
                            acks.append(await send(batch, HAND_OUT, partition=p))
                            batch = batches[p] = producer.create_batch()
                            batch.append(key=r.key, value=value, timestamp=buy.ts)
            acks += [await send(b, HAND_OUT, partition=p) for p, b in batches.items()]
            await asyncio.gather(*acks)
            await consumer.commit({tp: rs[-1].offset + 1 for tp, rs in fetched.items()})
    finally:
        await consumer.stop()
        await producer.stop()
    end = time.perf_counter()
    return Timing(end - start, end - listener.at[0])


def run_processes(url: str, app: Path, workers: int) -> Timing:
    """`workers` `shoal run --until-caught-up` processes, timed until all have exited; their
    stderr lines are timestamped to tell when each was assigned what and when it exited."""
    cmd = [sys.executable, "-m", "engine.cli", "run", str(app), "--until-caught-up",
           "--broker", url]
    lines: list[tuple[float, int, str]] = []
    start = time.perf_counter()
    procs = [subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True) for _ in range(workers)]

    def follow(i: int, proc: subprocess.Popen[str]) -> None:
        for line in proc.stderr or ():
            lines.append((time.perf_counter(), i, line.strip()))
        lines.append((time.perf_counter(), i, f"exited with status {proc.wait()}"))

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(follow, range(workers), procs))
    end = time.perf_counter()
    keep = ("assigned", "revoked", "processed", "exited", "error", "internal")
    notes = [f"{at - start:6.2f} s  worker {i}: {text}" for at, i, text in sorted(lines)
             if text.startswith(keep)]
    first = min((at for at, _, text in lines if text.startswith("assigned")), default=start)
    return Timing(end - start, end - first, not any(p.returncode for p in procs), notes)


async def run_faust(bootstrap: str, data_dir: Path, want: int) -> Timing:
    """A Faust worker (benchmarks.faust_app) in a subprocess, timed until its output holds
    `want` records, then stopped (SIGTERM). Its output lines (stdout: `assigned ...`; stderr:
    Faust's warnings) are timestamped; the first `assigned` line is its join."""
    cmd = [sys.executable, "-m", "benchmarks.faust_app", bootstrap, "bench-kafka-faust",
           FAUST_OUT, str(data_dir)]
    lines: list[tuple[float, str]] = []
    start = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(*cmd, cwd=ROOT, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT)
    follow = asyncio.create_task(_follow(proc, lines))
    log = KafkaTransport(bootstrap)
    try:
        done = await _output_complete(log, want, proc, lines, start)
    finally:
        await log.close()
        status = await _stop(proc)
        await follow
    end = time.perf_counter()
    lines += [(end, f"stopped (SIGTERM), exited with status {status}")]
    lines += [(done, f"output complete: {want:,} records")] if done else []
    notes = [f"{at - start:6.2f} s  {text}" for at, text in sorted(lines)]
    if len(notes) > FAUST_NOTES:  # keep the first lines and the exit
        notes[FAUST_NOTES - 2:-1] = [f"        ... {len(notes) - FAUST_NOTES + 1} more lines"]
    end, first = done or end, _first_assigned(lines) or start
    return Timing(end - start, end - first, done is not None and status == 0, notes)


async def _follow(proc: asyncio.subprocess.Process, lines: list[tuple[float, str]]) -> None:
    """Append each output line of `proc` (until it closes its pipe) with its arrival time."""
    assert proc.stdout is not None
    async for raw in proc.stdout:
        if text := raw.decode(errors="replace").strip():
            lines.append((time.perf_counter(), text))


def _first_assigned(lines: list[tuple[float, str]]) -> float | None:
    """When the first `assigned` line arrived, if one has."""
    return next((at for at, text in lines if text.startswith("assigned")), None)


async def _output_complete(log: KafkaTransport, want: int, proc: asyncio.subprocess.Process,
                           lines: list[tuple[float, str]], start: float) -> float | None:
    """When FAUST_OUT was first seen holding `want` records; None if the worker exited, or
    the output did not grow for FAUST_IDLE_S after the join (FAUST_JOIN_S before it)."""
    stored, grew = 0, start
    while proc.returncode is None:
        count, now = sum(await log.end_offsets(FAUST_OUT)), time.perf_counter()
        if count >= want:
            return now
        if count > stored:
            stored, grew = count, now
        joined = _first_assigned(lines)
        if now - max(grew, joined or start) > (FAUST_IDLE_S if joined else FAUST_JOIN_S):
            lines.append((now, f"gave up: output idle at {stored:,} of {want:,} records"))
            return None
        await asyncio.sleep(0.05)
    return None


async def _stop(proc: asyncio.subprocess.Process, grace_s: float = 30.0) -> int:
    """SIGTERM (a Faust worker then stops cleanly), SIGKILL after `grace_s`; the status."""
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(proc.wait(), grace_s)
        except TimeoutError:
            proc.kill()
    return await proc.wait()


async def verify(bootstrap: str, topic: str, expected: Expected) -> tuple[int, int, int, int]:
    """(stored, missing, unexpected, duplicates) of `topic` against the expected outputs."""
    log = KafkaTransport(bootstrap)
    found: Counter[tuple[bytes, bytes]] = Counter()
    try:
        for partition, end in enumerate(await log.end_offsets(topic)):
            offset = 0
            while offset < end:
                records = await log.read((topic, partition), offset, CHUNK)
                found.update((k or b"", v or b"") for _, k, v, _, _ in records)
                offset = records[-1][0] + 1
    finally:
        await log.close()
    missing = len(expected - found.keys())
    unexpected = sum(c for kv, c in found.items() if kv not in expected)
    duplicates = sum(c - 1 for kv, c in found.items() if c > 1 and kv in expected)
    return found.total(), missing, unexpected, duplicates


def bench(tmp: Path, n: int, seed: int) -> int:
    """Start the broker, produce, time every contender, check outputs, print the figures."""
    with tansu(tmp / "tansu.log") as broker:
        expected = asyncio.run(produce_input(broker.bootstrap, n, seed))
        topics = {IN_PROCESS: SHOAL_OUT, HAND: HAND_OUT}
        timings = {IN_PROCESS: asyncio.run(run_shoal(broker.bootstrap)),
                   HAND: asyncio.run(hand_written(broker.bootstrap))}
        for w in (1, 2):
            label, app = PROCESSES.format(w, "es" if w > 1 else ""), tmp / f"app{w}.py"
            topics[label] = f"{SHOAL_OUT}.p{w}"
            app.write_text(APP.format(name=f"bench-kafka-p{w}", out=topics[label]))
            timings[label] = run_processes(broker.url, app, w)
        topics[FAUST] = FAUST_OUT
        timings[FAUST] = asyncio.run(run_faust(broker.bootstrap, tmp / "faust", len(expected)))
        checks = {label: asyncio.run(verify(broker.bootstrap, topic, expected))
                  for label, topic in topics.items()}
    return report(n, len(expected), timings, checks)


def report(n: int, expected: int, timings: dict[str, Timing],
           checks: dict[str, tuple[int, int, int, int]]) -> int:
    """Print the table and the ratios; 0 if every contender ran and its output is exact."""
    print("stateless on Kafka: filter(price > 50) -> map(add_tax) -> to(topic), Tansu broker")
    print(f"  cores             {os.cpu_count():>11}")
    print(f"  events (N)        {n:>11,}   expected outputs {expected:,}")
    print("  events/s         from start  after join  (join: first partition assignment)")
    rates: dict[str, tuple[float, float]] = {}
    ok = True
    for label, t in timings.items():
        stored, missing, unexpected, dups = checks[label]
        rates[label] = (n / t.total_s, n / t.joined_s)
        good = t.ok and missing == unexpected == 0
        ok = ok and good
        print(f"  {label:<29}{rates[label][0]:>9,.0f}{rates[label][1]:>12,.0f}   "
              f"{t.total_s:5.2f} s / {t.joined_s:4.2f} s   stored {stored:,}, missing "
              f"{missing}, unexpected {unexpected}, duplicates {dups}{'' if good else ' FAIL'}")
        for note in t.notes:
            print(f"      {note}")
    shoal, hand, faust = rates[IN_PROCESS], rates[HAND], rates[FAUST]
    one, two = rates[PROCESSES.format(1, "")], rates[PROCESSES.format(2, "es")]
    print(f"  ratio shoal / hand-written    {shoal[0] / hand[0]:5.2f} from start, "
          f"{shoal[1] / hand[1]:5.2f} after join  (target >= {TARGET_RATIO})")
    print(f"  ratio shoal / faust           {shoal[0] / faust[0]:5.2f} from start, "
          f"{shoal[1] / faust[1]:5.2f} after join")
    print(f"  2 processes / 1 process       {two[0] / one[0]:5.2f} wall, "
          f"{two[1] / one[1]:5.2f} after the first assignment")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run in a temporary directory (broker log and app files)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.kafka",
                                     description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=200_000, help="input events (N)")
    parser.add_argument("--seed", type=int, default=42, help="generator seed")
    args = parser.parse_args(argv)
    if args.events < 1:
        parser.error("--events must be positive")
    with tempfile.TemporaryDirectory(prefix="shoal-bench-kafka-") as tmp:
        return bench(Path(tmp), args.events, args.seed)


if __name__ == "__main__":
    sys.exit(main())
