"""Shared helpers for the end-to-end tests: run the `shoal` CLI as a subprocess."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import pytest

from apps.generate import orders
from engine.transport import EmbeddedLog, RecordTuple

REPO_ROOT = Path(__file__).resolve().parents[2]
ShoalRunner = Callable[..., subprocess.CompletedProcess[str]]
T = TypeVar("T")


def shoal_argv() -> list[str]:
    """The command that starts the CLI: the venv's `shoal` script, else `python -m`."""
    script = Path(sys.executable).with_name("shoal")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "engine.cli"]


def shoal_env() -> dict[str, str]:
    """The environment of a CLI subprocess: no inherited SHOAL_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOAL_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_shoal(*args: str | os.PathLike[str], data_dir: Path | None = None,
              timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Run `shoal ARGS [--data-dir DIR]` from the repo root; never raises on exit codes."""
    argv = [*shoal_argv(), *map(str, args)]
    if data_dir is not None:
        argv += ["--data-dir", str(data_dir)]
    return subprocess.run(argv, cwd=REPO_ROOT, env=shoal_env(), capture_output=True,
                          text=True, timeout=timeout, check=False)


def start_shoal(argv: list[str], stderr: Path) -> subprocess.Popen[bytes]:
    """Start `argv` (a CLI command line) from the repo root in the background, its stderr
    going to the file `stderr` (stdout discarded); for tests that signal the process."""
    with stderr.open("wb") as err:
        return subprocess.Popen(argv, cwd=REPO_ROOT, env=shoal_env(),
                                stdout=subprocess.DEVNULL, stderr=err)


def wait_for_banner(proc: subprocess.Popen[bytes], stderr: Path, banner: bytes,
                    timeout: float = 30) -> float:
    """Seconds from now until `banner` shows up in the file `stderr` (e.g. `shoal run`'s
    "pipeline 'NAME'" line, printed once start-up is over); fails if the process exits first."""
    began = time.monotonic()
    while banner not in stderr.read_bytes():
        assert proc.poll() is None, f"run exited before starting:\n{stderr.read_text()}"
        assert time.monotonic() - began < timeout, "no banner: run did not start"
        time.sleep(0.002)
    return time.monotonic() - began


def read_log(data_dir: Path, body: Callable[[EmbeddedLog], Coroutine[Any, Any, T]]) -> T:
    """`await body(log)` on the embedded log opened read-only (no writer may be running)."""
    async def main() -> T:
        log = EmbeddedLog(data_dir, read_only=True)
        try:
            return await body(log)
        finally:
            await log.close()
    return asyncio.run(main())


async def read_topic(log: EmbeddedLog, topic: str) -> list[tuple[int, RecordTuple]]:
    """Every record of `topic` with its partition, partition by partition in offset order."""
    rows: list[tuple[int, RecordTuple]] = []
    for partition, end in enumerate(await log.end_offsets(topic)):
        offset = 0
        while offset < end:
            batch = await log.read((topic, partition), offset, 10_000)
            rows.extend((partition, record) for record in batch)
            offset = batch[-1][0] + 1
    return rows


def write_orders(path: Path, count: int, seed: int = 7, bad_every: int = 100) -> list[str]:
    """Write `count` generated order lines to `path`; returns the lines."""
    lines = list(orders(count, seed, bad_every))
    path.write_text("".join(f"{line}\n" for line in lines))
    return lines


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
