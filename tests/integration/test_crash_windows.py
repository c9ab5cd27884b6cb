"""Exactly-once windowed state on the embedded log, tested by crashing: SIGKILL `shoal run` at
least MIN_KILLS times during a tumbling-window aggregation (emit "final") over COUNT events,
restarting each time, then check against a batch reference that

- the output topic holds every closed window's final result exactly once,
- the queryable table holds every window (closed and still open) with the reference value,
- the dead-letter topic holds every late record exactly once, with shoal.stage=late.

After every kill, the committed outputs must also match the committed input positions.

Reproduce a run's kill choices with SHOAL_CRASH_SEED=<seed printed on failure> (the input is
always the same; when a kill lands still depends on the machine's speed).
"""

from __future__ import annotations

import heapq
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from engine.app import App
from engine.loader import load_pipeline
from engine.transport import EmbeddedLog, partition_for
from tests.helpers.crash import (
    CrashRounds,
    Kill,
    Pacer,
    committed_positions,
    crash_seed,
    finish,
    kill_repeatedly,
    produce_file,
    read_topics,
)
from tests.helpers.shoal import read_log

pytestmark = pytest.mark.slow

COUNT = 500_000
PARTITIONS = 4
PRODUCTS = tuple(f"p-{i:02d}" for i in range(50))
SIZE = 60_000  # tumbling windows of 1 minute
GRACE = 10_000
STEP = 200  # the event clock moves 0..STEP-1 ms per event: ~14 h in all, within the default
# retention of max(size + grace, 1 day), so no closed window is purged before the checks
INPUT_SEED = 20_240_601
PIPELINE = GROUP = "crashwin"  # the pipeline's name is its consumer group
SOURCE, OUTPUT, DLQ, TABLE = "buys", "win.out", "crashwin.dlq", "per-window"
BANNER = b"pipeline 'crashwin'"  # printed once the run has opened the log and compiled the plan
COMMIT_INTERVAL_MS = 20  # small commits (~70 over the input): room for the kills
MIN_KILLS = 20
WANTED_KILLS = 25  # kills stop here; fewer (but MIN_KILLS) when the input runs out first
SPARE_KILLS = 5  # a late kill aims at 1/(kills still wanted + SPARE_KILLS) of what is left
MAX_ATTEMPTS = 60  # per round
ROUNDS = 2

APP = f'''"""Count and sum of price per product in tumbling windows, final results only."""
from engine import Pipeline, aggregators, windows

p = Pipeline("{PIPELINE}")
count_sum = aggregators.Aggregator(
    initial=lambda: (0, 0), add=lambda a, v: (a[0] + 1, a[1] + v["price"]),
    result=lambda a: {{"count": a[0], "sum": a[1]}}, label="count+sum(price)")
(p.stream("{SOURCE}", key="product", time="ts")
 .window(windows.tumbling(ms={SIZE}), grace={GRACE}, emit="final")
 .aggregate(count_sum, name="{TABLE}")
 .to_stream().to("{OUTPUT}"))
'''

Buy = tuple[int, str, int, int]  # id, product, price, event time
WindowId = tuple[str, int]  # product, window start
Result = dict[str, int]  # {"count": ..., "sum": ...}


