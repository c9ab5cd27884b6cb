"""Shared bookkeeping of the SIGKILL crash tests (tests/integration/test_crash*.py): the seed,
producing the input, runs to the end, the kill loop and its pacing, the crash rounds and the
final kill-count checks. What a test measures (its log `state`) and checks stays in the test.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

import pytest

from engine.transport import EmbeddedLog, RecordTuple
from tests.helpers.shoal import read_log, read_topic, run_shoal, start_shoal, wait_for_banner

S = TypeVar("S")  # what a test reads from the log between runs (committed positions, ...)
Rows = list[tuple[int, RecordTuple]]  # records of a topic with their partition


def crash_seed() -> int:
    """SHOAL_CRASH_SEED, else a random seed; printed so that a failure can be reproduced."""
    seed = int(os.environ.get("SHOAL_CRASH_SEED") or random.SystemRandom().randrange(1 << 32))
    print(f"crash test seed: {seed} (rerun with SHOAL_CRASH_SEED={seed})")
    return seed


# -- the log and the CLI ---------------------------------------------------------------------
def produce_file(topic: str, file: Path, key: str, partitions: int, data_dir: Path,
                 *extra: str) -> None:
    """`shoal produce TOPIC FILE --key KEY --partitions N [EXTRA]`, which must succeed."""
    done = run_shoal("produce", topic, file, "--key", key, "--partitions", str(partitions),
                     *extra, data_dir=data_dir)
    assert done.returncode == 0, done.stderr


def read_topics(data_dir: Path, topics: tuple[str, ...] | list[str]) -> dict[str, Rows]:
    """Every record of each of `topics` (none for a topic not created), with its partition."""
    async def body(log: EmbeddedLog) -> dict[str, Rows]:
        found = await log.topics()
        return {t: await read_topic(log, t) if t in found else [] for t in topics}
    return read_log(data_dir, body)


async def committed_positions(log: EmbeddedLog, group: str, topic: str,
                              partitions: int) -> tuple[int, ...]:
    """The group's committed position in each partition of `topic`."""
    found = await log.committed(group, [(topic, p) for p in range(partitions)])
    return tuple(found[(topic, p)] for p in range(partitions))


