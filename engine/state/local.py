"""A worker's local RocksDB for stores whose durable copy is a changelog topic (Kafka).

The local copy is a cache: it is rebuilt from the changelog when a task is assigned, and
receives each commit's changes after the broker has acknowledged them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rocksdict import Options, Rdict, WriteBatch

from engine.api.state import partition_prefix, prefix_end
from engine.state.backend import RocksBackend

MEMTABLES = 64 << 20


def _options() -> Options:
    options = Options(raw_mode=True)
    options.set_write_buffer_size(MEMTABLES // 4)
    return options


class LocalState:
    """One RocksDB with a column family per store, deleted when closed."""

    def __init__(self, root: str | os.PathLike[str], name: str) -> None:
        self.path = Path(root) / "state" / f"{name}-{os.getpid()}"
        shutil.rmtree(self.path, ignore_errors=True)
        self.path.mkdir(parents=True)
        options = _options()
        options.set_db_write_buffer_size(MEMTABLES)  # all stores' memtables together
        options.create_if_missing(True)
        self.db = Rdict(str(self.path), options)
        self.families: dict[str, tuple[Rdict, Any]] = {}

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

    def close(self) -> None:
        """Close and delete the local copy."""
        for view, _ in self.families.values():
            view.close()
        self.families.clear()
        self.db.close()
        shutil.rmtree(self.path, ignore_errors=True)
