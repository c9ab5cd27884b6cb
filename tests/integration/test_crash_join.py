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
import os
import random
import shutil
import signal
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from apps.generate import catalogue, shop
from engine.transport import EmbeddedLog
from tests.integration.conftest import (
    read_log,
    read_topic,
    run_shoal,
    shoal_argv,
    start_shoal,
    wait_for_banner,
)

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
        done = run_shoal("produce", topic, files[topic], "--key", key, "--time", "ts",
                         "--partitions", str(PARTITIONS), data_dir=data_dir)
        assert done.returncode == 0, done.stderr


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
        tps = [(t, p) for t in SOURCES for p in range(PARTITIONS)]
        return sum((await log.committed(GROUP, tps)).values())
    return read_log(data_dir, body)


def read_outputs(data_dir: Path) -> dict[str, Counter[Record]]:
    async def body(log: EmbeddedLog) -> dict[str, Counter[Record]]:
        topics = await log.topics()
        return {t: Counter((r[1], r[2]) for _, r in await read_topic(log, t)) if t in topics
                else Counter() for t in OUTPUTS}
    return read_log(data_dir, body)


def run_to_end(data_dir: Path) -> subprocess.CompletedProcess[str]:
    try:
        done = run_shoal(*RUN_ARGS, data_dir=data_dir, timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"run to the end did not exit in {RUN_TIMEOUT}s (idle-timeout livelock?)")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    return done


# -- killing ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Kill:
    delay: float  # seconds after the banner
    alive: bool  # still running when SIGKILL was sent
    before: int  # committed source positions before the run
    after: int  # ... and after the kill

    def mid_run(self, total: int) -> bool:
        """Killed while input was left to process (not after the run finished)."""
        return self.alive and self.after < total


def enough(kills: list[Kill], total: int, wanted: int = MIN_KILLS) -> bool:
    mid = [k for k in kills if k.mid_run(total)]
    return len(mid) >= wanted and sum(k.after > k.before for k in mid) >= MIN_GROWN


def kill_repeatedly(rng: random.Random, period: float, total: int, kills: list[Kill],
                    data_dir: Path, logs: Path) -> None:
    """Start a run and SIGKILL it at a random moment, until WANTED_KILLS landed mid-run or the
    input is done. Most kills are 'late': around a delay (from `period`, the time all the
    input takes) adapted until a kill lets a commit or two through; one in four is 'early',
    landing during the restore or before the first commit."""
    argv = [*shoal_argv(), *RUN_ARGS, "--data-dir", str(data_dir)]
    state = consumed(data_dir)
    late = 0.3 * period
    for attempt in range(MAX_ATTEMPTS):
        if state >= total or enough(kills, total, WANTED_KILLS):
            return
        early = rng.random() < 0.25
        delay = late * (rng.uniform(0.05, 0.5) if early else rng.uniform(0.7, 1.3))
        err = logs / f"run-{len(kills)}.err"
        proc = start_shoal(argv, err)
        took = wait_for_banner(proc, err, BANNER)
        time.sleep(delay)
        alive = proc.poll() is None
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) in (0, -signal.SIGKILL), err.read_text()
        assert "Traceback" not in err.read_text(), err.read_text()
        kill = Kill(delay, alive, state, consumed(data_dir))
        kills.append(kill)
        if not alive:
            late *= 0.7  # the run had finished: aim sooner
        elif not early:
            gained = (kill.after - state) / total
            late *= 1.3 if gained == 0 else 0.8 if gained > 0.2 else 1.0
        state = kill.after
        print(f"kill {attempt}: start-up {took:.3f}s, {'early' if early else 'late'} "
              f"+{delay:.3f}s, alive={alive}, consumed {kill.before:,} -> {state:,} of {total:,}")


def diff(got: Counter[Record], want: Counter[Record]) -> str:
    missing, extra = want - got, got - want
    return (f"{sum(got.values())} records, want {sum(want.values())}: {sum(missing.values())} "
            f"missing (e.g. {list(missing.items())[:2]}), {sum(extra.values())} extra or "
            f"duplicated (e.g. {list(extra.items())[:2]})")


def test_sigkill_mid_join_keeps_shop_orders_exactly_once(tmp_path: Path) -> None:
    seed = int(os.environ.get("SHOAL_CRASH_SEED") or random.SystemRandom().randrange(1 << 32))
    print(f"crash test seed: {seed} (rerun with SHOAL_CRASH_SEED={seed})")
    began = time.monotonic()
    buys, shipped, files = write_input(tmp_path)
    total = sum(len(files[t].read_text().splitlines()) for t in SOURCES)

    # the reference: the same pipeline over the same input, never killed, timed
    reference_dir = tmp_path / "reference"
    produce(files, reference_dir)
    err = tmp_path / "reference.err"
    proc = start_shoal([*shoal_argv(), *RUN_ARGS, "--data-dir", str(reference_dir)], err)
    wait_for_banner(proc, err, BANNER)
    banner = time.monotonic()
    try:
        assert proc.wait(timeout=RUN_TIMEOUT) == 0, err.read_text()
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail(f"reference run did not exit in {RUN_TIMEOUT}s (idle-timeout livelock?)")
    period = time.monotonic() - banner
    assert "Traceback" not in err.read_text(), err.read_text()
    assert consumed(reference_dir) == total
    want = read_outputs(reference_dir)
    check_reference(want, buys, shipped)
    print(f"reference: {sum(want[FULFILLED].values()):,} fulfilled, "
          f"{sum(want[UNSHIPPED].values()):,} unshipped; {total:,} input records processed "
          f"in {period:.3f}s after the banner; ready in {time.monotonic() - began:.1f}s")

    data_dir = tmp_path / "data"
    produce(files, data_dir)
    shutil.copytree(data_dir, tmp_path / "produced")
    rng = random.Random(seed)
    kills: list[Kill] = []
    # if the input runs out before enough kills landed, the round is still checked, then the
    # next starts over from the produced input
    for round_ in range(ROUNDS):
        if round_:
            shutil.rmtree(data_dir)
            shutil.copytree(tmp_path / "produced", data_dir)
        kill_repeatedly(rng, period, total, kills, data_dir, tmp_path)
        run_to_end(data_dir)
        assert consumed(data_dir) == total, "input not all consumed"
        got = read_outputs(data_dir)
        for topic in OUTPUTS:
            assert got[topic] == want[topic], (
                f"{topic} after {len(kills)} kills (seed {seed}): {diff(got[topic], want[topic])}")
        if enough(kills, total):
            break

    mid = [k for k in kills if k.mid_run(total)]
    grown = sum(k.after > k.before for k in mid)
    print(f"{len(mid)} kills mid-run ({grown} after the input moved on) of {len(kills)}, "
          f"in {round_ + 1} round(s), {time.monotonic() - began:.1f}s in all")
    assert len(mid) >= MIN_KILLS, f"only {len(mid)} kills landed mid-run (seed {seed})"
    assert grown >= MIN_GROWN, f"only {grown} kills came after a commit (seed {seed})"