# -- the input and its batch reference -------------------------------------------------------
def generate(seed: int = INPUT_SEED) -> list[Buy]:
    """COUNT buys, event times mostly increasing: most lag the clock by under 2 s, some by up
    to 8 s (always within grace), some by 10-80 s (late or not, depending on the window's
    alignment), and a few by 80-200 s (nearly always late). Each time the clock passes a
    window's end + grace, a pair of records of one partition probes that boundary: one at
    end + grace (or 1 ms before) makes it the partition's stream time, and the next one falls
    into that window, so it is late (or, 1 ms before, still accepted)."""
    rng = random.Random(seed)
    partition_of = {product: partition_for(product.encode(), PARTITIONS) for product in PRODUCTS}
    products_of = [[x for x in PRODUCTS if partition_of[x] == p] for p in range(PARTITIONS)]
    clock = 1_700_000_000_000
    edge = clock - clock % SIZE + SIZE + GRACE  # the next window end + grace the clock passes
    high = [0] * PARTITIONS  # largest event time so far per partition: its stream time
    buys: list[Buy] = []

    def add(product: str, ts: int) -> None:
        buys.append((len(buys), product, rng.randrange(1, 1_000), ts))
        high[partition_of[product]] = max(high[partition_of[product]], ts)

    while len(buys) < COUNT:
        clock += rng.randrange(STEP)
        if clock >= edge:
            close, edge = edge - rng.randrange(2), edge + SIZE
            products = products_of[rng.randrange(PARTITIONS)]
            if close >= high[partition_of[products[0]]] and len(buys) + 2 <= COUNT:
                add(rng.choice(products), close)
                add(rng.choice(products), edge - 2 * SIZE - GRACE + rng.randrange(SIZE))
                continue
        r = rng.random()
        lag = (rng.randrange(2_000) if r < 0.9 else rng.randrange(2_000, 8_000) if r < 0.992
               else rng.randrange(GRACE, 80_000) if r < 0.997 else rng.randrange(80_000, 200_000))
        add(rng.choice(PRODUCTS), clock - lag)
    return buys


def line(buy: Buy) -> str:
    i, product, price, ts = buy
    return json.dumps({"id": i, "product": product, "price": price, "ts": ts})


@dataclass
class Reference:
    """What the aggregation must produce, worked out per partition in offset order."""

    windows: dict[WindowId, list[int]] = field(default_factory=dict)  # [count, sum]
    closed: set[WindowId] = field(default_factory=set)
    late: dict[int, tuple[int, int]] = field(default_factory=dict)  # id -> (partition, offset)
    # per partition, after its first n records: windows closed (results out), records late
    closed_after: list[list[int]] = field(default_factory=list)
    late_after: list[list[int]] = field(default_factory=list)

    def result(self, window: WindowId) -> Result:
        count, total = self.windows[window]
        return {"count": count, "sum": total}


def reference(buys: list[Buy]) -> Reference:
    """Kafka Streams semantics per partition: stream time is the largest event time seen so
    far; a record is late when stream time >= its window's end + grace; a window closes
    (emits its final result) once stream time >= end + grace."""
    ref = Reference()
    by_partition: list[list[Buy]] = [[] for _ in range(PARTITIONS)]
    for buy in buys:
        by_partition[partition_for(buy[1].encode(), PARTITIONS)].append(buy)
    for partition, records in enumerate(by_partition):
        stream_time = -(1 << 62)
        pending: list[tuple[int, WindowId]] = []  # (end, window) of open windows
        closed_after, late_after = [0], [0]
        closed = late = 0
        for offset, (i, product, price, ts) in enumerate(records):
            stream_time = max(stream_time, ts)
            start = ts - ts % SIZE
            if stream_time >= start + SIZE + GRACE:
                ref.late[i] = (partition, offset)
                late += 1
            else:
                acc = ref.windows.get((product, start))
                if acc is None:
                    acc = ref.windows[(product, start)] = [0, 0]
                    heapq.heappush(pending, (start + SIZE, (product, start)))
                acc[0] += 1
                acc[1] += price
            while pending and pending[0][0] + GRACE <= stream_time:
                ref.closed.add(heapq.heappop(pending)[1])
                closed += 1
            closed_after.append(closed)
            late_after.append(late)
        ref.closed_after.append(closed_after)
        ref.late_after.append(late_after)
    return ref


# -- the log during the kills ----------------------------------------------------------------
@dataclass(frozen=True)
class Progress:
    consumed: tuple[int, ...]  # committed input position per partition
    results: tuple[int, ...]  # records per partition of OUTPUT
    dead: int  # records in DLQ

    @property
    def total(self) -> int:
        return sum(self.consumed)


def progress(data_dir: Path) -> Progress:
    async def body(log: EmbeddedLog) -> Progress:
        topics = await log.topics()
        committed = await committed_positions(log, GROUP, SOURCE, PARTITIONS)
        results = await log.end_offsets(OUTPUT) if OUTPUT in topics else [0] * PARTITIONS
        dead = sum(await log.end_offsets(DLQ)) if DLQ in topics else 0
        return Progress(committed, tuple(results), dead)
    return read_log(data_dir, body)


