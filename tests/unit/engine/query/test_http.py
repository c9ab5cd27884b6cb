"""The HTTP API over a real socket: tables, JSON errors, health, metrics and the generated
OpenAPI document; the server runs in the caller's event loop."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from engine import Pipeline, windows
from engine.query.http import api, start_server
from engine.runtime.metrics import metrics_text
from engine.runtime.stats import Lateness, RunStats
from engine.runtime.taskenv import StoreBackends
from engine.state import Backend, DictBackend
from engine.testing import TestDriver


def _driver() -> TestDriver:
    p = Pipeline("h")
    s = p.stream("buys", key="product", time="ts")
    s.sum("price", name="total")
    s.window(windows.tumbling(ms=10)).count(name="per-10ms")
    d = TestDriver(p, partitions=2)
    for ts, product, price in [(1, "apple", 5), (3, "kiwi", 1), (12, "apple", 2)]:
        d.pipe("buys", {"product": product, "price": price, "ts": ts}, key=product)
    return d


def _fetch(url: str, method: str = "GET", data: bytes | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, method=method, data=data)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _serve(d: TestDriver, check: Callable[[Callable[..., tuple[int, Any]]], None],
           metrics: Callable[[], Awaitable[bytes]] | None = None,
           ready: bool = True) -> None:
    """Serve the driver's tables on a free port while `check(get)` runs (in a thread, so
    that the server, in this loop, answers)."""
    views = {name: d.table(name) for name in ("total", "per-10ms")}

    async def scenario() -> None:
        served = await start_server(api(lambda: views, metrics, lambda: ready), 0)
        base = f"http://127.0.0.1:{served.port}"

        def get(path: str, method: str = "GET", data: bytes | None = None) -> tuple[int, Any]:
            status, body = _fetch(base + path, method, data)
            return status, (json.loads(body) if body.startswith((b"{", b"[")) else body)

        try:
            await asyncio.to_thread(check, get)
        finally:
            await served.stop()

    asyncio.run(scenario())


def test_tables_keys_windows_and_errors() -> None:
    def check(get: Callable[..., tuple[int, Any]]) -> None:
        assert get("/tables")[1]["tables"][0] == {"name": "total", "windowed": False,
                                                  "partitions": 2}
        assert get("/tables/total?prefix=k")[1]["rows"] == [{"key": "kiwi", "value": 1}]
        assert get("/tables/total/apple") == (200, {"table": "total", "key": "apple",
                                                    "value": 7})
        status, body = get("/tables/per-10ms/apple?start=5")
        assert status == 200 and [(w["start"], w["value"]) for w in body["windows"]] == [
            (10, 1)]
        for path, status in [("/tables/nope", 404), ("/tables/total/pear", 404),
                             ("/tables/total?limit=x", 400), ("/tables/total?limit=0", 400),
                             ("/tables/per-10ms/apple?end=soon", 400), ("/elsewhere", 404)]:
            found, body = get(path)
            assert found == status and body["error"], path
        assert "no table 'nope'" in get("/tables/nope")[1]["error"]
        found, body = get("/tables", "POST", b"{}")
        assert found == 405 and "read-only" in body["error"]

    _serve(_driver(), check)


def test_openapi_is_generated_from_the_routes() -> None:
    def check(get: Callable[..., tuple[int, Any]]) -> None:
        status, doc = get("/openapi.json")
        assert status == 200 and doc["openapi"].startswith("3.")
        assert {"/tables", "/tables/{name}", "/tables/{name}/{key}", "/healthz", "/readyz",
                "/metrics"} <= set(doc["paths"])
        params = {p["name"] for p in doc["paths"]["/tables/{name}"]["get"]["parameters"]}
        assert {"name", "prefix", "start", "end", "limit"} <= params

    _serve(_driver(), check)


class _Worker:
    """What the metrics read of a worker."""

    def __init__(self) -> None:
        self.stats = RunStats(records_in=3, out={"big": 2, "dlq": 1}, dead_lettered=1,
                              commits=4, backlog=5, dead_by_stage={"operator": 1},
                              rebalances=2)
        for seconds in (0.002, 0.02, 0.02, 3.0):
            self.stats.observe_commit(seconds)
        for seconds in (0.07, 20.0, -1.0):  # a timestamp in the future counts as 0
            self.stats.observe_latency(seconds)
        self.tasks = {(0, 0): None, (0, 1): None}
        self.plan: Any = SimpleNamespace(pipeline="p", stores=("counts", "empty"))
        rows: dict[str, Backend] = {"p.counts": DictBackend({b"a": b"12", b"bc": b"3"}),
                                    "p.empty": DictBackend()}
        self.backends: StoreBackends | None = rows.__getitem__

    def lateness(self) -> list[Lateness]:
        return [Lateness("window", seen=3, late=1, needed=10, grace=0)]


def test_health_readiness_and_metrics() -> None:
    def check(get: Callable[..., tuple[int, Any]]) -> None:
        assert get("/healthz") == (200, {"status": "ok"})
        assert get("/readyz") == (503, {"ready": False})
        status, body = get("/metrics")
        assert status == 200
        samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
                   for f in text_string_to_metric_families(body.decode()) for s in f.samples}
        assert samples == {
            ("shoal_records_in_total", ()): 3, ("shoal_dead_letters_total", ()): 1,
            ("shoal_records_out_total", (("topic", "big"),)): 2,
            ("shoal_records_out_total", (("topic", "dlq"),)): 1,
            ("shoal_late_records_total", (("operator", "window"),)): 1,
            ("shoal_commits_total", ()): 4, ("shoal_backlog_records", ()): 5,
            ("shoal_tasks", ()): 2, ("shoal_rebalances_total", ()): 2,
            ("shoal_dead_letters_by_stage_total", (("stage", "operator"),)): 1,
            ("shoal_lag_records", (("partition", "0"), ("topic", "in"))): 7,
            **{("shoal_commit_seconds_bucket", (("le", le),)): n for le, n in [
                ("0.005", 1), ("0.01", 1), ("0.025", 3), ("0.05", 3), ("0.1", 3),
                ("0.25", 3), ("0.5", 3), ("1.0", 3), ("2.5", 3), ("5.0", 4), ("+Inf", 4)]},
            ("shoal_commit_seconds_count", ()): 4,
            ("shoal_commit_seconds_sum", ()): pytest.approx(3.042),
            **{("shoal_e2e_latency_seconds_bucket", (("le", le),)): n for le, n in [
                ("0.05", 1), ("0.1", 2), ("0.25", 2), ("0.5", 2), ("1.0", 2), ("2.5", 2),
                ("5.0", 2), ("10.0", 2), ("30.0", 3), ("60.0", 3), ("300.0", 3),
                ("3600.0", 3), ("86400.0", 3), ("+Inf", 3)]},
            ("shoal_e2e_latency_seconds_count", ()): 3,
            ("shoal_e2e_latency_seconds_sum", ()): pytest.approx(20.07),
            ("shoal_store_keys_estimate", (("store", "counts"),)): 2,
            ("shoal_store_keys_estimate", (("store", "empty"),)): 0,
            ("shoal_store_bytes", (("store", "counts"),)): 6,
            ("shoal_store_bytes", (("store", "empty"),)): 0}

    render = metrics_text(_Worker())

    async def scrape() -> bytes:
        return render([("in", 0, 7)])

    _serve(_driver(), check, metrics=scrape, ready=False)


def test_a_huge_request_gets_an_answer() -> None:
    """A request line of 100 KB is refused with a status, not dropped."""
    def check(get: Callable[..., tuple[int, Any]]) -> None:
        status, _ = get("/tables/total/" + "k" * 100_000)
        assert 400 <= status < 500

    _serve(_driver(), check)
