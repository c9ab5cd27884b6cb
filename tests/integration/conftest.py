"""Fixtures of the end-to-end tests: the `shoal` CLI as a subprocess, and `shoal run` workers
on the session's Kafka broker. The plain functions behind them are in tests/helpers/."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import pytest

from tests.helpers.kafka_workers import COMMIT_INTERVAL_MS, Spawn, Worker, WorkerApp
from tests.helpers.shoal import ShoalRunner, run_shoal, shoal_argv, start_shoal, write_orders
from tests.kafka_broker import Broker, tansu


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A Tansu broker of one test's own, for tests whose apps have fixed topic and group
    names (the session's `kafka_broker` is shared)."""
    with tansu(tmp_path / "tansu.log") as started:
        yield started


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A fresh (not yet created) embedded-log directory."""
    return tmp_path / "data"


@pytest.fixture(scope="session")
def run_cli() -> ShoalRunner:
    """`run_shoal(*args, data_dir=DIR)`, for fixtures wider than one test."""
    return run_shoal


@pytest.fixture
def shoal(data_dir: Path) -> ShoalRunner:
    """`run_shoal` bound to this test's data dir (pass data_dir=None for `describe`)."""
    return partial(run_shoal, data_dir=data_dir)


@pytest.fixture(scope="session")
def shoal_command() -> list[str]:
    """argv prefix that starts the CLI, for tests that manage the process themselves."""
    return shoal_argv()


@pytest.fixture(scope="session")
def order_file() -> Callable[[Path, int, int, int], list[str]]:
    """`write_orders(path, count, seed, bad_every)`: a generated input file."""
    return write_orders


@pytest.fixture
def spawn(tmp_path: Path, kafka_broker: Broker, shoal_command: list[str]) -> Iterator[Spawn]:
    """Starts `shoal run APP --port 0` workers on the broker, each with a data directory of
    its own (for local state); kills those still running at the end."""
    started: list[Worker] = []

    def start(app: WorkerApp) -> Worker:
        name = f"worker-{len(started)}"
        log = tmp_path / f"{name}.err"
        proc = start_shoal(
            [*shoal_command, "run", str(app.file), "--broker", kafka_broker.url,
             "--commit-interval", str(COMMIT_INTERVAL_MS), "--port", "0",
             "--data-dir", str(tmp_path / f"{name}-data")], log)
        started.append(Worker(name, proc, log, app.source))
        return started[-1]

    try:
        yield start
    finally:
        for worker in started:
            if worker.alive():
                worker.proc.kill()
            worker.proc.wait(timeout=30)