def check_progress(ref: Reference, state: Progress, what: str) -> None:
    """Committed outputs agree with the committed input positions (no torn commit)."""
    want = tuple(ref.closed_after[p][n] for p, n in enumerate(state.consumed))
    dead = sum(ref.late_after[p][n] for p, n in enumerate(state.consumed))
    assert (state.results, state.dead) == (want, dead), (
        f"{what}: at input positions {state.consumed} the log holds {state.results} window "
        f"results and {state.dead} dead letters; the reference says {want} and {dead}")


class WindowPacer(Pacer[Progress]):
    """A 'late' kill aims to let the run commit about 1/(kills still wanted + SPARE_KILLS) of
    the input left, and its delay adapts to the gains seen; one kill in five (while most kills
    grow the output) is 'early', landing during the restore of the windows or before the first
    commit."""

    def __init__(self, rng: random.Random) -> None:
        super().__init__(rng, 0.15)

    def work(self, state: Progress) -> int:
        return state.total

    def finished(self, state: Progress) -> bool:
        return state.total >= COUNT

    def target(self, consumed: int) -> float:
        """Input records a late kill should let the run commit."""
        return (COUNT - consumed) / (max(WANTED_KILLS - len(self.mid), 0) + SPARE_KILLS)

    def choose(self, state: Progress) -> tuple[str, float]:
        flat = len(self.mid) - self.grown
        if self.grown - flat >= 2 and self.rng.random() < 0.2:
            return "early", self.late * self.rng.uniform(0.05, 0.4)
        return "late", self.late * self.rng.uniform(0.8, 1.2)

    def record(self, kill: Kill[Progress]) -> None:
        target = self.target(kill.before.total)
        super().record(kill)
        if kill.aim == "late" and kill.mid_run:
            ratio = 1.4 if kill.gain == 0 else (target / kill.gain) ** 0.5
            self.late *= min(max(ratio, 0.7), 1.4)


def run_args(app: Path) -> list[str]:
    """`shoal` arguments of a run of the app to the end of its input (without --data-dir)."""
    return ["run", str(app), "--until-caught-up", "--commit-interval", str(COMMIT_INTERVAL_MS),
            "--port", "0"]


# -- the checks ------------------------------------------------------------------------------
def check_output(ref: Reference, data_dir: Path, seed: int) -> None:
    """OUTPUT holds one record per closed window, with its final value, in its partition."""
    rows = read_topics(data_dir, [OUTPUT])[OUTPUT]
    seen: Counter[WindowId] = Counter()
    wrong: list[str] = []
    for partition, (offset, key, value, _, _) in rows:
        assert value is not None and key is not None
        result = json.loads(value)
        window = (result["key"], result["start"])
        seen[window] += 1
        if (key != result["key"].encode() or partition != partition_for(key, PARTITIONS)
                or result["end"] != result["start"] + SIZE or window not in ref.closed
                or result["value"] != ref.result(window)):
            wrong.append(f"{OUTPUT}[{partition}]@{offset} {key!r}: {result}")
    duplicated = sorted(w for w, n in seen.items() if n > 1)
    missing = sorted(ref.closed - set(seen))
    assert not (wrong or duplicated or missing), (
        f"{OUTPUT} (seed {seed}): {len(wrong)} wrong, {len(duplicated)} duplicated, "
        f"{len(missing)} missing of {len(ref.closed):,} closed windows; e.g. wrong "
        f"{wrong[:2]}, duplicated {duplicated[:2]}, missing {missing[:2]}")


