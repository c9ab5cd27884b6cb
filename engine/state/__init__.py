"""State stores: backends (dict, RocksDB column family) and the per-task cached store."""

from engine.state.backend import Backend, DictBackend, RocksBackend
from engine.state.local import LocalState
from engine.state.store import CACHE_ENTRIES, TaskStore

__all__ = ["CACHE_ENTRIES", "Backend", "DictBackend", "LocalState", "RocksBackend", "TaskStore"]
