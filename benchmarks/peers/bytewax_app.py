"""The three workloads as Bytewax 0.21 dataflows, run in memory (one worker, `run_main`).

    <venv>/bin/python benchmarks/peers/bytewax_app.py WORKLOAD INPUT_DIR OUT_FILE EXPECTED SCRATCH

The input files are read into lists before the clock starts (a TestingSource over raw JSON
values); the outputs are collected by a TestingSink and written as JSON lines after it stops.
Windows: `fold_window` with an EventClock waiting 1 s (the grace) and tumbling 1-minute
windows aligned to the epoch; each window is emitted once, when it closes (at the latest at
the end of the input). Join: Bytewax has no interval join, so this is its running `join`
(emit_mode="complete": a pair is emitted once both sides have arrived and then dropped),
followed by the 1-hour check; every order has exactly one buy and one shipment.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import bytewax.operators as op
import msgspec
import peerkit
from bytewax.dataflow import Dataflow
from bytewax.operators.windowing import EventClock, TumblingWindower, fold_window
from bytewax.testing import TestingSink, TestingSource, run_main

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
Row = dict[str, Any]
BATCH = 1000


def source(values: list[bytes]) -> TestingSource:
    """An in-memory source handing out BATCH values at a time (its default is one)."""
    return TestingSource(values, batch_size=BATCH)


def event_time(row: Row) -> datetime:
    """The row's `ts` (ms) as an aware UTC datetime."""
    return EPOCH + timedelta(milliseconds=row["ts"])


def stateless(flow: Dataflow, inputs: dict[str, list[bytes]], out: list[Row]) -> None:
    """decode -> keep price > 50 and add the tax -> sink."""
    decode = msgspec.json.decode
    rows = op.map("decode", op.input("buys", flow, source(inputs["buys"])), decode)
    op.output("out", op.filter_map("tax", rows, peerkit.taxed), TestingSink(out))


def count_sum(acc: tuple[int, float], row: Row) -> tuple[int, float]:
    """count + 1, sum + price."""
    return acc[0] + 1, acc[1] + row["price"]


def windows(flow: Dataflow, inputs: dict[str, list[bytes]], out: list[Row]) -> None:
    """Per product, count and sum(price) per tumbling minute."""
    rows = op.map("decode", op.input("buys", flow, source(inputs["buys"])),
                  msgspec.json.decode)
    keyed = op.key_on("product", rows, lambda row: row["product"])
    clock = EventClock(event_time, wait_for_system_duration=timedelta(
        milliseconds=peerkit.GRACE_MS))
    windower = TumblingWindower(length=timedelta(milliseconds=peerkit.WINDOW_MS),
                                align_to=EPOCH)
    folded = fold_window("window", keyed, clock, windower, lambda: (0, 0.0), count_sum,
                         lambda a, b: (a[0] + b[0], a[1] + b[1]))

    def row(item: tuple[str, tuple[int, tuple[int, float]]]) -> Row:
        product, (window, (count, total)) = item
        return peerkit.window_row(product, window * peerkit.WINDOW_MS, count, total)

    op.output("out", op.map("row", folded.down, row), TestingSink(out))


def join(flow: Dataflow, inputs: dict[str, list[bytes]], out: list[Row]) -> None:
    """Buys joined with their shipments (running join, then the 1-hour check)."""
    sides = []
    for topic in ("buys", "shipped"):
        rows = op.map(f"decode-{topic}", op.input(topic, flow, source(inputs[topic])),
                      msgspec.json.decode)
        sides.append(op.key_on(f"key-{topic}", rows, lambda row: row["order_id"]))
    pairs = op.join("join", sides[0], sides[1], emit_mode="complete")

    def within(item: tuple[str, tuple[Row, Row]]) -> Row | None:
        buy, shipped = item[1]
        ok = buy["ts"] <= shipped["ts"] <= buy["ts"] + peerkit.WITHIN_MS
        return peerkit.joined(buy, shipped) if ok else None

    op.output("out", op.filter_map("within", pairs, within), TestingSink(out))


def main() -> None:
    """Load the input, run the dataflow, report and write the outputs."""
    args = peerkit.args()
    build = {"stateless": stateless, "windows": windows, "join": join}[args.workload]
    topics = ("buys", "shipped") if args.workload == "join" else ("buys",)
    inputs = {topic: peerkit.read_lines(args.source, topic) for topic in topics}
    out: list[Row] = []
    clock = peerkit.Clock()
    flow = Dataflow(f"peers-{args.workload}")
    build(flow, inputs, out)
    run_main(flow)
    clock.report(len(out))
    peerkit.write_rows(args.output, out)


if __name__ == "__main__":
    main()
