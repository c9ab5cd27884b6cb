"""State stores: backends (dict, RocksDB column family) and the per-task cached store."""

from engine.state.backend import Backend, DictBackend, RocksBackend
from engine.state.local import LocalState
from engine.state.store import TaskStore

__all__ = ["Backend", "DictBackend", "LocalState", "RocksBackend", "TaskStore"]
