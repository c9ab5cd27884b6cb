"""Exactly-once stream-stream join on the embedded log, tested by crashing: SIGKILL `shoal run
apps/shop.py` at random moments (at least MIN_KILLS times mid-run), restarting each time, then
check that `orders.fulfilled` and `orders.unshipped` hold exactly the records (as a multiset of
(key, value)) of a reference run of the same pipeline over the same input, left uncrashed in a
data dir of its own: no loss, no duplicates.

The reference itself is checked independently: a fulfilled order is a buy shipped within
[buy.ts, buy.ts + 1 h], every such pair is fulfilled once, and every other buy is unshipped.

Reproduce a run's kill choices with SHOAL_CRASH_SEED=<seed printed on failure> (the input is
always the same; when a kill lands still depends on the machine's speed).
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from pathlib import Path

import pytest

from apps.generate import catalogue, shop
from engine.transport import EmbeddedLog
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
    run_timed,
)
from tests.helpers.shoal import read_log, shoal_argv

pytestmark = pytest.mark.slow

BUYS = 10_000  # ~19,000 input records, 1-2 s a run. A poll takes up to 1,000 records per
# partition, so a run commits only every ~14,000 source records: ~1 growing kill per round.
# Keep every run well under the pipeline's idle_timeout_ms (5 s): a `--until-caught-up` run
# still going when a task has had no input for that long never exits (see RUN_TIMEOUT)
RUN_TIMEOUT = 60.0
INPUT_SEED = 11
PARTITIONS = 4
HOUR_MS = 3_600_000
GROUP = "shop"  # the pipeline's name is its consumer group
SOURCES = {"products": "sku", "buys": "order_id", "shipped": "order_id"}  # topic -> key field
FULFILLED, UNSHIPPED = "orders.fulfilled", "orders.unshipped"
OUTPUTS = (FULFILLED, UNSHIPPED)
BANNER = b"pipeline 'shop'"  # printed once the run has opened the log and compiled the plan
RUN_ARGS = ["run", "apps/shop.py", "--until-caught-up", "--commit-interval", "50", "--port", "0"]
MIN_KILLS = 10
MIN_GROWN = 2  # of them, kills after the run committed some input
WANTED_KILLS = 12
MAX_ATTEMPTS = 40  # per round
ROUNDS = 4

Record = tuple[bytes | None, bytes | None]  # key, value


# -- input and the independent check ---------------------------------------------------------
def write_input(tmp: Path) -> tuple[list[str], list[str], dict[str, Path]]:
    """The buys and shipments, and the files (per source topic) holding the input lines."""
    buys, shipped = shop(BUYS, INPUT_SEED)
    files: dict[str, Path] = {}
    for topic, lines in (("products", list(catalogue())), ("buys", buys), ("shipped", shipped)):
        files[topic] = tmp / f"{topic}.jsonl"
        files[topic].write_text("".join(f"{line}\n" for line in lines))
    return buys, shipped, files


def produce(files: dict[str, Path], data_dir: Path) -> None:
    for topic, key in SOURCES.items():
        produce_file(topic, files[topic], key, PARTITIONS, data_dir, "--time", "ts")


def matched_orders(buys: list[str], shipped: list[str]) -> Counter[str]:
    """order_id of every buy/shipment pair with the shipment within [buy.ts, buy.ts + 1 h]."""
    bought = {b["order_id"]: b["ts"] for b in map(json.loads, buys)}
    pairs: Counter[str] = Counter()
    for ship in map(json.loads, shipped):
        ts = bought.get(ship["order_id"])
        if ts is not None and ts <= ship["ts"] <= ts + HOUR_MS:
            pairs[ship["order_id"]] += 1
    return pairs


def check_reference(outputs: dict[str, Counter[Record]], buys: list[str],
                    shipped: list[str]) -> None:
    pairs = matched_orders(buys, shipped)
    fulfilled: Counter[str] = Counter()
    for (key, value), n in outputs[FULFILLED].items():
        assert value is not None
        order = json.loads(value)
        assert key == order["order_id"].encode(), (key, order)
        assert order["bought"] <= order["shipped"] <= order["bought"] + HOUR_MS, order
        fulfilled[order["order_id"]] += n
    assert fulfilled == pairs, (
        f"reference {FULFILLED}: {sum(fulfilled.values())} records, {len(pairs)} buy/ship pairs"
        f" within the hour; e.g. unexpected {list((fulfilled - pairs).items())[:3]}, "
        f"missing {list((pairs - fulfilled).items())[:3]}")
    unshipped = Counter(json.loads(v or b"null")["order_id"]
                        for (_, v), n in outputs[UNSHIPPED].items() for _ in range(n))
    others = Counter(b["order_id"] for b in map(json.loads, buys) if b["order_id"] not in pairs)
    assert unshipped == others, (
        f"reference {UNSHIPPED}: {sum(unshipped.values())} records, {len(others)} buys without "
        f"a shipment in the hour")


# -- reading the log -------------------------------------------------------------------------
def consumed(data_dir: Path) -> int:
    """The group's committed positions in the source topics, summed."""
    async def body(log: EmbeddedLog) -> int:
        return sum([sum(await committed_positions(log, GROUP, t, PARTITIONS)) for t in SOURCES])
    return read_log(data_dir, body)


