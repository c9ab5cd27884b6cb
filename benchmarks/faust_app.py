"""The Kafka benchmark's pipeline as a Faust (faust-streaming) agent, run as a worker process.

    .venv/bin/python -m benchmarks.faust_app BOOTSTRAP APP_ID OUT_TOPIC DATA_DIR

One agent over `buys` (raw keys and values) decodes each buy, keeps those above 50, adds the
tax and sends the encoded result with its key to OUT_TOPIC: the bytes the other contenders
write. The client settings are Shoal's (6 s session, acks=all, 5 ms linger, 1 MiB batches,
4 MiB fetches); Faust flushes its producer before each offset commit (at-least-once). The
worker runs until SIGTERM, logs warnings only (stderr) and prints `assigned ...` (stdout) on
each partition assignment, so that the benchmark can time from the first one.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import faust
import msgspec
from faust.types import TP

from benchmarks.stateless import PARTITIONS, SOURCE, Buy, add_tax


def make_app(bootstrap: str, app_id: str, out: str, data_dir: Path) -> faust.App:
    """A faust.App on `bootstrap` (no web server, in-memory store, no leader topic)."""
    app = faust.App(
        app_id, broker=f"kafka://{bootstrap}", store="memory://", datadir=str(data_dir),
        web_enabled=False, topic_partitions=PARTITIONS, topic_disable_leader=True,
        consumer_auto_offset_reset="earliest", producer_acks=-1, producer_linger=0.005,
        producer_max_batch_size=1 << 20, consumer_max_fetch_size=4 << 20,
        broker_session_timeout=6.0, broker_rebalance_timeout=6.0,
        broker_heartbeat_interval=1.0)
    source = app.topic(SOURCE, key_serializer="raw", value_serializer="raw")
    target = app.topic(out, key_serializer="raw", value_serializer="raw",
                       partitions=PARTITIONS)
    decode, encode = msgspec.json.Decoder(Buy).decode, msgspec.json.Encoder().encode

    @app.agent(source)
    async def taxed(stream: faust.StreamT[bytes]) -> None:
        """filter(price > 50) -> map(add_tax) -> send to `out`, timestamped with `ts`."""
        async for key, raw in stream.items():
            if (buy := decode(raw)).price > 50:
                # Faust takes seconds and truncates ts * 1000: the 0.5 keeps the exact ms.
                await target.send(key=key, value=encode(add_tax(buy)),
                                  timestamp=(buy.ts + 0.5) / 1000)

    @app.on_partitions_assigned.connect
    async def assigned(sender: Any, assigned: set[TP], **kwargs: Any) -> None:
        """Tell the benchmark (stdout) what this worker was assigned."""
        print(f"assigned {describe(assigned)}", flush=True)

    return app


def describe(tps: Iterable[TP]) -> str:
    """`buys[0,1,2,3]`-style listing of topic partitions."""
    topics: dict[str, list[int]] = {}
    for tp in sorted(tps):
        topics.setdefault(tp.topic, []).append(tp.partition)
    return " ".join(f"{t}[{','.join(map(str, ps))}]" for t, ps in topics.items()) or "nothing"


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments and run the worker until SIGTERM (then exit 0)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.faust_app",
                                     description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("bootstrap", help="host:port of the broker")
    parser.add_argument("app_id", help="Faust app id (also the consumer group)")
    parser.add_argument("out", help="output topic")
    parser.add_argument("data_dir", type=Path, help="Faust's data directory")
    args = parser.parse_args(argv)
    app = make_app(args.bootstrap, args.app_id, args.out, args.data_dir)
    worker = faust.Worker(app, loglevel="warning", quiet=True, redirect_stdouts=False)
    worker.spinner = None  # it would write terminal escapes into the benchmark's pipe
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
