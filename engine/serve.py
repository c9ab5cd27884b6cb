"""Running the query server next to a job, and finding it again from `shoal query`."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from engine.api import ConfigError
from engine.physical import PhysicalPlan
from engine.query import table_views
from engine.runtime.metrics import Observed, metrics_text
from engine.state import Backend
from engine.transport import Transport

DEFAULT_PORT = 8700


def _url_file(data_dir: str, pipeline: str) -> Path:
    return Path(data_dir) / "servers" / f"{pipeline}.url"


@asynccontextmanager
async def query_server(plan: PhysicalPlan, log: Transport,
                       backends: Callable[[str], Backend] | None, port: int,
                       data_dir: str, global_rows: Mapping[str, Mapping[bytes, Any]],
                       worker: Observed | None = None) -> AsyncIterator[str | None]:
    """Serve the plan's tables (on Kafka: the partitions this worker holds; global tables:
    the worker's live copy), and the worker's health and metrics, while the block runs;
    yields the base URL (None without tables or a worker). A taken port falls back to a
    free one."""
    if worker is None and (backends is None or not (plan.stores or plan.global_tables)):
        yield None
        return
    from engine.query.http import api, start_server  # FastAPI: loaded by `run` only

    counts = await log.topics()

    def views() -> dict[str, Any]:
        if backends is None:
            return {}
        return table_views(plan, counts, backends, global_rows)

    app = api(views, metrics_text(worker) if worker is not None else None,
              (lambda: bool(worker.tasks)) if worker is not None else None)
    served = await start_server(app, port)
    url = f"http://127.0.0.1:{served.port}"
    marker = _url_file(data_dir, plan.pipeline)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(url)
    try:
        yield url
    finally:
        await served.stop()
        marker.unlink(missing_ok=True)


def query_via_server(data_dir: str, pipeline: str, table: str, key: str | None,
                     prefix: str | None, limit: int | None) -> list[dict[str, Any]] | None:
    """Rows from the running job's server, or None when no job of `pipeline` serves."""
    marker = _url_file(data_dir, pipeline)
    if not marker.exists():
        return None
    quote = urllib.parse.quote
    path = f"/tables/{quote(table, safe='')}" + (f"/{quote(key, safe='')}" if key else "")
    params = {k: v for k, v in (("prefix", prefix), ("limit", limit)) if v is not None}
    url = marker.read_text().strip() + path + ("?" + urllib.parse.urlencode(params)
                                               if params else "")
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise ConfigError(json.loads(exc.read()).get("error", str(exc))) from None
    except (urllib.error.URLError, OSError, ValueError):
        return None  # the job is gone (or the port is someone else's): read the stores
    if "rows" in body:
        return list(body["rows"])
    if "windows" in body:
        return [{"key": body["key"], "window": w} for w in body["windows"]]
    return [{"key": body["key"], "value": body["value"]}]
