"""The composition root: a compiled pipeline bound to a log, with the stores its workers keep
and the views of its tables. `shoal run`, `App` and `TestDriver` all wire through a Job, so
a store is backed the same way whoever runs the pipeline:

- the embedded log: a RocksDB column family of the log's own database per store (written in
  the same WriteBatch as the outputs and offsets); read-only, a store not committed yet
  reads as empty;
- the in-memory log (tests): a dict per store, kept by the log;
- Kafka: a worker-local RocksDB (`LocalState`, under the data directory), rebuilt from the
  changelog topics on assignment, unless a clean stop on the same directory checkpointed it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.api import ConfigError
from engine.physical import PhysicalPlan
from engine.query import View, table_views
from engine.runtime import Worker, WorkerConfig
from engine.runtime.task import saved_n
from engine.runtime.taskenv import StoreBackends
from engine.state import Backend, DictBackend, LocalState, RocksBackend
from engine.transport import EmbeddedLog, MemoryLog, Transport


def log_backends(log: Transport) -> StoreBackends | None:
    """Store backends kept by `log` itself (None: the log keeps no state, as Kafka)."""
    if isinstance(log, EmbeddedLog):
        def rocks(name: str) -> Backend:
            if log.read_only and not log.has_column_family(name):
                return DictBackend()  # nothing committed to it yet
            return RocksBackend(log.column_family(name))
        return rocks
    if isinstance(log, MemoryLog):
        return lambda name: DictBackend(log.state_dict(name))
    return None


class Job:
    """`plan` on `log`: builds its workers and its table views. `directory` is where a
    worker keeps state the log does not (Kafka); close() deletes that state."""

    def __init__(self, plan: PhysicalPlan, log: Transport, directory: str | None = None
                 ) -> None:
        self.plan, self.log = plan, log
        self.local: LocalState | None = None
        backends = log_backends(log)
        if backends is None and log.changelogs and plan.stores:
            if directory is None:
                raise ConfigError(f"pipeline '{plan.pipeline}' keeps state on the {log.name} "
                                  "log: it needs a data directory for its local stores")
            self.local = LocalState(directory, plan.pipeline)
            backends = self.local.backend
        self.backends = backends

    def worker(self, config: WorkerConfig | None = None) -> Worker:
        """A worker of this job (it joins the job's group when started)."""
        return Worker(self.plan, self.log, config, backends=self.backends, local=self.local)

    def views(self, partitions: Mapping[str, int],
              global_rows: Mapping[str, Mapping[bytes, Any]] | None = None
              ) -> dict[str, View]:
        """A view of every table over the committed state. partitions: topic -> count."""
        if self.backends is None:
            raise ConfigError(f"the tables of '{self.plan.pipeline}' are kept by its workers "
                              "on this log: query a running job")
        return table_views(self.plan, dict(partitions), self.backends, global_rows)

    def close(self) -> None:
        """Close the worker-local state: deleted (the changelogs keep it), or kept with a
        checkpoint when the worker stopped cleanly (state/local.py)."""
        if self.local is not None:
            self.local.close()
            self.local = None


async def changelog_backends(plan: PhysicalPlan, log: Transport, counts: Mapping[str, int]
                             ) -> StoreBackends:
    """Every store of `plan` as its changelogs hold it at the group's last commits (as a
    worker taking each task over would restore it): for reading the tables of a pipeline
    that keeps its state on Kafka, from anywhere the broker is reachable."""
    rows: dict[str, dict[bytes, bytes]] = {}
    group = plan.pipeline
    for sub in plan.subtopologies:
        tasks = range(max((counts.get(t, 0) for t in sub.sources), default=0))
        if not sub.stores or not tasks:
            continue
        positions = {f"{sub.id}_{p}": await log.committed(group, [(t, p) for t in sub.sources])
                     for p in tasks}
        saved = await log.progress(group, positions)
        for store in sub.stores:
            found = rows.setdefault(f"{group}.{store}", {})
            for p in tasks:
                raw = saved.get(f"{sub.id}_{p}")
                changes = await log.read_changelog(f"{group}.{store}", p,
                                                   0 if raw is None else saved_n(raw))
                found.update((k, v) for k, v in changes if v is not None)
    return lambda name: DictBackend(rows.get(name, {}))
