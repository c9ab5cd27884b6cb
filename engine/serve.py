"""Running the query server next to a job, and finding it again from `shoal query`."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from engine.api import ConfigError
from engine.ingest import body_lines, keyed_lines
from engine.physical import PhysicalPlan
from engine.query import table_views
from engine.runtime.metrics import Observed, metrics_text
from engine.state import Backend
from engine.transport import EmbeddedLog, Transport

DEFAULT_PORT = 8700
POST_LINES = 10_000  # records per request when `shoal produce` goes through a running job


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

    app = api(views, _metrics(plan, log, worker) if worker is not None else None,
              (lambda: bool(worker.tasks)) if worker is not None else None,
              _producer(log) if isinstance(log, EmbeddedLog) else None,
              _console(plan, log, worker) if worker is not None else None)
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


async def lag_rows(plan: PhysicalPlan, log: Transport,
                   topics: Mapping[str, int] | None = None) -> list[dict[str, Any]]:
    """Per input partition: its end, the group's committed position and the difference
    (topics: the log's topics, when already read)."""
    topics, rows = topics or await log.topics(), []
    for topic in dict.fromkeys(plan.external_sources):
        if topic in topics:
            ends = await log.end_offsets(topic)
            done = await log.committed(plan.pipeline, [(topic, p) for p in range(len(ends))])
            rows += [{"topic": topic, "partition": p, "end": end,
                      "committed": done[(topic, p)], "lag": max(0, end - done[(topic, p)])}
                     for p, end in enumerate(ends)]
    return rows


def _metrics(plan: PhysicalPlan, log: Transport, worker: Observed
             ) -> Callable[[], Awaitable[bytes]]:
    """The worker's metrics, with the lag of each input partition read from the log."""
    render = metrics_text(worker)

    async def scrape() -> bytes:
        return render([(r["topic"], r["partition"], r["lag"])
                       for r in await lag_rows(plan, log)])

    return scrape


def _console(plan: PhysicalPlan, log: Transport, worker: Observed
             ) -> tuple[str, Callable[[], Awaitable[dict[str, Any]]]]:
    """The console page and its live status: rate, lag per input partition (committed
    positions against the log's ends), the latest dead letters with their reasons."""
    from engine.planner.render import to_mermaid
    from engine.query.console import page

    async def status() -> dict[str, Any]:
        stats, topics = worker.stats, await log.topics()
        lag = await lag_rows(plan, log, topics)
        return {"records_in": stats.records_in, "records_per_s": stats.rate,
                "dead_letters": stats.dead_lettered, "tasks": len(worker.tasks), "lag": lag,
                "dead": await _latest_dead(log, plan.dead_letter_topic, topics)}

    return page(plan.pipeline, to_mermaid(plan)), status


async def _latest_dead(log: Transport, topic: str, topics: Mapping[str, int],
                       count: int = 20) -> list[dict[str, Any]]:
    """The latest dead letters (per partition, then newest first) with their reasons."""
    if topic not in topics:
        return []
    found: list[dict[str, Any]] = []
    for partition, end in enumerate(await log.end_offsets(topic)):
        for record in await log.read((topic, partition), max(0, end - count), count):
            why = {k: (v or b"").decode("utf-8", "replace") for k, v in record[4] or ()}
            found.append({"offset": record[0], "stage": why.get("shoal.stage"),
                          "operator": why.get("shoal.operator"),
                          "error": why.get("shoal.error")})
    return sorted(found, key=lambda d: -int(d["offset"]))[:count]


def _producer(log: EmbeddedLog) -> Callable[[str, bytes, str | None, str | None],
                                            Awaitable[int]]:
    """Appends an HTTP body's records to a topic of the job's own log (which no other
    process may write while the job runs), keyed and timed as `shoal produce` does."""
    from engine.query.http import HttpError

    async def produce(topic: str, body: bytes, key: str | None, time_field: str | None) -> int:
        if topic not in await log.topics():
            raise HttpError(404, f"no topic '{topic}' (create it with shoal produce first)")
        try:
            lines = body_lines(body)
        except ValueError as exc:
            raise HttpError(400, str(exc)) from None
        records, _ = keyed_lines(lines, key, time_field, int(time.time() * 1000))
        await log.produce(topic, records)
        return len(records)

    return produce


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


def produce_via_server(data_dir: str, topic: str, lines: list[bytes], key: str | None,
                       time_field: str | None) -> str | None:
    """Hand `lines` to the job that holds `data_dir` (its POST /topics/{topic}/records, in
    chunks); its URL, or None when no job answers."""
    for marker in sorted((Path(data_dir) / "servers").glob("*.url")):
        base = marker.read_text().strip()
        params = {k: v for k, v in (("key", key), ("time", time_field)) if v is not None}
        url = (f"{base}/topics/{urllib.parse.quote(topic, safe='')}/records"
               + ("?" + urllib.parse.urlencode(params) if params else ""))
        try:
            for start in range(0, len(lines), POST_LINES):
                body = b"\n".join(lines[start:start + POST_LINES])
                request = urllib.request.Request(url, data=body, method="POST")
                with urllib.request.urlopen(request, timeout=60) as response:
                    response.read()
        except urllib.error.HTTPError as exc:
            raise ConfigError(json.loads(exc.read()).get("error", str(exc))) from None
        except (urllib.error.URLError, OSError):
            continue  # that job is gone: another may hold the directory
        return base
    return None
