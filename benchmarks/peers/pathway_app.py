"""The three workloads as Pathway programs over static JSON-lines inputs (batch mode: Pathway
reads the files whole, computes and writes; it has no Kafka client for a Tansu run here).

    <venv>/bin/python benchmarks/peers/pathway_app.py WORKLOAD INPUT_DIR OUT_FILE EXPECTED SCRATCH

Pathway parses the input itself (`pw.io.jsonlines.read`) and writes its result table with
`pw.io.jsonlines.write`; both are timed. The tax is computed by a Python UDF (the other
contenders' rounding, exactly). Windows: `windowby` with tumbling 1-minute windows on the
event time; join: `interval_join` within [0, 1 h] on order_id. The rows Pathway wrote are
reshaped (untimed) into the harness's format afterwards.
"""

from __future__ import annotations

import json
from typing import Any

import pathway as pw
import peerkit


class BuySchema(pw.Schema):
    """A buy of the stateless and windows inputs."""

    order_id: str
    product: str
    price: float
    ts: int


class JoinBuySchema(pw.Schema):
    """A buy of the join input."""

    order_id: str
    customer: str
    price: float
    ts: int


class ShippedSchema(pw.Schema):
    """A shipment of the join input."""

    order_id: str
    ts: int


def read(directory: str, topic: str, schema: type[pw.Schema]) -> pw.Table:
    """One input file as a static table."""
    return pw.io.jsonlines.read(f"{directory}/{topic}.jsonl", schema=schema, mode="static")


def tax_of(price: float) -> float:
    """20% tax, rounded to cents."""
    return round(price * 0.2, 2)


def stateless(source: str) -> pw.Table:
    """filter(price > 50) -> tax and total."""
    buys = read(source, "buys", BuySchema).filter(pw.this.price > 50)
    with_tax = buys.select(*pw.this, tax=pw.apply_with_type(tax_of, float, pw.this.price))
    return with_tax.select(*pw.this, total=pw.apply_with_type(
        lambda p, t: round(p + t, 2), float, pw.this.price, pw.this.tax))


def windows(source: str) -> pw.Table:
    """Per product, count and sum(price) per tumbling minute."""
    buys = read(source, "buys", BuySchema)
    grouped = buys.windowby(pw.this.ts, window=pw.temporal.tumbling(
        duration=peerkit.WINDOW_MS, origin=0), instance=pw.this.product)
    return grouped.reduce(key=pw.this._pw_instance, start=pw.this._pw_window_start,
                          count=pw.reducers.count(), total=pw.reducers.sum(pw.this.price))


def join(source: str) -> pw.Table:
    """Buys joined with their shipments within [buy, buy + 1 h]."""
    buys = read(source, "buys", JoinBuySchema)
    shipped = read(source, "shipped", ShippedSchema)
    pairs = buys.interval_join(shipped, buys.ts, shipped.ts,
                               pw.temporal.interval(0, peerkit.WITHIN_MS),
                               buys.order_id == shipped.order_id)
    return pairs.select(order_id=buys.order_id, customer=buys.customer, price=buys.price,
                        bought=buys.ts, shipped=shipped.ts)


def reshape(workload: str, row: dict[str, Any]) -> dict[str, Any]:
    """A row Pathway wrote, in the harness's format."""
    if workload == "windows":
        return peerkit.window_row(row["key"], row["start"], row["count"], row["total"])
    return row


def main() -> None:
    """Build the program, run it, report, and rewrite its output."""
    args = peerkit.args()
    build = {"stateless": stateless, "windows": windows, "join": join}[args.workload]
    written = args.scratch / "pathway-out.jsonl"
    clock = peerkit.Clock()
    pw.io.jsonlines.write(build(args.source), str(written))
    pw.run(monitoring_level=pw.MonitoringLevel.NONE)
    rows = [json.loads(line) for line in written.read_text().splitlines()]
    clock.report(len(rows), retractions=sum(1 for r in rows if r["diff"] != 1))
    peerkit.write_rows(args.output, (reshape(args.workload, r) for r in rows if r["diff"] == 1))


if __name__ == "__main__":
    main()
