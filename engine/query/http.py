"""The job's HTTP API: its tables (read-only), health and metrics; loopback by default.

    GET /tables                                      tables with their kind and partitions
    GET /tables/{name}?prefix=&start=&end=&limit=    rows in key order
    GET /tables/{name}/{key}                         one value (windowed: ?start=&end=)
    GET /healthz                                     the job answers
    GET /readyz                                      200 once the worker holds its tasks
    GET /metrics                                     Prometheus text
    POST /topics/{topic}/records?key=&time=          append JSON lines or a JSON array
                                                     (embedded log: through the job)
    GET /                                            the web console (console.py)
    GET /console/status                              what the console shows, as JSON
    GET /openapi.json                                generated from these routes
Errors answer {"error": "..."}: 404 unknown tables or keys, 400 bad parameters, 405 other
methods.

FastAPI declares the routes (and generates the OpenAPI document from them); uvicorn serves
them inside the job's own event loop, on a socket bound here, without its signal handlers
(the job's stay in charge of Ctrl-C). Values are encoded by msgspec, as everywhere else.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import msgspec
import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from engine.query.tables import View

Views = Callable[[], dict[str, View]]
Producer = Callable[[str, bytes, str | None, str | None], Awaitable[int]]
Console = tuple[str, Callable[[], Awaitable[dict[str, Any]]]]  # the page, its live status
_encode = msgspec.json.Encoder().encode
BODY_LIMIT = 16 << 20  # bytes of records per request


class HttpError(Exception):
    """An answer other than 200."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _json(body: Any, status: int = 200) -> Response:
    return Response(_encode(body), status_code=status, media_type="application/json")


def _table(views: dict[str, View], name: str) -> View:
    if name not in views:
        raise HttpError(404, f"no table '{name}' (tables: {', '.join(sorted(views)) or 'none'})")
    return views[name]


def rows(view: View, prefix: str | None, start: str | None, end: str | None,
         limit: int | None) -> dict[str, Any]:
    """GET /tables/{name}: rows in key order."""
    found = view.items(prefix=prefix, start=start, end=end, limit=limit)
    return {"table": view.name, "rows": [{"key": k, "value": v} for k, v in found]}


def one(view: View, key: str, start: int | None, end: int | None,
        limit: int | None) -> dict[str, Any]:
    """GET /tables/{name}/{key}: a value, or a windowed key's windows."""
    if view.windowed:
        found = view.windows(key, start=start, end=end)
        if not found:
            raise HttpError(404, f"no windows for key '{key}' in table '{view.name}'")
        return {"table": view.name, "key": key, "windows": found[:limit]}
    value = view.get(key)
    if value is None:
        raise HttpError(404, f"no key '{key}' in table '{view.name}'")
    return {"table": view.name, "key": key, "value": value}


def _int(value: str | None, name: str) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise HttpError(400, f"parameter '{name}' must be an integer") from None


def _limit(limit: str | None) -> int | None:
    found = _int(limit, "limit")
    if found is not None and found < 1:
        raise HttpError(400, "parameter 'limit' must be >= 1")
    return found


def api(views: Views, metrics: Callable[[], Awaitable[bytes]] | None = None,
        ready: Callable[[], bool] | None = None, produce: Producer | None = None,
        console: Console | None = None) -> FastAPI:
    """The API over `views` (called per request: tables as the job holds them now);
    `produce` appends records to a topic (the embedded log, which only the job may write)."""
    app = FastAPI(title="Shoal job", description=__doc__, docs_url=None, redoc_url=None)
    _errors(app)
    if produce is not None:
        _producing(app, produce)
    if console is not None:
        _console(app, console)

    @app.get("/tables", summary="The tables and their partitions")
    def tables() -> Response:
        return _json({"tables": [{"name": v.name, "windowed": v.windowed,
                                  "partitions": v.partitions} for v in views().values()]})

    @app.get("/tables/{name}", summary="Rows in key order")
    def table_rows(name: str, prefix: str | None = None, start: str | None = None,
                   end: str | None = None, limit: str | None = None) -> Response:
        return _json(rows(_table(views(), name), prefix, start, end, _limit(limit)))

    @app.get("/tables/{name}/{key:path}", summary="One key (windowed: its windows)")
    def table_key(name: str, key: str, start: str | None = None, end: str | None = None,
                  limit: str | None = None) -> Response:
        return _json(one(_table(views(), name), key, _int(start, "start"), _int(end, "end"),
                         _limit(limit)))

    @app.get("/healthz", summary="The job answers")
    def healthz() -> Response:
        return _json({"status": "ok"})

    @app.get("/readyz", summary="The worker holds its tasks and their state")
    def readyz() -> Response:
        up = ready is None or ready()
        return _json({"ready": up}, 200 if up else 503)

    @app.get("/metrics", summary="Prometheus metrics")
    async def prometheus() -> Response:
        return Response(await metrics() if metrics else b"",
                        media_type="text/plain; version=0.0.4")

    return app


def _console(app: FastAPI, console: Console) -> None:
    html, status = console

    @app.get("/", include_in_schema=False)
    def home() -> Response:
        return Response(html, media_type="text/html; charset=utf-8")

    @app.get("/console/status", summary="Input rate, lag per partition, latest dead letters")
    async def console_status() -> Response:
        return _json(await status())


def _producing(app: FastAPI, produce: Producer) -> None:
    @app.post("/topics/{topic}/records", summary="Append records: JSON lines or a JSON array")
    async def append(topic: str, request: Request, key: str | None = None,
                     time: str | None = None) -> Response:
        size = int(request.headers.get("content-length") or 0)
        if size > BODY_LIMIT:
            raise HttpError(413, f"at most {BODY_LIMIT:,} bytes of records per request")
        body = await request.body()
        if len(body) > BODY_LIMIT:
            raise HttpError(413, f"at most {BODY_LIMIT:,} bytes of records per request")
        return _json({"topic": topic, "records": await produce(topic, body, key, time)})


def _errors(app: FastAPI) -> None:
    """Every error as {"error": "..."} with its status."""
    @app.exception_handler(HttpError)
    async def shoal_error(_: Request, exc: HttpError) -> Response:
        return _json({"error": str(exc)}, exc.status)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        message = ("this API is read-only: use GET" if exc.status_code == 405 else
                   f"no route {request.url.path} (try /tables or /openapi.json)"
                   if exc.status_code == 404 else str(exc.detail))
        return _json({"error": message}, exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def bad_request(_: Request, exc: RequestValidationError) -> Response:
        return _json({"error": f"bad request: {exc.errors()[0].get('msg', exc)}"}, 400)

    @app.exception_handler(Exception)
    async def internal(_: Request, exc: Exception) -> Response:
        return _json({"error": f"{type(exc).__name__}: {exc}"}, 500)


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the job's handlers stay."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port; a taken port falls back to a free one."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.bind((host, 0))
    sock.listen(128)
    sock.setblocking(False)
    return sock


class Served:
    """A running server: its port, and how to stop it."""

    def __init__(self, server: _Server, task: asyncio.Task[None], port: int) -> None:
        self.server, self.task, self.port = server, task, port

    async def stop(self) -> None:
        self.server.should_exit = True
        await self.task


async def start_server(app: FastAPI, port: int, host: str = "127.0.0.1") -> Served:
    """Serve `app` on host:port (0: a free port) in this event loop."""
    sock = _bind(host, port)
    server = _Server(uvicorn.Config(app, log_level="warning", lifespan="off",
                                   access_log=False))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            await task  # raises what went wrong
        await asyncio.sleep(0.01)
    return Served(server, task, sock.getsockname()[1])
