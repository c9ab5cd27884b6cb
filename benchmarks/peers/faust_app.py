"""The stateless and windows workloads as faust-streaming agents on the benchmark's Tansu
broker (Faust has no stream-stream join: its Stream.join is not implemented).

    .venv/bin/python benchmarks/peers/faust_app.py WORKLOAD HOST:PORT OUT_TOPIC EXPECTED SCRATCH

Raw keys and values are read (msgspec decodes, as for every contender) and encoded JSON is
written to OUT_TOPIC with the input's key, timestamped with the event time. The client
settings are those of benchmarks.faust_app (Shoal's). Windows: a Faust Table (in memory, with
its changelog topic) keyed by product and window start, holding [count, sum(price)]; one
update per input. Faust has no until-caught-up mode: the worker prints its result line once it
has sent EXPECTED outputs and flushed its producer, and the harness then stops it (SIGTERM).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import faust
import msgspec
import peerkit

SETTINGS: dict[str, Any] = {
    "store": "memory://", "web_enabled": False, "topic_disable_leader": True,
    "topic_partitions": peerkit.PARTITIONS, "consumer_auto_offset_reset": "earliest",
    "producer_acks": -1, "producer_linger": 0.005, "producer_max_batch_size": 1 << 20,
    "consumer_max_fetch_size": 4 << 20, "broker_session_timeout": 6.0,
    "broker_rebalance_timeout": 6.0, "broker_heartbeat_interval": 1.0,
}


Emit = Callable[[bytes, dict[str, Any], int], Awaitable[None]]


def build(args: peerkit.Args, clock: peerkit.Clock) -> faust.App:
    """The app with the workload's agent."""
    app = faust.App(f"peers-faust-{args.workload}", broker=f"kafka://{args.source}",
                    datadir=str(args.scratch / "faust"), **SETTINGS)
    source = app.topic("buys", key_serializer="raw", value_serializer="raw")
    target = app.topic(args.output, key_serializer="raw", value_serializer="raw",
                       partitions=peerkit.PARTITIONS)
    encode = msgspec.json.Encoder().encode
    written = [0]

    async def emit(key: bytes, row: dict[str, Any], ts: int) -> None:
        # Faust takes seconds and truncates ts * 1000: the 0.5 keeps the exact ms.
        await target.send(key=key, value=encode(row), timestamp=(ts + 0.5) / 1000)
        written[0] += 1
        if written[0] == args.expected:
            await app.producer.flush()
            clock.report(written[0])

    agent = stateless if args.workload == "stateless" else windows
    app.agent(source, name=f"peers-{args.workload}")(agent(app, emit, clock))
    return app


def stateless(app: faust.App, emit: Emit, clock: peerkit.Clock) -> Any:
    """filter(price > 50) -> add the tax -> emit."""
    decode = msgspec.json.decode

    async def taxed(stream: faust.StreamT[bytes]) -> None:
        async for key, raw in stream.items():
            clock.seen()
            if (row := peerkit.taxed(decode(raw))) is not None:
                await emit(key, row, row["ts"])

    return taxed


def windows(app: faust.App, emit: Emit, clock: peerkit.Clock) -> Any:
    """Per product and window start, [count, sum(price)] in a Table; emit each update."""
    decode = msgspec.json.decode
    table = app.Table("peers-windows", partitions=peerkit.PARTITIONS)

    async def windowed(stream: faust.StreamT[bytes]) -> None:
        async for key, raw in stream.items():
            clock.seen()
            buy = decode(raw)
            ts = buy["ts"]
            start = ts - ts % peerkit.WINDOW_MS
            slot = f"{buy['product']}|{start}"
            count, total = table.get(slot) or (0, 0.0)
            table[slot] = acc = [count + 1, total + buy["price"]]
            await emit(key, peerkit.window_row(buy["product"], start, *acc), ts)

    return windowed


def main() -> None:
    """Run the worker until SIGTERM."""
    args = peerkit.args()
    clock = peerkit.Clock()
    worker = faust.Worker(build(args, clock), loglevel="warning", quiet=True,
                          redirect_stdouts=False)
    worker.spinner = None  # it would write terminal escapes into the harness's pipe
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
