"""The runtime: worker, tasks and the commit procedure; stores and logs are injected."""

from engine.runtime.stats import RunStats
from engine.runtime.sync import run_sync
from engine.runtime.task import Task
from engine.runtime.worker import Worker, WorkerConfig

__all__ = ["RunStats", "Task", "Worker", "WorkerConfig", "run_sync"]