def read_outputs(data_dir: Path) -> dict[str, Counter[Record]]:
    return {t: Counter((r[1], r[2]) for _, r in rows)
            for t, rows in read_topics(data_dir, OUTPUTS).items()}


# -- killing ---------------------------------------------------------------------------------
class JoinPacer(Pacer[int]):
    """Kills at a random moment: most are 'late', around a delay (from the time all the input
    takes) adapted until a kill lets a commit or two through; one in four is 'early', landing
    during the restore or before the first commit. The state is the committed source
    positions, summed; `total` of them in all."""

    def __init__(self, rng: random.Random, total: int) -> None:
        super().__init__(rng, 0.0, min_grown=MIN_GROWN)
        self.total = total

    def work(self, state: int) -> int:
        return state

    def finished(self, state: int) -> bool:
        return state >= self.total

    def choose(self, state: int) -> tuple[str, float]:
        early = self.rng.random() < 0.25
        delay = self.late * (self.rng.uniform(0.05, 0.5) if early else self.rng.uniform(0.7, 1.3))
        return "early" if early else "late", delay

    def record(self, kill: Kill[int]) -> None:
        super().record(kill)
        if not kill.alive:
            self.late *= 0.7  # the run had finished: aim sooner
        elif kill.aim == "late":
            gained = kill.gain / self.total
            self.late *= 1.3 if gained == 0 else 0.8 if gained > 0.2 else 1.0


def diff(got: Counter[Record], want: Counter[Record]) -> str:
    missing, extra = want - got, got - want
    return (f"{sum(got.values())} records, want {sum(want.values())}: {sum(missing.values())} "
            f"missing (e.g. {list(missing.items())[:2]}), {sum(extra.values())} extra or "
            f"duplicated (e.g. {list(extra.items())[:2]})")


def test_sigkill_mid_join_keeps_shop_orders_exactly_once(tmp_path: Path) -> None:
    seed = crash_seed()
    began = time.monotonic()
    buys, shipped, files = write_input(tmp_path)
    total = sum(len(files[t].read_text().splitlines()) for t in SOURCES)

    # the reference: the same pipeline over the same input, never killed, timed
    reference_dir = tmp_path / "reference"
    produce(files, reference_dir)
    _, period = run_timed([*shoal_argv(), *RUN_ARGS, "--data-dir", str(reference_dir)],
                          tmp_path / "reference.err", BANNER, RUN_TIMEOUT, "reference run")
    assert consumed(reference_dir) == total
    want = read_outputs(reference_dir)
    check_reference(want, buys, shipped)
    print(f"reference: {sum(want[FULFILLED].values()):,} fulfilled, "
          f"{sum(want[UNSHIPPED].values()):,} unshipped; {total:,} input records processed "
          f"in {period:.3f}s after the banner; ready in {time.monotonic() - began:.1f}s")

    data_dir = tmp_path / "data"
    produce(files, data_dir)
    pacer = JoinPacer(random.Random(seed), total)
    argv = [*shoal_argv(), *RUN_ARGS, "--data-dir", str(data_dir)]
    rounds = CrashRounds(ROUNDS, data_dir, tmp_path / "produced")
    for _ in rounds:
        pacer.late = 0.3 * period  # every round aims afresh
        kill_repeatedly(
            pacer, argv, BANNER, data_dir, consumed, tmp_path, max_attempts=MAX_ATTEMPTS,
            wanted=WANTED_KILLS, no_traceback=True,
            describe=lambda k: f"consumed {k.before:,} -> {k.after:,} of {total:,}")
        finish(RUN_ARGS, data_dir, RUN_TIMEOUT)
        assert consumed(data_dir) == total, "input not all consumed"
        got = read_outputs(data_dir)
        for topic in OUTPUTS:
            assert got[topic] == want[topic], (
                f"{topic} after {len(pacer.kills)} kills (seed {seed}): "
                f"{diff(got[topic], want[topic])}")
        if pacer.enough(MIN_KILLS):
            break

    print(f"{len(pacer.mid)} kills mid-run ({pacer.grown} after the input moved on) of "
          f"{len(pacer.kills)}, in {rounds.count} round(s), {time.monotonic() - began:.1f}s in all")
    pacer.check_enough(MIN_KILLS, seed)
