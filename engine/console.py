"""Terminal output of the CLI: progress while running, the summary, records as JSON lines."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from engine.api.records import headers_text
from engine.api.serde import key_from_bytes
from engine.runtime import RunStats
from engine.runtime.worker import LATE_WARNING, late_warning
from engine.transport import RecordTuple, TopicDescription

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
    late = f", {stats.late:,} of them late for their windows" if stats.late else ""
    lines.append(f"  dead-lettered: {stats.dead_lettered:,}{late}"
                 + (f" (see `shoal tail {dead_letter_topic}`)" if stats.dead_lettered else ""))
    if stats.drained:
        lines.append("  drained: the input ended; every window, session and unmatched join row "
                     "was emitted as final")
    lines += [late_warning(found) for found in stats.lateness if found.share > LATE_WARNING]
    lines += [found.warning() for found in stats.misplaced]
    return "\n".join(lines)


def _value(raw: bytes | None) -> Any:
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):  # not JSON, or nested too deeply to print as such
        return raw.decode("utf-8", "replace")


def record_json(topic: str, partition: int, record: RecordTuple) -> str:
    """One record as a JSON line for `shoal tail`."""
    offset, key, value, ts, headers = record
    out: dict[str, Any] = {"topic": topic, "partition": partition, "offset": offset,
                           "timestamp": ts, "key": key_from_bytes(key), "value": _value(value)}
    if headers:
        out["headers"] = headers_text(headers)
    return json.dumps(out, ensure_ascii=False)


def table_lines(header: list[str], rows: Sequence[tuple[object, ...]]) -> list[str]:
    """A plain aligned table: first column left, the others right-aligned."""
    cells = [header, *[[f"{c:,}" if isinstance(c, int) else str(c) for c in r] for r in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return ["  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                      for i, (c, w) in enumerate(zip(row, widths, strict=True)))
            for row in cells]


def describe_lines(d: TopicDescription) -> list[str]:
    """`shoal topics TOPIC`: end offset per partition and each group's positions and lag."""
    groups = sorted(d.groups)
    header = ["PARTITION", "END", *[f"{g} (committed)" for g in groups]]
    rows = [(p, end, *[d.groups[g][p] for g in groups]) for p, end in enumerate(d.end_offsets)]
    lines = [f"topic '{d.topic}': {len(d.end_offsets)} partitions, "
             f"{sum(d.end_offsets):,} records", *table_lines(header, rows)]
    lines += [f"group '{g}': lag {d.lag(g):,}" for g in groups]
    return lines