def check_table(ref: Reference, app: Path, data_dir: Path, seed: int) -> None:
    """The table holds every window, open or closed, with the reference value."""
    with App(load_pipeline(str(app)), str(data_dir), read_only=True) as shoal_app:
        table = shoal_app.table(TABLE)
        got: dict[WindowId, tuple[int, Any]] = {}
        for product in PRODUCTS:
            for window in table.windows(product):
                assert window.key == product
                got[(product, window.start)] = (window.end, window.value)
        rows = len(table.items())
    want = {w: (w[1] + SIZE, ref.result(w)) for w in ref.windows}
    wrong = sorted(w for w in want.keys() & got.keys() if want[w] != got[w])
    missing, extra = sorted(want.keys() - got.keys()), sorted(got.keys() - want.keys())
    assert not (wrong or missing or extra), (
        f"table {TABLE} (seed {seed}): {len(wrong)} wrong, {len(missing)} missing, "
        f"{len(extra)} unexpected of {len(want):,} windows; e.g. "
        f"{[(w, got[w], want[w]) for w in wrong[:2]]}, missing {missing[:2]}, "
        f"extra {extra[:2]}")
    assert rows == len(want), f"table {TABLE} has {rows} rows, want {len(want)} (seed {seed})"


def check_dead_letters(ref: Reference, data_dir: Path, seed: int) -> None:
    """Every late record is in DLQ exactly once, as late, naming its source position."""
    rows = read_topics(data_dir, [DLQ])[DLQ]
    seen: Counter[int] = Counter()
    for partition, (offset, key, value, _, headers) in rows:
        assert value is not None
        buy = json.loads(value)
        seen[buy["id"]] += 1
        meta = {name: raw.decode() for name, raw in headers or []}
        source = (int(meta["shoal.source.partition"]), int(meta["shoal.source.offset"]))
        assert (meta["shoal.stage"], meta["shoal.source.topic"], key, source) == (
            "late", SOURCE, buy["product"].encode(), ref.late.get(buy["id"])), (
            f"{DLQ}[{partition}]@{offset} (seed {seed}): {buy} {meta}")
    duplicated = sorted(i for i, n in seen.items() if n > 1)
    missing = sorted(ref.late.keys() - seen.keys())
    assert not (duplicated or missing), (
        f"{DLQ} (seed {seed}): {len(duplicated)} duplicated, {len(missing)} missing of "
        f"{len(ref.late):,} late records; e.g. duplicated {duplicated[:3]}, "
        f"missing {missing[:3]}")


def test_sigkill_mid_window_aggregation_keeps_results_exactly_once(
        tmp_path: Path, data_dir: Path, shoal_command: list[str]) -> None:
    seed = crash_seed()
    began = time.monotonic()
    buys = generate()
    ref = reference(buys)
    assert ref.late and len(ref.closed) < len(ref.windows), "want late records and open windows"
    app = tmp_path / "crashwin.py"
    app.write_text(APP)
    source = tmp_path / "buys.jsonl"
    source.write_text("".join(f"{line(buy)}\n" for buy in buys))
    produce_file(SOURCE, source, "product", PARTITIONS, data_dir)
    print(f"input: {len(ref.windows):,} windows ({len(ref.closed):,} close), "
          f"{len(ref.late):,} late records; ready in {time.monotonic() - began:.1f}s")

    pacer = WindowPacer(random.Random(seed))
    argv = [*shoal_command, *run_args(app), "--data-dir", str(data_dir)]
    rounds = CrashRounds(ROUNDS, data_dir, tmp_path / "produced")
    for _ in rounds:
        kill_repeatedly(
            pacer, argv, BANNER, data_dir, progress, tmp_path, max_attempts=MAX_ATTEMPTS,
            wanted=WANTED_KILLS, check=lambda state, what: check_progress(ref, state, what),
            describe=lambda k: f"consumed {k.before.total:,} -> {k.after.total:,}")
        finish(run_args(app), data_dir, 120)
        state = progress(data_dir)
        assert state.total == COUNT, f"input not all consumed: {state}"
        check_progress(ref, state, "after the final run")
        check_output(ref, data_dir, seed)
        check_table(ref, app, data_dir, seed)
        check_dead_letters(ref, data_dir, seed)
        if pacer.enough(MIN_KILLS):
            break

    print(f"{len(pacer.mid)} kills mid-run, the input moved on after {pacer.grown}, in "
          f"{rounds.count} round(s), {time.monotonic() - began:.1f}s in all")
    pacer.check_enough(MIN_KILLS, seed, "input moved on")
