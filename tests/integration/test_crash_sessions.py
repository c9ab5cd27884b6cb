"""One answer through crashes: SIGKILL `shoal run` at least MIN_KILLS times while clicks (4
partitions) are re-keyed by user and counted in session windows with grace 0 (emit updates),
restarting each time; then everything the crashed runs left must equal what an uncrashed run
of the same input leaves in a data dir of its own, exactly:

- the sessions topic, partition by partition, record by record (a SIGKILL moves the slice
  and commit boundaries, and records of the 4 writers interleave differently in the
  repartition topic, yet sessions are merged in one order: none is split, none counted
  twice, and the late records are the same ones);
- the session table and the dead-letter topic.

After every kill, each partition of the sessions topic must be a prefix of the uncrashed
run's (nothing committed that a later run would write differently).

Reproduce a run's kill choices with SHOAL_CRASH_SEED=<seed printed on failure>.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import pytest

from engine.app import App
from engine.loader import load_pipeline
from tests.helpers.crash import (
    CrashRounds,
    Kill,
    Pacer,
    committed_positions,
    crash_seed,
    kill_repeatedly,
    produce_file,
    read_topics,
    run_timed,
)
from tests.helpers.shoal import read_log, shoal_argv

pytestmark = pytest.mark.slow

COUNT = 120_000
PARTITIONS = 4
USERS = 300
PIPELINE = GROUP = "crashsess"
SOURCE, OUTPUT, DLQ, TABLE = "clicks", "sessions.out", "crashsess.dlq", "sessions"
BANNER = b"pipeline 'crashsess'"
COMMIT_INTERVAL_MS = 20
MIN_KILLS = 20
WANTED_KILLS = 24
MAX_ATTEMPTS = 60
ROUNDS = 2
RUN_TIMEOUT = 120.0

APP = f'''"""Clicks per user session (gap 1 minute, no grace), every update."""
from engine import Pipeline, windows

p = Pipeline("{PIPELINE}")
(p.stream("{SOURCE}", key="click", time="ts")
 .key_by(lambda c: c["user"], name="by-user")
 .window(windows.session(gap=windows.minutes(1)), grace=0)
 .count(name="{TABLE}")
 .to_stream().to("{OUTPUT}"))
'''


def clicks(seed: int = 20_261_129) -> list[str]:
    """COUNT clicks of USERS users, mostly in time order (a click every 0-400 ms); one in 50
    is 1-120 s behind: late when its user's session closed (grace 0), else merged in."""
    rng = random.Random(seed)
    clock, lines = 1_767_225_600_000, []
    for i in range(COUNT):
        clock += rng.randrange(400)
        lag = rng.randrange(1_000, 120_000) if rng.random() < 0.02 else 0
        lines.append(json.dumps({"click": f"c{i:06d}", "user": f"u{rng.randrange(USERS):03d}",
                                 "ts": clock - lag}))
    return lines


Rows = dict[str, list[tuple[bytes | None, bytes | None]]]


def outputs(data_dir: Path) -> tuple[dict[int, list[tuple[bytes | None, bytes | None]]], list[
        tuple[bytes | None, bytes | None]]]:
    """The sessions topic per partition, and the dead letters (key, value), in log order."""
    found = read_topics(data_dir, [OUTPUT, DLQ])
    per_partition: dict[int, list[tuple[bytes | None, bytes | None]]] = {}
    for partition, (_, key, value, _, _) in found.get(OUTPUT, []):
        per_partition.setdefault(partition, []).append((key, value))
    dead = [(key, value) for _, (_, key, value, _, _) in found.get(DLQ, [])]
    return per_partition, dead


def consumed(data_dir: Path) -> int:
    async def body(log: object) -> int:
        return sum(await committed_positions(log, GROUP, SOURCE, PARTITIONS))  # type: ignore[arg-type]
    return read_log(data_dir, body)


