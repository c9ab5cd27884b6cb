"""The read-only HTTP API over a pipeline's tables (JSON, loopback only).

    GET /tables                              tables with their kind and partitions
    GET /tables/{name}?prefix=&start=&end=&limit=   rows in key order
    GET /tables/{name}/{key}                 one value (windowed: ?start=&end= window range)
    GET /openapi.json                        this API's OpenAPI 3 description
Unknown tables or keys answer 404, bad parameters 400, always with {"error": "..."}.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import msgspec

from engine.query.openapi import OPENAPI
from engine.query.tables import View

Views = Callable[[], dict[str, View]]
_encode = msgspec.json.Encoder().encode
REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
           500: "Internal Server Error"}


class HttpError(Exception):
    """An answer other than 200."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _int(params: dict[str, list[str]], name: str) -> int | None:
    if name not in params:
        return None
    try:
        return int(params[name][-1])
    except ValueError:
        raise HttpError(400, f"parameter '{name}' must be an integer") from None


def _str(params: dict[str, list[str]], name: str) -> str | None:
    return params[name][-1] if name in params else None


def _table(views: dict[str, View], name: str) -> View:
    if name not in views:
        raise HttpError(404, f"no table '{name}' (tables: {', '.join(sorted(views)) or 'none'})")
    return views[name]


def route(views: dict[str, View], path: str, params: dict[str, list[str]]) -> Any:
    """The JSON body for GET `path`, or HttpError."""
    parts = [unquote(p) for p in path.strip("/").split("/")] if path.strip("/") else []
    if parts == ["openapi.json"]:
        return OPENAPI
    if not parts or parts[0] != "tables" or len(parts) > 3:
        raise HttpError(404, f"no route {path} (try /tables or /openapi.json)")
    if len(parts) == 1:
        return {"tables": [{"name": v.name, "windowed": v.windowed, "partitions": v.partitions}
                           for v in views.values()]}
    view = _table(views, parts[1])
    limit = _int(params, "limit")
    if limit is not None and limit < 1:
        raise HttpError(400, "parameter 'limit' must be >= 1")
    if len(parts) == 2:
        rows = view.items(prefix=_str(params, "prefix"), start=_str(params, "start"),
                          end=_str(params, "end"), limit=limit)
        return {"table": view.name, "rows": [{"key": k, "value": v} for k, v in rows]}
    key = parts[2]
    if view.windowed:
        found = view.windows(key, start=_int(params, "start"), end=_int(params, "end"))
        if not found:
            raise HttpError(404, f"no windows for key '{key}' in table '{view.name}'")
        return {"table": view.name, "key": key, "windows": found[:limit]}
    value = view.get(key)
    if value is None:
        raise HttpError(404, f"no key '{key}' in table '{view.name}'")
    return {"table": view.name, "key": key, "value": value}


async def _answer(views: Views, reader: asyncio.StreamReader) -> tuple[int, bytes]:
    request = (await reader.readline()).decode("latin-1").split()
    while (await reader.readline()).strip():
        pass  # headers: nothing we need
    if len(request) != 3:
        return 400, _encode({"error": "malformed request line"})
    method, target, _ = request
    if method != "GET":
        return 405, _encode({"error": "this API is read-only: use GET"})
    url = urlsplit(target)
    try:
        return 200, _encode(route(views(), url.path, parse_qs(url.query)))
    except HttpError as exc:
        return exc.status, _encode({"error": str(exc)})
    except Exception as exc:
        return 500, _encode({"error": f"{type(exc).__name__}: {exc}"})


async def _serve_one(views: Views, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
    try:
        status, body = await asyncio.wait_for(_answer(views, reader), 10)
        head = (f"HTTP/1.1 {status} {REASONS.get(status, '')}\r\nContent-Type: "
                f"application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n")
        writer.write(head.encode() + body)
        await writer.drain()
    except (TimeoutError, ConnectionError):
        pass
    finally:
        writer.close()


async def start_server(views: Views, port: int, host: str = "127.0.0.1") -> asyncio.Server:
    """Serve the API on host:port (port 0 picks a free one)."""
    return await asyncio.start_server(lambda r, w: _serve_one(views, r, w), host, port)
