"""The HTTP query API: routes, JSON errors and a real socket round trip."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from engine import Pipeline, windows
from engine.query.http import HttpError, route, start_server
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


def test_routes() -> None:
    d = _driver()
    views = {name: d.table(name) for name in ("total", "per-10ms")}
    assert route(views, "/tables", {})["tables"][0] == {"name": "total", "windowed": False,
                                                         "partitions": 2}
    assert route(views, "/tables/total", {"prefix": ["k"]})["rows"] == [
        {"key": "kiwi", "value": 1}]
    assert route(views, "/tables/total/apple", {})["value"] == 7
    got = route(views, "/tables/per-10ms/apple", {"start": ["5"]})["windows"]
    assert [(w.start, w.value) for w in got] == [(10, 1)]
    assert route(views, "/openapi.json", {})["openapi"].startswith("3.")
    for path, params, status in [("/tables/nope", {}, 404), ("/tables/total/pear", {}, 404),
                                 ("/tables/total", {"limit": ["x"]}, 400),
                                 ("/tables/total", {"limit": ["0"]}, 400),
                                 ("/tables/per-10ms/apple", {"end": ["soon"]}, 400),
                                 ("/elsewhere", {}, 404)]:
        with pytest.raises(HttpError) as caught:
            route(views, path, params)
        assert caught.value.status == status, path


def test_server_round_trip() -> None:
    d = _driver()

    async def get(port: int, request: bytes) -> tuple[int, Any]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request)
        raw = await reader.read()
        writer.close()
        head, _, body = raw.partition(b"\r\n\r\n")
        return int(head.split()[1]), json.loads(body)

    async def scenario() -> None:
        server = await start_server(lambda: {"total": d.table("total")}, 0)
        port = server.sockets[0].getsockname()[1]
        assert await get(port, b"GET /tables/total/apple HTTP/1.1\r\nHost: x\r\n\r\n") == (
            200, {"table": "total", "key": "apple", "value": 7})
        status, body = await get(port, b"GET /tables/x HTTP/1.1\r\n\r\n")
        assert status == 404 and "no table 'x'" in body["error"]
        status, body = await get(port, b"POST /tables HTTP/1.1\r\n\r\n")
        assert status == 405 and "read-only" in body["error"]
        server.close()
        await server.wait_closed()

    asyncio.run(scenario())
