"""Crash safety on the embedded log: SIGKILL `shoal run` mid-flight, over and over, then check
that the outputs hold every input exactly once, in order (exactly-once end to end).

Reproduce a run with SHOAL_CRASH_SEED=<seed printed on failure>.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import msgspec
import pytest

from apps.generate import orders
from apps.orders import InvalidOrder, enrich, is_domestic, is_large, validate
from apps.shop_events import Order
from engine.transport import EmbeddedLog, RecordTuple, partition_for
from tests.integration.conftest import read_log, read_topic, start_shoal
from tests.integration.conftest import wait_for_banner as wait_for_line

pytestmark = pytest.mark.slow
ShoalRunner = Callable[..., subprocess.CompletedProcess[str]]

COUNT = 200_000
BAD_EVERY = 100
PARTITIONS = 4
SOURCE = GROUP = "orders"  # the pipeline's name is its consumer group
DLQ = "orders.dlq"
OUTPUTS = ("orders.large", "orders.domestic", "orders.international", DLQ)
CALIBRATION_COUNT = 20_000
MIN_KILLS = 10
MAX_ATTEMPTS = 40  # per round
ROUNDS = 3
BANNER = b"pipeline 'orders'"  # printed once the run has opened the log and compiled the plan
RUN_ARGS = ["run", "apps/orders.py", "--until-caught-up", "--commit-interval", "50"]

Row = tuple[int, bytes | None, str]  # input line index, key, canonical value


# -- the batch reference ---------------------------------------------------------------------
def produce_key(line: str) -> bytes | None:
    """The key `shoal produce --key order_id` gives a line (generated ids are strings)."""
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    field = obj.get("order_id") if isinstance(obj, dict) else None
    return field.encode() if isinstance(field, str) else None


def canonical(topic: str, value: bytes | None) -> str:
    """Comparable form of a value: dead letters are raw input, the rest JSON objects."""
    assert value is not None
    return value.decode() if topic == DLQ else json.dumps(json.loads(value), sort_keys=True)


def expected_outputs(lines: list[str]) -> dict[str, list[Row]]:
    """Route every input line the way apps/orders.py should, in input order."""
    out: dict[str, list[Row]] = {topic: [] for topic in OUTPUTS}
    for i, line in enumerate(lines):
        key = produce_key(line)
        try:
            order = msgspec.json.decode(line, type=Order)  # ValidationError is a DecodeError
        except msgspec.DecodeError:
            out[DLQ].append((i, key, line))
            continue
        key = key if key is not None else order.order_id.encode()
        try:
            priced = enrich(validate(order))
        except InvalidOrder:
            out[DLQ].append((i, key, line))
            continue
        topic = ("orders.large" if is_large(priced) else
                 "orders.domestic" if is_domestic(priced) else "orders.international")
        out[topic].append((i, key, json.dumps(msgspec.structs.asdict(priced), sort_keys=True)))
    return out


# -- reading the log -------------------------------------------------------------------------
@dataclass(frozen=True)
class Snapshot:
    consumed: int  # committed input positions, summed over partitions
    produced: int  # records in the output topics


def snapshot(data_dir: Path) -> Snapshot:
    async def body(log: EmbeddedLog) -> Snapshot:
        topics = await log.topics()
        produced = [sum(await log.end_offsets(t)) for t in OUTPUTS if t in topics]
        committed = await log.committed(GROUP, [(SOURCE, p) for p in range(PARTITIONS)])
        return Snapshot(sum(committed.values()), sum(produced))
    return read_log(data_dir, body)


def read_outputs(data_dir: Path) -> dict[str, list[tuple[int, RecordTuple]]]:
    """Every record of the output topics, with its partition."""
    async def body(log: EmbeddedLog) -> dict[str, list[tuple[int, RecordTuple]]]:
        return {topic: await read_topic(log, topic) for topic in OUTPUTS}
    return read_log(data_dir, body)


# -- running and killing ---------------------------------------------------------------------
def start(argv: list[str], data_dir: Path, stderr: Path) -> subprocess.Popen[bytes]:
    return start_shoal([*argv, *RUN_ARGS, "--data-dir", str(data_dir)], stderr)


def wait_for_banner(proc: subprocess.Popen[bytes], stderr: Path, timeout: float = 30) -> float:
    """Seconds from now until the run printed its banner (start-up is over)."""
    return wait_for_line(proc, stderr, BANNER, timeout)


def produce(shoal: ShoalRunner, lines: list[str], file: Path, data_dir: Path) -> None:
    """`shoal produce` of `lines` (keyed by order_id) to SOURCE."""
    file.write_text("".join(f"{line}\n" for line in lines))
    done = shoal("produce", SOURCE, file, "--key", "order_id", "--partitions", str(PARTITIONS),
                 data_dir=data_dir)
    assert done.returncode == 0, done.stderr


def calibrate(shoal: ShoalRunner, argv: list[str], tmp: Path,
              lines: list[str]) -> tuple[float, float]:
    """(start-up, processing time of CALIBRATION_COUNT records), in seconds: a run over 100
    records, then one over CALIBRATION_COUNT more, timed from their banners to their exits."""
    startup: list[float] = []
    took: list[float] = []
    for n, chunk in enumerate([lines[:100], lines[100:100 + CALIBRATION_COUNT]]):
        produce(shoal, chunk, tmp / f"calibration-{n}.jsonl", tmp / "calibration")
        launched = time.monotonic()
        proc = start(argv, tmp / "calibration", tmp / f"calibration-{n}.err")
        wait_for_banner(proc, tmp / f"calibration-{n}.err")
        banner = time.monotonic()
        assert proc.wait(timeout=60) == 0, (tmp / f"calibration-{n}.err").read_text()
        startup.append(banner - launched)
        took.append(time.monotonic() - banner)
    return max(startup), max(took[1] - took[0], 0.02)


@dataclass(frozen=True)
class Kill:
    aim: str
    delay: float  # seconds after the banner
    alive: bool  # still running when SIGKILL was sent
    before: Snapshot
    after: Snapshot

    @property
    def gain(self) -> int:  # input records committed by the killed run
        return self.after.consumed - self.before.consumed

    @property
    def mid_run(self) -> bool:
        """Killed while input was left to process (not after the run finished)."""
        return self.alive and self.after.consumed < COUNT


class Killer:
    """Picks when to kill: 'late' aims just past a run's first commit (the output grows),
    'early' before it (nothing new is committed), now and then while the growing kills are in
    the majority, and whenever too little input is left for more late ones."""

    def __init__(self, rng: random.Random, period: float) -> None:
        self.rng = rng
        self.late = 1.4 * period  # adapted: 0 commits by then -> later; 2+ -> sooner
        self.kills: list[Kill] = []

    @property
    def mid(self) -> list[Kill]:
        return [k for k in self.kills if k.mid_run]

    @property
    def grown(self) -> int:
        return sum(k.gain > 0 for k in self.mid)

    def done(self) -> bool:
        return len(self.mid) >= MIN_KILLS and 2 * self.grown > len(self.mid)

    def choose(self, consumed: int) -> tuple[str, float]:
        gains = [k.gain for k in self.kills if k.gain > 0]
        commits_left = (COUNT - consumed) / min(gains) if gains else float("inf")
        flat = len(self.mid) - self.grown
        short = len(self.mid) + commits_left - 1 < MIN_KILLS or self.rng.random() < 0.2
        if commits_left <= 1.5 or (short and self.grown - flat >= 2):
            return "early", self.late * self.rng.uniform(0.2, 0.4)
        return "late", self.late * self.rng.uniform(0.9, 1.1)

    def record(self, kill: Kill) -> None:
        self.kills.append(kill)
        smallest = min([k.gain for k in self.kills if k.gain > 0], default=kill.gain)
        if kill.aim == "late" and kill.mid_run:
            self.late *= 1.15 if kill.gain == 0 else 0.85 if kill.gain > 1.5 * smallest else 0.97


def kill_repeatedly(killer: Killer, argv: list[str], data_dir: Path, logs: Path) -> None:
    """Start a run and SIGKILL it, until enough kills landed mid-run or the input is done."""
    state = snapshot(data_dir)
    for attempt in range(MAX_ATTEMPTS):
        if state.consumed >= COUNT or killer.done():
            return
        aim, delay = killer.choose(state.consumed)
        err = logs / f"run-{len(killer.kills)}.err"
        proc = start(argv, data_dir, err)
        took = wait_for_banner(proc, err)
        time.sleep(delay)
        alive = proc.poll() is None
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) in (0, -signal.SIGKILL), err.read_text()
        kill = Kill(aim, delay, alive, state, snapshot(data_dir))
        killer.record(kill)
        state = kill.after
        print(f"kill {attempt}: start-up {took:.3f}s, {aim} +{delay:.3f}s, alive={alive}, "
              f"consumed {kill.before.consumed:,} -> {state.consumed:,}")
        # a commit writes outputs and input positions together, and every input record
        # becomes exactly one output record: the two counts must always agree
        assert state.produced == state.consumed, f"torn commit after kill {attempt}: {state}"


def test_sigkill_mid_run_loses_and_duplicates_nothing(
        tmp_path: Path, data_dir: Path, shoal: ShoalRunner, shoal_command: list[str]) -> None:
    seed = int(os.environ.get("SHOAL_CRASH_SEED") or random.SystemRandom().randrange(1 << 32))
    print(f"crash test seed: {seed} (rerun with SHOAL_CRASH_SEED={seed})")
    lines = list(orders(COUNT, seed=7, bad_every=BAD_EVERY))
    expected = expected_outputs(lines)
    produce(shoal, lines, tmp_path / "orders.jsonl", data_dir)
    shutil.copytree(data_dir, tmp_path / "produced")
    startup, period = calibrate(shoal, shoal_command, tmp_path, lines)
    print(f"start-up {startup:.3f}s; {CALIBRATION_COUNT:,} records take {period:.3f}s")

    killer = Killer(random.Random(seed), period)
    # the input allows only so many commits: if it runs out before enough kills landed, the
    # round is still checked, then the next starts over from the produced input
    for round_ in range(ROUNDS):
        if round_:
            shutil.rmtree(data_dir)
            shutil.copytree(tmp_path / "produced", data_dir)
        kill_repeatedly(killer, shoal_command, data_dir, tmp_path)
        final = shoal(*RUN_ARGS, timeout=120)
        assert final.returncode == 0, final.stderr
        assert "Traceback" not in final.stderr
        assert snapshot(data_dir) == Snapshot(COUNT, COUNT)
        check_outputs(expected, read_outputs(data_dir), seed)
        if killer.done():
            break

    mid = len(killer.mid)
    print(f"{mid} kills mid-run, the output grew after {killer.grown}, in {round_ + 1} round(s)")
    assert mid >= MIN_KILLS, f"only {mid} kills landed mid-run (seed {seed})"
    assert 2 * killer.grown > mid, f"output grew after {killer.grown}/{mid} kills (seed {seed})"


def check_outputs(expected: dict[str, list[Row]],
                  actual: dict[str, list[tuple[int, RecordTuple]]], seed: int) -> None:
    """Same multiset of (key, value) per topic; input order kept per partition and source."""
    assert sum(map(len, expected.values())) == COUNT
    assert expected[DLQ], "the input should contain bad records"
    for topic in OUTPUTS:
        want = Counter((key, value) for _, key, value in expected[topic])
        got = Counter((r[1], canonical(topic, r[2])) for _, r in actual[topic])
        missing, extra = want - got, got - want
        assert not missing and not extra, (
            f"{topic} (seed {seed}): {sum(missing.values())} lost, {sum(extra.values())} "
            f"duplicated/unexpected, e.g. lost {list(missing)[:2]} extra {list(extra)[:2]}")

        index = {(key, value): i for i, key, value in expected[topic]}
        seen: dict[tuple[int, int], int] = defaultdict(lambda: -1)
        for partition, (offset, key, value, _, headers) in actual[topic]:
            if key is not None:
                source_partition = partition_for(key, PARTITIONS)
                assert partition == source_partition, f"{topic}: {key!r} misplaced"
            else:  # null-keyed dead letters: the header says where they came from
                source_partition = int(dict(headers or [])["shoal.source.partition"])
            line = index[(key, canonical(topic, value))]
            # records of one source partition (so all records of one key) keep input order
            last = seen[(partition, source_partition)]
            assert line > last, f"{topic}[{partition}]@{offset}: line {line} after {last}"
            seen[(partition, source_partition)] = line
