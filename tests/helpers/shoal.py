"""Running `shoal` as a user does, and reading back what a run left, on either log.

- `run_shoal(...)` / `cli(...)`: one command to its exit; `start_shoal(...)` and
  `wait_for_banner(...)`: one in the background; `Workers`: `shoal run` processes of one app;
- `read_log(...)` / `read_topic(...)`: the embedded log after a run, record by record;
- `log_contents(...)` / `stores(...)`: every topic's records and every store's rows, from the
  embedded log, or from Kafka (stores rebuilt from their changelogs as a restore would).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from apps.generate import orders
from engine.api.records import is_control
from engine.physical import PhysicalPlan
from engine.runtime.task import saved_n
from engine.state import RocksBackend
from engine.transport import (
    EmbeddedLog,
    RecordTuple,
    Transport,
    changelog_topic,
    progress_topic,
    read_partitions,
)
from engine.transport.kafka import KafkaTransport
from engine.transport.kafka_state import find_progress, restorable

REPO_ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")
Rows = dict[int, list[tuple[bytes | None, bytes | None]]]  # partition -> (key, value)
ShoalRunner = Callable[..., subprocess.CompletedProcess[str]]


# -- the CLI as a subprocess -----------------------------------------------------------------
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


def cli(*args: str | os.PathLike[str], timeout: float = 120.0) -> str:
    """Run `shoal ARGS` to a clean exit; its stderr."""
    done = run_shoal(*args, timeout=timeout)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    return done.stderr


def start_shoal(argv: list[str], stderr: Path,
                env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start `argv` (a CLI command line) from the repo root in the background, its stderr
    going to the file `stderr` (stdout discarded), `env` added to its environment; for tests
    that signal the process or run several."""
    with stderr.open("wb") as err:
        return subprocess.Popen(argv, cwd=REPO_ROOT, env={**shoal_env(), **(env or {})},
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


def write_orders(path: Path, count: int, seed: int = 7, bad_every: int = 100) -> list[str]:
    """Write `count` generated order lines to `path`; returns the lines."""
    lines = list(orders(count, seed, bad_every))
    path.write_text("".join(f"{line}\n" for line in lines))
    return lines


# -- workers --------------------------------------------------------------------------------
@dataclass
class Workers:
    """`shoal run` processes of one app, started in the background (stderr to files)."""

    argv: list[str]
    logs: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, *extra: str, env: dict[str, str] | None = None) -> int:
        """Start one more worker (with a data dir of its own, and `env` added to its
        environment); returns its index."""
        n = len(self.procs)
        self.procs.append(start_shoal(
            [*shoal_argv(), *self.argv, "--port", "0", "--data-dir",
             str(self.logs / f"worker-{n}"), *extra], self.logs / f"worker-{n}.err", env))
        return n

    def text(self, n: int) -> str:
        return (self.logs / f"worker-{n}.err").read_text(errors="replace")

    def texts(self) -> str:
        return "\n".join(f"--- worker {n}:\n{self.text(n)[-3000:]}" for n in range(len(self.procs)))

    def assigned(self) -> int:
        """Workers whose latest assignment holds some tasks."""
        count = 0
        for n in range(len(self.procs)):
            lines = [x for x in self.text(n).splitlines() if x.startswith("assigned ")]
            count += bool(lines) and not lines[-1].endswith(": 0 tasks ()")
        return count

    def wait(self, done: Callable[[], bool], what: str, timeout: float = 90) -> float:
        """Poll `done` until true (no worker may exit meanwhile); the seconds it took."""
        began = time.monotonic()
        while not done():
            assert all(p.poll() is None for p in self.procs), \
                f"a worker exited while waiting for {what}:\n{self.texts()}"
            assert time.monotonic() - began < timeout, \
                f"timed out after {timeout}s waiting for {what}:\n{self.texts()}"
            time.sleep(0.2)
        return time.monotonic() - began

    def stop(self) -> None:
        """SIGTERM every running worker: each must commit and exit 0 without a traceback."""
        running = [(n, proc) for n, proc in enumerate(self.procs) if proc.poll() is None]
        for _, proc in running:
            proc.send_signal(signal.SIGTERM)
        for n, proc in running:
            assert proc.wait(timeout=60) == 0, self.text(n)[-3000:]
            assert "Traceback" not in self.text(n), self.text(n)[-3000:]

    def kill(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)


