"""Shared helpers for the end-to-end tests: run the `shoal` CLI as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest

from apps.generate import orders

REPO_ROOT = Path(__file__).resolve().parents[2]
ShoalRunner = Callable[..., subprocess.CompletedProcess[str]]


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
