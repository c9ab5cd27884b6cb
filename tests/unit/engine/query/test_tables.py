"""Table views: get / items / windows over committed state, in the TestDriver and App."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import ConfigError, Pipeline, WindowResult, windows
from engine.app import App
from engine.testing import TestDriver

BUYS = [(1, "apple", 5), (3, "kiwi", 1), (12, "apple", 2), (4, "apple", 1), (30, "fig", 7)]


def _pipeline() -> Pipeline:
    p = Pipeline("q")
    s = p.stream("buys", key="product", time="ts")
    s.mean("price", name="avg-price")
    s.window(windows.tumbling(ms=10), grace=5).sum("price", name="revenue")
    return p


def test_driver_tables() -> None:
    d = TestDriver(_pipeline(), partitions=3)
    for ts, product, price in BUYS:
        d.pipe("buys", {"product": product, "price": price, "ts": ts}, key=product)
    avg = d.table("avg-price")
    assert avg.get("apple") == pytest.approx(8 / 3) and avg.get("nothing") is None
    assert [k for k, _ in avg.items()] == ["apple", "fig", "kiwi"]
    assert avg.items(prefix="k") == [("kiwi", 1.0)]
    assert [k for k, _ in avg.items(start="b", end="g")] == ["fig"]
    assert len(avg.items(limit=2)) == 2
    revenue = d.table("revenue")
    assert revenue.windows("apple") == [WindowResult("apple", 0, 10, 6),
                                        WindowResult("apple", 10, 20, 2)]
    assert revenue.windows("apple", start=5) == [WindowResult("apple", 10, 20, 2)]
    with pytest.raises(TypeError, match="windowed"):
        revenue.get("apple")
    with pytest.raises(ConfigError, match=r"no table 'x' \(tables: avg-price, revenue\)"):
        d.table("x")


def test_app_runs_and_queries_the_embedded_log(tmp_path: Path) -> None:
    import asyncio

    from engine.transport import EmbeddedLog

    async def produce() -> None:
        log = EmbeddedLog(tmp_path)
        await log.create_topic("buys", 2)
        await log.produce("buys", [(p.encode(), b'{"product": "%s", "price": %d, "ts": %d}'
                                    % (p.encode(), price, ts), ts, None)
                                   for ts, p, price in BUYS])
        await log.close()

    asyncio.run(produce())
    with App(_pipeline(), str(tmp_path)) as app:
        stats = app.run()
        assert stats.records_in == len(BUYS)
    with App(_pipeline(), str(tmp_path), read_only=True) as app:
        assert app.table("avg-price").get("fig") == 7.0
        assert app.table("revenue").windows("fig") == [WindowResult("fig", 30, 40, 7)]


def test_app_reads_tables_as_empty_before_their_first_commit(tmp_path: Path) -> None:
    """A job killed before its first commit leaves no store behind: its tables are empty
    (not an error) to a read-only App."""
    import asyncio

    from engine.transport import EmbeddedLog

    async def produce() -> None:
        log = EmbeddedLog(tmp_path)
        await log.create_topic("buys", 2)
        await log.close()

    asyncio.run(produce())
    with App(_pipeline(), str(tmp_path), read_only=True) as app:
        assert app.table("avg-price").get("fig") is None
        assert app.table("avg-price").items() == []
        assert app.table("revenue").windows("fig") == []


def test_tables_of_a_pipeline_that_never_ran_are_empty(tmp_path: Path) -> None:
    """Before its topics exist, a table has no partitions: lookups find nothing (this was a
    ZeroDivisionError)."""
    p = Pipeline("never-ran")
    keyed = p.stream("s", key="k")
    keyed.count(name="counts")
    keyed.window(windows.tumbling(ms=10)).count(name="per-window")
    with App(p, str(tmp_path / "data")) as app:
        assert app.table("counts").get("k") is None
        assert app.table("counts").items() == []
        assert app.table("per-window").windows("k") == []
    assert not (tmp_path / "data").exists()  # the lookup left no empty log behind