# -- reading what a run left -----------------------------------------------------------------
def on_log(open_log: Callable[[], Transport], body: Callable[[Any], Coroutine[Any, Any, T]]
           ) -> T:
    """`await body(log)` on a freshly opened log, closed afterwards."""
    async def main() -> T:
        log = open_log()
        try:
            return await body(log)
        finally:
            await log.close()
    return asyncio.run(main())


def embedded(data_dir: Path) -> Callable[[], Transport]:
    return lambda: EmbeddedLog(data_dir, read_only=True)


def kafka(bootstrap: str) -> Callable[[], Transport]:
    return lambda: KafkaTransport(bootstrap)


def read_log(data_dir: Path, body: Callable[[EmbeddedLog], Coroutine[Any, Any, T]]) -> T:
    """`await body(log)` on the embedded log opened read-only (no writer may be running)."""
    return on_log(embedded(data_dir), body)


async def read_complete(log: Transport, topic: str) -> list[list[RecordTuple]]:
    """Every record of `topic` per partition (read_partitions), failing where a partition
    comes back short of the end offset it had before the read: a record that should be
    there and is not."""
    ends = await log.end_offsets(topic)
    found = await read_partitions(log, topic)
    for partition, (end, records) in enumerate(zip(ends, found, strict=False)):
        reached = records[-1][0] + 1 if records else 0
        assert reached >= end, f"{topic}[{partition}]: nothing to read at {reached} < {end}"
    return found


async def read_topic(log: EmbeddedLog, topic: str) -> list[tuple[int, RecordTuple]]:
    """Every record of `topic` with its partition, partition by partition in offset order."""
    return [(partition, record) for partition, records in enumerate(
        await read_complete(log, topic)) for record in records]


async def read_all(log: Transport, topic: str) -> list[tuple[int, Any]]:
    """Every record of `topic` (data only, not control records) with its partition."""
    return [(partition, record) for partition, records in enumerate(
        await read_partitions(log, topic)) for record in records if not is_control(record[4])]


def log_contents(open_log: Callable[[], Transport], topics: list[str]) -> dict[str, Rows]:
    """The (key, value) records of each topic, per partition, in offset order."""
    async def body(log: Transport) -> dict[str, Rows]:
        out: dict[str, Rows] = {}
        for topic in topics:
            rows: Rows = out.setdefault(topic, {})
            for partition, (_, key, value, _, _) in await read_all(log, topic):
                rows.setdefault(partition, []).append((key, value))
        return out
    return on_log(open_log, body)


def stores(open_log: Callable[[], Transport], plan: PhysicalPlan) -> dict[str, dict[bytes, Any]]:
    """Every store of `plan`: backend key -> value; on Kafka as a restore rebuilds it from the
    changelog (per key the change of the largest n up to the task's committed progress)."""
    async def body(log: Transport) -> dict[str, dict[bytes, Any]]:
        counts = await log.topics()
        out: dict[str, dict[bytes, Any]] = {}
        for sub in plan.subtopologies:
            tasks = max(counts.get(t, 0) for t in sub.sources)
            for store in sub.stores:
                name = f"{plan.pipeline}.{store}"
                out[store] = await _store(log, name, sub.id, sub.sources, tasks, plan)
        return out
    return on_log(open_log, body)


async def _store(log: Transport, name: str, sub: int, sources: tuple[str, ...], tasks: int,
                 plan: PhysicalPlan) -> dict[bytes, Any]:
    group, decode = plan.pipeline, plan.codec.decode
    if isinstance(log, EmbeddedLog):
        if not log.has_column_family(name):
            return {}
        return {k: decode(v) for k, v in RocksBackend(log.column_family(name)).scan(
            b"", None)}
    assert isinstance(log, KafkaTransport)
    saved = [r for _, r in await read_all(log, progress_topic(group))]
    rows: dict[bytes, Any] = {}
    for p in range(tasks):
        committed = await log.committed(group, [(t, p) for t in sources])
        progress = find_progress(saved, f"{sub}_{p}", committed)
        n = 0 if progress is None else saved_n(progress)
        records = [r for q, r in await read_all(log, changelog_topic(name)) if q == p]
        rows.update({k: decode(v) for k, v in restorable(records, p, n).items()
                     if v is not None})
    return rows

