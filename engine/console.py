"""Terminal output of the CLI: progress while running, the summary, records as JSON lines."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from engine.api.serde import key_from_bytes
from engine.runtime import RunStats
from engine.transport import RecordTuple

err = Console(stderr=True, highlight=False, soft_wrap=True)


@contextmanager
def run_progress(bounded: bool) -> Iterator[Any]:
    """Yields an observer for Worker: a bar when the run is bounded, a status line if not."""
    columns: list[Any] = [TextColumn("[bold]{task.description}")]
    if bounded:
        columns += [BarColumn(), MofNCompleteColumn()]
    columns += [TextColumn("{task.fields[detail]}"), TimeElapsedColumn()]
    with Progress(*columns, console=err, transient=False) as progress:
        task = progress.add_task("catching up" if bounded else "running", total=None, detail="")

        def observe(stats: RunStats) -> None:
            detail = f"{stats.rate:,.0f}/s dead {stats.dead_lettered:,}"
            progress.update(task, completed=stats.records_in,
                            total=stats.backlog if bounded else None, detail=detail)

        yield observe


def summary(stats: RunStats, dead_letter_topic: str) -> str:
    """The closing lines of `shoal run`."""
    lines = [f"processed {stats.records_in:,} input records in {stats.elapsed:.2f}s "
             f"({stats.rate:,.0f}/s), {stats.commits} commits"]
    for topic, count in sorted(stats.out.items()):
        if topic != dead_letter_topic:
            lines.append(f"  -> {topic}: {count:,}")
    lines.append(f"  dead-lettered: {stats.dead_lettered:,}"
                 + (f" (see `shoal tail {dead_letter_topic}`)" if stats.dead_lettered else ""))
    return "\n".join(lines)


def _value(raw: bytes | None) -> Any:
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


def record_json(topic: str, partition: int, record: RecordTuple) -> str:
    """One record as a JSON line for `shoal tail`."""
    offset, key, value, ts, headers = record
    out: dict[str, Any] = {"topic": topic, "partition": partition, "offset": offset,
                           "timestamp": ts, "key": key_from_bytes(key), "value": _value(value)}
    if headers:
        out["headers"] = {str(k): bytes(v).decode("utf-8", "replace") for k, v in headers}
    return json.dumps(out, ensure_ascii=False)
