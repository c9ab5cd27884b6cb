"""`shoal reset`: start a pipeline over from a point of its input.

The pipeline's positions in its input topics move (to the earliest records, the latest, or
the first at or after a time); its internal topics are emptied, its tasks' saved progress
forgotten and its stores dropped, all in one write; output and dead-letter topics stay. The
next run rebuilds every table from that point. The embedded log allows one process at a
time, so a running job refuses the reset; on Kafka, reset is not built yet (the command says
what to use instead).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol, cast

import click

from engine.api import ConfigError
from engine.loader import load_pipeline
from engine.physical import PhysicalPlan
from engine.planner import plan as compile_plan
from engine.transport import Transport, open_transport
from engine.transport import data_dir as data_dir_of

TopicPartition = tuple[str, int]


class Resettable(Transport, Protocol):
    """A log that can reset a group: the embedded log and Kafka."""

    async def has_store(self, store: str) -> bool: ...
    async def offset_for_time(self, tp: TopicPartition, ts: int) -> int: ...
    async def reset(self, group: str, positions: dict[TopicPartition, int],
                    internal: list[str], stores: list[str]) -> None: ...


@dataclass
class ResetPlan:
    """What a reset changes: positions (old, new), internal topics (records), stores."""

    group: str
    moves: dict[TopicPartition, tuple[int, int]]
    internal: dict[str, int]
    stores: list[str]

    def lines(self, dry_run: bool) -> list[str]:
        head = f"reset '{self.group}'" + (" (dry run: nothing changed)" if dry_run else "")
        moved = [f"  {t}[{p}]: {old:,} -> {new:,}" for (t, p), (old, new)
                 in sorted(self.moves.items())]
        emptied = [f"  internal topic {t} emptied ({n:,} records)"
                   for t, n in sorted(self.internal.items())]
        dropped = [f"  store {s} dropped" for s in self.stores]
        return [head, *moved, *emptied, *dropped]


def parse_time(text: str) -> int:
    """An ISO 8601 time (UTC unless it says otherwise) as epoch ms."""
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"--to-time {text!r} is not an ISO 8601 time, e.g. "
                          "2024-01-01T00:00:30Z") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.now().astimezone().tzinfo).astimezone()
    return int(when.timestamp() * 1000)


async def plan_reset(log: Resettable, physical: PhysicalPlan, to: str,
                     at: int | None) -> ResetPlan:
    """Where each input partition goes (to: earliest, latest or time `at`)."""
    group, topics = physical.pipeline, await log.topics()
    moves: dict[TopicPartition, tuple[int, int]] = {}
    for topic in dict.fromkeys(physical.external_sources):
        if topic not in topics:
            continue
        starts, ends = await log.start_offsets(topic), await log.end_offsets(topic)
        tps = [(topic, p) for p in range(len(ends))]
        done = await log.committed(group, tps)
        for tp in tps:
            new = (starts[tp[1]] if to == "earliest" else ends[tp[1]] if to == "latest"
                   else await log.offset_for_time(tp, at or 0))
            moves[tp] = (done[tp], new)
    internal = {t: sum(await log.end_offsets(t)) - sum(await log.start_offsets(t))
                for t in physical.internal_names if t in topics}
    stores = [f"{group}.{s}" for s in physical.stores if await log.has_store(f"{group}.{s}")]
    return ResetPlan(group, moves, internal, stores)


@click.command()
@click.argument("app")
@click.option("--to-earliest", "to", flag_value="earliest", help="from the first records")
@click.option("--to-latest", "to", flag_value="latest", help="from new records only")
@click.option("--to-time", "when", default=None, metavar="ISO8601",
              help="from the first record of each partition at or after this time")
@click.option("--dry-run", is_flag=True, help="say what would change, change nothing")
@click.option("--data-dir", default=None, metavar="DIR",
              help="embedded log directory (default $SHOAL_DATA_DIR or ./.shoal)")
@click.option("--broker", default=None, metavar="URL",
              help="kafka://HOST:PORT (default: the embedded log)")
def reset(app: str, to: str | None, when: str | None, dry_run: bool, data_dir: str | None,
          broker: str | None) -> None:
    """Start APP over: move its input positions, empty its internal topics, drop its
    stores (outputs stay). The next run rebuilds every table from there.

    \b
    Examples:
      shoal reset apps/shop_tables.py --to-earliest --dry-run
      shoal reset apps/shop_tables.py --to-time 2026-01-01T00:05:00Z
      shoal reset apps/orders.py --to-earliest --broker kafka://127.0.0.1:9092
    """
    if (to is None) == (when is None):
        raise ConfigError("say where to: --to-earliest, --to-latest or --to-time ISO8601")
    at = parse_time(when) if when is not None else None
    pipeline = load_pipeline(app)
    compile_plan(pipeline)  # plan errors before touching the log
    directory = Path(data_dir_of(data_dir))
    if broker in (None, "embedded") and not (directory / "log").exists():
        raise ConfigError(f"no shoal data in '{directory}' (nothing produced yet)")

    async def body() -> list[str]:
        log = cast(Resettable, open_transport(broker, str(directory)))  # busy: refused
        try:
            found = await plan_reset(log, compile_plan(pipeline, await log.topics()),
                                     to or "time", at)
            if not dry_run:
                await log.reset(found.group, {tp: new for tp, (_, new) in found.moves.items()},
                                list(found.internal), found.stores)
            return found.lines(dry_run)
        finally:
            await log.close()

    for line in asyncio.run(body()):
        click.echo(line)
