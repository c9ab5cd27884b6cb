"""`shoal replay-dlq`: after fixing a map that failed, replaying its dead letters and running
again leaves the outputs a run of the fixed pipeline leaves; a second replay puts nothing
back."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from tests.helpers.shoal import run_shoal

APP = '''from engine import Pipeline


def double(v):
    return {{"k": v["k"], "x": {body}}}


p = Pipeline("fix")
p.stream("in", key="k").map(double, name="double").to("out")
'''
BROKEN = APP.format(body='int(v["x"]) * 2')
FIXED = APP.format(body='int(v["x"]) * 2 if str(v["x"]).isdigit() else 0')


def _ok(*args: str | Path, data: Path) -> str:
    result = run_shoal(*args, data_dir=data)
    assert result.returncode == 0, f"{args}: {result.stderr}"
    assert "Traceback" not in result.stderr
    return result.stdout + result.stderr


def _outputs(data: Path) -> Counter[tuple[str, str]]:
    lines = _ok("tail", "out", "--from-beginning", data=data).splitlines()
    return Counter((r["key"], json.dumps(r["value"], sort_keys=True))
                   for r in map(json.loads, (x for x in lines if x.startswith("{"))))


def test_replay_after_a_fix_gives_the_fixed_outputs(tmp_path: Path) -> None:
    rows = [{"k": f"k{i % 3}", "x": "oops" if i % 4 == 0 else str(i)} for i in range(40)]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    app, data, reference = tmp_path / "app.py", tmp_path / "data", tmp_path / "reference"
    for where in (data, reference):
        _ok("produce", "in", tmp_path / "in.jsonl", "--key", "k", "--partitions", "3",
            data=where)
    app.write_text(FIXED)
    _ok("run", app, "--until-caught-up", "--port", "0", data=reference)
    app.write_text(BROKEN)
    run = run_shoal("run", app, "--until-caught-up", "--port", "0", data_dir=data)
    assert "dead-lettered: 10" in run.stderr
    assert sum(_outputs(data).values()) == 30
    app.write_text(FIXED)
    said = _ok("replay-dlq", app, data=data)
    assert "replayed 10 dead letters of 'fix.dlq'" in said
    _ok("run", app, "--until-caught-up", "--port", "0", data=data)
    assert _outputs(data) == _outputs(reference)
    again = _ok("replay-dlq", app, data=data)
    assert "replayed 0 dead letters" in again and "not replayed (replayed before): 10" in again
