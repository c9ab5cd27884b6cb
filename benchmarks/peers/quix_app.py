"""The three workloads as a Quix Streams 3.x application on the benchmark's Tansu broker.

    <venv>/bin/python benchmarks/peers/quix_app.py WORKLOAD HOST:PORT OUT_TOPIC EXPECTED SCRATCH

Raw keys and values are read (msgspec decodes, as for every contender) and encoded JSON is
written to OUT_TOPIC with the input's key. `app.run(count=EXPECTED)` stops after that many
outputs (Quix then commits and closes: at-least-once). Windows: `tumbling_window(1 min,
grace 1 s).agg(count, sum(price)).current()`, one update per input, on the records' Kafka
timestamps; join: `join_interval` (inner, forward 1 h) of buys with shipped. State is in
RocksDB under SCRATCH, with Quix's changelog topics. The group's session timeout is Shoal's
(6 s; librdkafka's default of 45 s makes Tansu form the group much later).
"""

from __future__ import annotations

from typing import Any

import msgspec
import peerkit
from quixstreams import Application
from quixstreams.dataframe.windows import Count, Sum
from quixstreams.models import TopicConfig

Row = dict[str, Any]
CLIENT = {"session.timeout.ms": 6_000, "heartbeat.interval.ms": 1_000}  # Shoal's settings


def application(args: peerkit.Args) -> Application:
    """An Application in its own group, reading from the earliest offset."""
    return Application(
        broker_address=args.source, consumer_group=f"peers-quix-{args.workload}",
        auto_offset_reset="earliest", state_dir=str(args.scratch / "quix-state"),
        loglevel="WARNING", consumer_extra_config=CLIENT)


def source(app: Application, topic: str, clock: peerkit.Clock) -> Any:
    """A dataframe of the decoded records of `topic`."""
    decode = msgspec.json.decode

    def parse(raw: bytes) -> Row:
        clock.seen()
        return decode(raw)

    source_topic = app.topic(topic, key_deserializer="bytes", value_deserializer="bytes")
    # Tansu describes topics with no configs; Quix derives its changelog topics' retention
    # from the input's: give it Kafka's default (7 days), as a Kafka broker would report.
    source_topic.broker_config.extra_config.setdefault("retention.ms", "604800000")
    return app.dataframe(source_topic).apply(parse)


def build(app: Application, args: peerkit.Args, clock: peerkit.Clock) -> Any:
    """The workload's dataframe, ending in plain rows."""
    if args.workload == "stateless":
        return source(app, "buys", clock).apply(peerkit.taxed).filter(lambda row: row is not None)
    if args.workload == "windows":
        windowed = source(app, "buys", clock).tumbling_window(
            peerkit.WINDOW_MS, grace_ms=peerkit.GRACE_MS).agg(
            count=Count(), total=Sum("price")).current()
        return windowed.apply(lambda w, key, ts, headers: peerkit.window_row(
            key.decode(), w["start"], w["count"], w["total"]), metadata=True)
    buys, shipped = source(app, "buys", clock), source(app, "shipped", clock)
    return buys.join_interval(shipped, how="inner", on_merge=peerkit.joined,
                              grace_ms=peerkit.WITHIN_MS, forward_ms=peerkit.WITHIN_MS)


def main() -> None:
    """Run until EXPECTED outputs, then report."""
    args = peerkit.args()
    clock = peerkit.Clock()
    app = application(args)
    out = app.topic(args.output, key_serializer="bytes", value_serializer="bytes",
                    config=TopicConfig(num_partitions=peerkit.PARTITIONS,
                                       replication_factor=1))
    written = [0]

    def encode(row: Row) -> bytes:
        written[0] += 1
        return msgspec.json.encode(row)

    build(app, args, clock).apply(encode).to_topic(out)
    app.run(count=args.expected, collect=False)
    clock.report(written[0])


if __name__ == "__main__":
    main()