def finish(args: list[str], data_dir: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    """`shoal ARGS --data-dir DIR` to its exit, which must be clean within `timeout` s."""
    try:
        done = run_shoal(*args, data_dir=data_dir, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"run to the end did not exit in {timeout}s (idle-timeout livelock?)")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    return done


def run_timed(argv: list[str], err: Path, banner: bytes, timeout: float,
              what: str = "a run to the end") -> tuple[float, float]:
    """Start `argv` (stderr to `err`) and wait for a clean exit within `timeout` s; returns
    (seconds from the start to the banner, seconds from the banner to the exit)."""
    launched = time.monotonic()
    proc = start_shoal(argv, err)
    wait_for_banner(proc, err, banner)
    shown = time.monotonic()
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail(f"{what} did not exit in {timeout}s (idle-timeout livelock?):\n"
                    f"{err.read_text()}")
    took = time.monotonic() - shown
    assert code == 0, err.read_text()
    assert "Traceback" not in err.read_text(), err.read_text()
    return shown - launched, took


# -- killing ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Kill(Generic[S]):
    """One SIGKILLed run: when it was aimed, and the log state before the run and after."""

    aim: str  # 'late' (after a commit or so) or 'early' (before the first)
    delay: float  # seconds after the banner
    alive: bool  # still running when SIGKILL was sent
    before: S
    after: S
    gain: int  # work committed by the killed run
    mid_run: bool  # killed while work was left (not after the run finished)


class Pacer(Generic[S]):
    """The kills so far, and when to make the next (`choose`, adapted in `record`) in seconds
    after the banner. Subclasses say what the work is and how to aim. Enough kills grew the
    committed work when most did, or (with `min_grown`) at least that many."""

    def __init__(self, rng: random.Random, late: float, min_grown: int | None = None) -> None:
        self.rng = rng
        self.late = late  # the delay a late kill aims at, adapted to the gains seen
        self.min_grown = min_grown
        self.kills: list[Kill[S]] = []

    def work(self, state: S) -> int:
        """The work (records) committed in `state`."""
        raise NotImplementedError

    def finished(self, state: S) -> bool:
        """No work is left in `state`."""
        raise NotImplementedError

    def exhausted(self, state: S) -> bool:
        """No kill from `state` can test anything new (the round ends; by default never)."""
        return False

    def choose(self, state: S) -> tuple[str, float]:
        """(aim, delay) of the next kill, from the current `state`."""
        raise NotImplementedError

    def record(self, kill: Kill[S]) -> None:
        self.kills.append(kill)

    @property
    def mid(self) -> list[Kill[S]]:
        return [k for k in self.kills if k.mid_run]

    @property
    def grown(self) -> int:
        return sum(k.gain > 0 for k in self.mid)

    def grown_enough(self) -> bool:
        if self.min_grown is not None:
            return self.grown >= self.min_grown
        return 2 * self.grown > len(self.mid)

    def enough(self, wanted: int) -> bool:
        """At least `wanted` kills landed mid-run, enough of them after the work moved on."""
        return len(self.mid) >= wanted and self.grown_enough()

    def check_enough(self, min_kills: int, seed: int, moved: str = "work moved on") -> None:
        """The test's kill requirements: at least `min_kills` mid-run, enough of them grown."""
        mid = len(self.mid)
        assert mid >= min_kills, f"only {mid} kills landed mid-run (seed {seed})"
        if self.min_grown is not None:
            assert self.grown >= self.min_grown, (
                f"only {self.grown} kills came after a commit (seed {seed})")
        else:
            assert 2 * self.grown > mid, f"{moved} after {self.grown}/{mid} kills (seed {seed})"


def kill_repeatedly(pacer: Pacer[S], argv: list[str], banner: bytes, data_dir: Path,
                    measure: Callable[[Path], S], logs: Path, *, max_attempts: int,
                    wanted: int | None, describe: Callable[[Kill[S]], str],
                    check: Callable[[S, str], object] | None = None, exact_exit: bool = False,
                    no_traceback: bool = False) -> None:
    """Start `argv` and SIGKILL it when `pacer` says, again and again, until the work is done
    or (unless `wanted` is None) `wanted` kills landed mid-run. Every run must exit by the
    kill or cleanly (`exact_exit`: by the kill exactly when it was alive), without a traceback
    when `no_traceback`; `check(state, what)` then checks the log."""
    state = measure(data_dir)
    for attempt in range(max_attempts):
        if pacer.finished(state) or pacer.exhausted(state) or (
                wanted is not None and pacer.enough(wanted)):
            return
        aim, delay = pacer.choose(state)
        err = logs / f"run-{len(pacer.kills)}.err"
        proc = start_shoal(argv, err)
        took = wait_for_banner(proc, err, banner)
        time.sleep(delay)
        alive = proc.poll() is None
        proc.send_signal(signal.SIGKILL)
        code = proc.wait(timeout=30)
        if exact_exit:
            assert code == (-signal.SIGKILL if alive else 0), err.read_text()
        else:
            assert code in (0, -signal.SIGKILL), err.read_text()
        if no_traceback:
            assert "Traceback" not in err.read_text(), err.read_text()
        after = measure(data_dir)
        kill = Kill(aim, delay, alive, state, after, pacer.work(after) - pacer.work(state),
                    alive and not pacer.finished(after))
        pacer.record(kill)
        state = after
        print(f"kill {attempt}: start-up {took:.3f}s, {aim} +{delay:.3f}s, alive={alive}, "
              f"{describe(kill)}")
        if check is not None:
            check(state, f"after kill {attempt}")


class CrashRounds:
    """The rounds of kills: iterating keeps the produced input of `data_dir` in `produced`,
    then yields the round numbers, starting every round but the first over from it; `count`
    is the number of rounds begun. The input allows only so many commits: if it runs out
    before enough kills landed, the round is still checked, then the next one starts over."""

    def __init__(self, rounds: int, data_dir: Path, produced: Path) -> None:
        self.rounds = rounds
        self.data_dir = data_dir
        self.produced = produced
        self.count = 0

    def __iter__(self) -> Iterator[int]:
        shutil.copytree(self.data_dir, self.produced)
        for round_ in range(self.rounds):
            if round_:
                shutil.rmtree(self.data_dir)
                shutil.copytree(self.produced, self.data_dir)
            self.count = round_ + 1
            yield round_
