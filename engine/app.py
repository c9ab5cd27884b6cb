"""App: a pipeline bound to its log, for Python users: run it, then query its tables.

    app = App(p, data_dir=".shoal")
    app.run(until_caught_up=True)
    app.table("revenue-per-minute").windows("p1")
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import Iterable
from pathlib import Path
from time import time as wall_time
from typing import Any

import msgspec

from engine.api import LogBusy
from engine.dsl import Pipeline
from engine.ingest import keyed_lines
from engine.job import Job
from engine.planner import PhysicalPlan, plan
from engine.query import View, unknown_table
from engine.runtime import RunStats, WorkerConfig
from engine.runtime.globals import GlobalTables
from engine.serve import produce_via_server
from engine.transport import EmbeddedLog, data_dir


class App:
    """A pipeline and the embedded log it runs on (read-only to query a running job)."""

    def __init__(self, pipeline: Pipeline | PhysicalPlan, data_dir_path: str | None = None,
                 read_only: bool = False) -> None:
        self.directory = Path(data_dir(data_dir_path))
        self.created = not (self.directory / "log").exists()  # removed again if left empty
        self.log = EmbeddedLog(self.directory, read_only=read_only)
        try:
            self.plan = pipeline if isinstance(pipeline, PhysicalPlan) else plan(
                pipeline, {name: m.partitions for name, m in self.log.meta.items()})
        except Exception:
            self.close()
            raise
        self.job = Job(self.plan, self.log)

    def run(self, until_caught_up: bool = True, drain: bool = False, **config: Any
            ) -> RunStats:
        """Run the pipeline on this log (to the end of its input by default; drain=True also
        ends it there: every window, session and unmatched join row is emitted)."""
        worker = self.job.worker(WorkerConfig(until_caught_up=until_caught_up, drain=drain,
                                              **config))
        return asyncio.run(worker.run())

    def tables(self) -> dict[str, View]:
        """A view of every table of the pipeline (global tables read from their topics)."""
        counts = {name: m.partitions for name, m in self.log.meta.items()}
        found = GlobalTables(self.plan.global_tables, self.log)

        async def load() -> None:
            await found.bootstrap()
            await found.close()

        if all(t.topic in counts for t in self.plan.global_tables):
            asyncio.run(load())
        return self.job.views(counts, found.rows())

    def table(self, name: str) -> View:
        """The table `name`: get(key), items(...), windows(key, ...)."""
        views = self.tables()
        if name not in views:
            raise unknown_table(name, views)
        return views[name]

    def close(self) -> None:
        """Close the log; a log this App created and nothing was written to is removed, so
        a lookup on a directory that held no data leaves none behind."""
        asyncio.run(self.log.close())
        if self.created and not self.log.meta:
            shutil.rmtree(self.directory / "log", ignore_errors=True)
            with contextlib.suppress(OSError):
                self.directory.rmdir()  # only when empty

    def __enter__(self) -> App:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def produce(topic: str, values: Iterable[Any], key: str | None = None,
            time: str | None = None, data_dir_path: str | None = None) -> int:
    """Append `values` (JSON-encodable, or bytes) to `topic` of the embedded log, keyed by
    the field `key` and timed by the field `time` as `shoal produce` does; when a running
    job holds the log, through that job. Returns how many were acknowledged.

        >>> produce("buys", [{"order_id": "o-1", "ts": 1_000}], key="order_id", time="ts")
        1
    """
    lines = [v if isinstance(v, bytes) else msgspec.json.encode(v) for v in values]
    records, _ = keyed_lines(lines, key, time, int(wall_time() * 1000))
    directory = data_dir(data_dir_path)
    try:
        log = EmbeddedLog(directory)
    except LogBusy:  # a running job holds the log: hand the records to it
        if produce_via_server(directory, topic, lines, key, time) is None:
            raise
        return len(records)

    async def append() -> None:
        try:
            if topic not in await log.topics():
                await log.create_topic(topic, 1)
            await log.produce(topic, records)
        finally:
            await log.close()

    asyncio.run(append())
    return len(records)
