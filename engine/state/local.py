"""A worker's local RocksDB for stores whose durable copy is a changelog topic (Kafka).

The local copy is a cache: it is rebuilt from the changelog when a task is assigned, and
receives each commit's changes after the broker has acknowledged them. A worker that stops
cleanly keeps it, with a checkpoint: each task's progress at its last commit. The next
worker on the same data directory reads the checkpoint and deletes it at once (a crash
later must not find it), and takes a task's stores as they are when the group's committed
progress of that task is still the checkpointed one (Kafka Streams' `.checkpoint`).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import msgspec
from rocksdict import Options, Rdict, WriteBatch

from engine.api.state import partition_prefix, prefix_end
from engine.state.backend import RocksBackend

MEMTABLES = 64 << 20
CHECKPOINT = "checkpoint"


def _options() -> Options:
    options = Options(raw_mode=True)
    options.set_write_buffer_size(MEMTABLES // 4)
    return options


class LocalState:
    """One RocksDB with a column family per store: kept with a checkpoint when the worker
    stops cleanly (`keep`), else deleted when closed. A second worker on the same data
    directory gets a copy of its own, never checkpointed."""

    def __init__(self, root: str | os.PathLike[str], name: str) -> None:
        self.path = Path(root) / "state" / name
        self.checkpoint: dict[str, bytes] = {}  # task id -> progress, from the last stop
        self.kept: dict[str, bytes] | None = None
        self.own = False  # a copy of this process only (the shared one was taken)
        try:
            self.db = _open(self.path, fresh=False)  # holds the lock from here on
            self.checkpoint = _take_checkpoint(self.path)
            if not self.checkpoint:
                self.db.close()
                self.db = _open(self.path, fresh=True)
        except Exception as exc:  # held by another worker on this data dir (its lock)
            if "lock" not in str(exc).lower():
                raise
            self.path, self.checkpoint = self.path.with_name(f"{name}-{os.getpid()}"), {}
            self.own = True
            self.db = _open(self.path, fresh=True)
        self.families: dict[str, tuple[Rdict, Any]] = {
            cf: (self.db.get_column_family(cf), self.db.get_column_family_handle(cf))
            for cf in Rdict.list_cf(str(self.path)) if cf != "default"}

    def _family(self, store: str) -> tuple[Rdict, Any]:
        found = self.families.get(store)
        if found is None:
            view = self.db.create_column_family(store, _options())
            found = self.families[store] = (view, self.db.get_column_family_handle(store))
        return found

    def backend(self, store: str) -> RocksBackend:
        """The store's backend for task stores and queries."""
        return RocksBackend(self._family(store)[0], durable=False)

    def write(self, store: str, changes: Iterable[tuple[bytes, bytes | None]]) -> None:
        """Apply committed changes (backend keys, None deletes) in one WriteBatch."""
        handle = self._family(store)[1]
        batch = WriteBatch(raw_mode=True)
        for key, value in changes:
            if value is None:
                batch.delete(key, handle)
            else:
                batch.put(key, value, handle)
        self.db.write(batch)

    def reset(self, store: str, partition: int) -> None:
        """Forget a partition's entries before restoring it from the changelog."""
        view = self._family(store)[0]
        prefix = partition_prefix(partition)
        end = prefix_end(prefix)
        stale = [key for key, _ in RocksBackend(view).scan(prefix, end)]
        self.write(store, ((key, None) for key in stale))

    def keep(self, progress: dict[str, bytes]) -> None:
        """At close, keep the copy with this checkpoint (task id -> progress of its last
        commit), instead of deleting it."""
        self.kept = progress

    def close(self) -> None:
        """Close; delete the local copy unless `keep` was called (then write the
        checkpoint after the database is closed, so it never precedes the data)."""
        for view, _ in self.families.values():
            view.close()
        self.families.clear()
        self.db.close()
        if self.kept is None or self.own:
            shutil.rmtree(self.path, ignore_errors=True)
            return
        temporary = self.path / "checkpoint.tmp"
        temporary.write_bytes(msgspec.msgpack.encode(self.kept))
        temporary.rename(self.path / CHECKPOINT)


def _open(path: Path, fresh: bool) -> Rdict:
    """The RocksDB at `path` (emptied first when `fresh`)."""
    if fresh:
        shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True, exist_ok=True)
    options = _options()
    options.set_db_write_buffer_size(MEMTABLES)  # all stores' memtables together
    options.create_if_missing(True)
    return Rdict(str(path), options)


def _take_checkpoint(path: Path) -> dict[str, bytes]:
    """The checkpoint a clean stop left in `path` (deleted now), else {}."""
    found = path / CHECKPOINT
    try:
        raw = found.read_bytes()
    except OSError:
        return {}
    found.unlink()
    try:
        return msgspec.msgpack.decode(raw, type=dict[str, bytes])
    except msgspec.DecodeError:
        return {}
