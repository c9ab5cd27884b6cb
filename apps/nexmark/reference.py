"""DuckDB batch reference for the Nexmark queries, as defined in docs/nexmark.md.

Each query is one DuckDB SQL statement over three tables (person, auction, bid) loaded from the
JSON-lines files of a directory. Times are int epoch ms; windows are aligned to the epoch.

    python -m apps.nexmark.reference DIR q5
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import duckdb

QUERIES: tuple[str, ...] = (
    "q0", "q1", "q2", "q3", "q4", "q5", "q7", "q8", "q9", "q11", "q13", "q18", "q19", "q21", "q22",
)

COLUMNS: dict[str, tuple[str, ...]] = {
    "q0": ("auction", "bidder", "price", "date_time", "extra"),
    "q1": ("auction", "bidder", "price", "date_time", "extra"),
    "q2": ("auction", "price"),
    "q3": ("name", "city", "state", "id"),
    "q4": ("category", "avg"),
    "q5": ("auction", "num", "ws"),
    "q7": ("auction", "price", "bidder", "date_time", "extra"),
    "q8": ("id", "name", "ws"),
    "q9": ("id", "seller", "category", "initial_bid", "reserve", "date_time", "expires",
           "bidder", "price", "bid_date_time"),
    "q11": ("bidder", "count", "start", "end"),
    "q13": ("auction", "bidder", "price", "date_time", "value"),
    "q18": ("bidder", "auction", "price", "date_time", "event_id"),
    "q19": ("auction", "rank", "bidder", "price", "event_id"),
    "q21": ("auction", "bidder", "price", "channel", "channel_id"),
    "q22": ("auction", "bidder", "price", "channel", "dir1", "dir2", "dir3"),
}

SCHEMAS: dict[str, dict[str, str]] = {
    "person": {
        "id": "BIGINT", "name": "VARCHAR", "email_address": "VARCHAR", "credit_card": "VARCHAR",
        "city": "VARCHAR", "state": "VARCHAR", "date_time": "BIGINT", "extra": "VARCHAR",
        "event_id": "BIGINT",
    },
    "auction": {
        "id": "BIGINT", "item_name": "VARCHAR", "description": "VARCHAR", "initial_bid": "BIGINT",
        "reserve": "BIGINT", "date_time": "BIGINT", "expires": "BIGINT", "seller": "BIGINT",
        "category": "BIGINT", "extra": "VARCHAR", "event_id": "BIGINT",
    },
    "bid": {
        "auction": "BIGINT", "bidder": "BIGINT", "price": "BIGINT", "channel": "VARCHAR",
        "url": "VARCHAR", "date_time": "BIGINT", "extra": "VARCHAR", "event_id": "BIGINT",
    },
}

# The input tables each query reads (only these are loaded).
INPUTS: dict[str, tuple[str, ...]] = {
    **{q: ("bid",) for q in QUERIES},
    "q3": ("auction", "person"),
    "q4": ("auction", "bid"),
    "q8": ("auction", "person"),
    "q9": ("auction", "bid"),
}


def _ws(column: str, size: int) -> str:
    """SQL for the epoch-aligned start of the window of `size` ms holding `column` (floor)."""
    return f"({column} - (({column} % {size}) + {size}) % {size})"


SQL: dict[str, str] = {
    "q0": "SELECT auction, bidder, price, date_time, extra FROM bid",
    "q1": """
        SELECT auction, bidder,
               CASE WHEN price < 0 THEN '-' ELSE '' END
               || CAST(abs(CAST(price AS HUGEINT)) * 908 // 1000 AS VARCHAR) || '.'
               || lpad(CAST(abs(CAST(price AS HUGEINT)) * 908 % 1000 AS VARCHAR), 3, '0')
               AS price,
               date_time, extra
        FROM bid""",
    "q2": "SELECT auction, price FROM bid WHERE auction % 123 = 0",
    "q3": """
        SELECT p.name, p.city, p.state, a.id
        FROM auction a JOIN person p ON a.seller = p.id
        WHERE a.category = 10 AND p.state IN ('OR', 'ID', 'CA')""",
    "q4": """
        WITH winning AS (
            SELECT a.id, a.category, max(b.price) AS final
            FROM auction a JOIN bid b ON a.id = b.auction
             AND b.date_time BETWEEN a.date_time AND a.expires
            GROUP BY a.id, a.category)
        SELECT category, CAST(sum(final) // count(final) AS BIGINT) AS avg
        FROM winning GROUP BY category""",
    "q5": f"""
        WITH cnt AS (
            SELECT auction, {_ws("date_time", 2000)} - 2000 * k AS ws, count(*) AS num
            FROM bid CROSS JOIN range(5) AS r(k)
            GROUP BY ALL),
        mx AS (SELECT ws, max(num) AS maxn FROM cnt GROUP BY ws)
        SELECT c.auction, c.num, c.ws FROM cnt c JOIN mx m ON c.ws = m.ws AND c.num = m.maxn""",
    "q7": f"""
        WITH w AS (
            SELECT {_ws("date_time", 10000)} + 10000 AS we, max(price) AS maxprice
            FROM bid GROUP BY 1)
        SELECT b.auction, b.price, b.bidder, b.date_time, b.extra
        FROM bid b JOIN w ON b.price = w.maxprice
         AND b.date_time BETWEEN w.we - 10000 AND w.we""",
    "q8": f"""
        WITH p AS (SELECT DISTINCT id, name, {_ws("date_time", 10000)} AS ws FROM person),
        a AS (SELECT DISTINCT seller, {_ws("date_time", 10000)} AS ws FROM auction)
        SELECT p.id, p.name, p.ws FROM p JOIN a ON p.id = a.seller AND p.ws = a.ws""",
    "q9": """
        SELECT a.id, a.seller, a.category, a.initial_bid, a.reserve, a.date_time, a.expires,
               b.bidder, b.price, b.date_time AS bid_date_time
        FROM auction a JOIN bid b ON a.id = b.auction
         AND b.date_time BETWEEN a.date_time AND a.expires
        QUALIFY row_number() OVER (
            PARTITION BY a.id ORDER BY b.price DESC, b.date_time ASC, b.event_id ASC) = 1""",
    # Peers (equal date_time) share one cumulative sum: the default RANGE frame includes them.
    "q11": """
        WITH g AS (
            SELECT bidder, date_time,
                   CASE WHEN date_time - lag(date_time) OVER (
                            PARTITION BY bidder ORDER BY date_time) <= 10000
                        THEN 0 ELSE 1 END AS new
            FROM bid),
        s AS (
            SELECT bidder, date_time,
                   sum(new) OVER (PARTITION BY bidder ORDER BY date_time) AS session
            FROM g)
        SELECT bidder, count(*) AS "count", min(date_time) AS "start",
               max(date_time) + 10000 AS "end"
        FROM s GROUP BY bidder, session""",
    "q13": """
        SELECT b.auction, b.bidder, b.price, b.date_time, s.value
        FROM bid b
        JOIN (SELECT i, CAST(i AS VARCHAR) AS value FROM range(10000) AS t(i)) s
          ON b.auction % 10000 = s.i""",
    "q18": """
        SELECT bidder, auction, price, date_time, event_id FROM bid
        QUALIFY row_number() OVER (
            PARTITION BY bidder, auction ORDER BY date_time DESC, event_id DESC) = 1""",
    "q19": """
        SELECT auction, "rank", bidder, price, event_id FROM (
            SELECT auction, bidder, price, event_id,
                   row_number() OVER (
                       PARTITION BY auction ORDER BY price DESC, event_id ASC) AS "rank"
            FROM bid)
        WHERE "rank" <= 10""",
    "q21": """
        SELECT auction, bidder, price, channel, channel_id FROM (
            SELECT auction, bidder, price, channel,
                   CASE lower(channel)
                       WHEN 'apple' THEN '0' WHEN 'google' THEN '1'
                       WHEN 'facebook' THEN '2' WHEN 'baidu' THEN '3'
                       ELSE regexp_extract(url, '(&|^)channel_id=([^&]*)', 2)
                   END AS channel_id
            FROM bid)
        WHERE channel_id IS NOT NULL AND channel_id <> ''""",
    "q22": """
        SELECT auction, bidder, price, channel, split_part(url, '/', 4) AS dir1,
               split_part(url, '/', 5) AS dir2, split_part(url, '/', 6) AS dir3
        FROM bid""",
}


def _load(con: duckdb.DuckDBPyConnection, directory: Path, kind: str) -> None:
    """Create table `kind` from `<kind>.jsonl`; a missing file gives an empty table."""
    schema = SCHEMAS[kind]
    path = directory / f"{kind}.jsonl"
    if not path.exists():
        cols = ", ".join(f"{name} {typ}" for name, typ in schema.items())
        con.execute(f"CREATE TABLE {kind} ({cols})")
        return
    columns = "{" + ", ".join(f"'{name}': '{typ}'" for name, typ in schema.items()) + "}"
    con.execute(
        f"CREATE TABLE {kind} AS SELECT * FROM read_json(?, format='newline_delimited', "
        f"columns={columns})",
        [str(path)],
    )


def _sort_key(row: tuple[Any, ...]) -> tuple[tuple[bool, Any], ...]:
    """Order like `sorted` on the plain values; NULLs (None) sort after any value."""
    return tuple((v is None, v) for v in row)


def _sorted(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Python `sorted`; only if NULLs make plain tuples incomparable, use the slower key."""
    try:
        return sorted(rows)
    except TypeError:
        return sorted(rows, key=_sort_key)


def reference(directory: Path, query: str) -> list[tuple[Any, ...]]:
    """The rows of `query` over the files in `directory`, in COLUMNS order, sorted."""
    if query not in SQL:
        raise ValueError(f"unknown query {query!r}; known: {', '.join(QUERIES)}")
    con = duckdb.connect(":memory:")
    try:
        for kind in INPUTS[query]:
            _load(con, Path(directory), kind)
        rows = con.execute(SQL[query]).fetchall()
    finally:
        con.close()
    return _sorted([tuple(r) for r in rows])


def main(argv: list[str]) -> int:
    """CLI: `python -m apps.nexmark.reference DIR QUERY [N]` prints the count and N rows."""
    if len(argv) not in (2, 3):
        print("usage: python -m apps.nexmark.reference DIR QUERY [N]", file=sys.stderr)
        return 2
    limit = int(argv[2]) if len(argv) == 3 else 10
    rows = reference(Path(argv[0]), argv[1])
    print(f"{argv[1]}: {len(rows)} rows; columns {', '.join(COLUMNS[argv[1]])}")
    for row in rows[:limit]:
        print(row)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
