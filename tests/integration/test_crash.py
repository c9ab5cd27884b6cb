"""Crash safety on the embedded log: SIGKILL `shoal run` mid-flight, over and over, then check
that the outputs hold every input exactly once, in order (exactly-once end to end).

Reproduce a run with SHOAL_CRASH_SEED=<seed printed on failure>.
"""

from __future__ import annotations

import json
import random
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import msgspec
import pytest

from apps.generate import orders
from apps.orders import InvalidOrder, enrich, is_domestic, is_large, validate
from apps.shop_events import Order
from engine.transport import EmbeddedLog, RecordTuple, partition_for
from tests.helpers.crash import (
    CrashRounds,
    Kill,
    Pacer,
    crash_seed,
    finish,
    kill_repeatedly,
    produce_file,
    read_topics,
    run_timed,
)
from tests.helpers.shoal import read_log

pytestmark = pytest.mark.slow

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


# -- running and killing ---------------------------------------------------------------------
def produce(lines: list[str], file: Path, data_dir: Path) -> None:
    """`shoal produce` of `lines` (keyed by order_id) to SOURCE."""
    file.write_text("".join(f"{line}\n" for line in lines))
    produce_file(SOURCE, file, "order_id", PARTITIONS, data_dir)


def calibrate(argv: list[str], tmp: Path, lines: list[str]) -> tuple[float, float]:
    """(start-up, processing time of CALIBRATION_COUNT records), in seconds: a run over 100
    records, then one over CALIBRATION_COUNT more, timed from their banners to their exits."""
    startup: list[float] = []
    took: list[float] = []
    for n, chunk in enumerate([lines[:100], lines[100:100 + CALIBRATION_COUNT]]):
        produce(chunk, tmp / f"calibration-{n}.jsonl", tmp / "calibration")
        run_argv = [*argv, *RUN_ARGS, "--data-dir", str(tmp / "calibration")]
        up, run = run_timed(run_argv, tmp / f"calibration-{n}.err", BANNER, 60, "a calibration run")
        startup.append(up)
        took.append(run)
    return max(startup), max(took[1] - took[0], 0.02)


class Killer(Pacer[Snapshot]):
    """Picks when to kill: 'late' aims just past a run's first commit (the output grows),
    'early' before it (nothing new is committed), now and then while the growing kills are in
    the majority, and whenever too little input is left for more late ones."""

    def __init__(self, rng: random.Random, period: float) -> None:
        super().__init__(rng, 1.4 * period)  # adapted: 0 commits by then -> later; 2+ -> sooner

    def work(self, state: Snapshot) -> int:
        return state.consumed

    def finished(self, state: Snapshot) -> bool:
        return state.consumed >= COUNT

    def commits_left(self, state: Snapshot) -> float:
        """Commits of the size seen so far that the input left in `state` still allows."""
        gains = [k.gain for k in self.kills if k.gain > 0]
        return (COUNT - state.consumed) / min(gains) if gains else float("inf")

    def exhausted(self, state: Snapshot) -> bool:
        """The input left allows no late kill, and the early one was made: more kills would
        only repeat it (each one flat), so the round ends."""
        last = self.kills[-1] if self.kills else None
        return (last is not None and last.aim == "early" and last.after == state
                and self.commits_left(state) <= 1.5)

    def choose(self, state: Snapshot) -> tuple[str, float]:
        commits_left = self.commits_left(state)
        flat = len(self.mid) - self.grown
        short = len(self.mid) + commits_left - 1 < MIN_KILLS or self.rng.random() < 0.2
        if commits_left <= 1.5 or (short and self.grown - flat >= 2):
            return "early", self.late * self.rng.uniform(0.2, 0.4)
        return "late", self.late * self.rng.uniform(0.9, 1.1)

    def record(self, kill: Kill[Snapshot]) -> None:
        super().record(kill)
        smallest = min([k.gain for k in self.kills if k.gain > 0], default=kill.gain)
        if kill.aim == "late" and kill.mid_run:
            self.late *= 1.15 if kill.gain == 0 else 0.85 if kill.gain > 1.5 * smallest else 0.97


def untorn(state: Snapshot, what: str) -> None:
    """A commit writes outputs and input positions together, and every input record becomes
    exactly one output record: the two counts must always agree."""
    assert state.produced == state.consumed, f"torn commit {what}: {state}"


def test_sigkill_mid_run_loses_and_duplicates_nothing(
        tmp_path: Path, data_dir: Path, shoal_command: list[str]) -> None:
    seed = crash_seed()
    lines = list(orders(COUNT, seed=7, bad_every=BAD_EVERY))
    expected = expected_outputs(lines)
    produce(lines, tmp_path / "orders.jsonl", data_dir)
    startup, period = calibrate(shoal_command, tmp_path, lines)
    print(f"start-up {startup:.3f}s; {CALIBRATION_COUNT:,} records take {period:.3f}s")

    killer = Killer(random.Random(seed), period)
    argv = [*shoal_command, *RUN_ARGS, "--data-dir", str(data_dir)]
    rounds = CrashRounds(ROUNDS, data_dir, tmp_path / "produced")
    for _ in rounds:
        kill_repeatedly(
            killer, argv, BANNER, data_dir, snapshot, tmp_path, max_attempts=MAX_ATTEMPTS,
            wanted=MIN_KILLS, check=untorn,
            describe=lambda k: f"consumed {k.before.consumed:,} -> {k.after.consumed:,}")
        finish(RUN_ARGS, data_dir, 120)
        assert snapshot(data_dir) == Snapshot(COUNT, COUNT)
        check_outputs(expected, read_topics(data_dir, OUTPUTS), seed)
        if killer.enough(MIN_KILLS):
            break

    mid = len(killer.mid)
    print(f"{mid} kills mid-run, the output grew after {killer.grown}, in {rounds.count} round(s)")
    killer.check_enough(MIN_KILLS, seed, "output grew")


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
