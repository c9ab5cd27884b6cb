"""Read-only views of materialized tables (committed state), for Python, CLI and HTTP."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.api import ConfigError
from engine.api.codec import Codec
from engine.api.keys import key_encoder, key_reader
from engine.api.nodes import TableNode
from engine.api.processor import WindowResult
from engine.api.state import META, prefix_end, split_window_key, window_key
from engine.physical import PhysicalPlan
from engine.state import Backend, TaskStore
from engine.transport.partitioner import KEY_HASHES

Row = tuple[str | None, Any]


@dataclass
class TableView:
    """One table across all its partitions. Keys are str/bytes/int as in the pipeline."""

    node: TableNode
    partitions: int
    backend: Backend
    codec: Codec = field(default_factory=Codec)

    @property
    def name(self) -> str:
        """The table's name."""
        return self.node.name

    @property
    def windowed(self) -> bool:
        """True for windowed tables (use `windows`)."""
        return self.node.windowed

    def _partition(self, raw: bytes) -> int | None:
        """The partition whose task holds key `raw` (placed as the table's inputs are);
        None before the pipeline's topics exist (nothing is stored yet)."""
        if not self.partitions:
            return None
        return KEY_HASHES[self.node.partitioner](raw) % self.partitions

    def _store(self, partition: int) -> TaskStore:
        return TaskStore(self.name, partition, self.backend, cache_limit=0, codec=self.codec)

    def get(self, key: Any) -> Any | None:
        """The value of `key`, or None."""
        if self.windowed:
            raise TypeError(f"table '{self.name}' is windowed: use windows(key, ...)")
        raw = key_encoder(self.node.key_type)(key)
        assert raw is not None
        partition = self._partition(raw)
        stored = None if partition is None else self._store(partition).get(raw)
        return None if stored is None else self.node.table_value(stored)

    def _entries(self) -> Iterator[tuple[bytes, Any]]:
        for partition in range(self.partitions):
            yield from self._store(partition).items(None, META if self.windowed else None)

    def items(self, prefix: str | None = None, start: str | None = None,
              end: str | None = None, limit: int | None = None) -> list[Row]:
        """Rows in key order (windowed tables: one row per key and window), filtered by key
        prefix and [start, end) key range."""
        rows: list[tuple[str, int, Any]] = []
        key_text = key_reader(self.node.key_type)
        for raw, stored in self._entries():
            key, window = (split_window_key(raw) if self.windowed else (raw, 0))
            text = key_text(key) or ""
            if not _wanted(text, prefix, start, end):
                continue
            value = self.node.table_value(stored)
            if self.windowed:
                value = WindowResult(text, window, self.node.window_end(window, stored), value)
            rows.append((text, window, value))
        rows.sort(key=lambda r: (r[0], r[1]))
        return [(k, v) for k, _, v in rows[:limit]]

    def windows(self, key: Any, start: int | None = None, end: int | None = None
                ) -> list[WindowResult]:
        """The windows of `key` whose start is in [start, end), oldest first."""
        if not self.windowed:
            raise TypeError(f"table '{self.name}' is not windowed: use get(key)")
        raw = key_encoder(self.node.key_type)(key)
        assert raw is not None
        lo = window_key(raw, start if start is not None else -(1 << 62))
        hi = window_key(raw, end) if end is not None else prefix_end(window_key(raw, 0)[:-8])
        partition = self._partition(raw)
        if partition is None:
            return []
        store = self._store(partition)
        found = []
        for wk, stored in store.items(lo, hi):
            start = split_window_key(wk)[1]
            found.append(WindowResult(key_reader(self.node.key_type)(raw), start,
                                      self.node.window_end(start, stored),
                                      self.node.table_value(stored)))
        return found


def _wanted(text: str, prefix: str | None, start: str | None, end: str | None) -> bool:
    return not ((prefix is not None and not text.startswith(prefix))
                or (start is not None and text < start) or (end is not None and text >= end))


@dataclass
class GlobalTableView:
    """A global table: the full copy a worker keeps (or one read from its topic)."""

    name: str
    rows: Mapping[bytes, Any]
    partitions: int = 1
    windowed: bool = False
    key_type: str = "json"

    def get(self, key: Any) -> Any | None:
        """The value of `key`, or None."""
        raw = key_encoder(self.key_type)(key)
        return None if raw is None else self.rows.get(raw)

    def items(self, prefix: str | None = None, start: str | None = None,
              end: str | None = None, limit: int | None = None) -> list[Row]:
        """Rows in key order, filtered by key prefix and [start, end) key range."""
        key_text = key_reader(self.key_type)
        rows: list[Row] = [(text, value) for key, value in list(self.rows.items())
                           if _wanted(text := key_text(key) or "", prefix, start, end)]
        rows.sort(key=lambda row: row[0] or "")
        return rows[:limit]

    def windows(self, key: Any, start: int | None = None, end: int | None = None
                ) -> list[WindowResult]:
        """Global tables are not windowed."""
        raise TypeError(f"table '{self.name}' is not windowed: use get(key)")


View = TableView | GlobalTableView


def table_views(plan: PhysicalPlan, partitions: dict[str, int],
                backend: Callable[[str], Backend],
                global_rows: Mapping[str, Mapping[bytes, Any]] | None = None
                ) -> dict[str, View]:
    """A view per table of `plan`. partitions: topic -> partition count (task counts);
    global_rows: the rows of each global table, when known."""
    views: dict[str, View] = {
        t.name: GlobalTableView(t.name, global_rows[t.name], partitions.get(t.topic, 1),
                                key_type=t.key_type)
        for t in plan.global_tables if global_rows is not None and t.name in global_rows}
    for sub in plan.subtopologies:
        count = max((partitions.get(t, 0) for t in sub.sources), default=0)
        for node in sub.nodes:
            if isinstance(node, TableNode):
                views[node.name] = TableView(node, count,
                                             backend(f"{plan.pipeline}.{node.name}"),
                                             plan.codec)
    return views


def unknown_table(name: str, views: Mapping[str, View]) -> ConfigError:
    """The error for a table name that does not exist."""
    known = ", ".join(sorted(views)) or "none"
    return ConfigError(f"no table '{name}' (tables: {known})")
