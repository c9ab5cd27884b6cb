"""Generate sample shop events as JSON lines (orders have a few bad records mixed in).

    python -m apps.generate --count 20000 --out orders.jsonl [--seed 7] [--bad-every 100]
    python -m apps.generate --kind stock --count 5000 --out stock.jsonl
    python -m apps.generate --kind shop --count 20000 --out shop/   (products, buys, shipped)
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Iterator
from pathlib import Path

from apps.shop_events import VAT_RATES

PRODUCTS = [f"sku-{i:03d}" for i in range(50)]
COUNTRIES = [*VAT_RATES, "DE", "DE", "DE"]  # mostly home orders
BASE_TS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def _order(rng: random.Random, i: int) -> dict[str, object]:
    return {
        "order_id": f"o-{i:08d}",
        "customer": f"c-{rng.randrange(2000):05d}",
        "product": rng.choice(PRODUCTS),
        "quantity": rng.choice([1, 1, 1, 2, 2, 3, 5, 10]),
        "unit_price": round(rng.lognormvariate(3.5, 1.0), 2),
        "country": rng.choice(COUNTRIES),
        "ts": BASE_TS + i * 50 + rng.randrange(40),
    }


def _broken(rng: random.Random, order: dict[str, object]) -> str:
    """One of four kinds of bad input: bad JSON, a schema violation, two business errors."""
    kind = rng.randrange(4)
    if kind == 0:
        return json.dumps(order)[:-7]  # truncated: not JSON
    if kind == 1:
        return json.dumps({**order, "quantity": "two"})  # wrong type
    if kind == 2:
        return json.dumps({**order, "quantity": 0})  # decodes, fails validation
    return json.dumps({**order, "country": "BR"})  # a country the shop does not ship to


def orders(count: int, seed: int = 7, bad_every: int = 100) -> Iterator[str]:
    """`count` order lines; about one in `bad_every` is bad (0 disables)."""
    rng = random.Random(seed)
    for i in range(count):
        order = _order(rng, i)
        bad = bad_every and rng.randrange(bad_every) == 0
        yield _broken(rng, order) if bad else json.dumps(order)


def stock(count: int, seed: int = 11) -> Iterator[str]:
    """`count` stock changes: deliveries (+) and picks (-) per product and warehouse."""
    rng = random.Random(seed)
    for i in range(count):
        delta = rng.choice([20, 50, 100]) if rng.random() < 0.2 else -rng.randrange(1, 6)
        yield json.dumps({"sku": rng.choice(PRODUCTS), "warehouse": rng.choice(["ber", "ham"]),
                          "delta": delta, "ts": BASE_TS + i * 200})


CATEGORIES = ["garden", "kitchen", "toys", "books", "tools"]


def catalogue() -> Iterator[str]:
    """One product line per SKU (a few SKUs stay out of the catalogue: 'unknown'), dated a
    day before the first buy so the table is loaded before the buys that look it up."""
    for i, sku in enumerate(PRODUCTS[:-3]):
        yield json.dumps({"sku": sku, "name": f"product {i}", "category":
                          CATEGORIES[i % len(CATEGORIES)], "ts": BASE_TS - 86_400_000})


def shop(count: int, seed: int = 3) -> tuple[list[str], list[str]]:
    """`count` buys and their shipments: most ship 0-30 min later, some after more than an
    hour (unmatched), some never; shipments arrive out of order with the buys."""
    rng = random.Random(seed)
    buys, shipped = [], []
    for i in range(count):
        ts = BASE_TS + i * 1_000 + rng.randrange(500)
        customer = f"c-{rng.randrange(500):05d}"
        buys.append(json.dumps({"order_id": f"o-{i:08d}", "customer": customer,
                                "product": rng.choice(PRODUCTS),
                                "price": round(rng.lognormvariate(3.5, 1.0), 2), "ts": ts}))
        fate = rng.random()
        if fate < 0.9:
            delay = rng.randrange(60_000, 30 * 60_000) if fate < 0.85 else \
                rng.randrange(70 * 60_000, 120 * 60_000)
            shipped.append((ts + delay, json.dumps({
                "order_id": f"o-{i:08d}", "customer": customer,
                "carrier": rng.choice(["dhl", "ups", "post"]), "ts": ts + delay})))
    shipped.sort()
    return buys, [line for _, line in shipped]


def main() -> None:
    """Write the sample file."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kind", choices=["orders", "stock", "shop"], default="orders")
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--bad-every", type=int, default=100)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.kind == "shop":  # --out is a directory: products, buys and shipped JSON lines
        args.out.mkdir(parents=True, exist_ok=True)
        buys, shipped = shop(args.count, args.seed)
        for name, lines in (("products", list(catalogue())), ("buys", buys),
                            ("shipped", shipped)):
            (args.out / f"{name}.jsonl").write_text("\n".join(lines) + "\n")
        print(f"wrote {len(buys):,} buys and {len(shipped):,} shipments to {args.out}")
        return
    args.out.parent.mkdir(parents=True, exist_ok=True)
    lines = (orders(args.count, args.seed, args.bad_every) if args.kind == "orders"
             else stock(args.count, args.seed))
    with args.out.open("w") as out:
        for line in lines:
            out.write(line + "\n")
    print(f"wrote {args.count:,} {args.kind} events to {args.out}")


if __name__ == "__main__":
    main()
