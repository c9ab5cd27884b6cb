"""The generated code of one small pipeline per node kind, compared with a reviewed snapshot
and compiled. A change to code generation shows up here as a readable diff; after reviewing
it, `SHOAL_UPDATE_SNAPSHOTS=1 pytest tests/unit/engine/planner/test_fuse_snapshots.py` writes
the new snapshots."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from engine import Pipeline, plan
from engine.api import windows

SNAPSHOTS = Path(__file__).parent / "snapshots"


def _keyed(p: Pipeline) -> object:
    return p.stream("in", key="k")


KINDS: dict[str, Callable[[Pipeline], object]] = {
    "map-filter-flat_map-to": lambda p: p.stream("in").map(len, name="m")
        .filter(bool, name="f").flat_map(range, name="fm").to("out"),
    "branch": lambda p: [arm.to(f"out-{i}") for i, arm in enumerate(
        p.stream("in").branch(bool, callable, default=True, name="b"))],
    "merge": lambda p: p.stream("in").merge(p.stream("other"), name="both").to("out"),
    "key_by": lambda p: p.stream("in").key_by(len, name="rekey").to("out"),
    "count": lambda p: p.stream("in", key="k").count(name="counts"),
    "reduce-to_stream": lambda p: p.stream("in", key="k").reduce(max, name="biggest")
        .to_stream().to("out"),
    "tumbling-final": lambda p: p.stream("in", key="k").window(
        windows.tumbling(ms=10), emit="final").count(name="per-10ms").to_stream().to("out"),
    "session": lambda p: p.stream("in", key="k").window(windows.session(gap=5))
        .count(name="sessions"),
    "sliding": lambda p: p.stream("in", key="k").window(windows.sliding(ms=5))
        .count(name="slides"),
    "table-filter-map_values": lambda p: p.table("in", key="k", name="rows")
        .filter(bool, name="tf").map_values(len, name="tm").to("out"),
    "stream-table-join": lambda p: p.stream("in", key="k").join(
        p.table("rows", key="k", name="rows"), name="looked-up").to("out"),
    "table-table-join": lambda p: p.table("in", key="k", name="lefts").join(
        p.table("rows", key="k", name="rights"), max, name="both"),
    "stream-stream-join": lambda p: p.stream("in", key="k").join(
        p.stream("other", key="k"), name="pairs", within=5, how="outer").to("out"),
    "foreign-key-join": lambda p: p.table("in", key="k", name="lefts").join(
        p.table("rows", key="k", name="rights"), max, name="by-fk", on=len),
    "global-table-join": lambda p: p.stream("in").join(
        p.global_table("rows", key="k", name="everywhere"), name="enriched",
        key=len).to("out"),
}


def generated(build: Callable[[Pipeline], object]) -> str:
    """Every sub-topology's factory source of the pipeline `build` makes."""
    p = Pipeline("snap")
    build(p)
    return "\n".join(f"# sub-topology {sub.id}\n{sub.code}" for sub in plan(p).subtopologies)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_generated_code(kind: str) -> None:
    code = generated(KINDS[kind])
    compile(code, f"<{kind}>", "exec")
    path = SNAPSHOTS / f"{kind}.py.txt"
    if os.environ.get("SHOAL_UPDATE_SNAPSHOTS") == "1":
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_text(code)
    assert path.exists(), f"no snapshot {path.name}: run with SHOAL_UPDATE_SNAPSHOTS=1"
    assert code == path.read_text(), f"generated code of {kind} changed (see the diff)"
