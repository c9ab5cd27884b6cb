"""Event-time order on the embedded log, end to end (`shoal run` and App):

- 8,000 clicks strictly ordered in time (one every 1.5 s), re-keyed by user into session
  windows with gap 60 s and grace 0: with 1, 2, 4 and 8 source partitions none is late and
  the session tables are equal;
- a bounded tumbling-window run with `--drain` emits every window (no flush events needed),
  and says so;
- a run with late records warns, naming the operator and the grace that would have kept
  them, in its summary and again at the start of the next run.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from pathlib import Path

import pytest

from engine import Pipeline, windows
from engine.app import App
from engine.transport import EmbeddedLog, read_partitions
from tests.helpers.shoal import read_log, run_shoal

CLICKS = 8_000
USERS = 40


def produce(data_dir: Path, topic: str, partitions: int, docs: list[dict[str, object]],
            key: str) -> None:
    async def main() -> None:
        log = EmbeddedLog(data_dir)
        try:
            await log.create_topic(topic, partitions)
            await log.produce(topic, [(str(d[key]).encode(), json.dumps(d).encode(),
                                       int(d["ts"]), None) for d in docs])  # type: ignore[call-overload]
        finally:
            await log.close()
    asyncio.run(main())


def clicks(seed: int = 5) -> list[dict[str, object]]:
    rng = random.Random(seed)
    return [{"click": i, "user": f"u{rng.randrange(USERS):02d}", "ts": 1_500 * i}
            for i in range(CLICKS)]


def sessions_pipeline() -> Pipeline:
    p = Pipeline("clicks")
    (p.stream("clicks", key="click", time="ts").key_by(lambda c: c["user"], name="by-user")
      .window(windows.session(gap=windows.seconds(60)), grace=0).count(name="sessions"))
    return p


@pytest.mark.parametrize("partitions", [1, 2, 4, 8])
def test_ordered_clicks_are_never_late_whatever_the_partitions(tmp_path: Path,
                                                               partitions: int) -> None:
    tables = []
    for where, count in ((tmp_path / "one", 1), (tmp_path / "many", partitions)):
        produce(where, "clicks", count, clicks(), "click")
        with App(sessions_pipeline(), str(where)) as app:
            stats = app.run()
            tables.append(app.table("sessions").items())
        assert (stats.records_in, stats.late, stats.dead_lettered) == (CLICKS, 0, 0)
    assert tables[0] == tables[1] and len(tables[0]) > USERS


WINDOWS_APP = '''"""Counts per product in 1-minute tumbling windows, emitted when they close."""
from engine import Pipeline, windows

p = Pipeline("per-minute")
(p.stream("buys", key="id", time="ts").key_by(lambda b: b["product"], name="by-product")
  .window(windows.tumbling(minutes=1), emit="final").count(name="counts").to("counts.out"))
'''


def test_drain_emits_every_window_of_a_bounded_run(tmp_path: Path) -> None:
    rng = random.Random(9)
    buys = [{"id": i, "product": f"p{rng.randrange(12)}", "ts": 700 * i + rng.randrange(300)}
            for i in range(5_000)]
    produce(tmp_path / "d", "buys", 3, buys, "id")
    app = tmp_path / "per_minute.py"
    app.write_text(WINDOWS_APP)
    want = Counter((b["product"], int(b["ts"]) // 60_000 * 60_000) for b in buys)
    caught_up = run_shoal("run", app, "--until-caught-up", "--port", "0",
                          data_dir=tmp_path / "d")
    assert caught_up.returncode == 0, caught_up.stderr
    assert len(emitted(tmp_path / "d")) < len(want), "the last windows stay open"
    drained = run_shoal("run", app, "--drain", "--port", "0", data_dir=tmp_path / "d")
    assert drained.returncode == 0, drained.stderr
    assert "drained: the input ended; every window" in drained.stderr
    got = emitted(tmp_path / "d")
    assert got == dict(want), "every window, once, with its count"


def emitted(data_dir: Path) -> dict[tuple[str, int], int]:
    async def body(log: EmbeddedLog) -> dict[tuple[str, int], int]:
        out: dict[tuple[str, int], int] = {}
        for records in await read_partitions(log, "counts.out"):
            for *_, value, _, _ in records:
                w = json.loads(value)  # type: ignore[arg-type]
                assert (w["key"], w["start"]) not in out, f"window {w} emitted twice"
                out[(w["key"], w["start"])] = w["value"]
        return out
    return read_log(data_dir, body)


LATE_APP = '''"""Sums per product in 10-second windows with 1 second of grace."""
from engine import Pipeline, windows

p = Pipeline("late")
(p.stream("buys", key="id", time="ts")
  .window(windows.tumbling(seconds=10), grace=1_000).count(name="per-ten-seconds"))
'''


def test_late_records_are_reported_with_the_grace_that_would_keep_them(tmp_path: Path) -> None:
    buys = [{"id": f"b{i}", "ts": 1_000 * i} for i in range(100)]
    buys += [{"id": f"late{i}", "ts": 50_000 + i} for i in range(5)]  # 49 s behind
    produce(tmp_path / "d", "buys", 1, buys, "id")
    app = tmp_path / "late.py"
    app.write_text(LATE_APP)
    first = run_shoal("run", app, "--until-caught-up", "--port", "0", data_dir=tmp_path / "d")
    assert first.returncode == 0, first.stderr
    warning = ("warning: 5 of 105 records (4.8%) reaching 'per-ten-seconds' were late "
               "(grace 1,000 ms); a grace of 39,001 ms would have kept them")
    assert warning in first.stderr
    again = run_shoal("run", app, "--until-caught-up", "--port", "0", data_dir=tmp_path / "d")
    assert again.stderr.count(warning) == 2, "at the start of the next run, and its summary"