class SessionPacer(Pacer[int]):
    """Kills aimed to let a run commit about 1/8 of what is left, adapting to the gains."""

    def work(self, state: int) -> int:
        return state

    def finished(self, state: int) -> bool:
        return state >= COUNT

    def choose(self, state: int) -> tuple[str, float]:
        if self.grown >= 2 and self.rng.random() < 0.2:
            return "early", self.late * self.rng.uniform(0.0, 0.3)
        return "late", self.late * self.rng.uniform(0.8, 1.2)

    def record(self, kill: Kill[int]) -> None:
        super().record(kill)
        if kill.aim == "late" and kill.mid_run:
            target = (COUNT - kill.before) / 8
            ratio = 1.4 if kill.gain == 0 else (target / kill.gain) ** 0.5
            self.late *= min(max(ratio, 0.7), 1.4)


def run_args(app: Path, data_dir: Path) -> list[str]:
    return [*shoal_argv(), "run", str(app), "--until-caught-up", "--commit-interval",
            str(COMMIT_INTERVAL_MS), "--port", "0", "--data-dir", str(data_dir)]


def table(app: Path, data_dir: Path) -> list[tuple[str | None, object]]:
    with App(load_pipeline(str(app)), str(data_dir), read_only=True) as opened:
        return opened.table(TABLE).items()


def test_sigkill_mid_session_windows_after_key_by_equals_the_uncrashed_run(
        tmp_path: Path) -> None:
    seed = crash_seed()
    began = time.monotonic()
    app = tmp_path / "crashsess.py"
    app.write_text(APP)
    source = tmp_path / "clicks.jsonl"
    source.write_text("".join(f"{line}\n" for line in clicks()))
    uncrashed, data_dir = tmp_path / "uncrashed", tmp_path / "data"
    for where in (uncrashed, data_dir):
        produce_file(SOURCE, source, "click", PARTITIONS, where)
    _, period = run_timed(run_args(app, uncrashed), tmp_path / "uncrashed.err", BANNER,
                          RUN_TIMEOUT)
    want_out, want_dead = outputs(uncrashed)
    want_table = table(app, uncrashed)
    assert want_dead and sum(map(len, want_out.values())) > COUNT - len(want_dead) - 1
    print(f"uncrashed: {sum(map(len, want_out.values())):,} session updates, "
          f"{len(want_dead):,} late clicks, {len(want_table):,} sessions in {period:.1f}s")

    def check(state: int, what: str) -> None:
        got, _ = outputs(data_dir)
        for partition, rows in got.items():
            assert rows == want_out[partition][:len(rows)], (
                f"{what}: {OUTPUT}[{partition}] is not a prefix of the uncrashed run's "
                f"(seed {seed})")

    pacer = SessionPacer(random.Random(seed), max(0.05, period / 8))
    rounds = CrashRounds(ROUNDS, data_dir, tmp_path / "produced")
    for round_ in rounds:
        kill_repeatedly(pacer, run_args(app, data_dir), BANNER, data_dir, consumed, tmp_path,
                        max_attempts=MAX_ATTEMPTS, wanted=WANTED_KILLS, check=check,
                        describe=lambda k: f"consumed {k.before:,} -> {k.after:,}",
                        exact_exit=True, no_traceback=True)
        run_timed(run_args(app, data_dir), tmp_path / f"final-{round_}.err", BANNER,
                  RUN_TIMEOUT)
        got_out, got_dead = outputs(data_dir)
        assert got_out == want_out, f"{OUTPUT} differs from the uncrashed run (seed {seed})"
        assert got_dead == want_dead, f"{DLQ} differs from the uncrashed run (seed {seed})"
        assert table(app, data_dir) == want_table, f"{TABLE} differs (seed {seed})"
        if pacer.enough(MIN_KILLS):
            break
    print(f"{len(pacer.mid)} kills mid-run, the input moved on after {pacer.grown}, in "
          f"{rounds.count} round(s), {time.monotonic() - began:.1f}s in all")
    pacer.check_enough(MIN_KILLS, seed, "input moved on")
