"""Shoal (on its embedded log or on Kafka, one worker) and the hand-written aiokafka +
RocksDB loops, as one contender process of `python -m benchmarks.peers`.

    .venv/bin/python -m benchmarks.peers.shoal_app MODE WORKLOAD SOURCE SCRATCH

MODE `embedded`: SOURCE is the data directory of an embedded log holding the workload's input
(benchmarks.stateless/windows/join produce_input), run by that module's `run_shoal` (windows:
emit=updates). MODE `kafka`: the same pipelines on the broker at SOURCE (host:port), with the
worker's local stores under SCRATCH. MODE `hand`: benchmarks.kafka.hand_written (stateless) or
benchmarks.peers.handwritten. Prints the result line of benchmarks.peers.peerkit, with the
topic the outputs went to.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from benchmarks import join, kafka, stateless, windows
from benchmarks.peers.handwritten import hand_written
from benchmarks.peers.peerkit import Clock
from engine import Pipeline, plan
from engine.job import Job
from engine.runtime import WorkerConfig
from engine.transport import EmbeddedLog
from engine.transport.kafka import KafkaTransport


def pipeline(workload: str) -> tuple[Pipeline, str]:
    """The workload's Shoal pipeline and its output topic."""
    if workload == "stateless":
        return kafka.pipeline("bench-kafka", kafka.SHOAL_OUT), kafka.SHOAL_OUT
    if workload == "windows":
        return windows.pipeline("updates"), "buys.windows.updates"
    return join.pipeline(), join.SHOAL_OUT


def embedded(workload: str, data: Path) -> tuple[int, str]:
    """Run the module's own Shoal contender on the embedded log at `data`."""
    log = EmbeddedLog(data)
    try:
        if workload == "stateless":
            return stateless.run_shoal(log), stateless.SHOAL_OUT
        if workload == "windows":
            return windows.run_shoal(log, "updates")[0], "buys.windows.updates"
        return join.run_shoal(log)[0], join.SHOAL_OUT
    finally:
        asyncio.run(log.close())


async def on_kafka(workload: str, bootstrap: str, scratch: Path, clock: Clock) -> tuple[
        int, str]:
    """One Shoal worker on Kafka until caught up; the clock's first record is its first
    partition assignment."""
    p, out = pipeline(workload)
    log = KafkaTransport(bootstrap)
    job = Job(plan(p), log, str(scratch / "shoal-state"))
    worker = job.worker(WorkerConfig(until_caught_up=True))
    worker.on_event = lambda text: clock.seen() if text.startswith("assigned") else None
    try:
        stats = await worker.run()
    finally:
        await log.close()
        job.close()
    return stats.out.get(out, 0), out


async def hand(workload: str, bootstrap: str, scratch: Path, clock: Clock) -> tuple[int, str]:
    """The hand-written loop of the workload."""
    if workload != "stateless":
        return await hand_written(workload, bootstrap, scratch, clock)
    timing = await kafka.hand_written(bootstrap)
    clock.first = clock.start + timing.total_s - timing.joined_s
    return -1, kafka.HAND_OUT  # it does not count its outputs; the harness does


def main() -> None:
    """Run one contender and print its result line."""
    mode, workload, source, scratch = sys.argv[1:5]
    if mode == "hand" and workload == "stateless":
        asyncio.run(_create(source, kafka.HAND_OUT))
    clock = Clock()
    if mode == "embedded":
        outputs, topic = embedded(workload, Path(source))
    elif mode == "kafka":
        outputs, topic = asyncio.run(on_kafka(workload, source, Path(scratch), clock))
    else:
        outputs, topic = asyncio.run(hand(workload, source, Path(scratch), clock))
    clock.report(outputs, topic=topic)


async def _create(bootstrap: str, topic: str) -> None:
    """Create the output topic benchmarks.kafka.hand_written expects."""
    log = KafkaTransport(bootstrap)
    try:
        await log.create_topic(topic, stateless.PARTITIONS)
    finally:
        await log.close()


if __name__ == "__main__":
    main()
