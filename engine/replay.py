"""`shoal replay-dlq`: put dead letters back into the topics they came from, after a fix.

A dead letter of an input record names its source (`shoal.source.topic`, `.partition`,
`.offset`); replaying writes its original key, value, timestamp and headers (Shoal's own
dropped, `shoal.replayed.from` added) to that partition, and notes the dead letter in
`<dead-letter topic>.replayed` in the same write (one atomic commit on the embedded log), so a
second replay skips it. Dead letters of results emitted by an operator, of records read from
an internal topic, and of late records (they would be late again) are not replayed; the
command counts them.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field

import click

from engine.api import ConfigError, OutRecord
from engine.api.records import copied
from engine.loader import load_pipeline
from engine.physical import PhysicalPlan
from engine.planner import plan as compile_plan
from engine.transport import CommitBatch, EmbeddedLog, RecordTuple
from engine.transport import data_dir as data_dir_of
from engine.transport.base import read_partitions


@dataclass
class Replay:
    """The dead letters to put back, per (topic, partition), and what was left out why."""

    records: dict[tuple[str, int], list[OutRecord]] = field(default_factory=dict)
    marks: list[OutRecord] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)

    def lines(self, dlq: str) -> list[str]:
        count = sum(map(len, self.records.values()))
        out = [f"replayed {count:,} dead letters of '{dlq}'"]
        out += [f"  -> {t}[{p}]: {len(rs):,}" for (t, p), rs in sorted(self.records.items())]
        out += [f"  not replayed ({why}): {n:,}" for why, n in sorted(self.skipped.items())]
        return out


def _headers(record: RecordTuple) -> dict[str, bytes | None]:
    return {name: value for name, value in record[4] or ()}


def _reason(headers: dict[str, bytes | None], plan: PhysicalPlan, stage: str | None,
            operator: str | None, since: int | None, ts: int) -> str | None:
    """Why a dead letter is not replayed (None: it is)."""
    text = {k: (v or b"").decode("utf-8", "replace") for k, v in headers.items()}
    if stage is not None and text.get("shoal.stage") != stage:
        return "other stage"
    if operator is not None and text.get("shoal.operator") != operator:
        return "other operator"
    if since is not None and ts < since:
        return "older than --since"
    if text.get("shoal.stage") == "late":
        return "late: it would be late again"
    topic = text.get("shoal.source.topic")
    if "shoal.emitted.by" in text or not topic:
        return "a result emitted by an operator"
    if topic in plan.internal_names:
        return "read from an internal topic"
    return None


def plan_replay(dead: list[list[RecordTuple]], done: set[bytes], plan: PhysicalPlan,
                stage: str | None, operator: str | None, since: int | None) -> Replay:
    """Which dead letters go back where (`done`: the ones replayed before)."""
    found = Replay()
    for partition, records in enumerate(dead):
        for record in records:
            mark = f"{partition}:{record[0]}".encode()
            if mark in done:
                found.skipped["replayed before"] += 1
                continue
            headers = _headers(record)
            why = _reason(headers, plan, stage, operator, since, record[3])
            if why is not None:
                found.skipped[why] += 1
                continue
            source = (headers["shoal.source.topic"] or b"").decode()
            where = (source, int(headers.get("shoal.source.partition") or b"0"))
            own = [(k, v) for k, v in copied(record[4]) if not k.startswith("shoal.")]
            found.records.setdefault(where, []).append(
                (record[1], record[2], record[3], [*own, ("shoal.replayed.from", mark)]))
            found.marks.append((mark, None, record[3], []))
    return found


@click.command("replay-dlq")
@click.argument("app")
@click.option("--stage", default=None, help="only dead letters of this stage (decode, "
              "schema, key, time, operator, encode)")
@click.option("--operator", default=None, help="only dead letters of this operator")
@click.option("--since", type=int, default=None, metavar="MS",
              help="only dead letters whose record time is at or after this (epoch ms)")
@click.option("--data-dir", default=None, metavar="DIR",
              help="embedded log directory (default $SHOAL_DATA_DIR or ./.shoal)")
def replay_dlq(app: str, stage: str | None, operator: str | None, since: int | None,
               data_dir: str | None) -> None:
    """Put APP's dead letters back into their source topics (after a fix); the next run
    processes them. A dead letter is replayed once.

    \b
    Examples:
      shoal replay-dlq apps/orders.py
      shoal replay-dlq apps/orders.py --stage operator --operator enrich
    """
    pipeline = load_pipeline(app)
    plan = compile_plan(pipeline)
    dlq, done_topic = plan.dead_letter_topic, f"{plan.dead_letter_topic}.replayed"

    async def body() -> list[str]:
        log = EmbeddedLog(data_dir_of(data_dir))  # refused while a job holds the directory
        try:
            topics = await log.topics()
            if dlq not in topics:
                raise ConfigError(f"no dead letters: topic '{dlq}' does not exist")
            done = ({r[1] for rs in await read_partitions(log, done_topic) for r in rs
                     if r[1] is not None} if done_topic in topics else set())
            found = plan_replay(await read_partitions(log, dlq), done, plan, stage,
                                operator, since)
            if found.marks:
                if done_topic not in topics:
                    await log.create_topic(done_topic, 1)
                outputs = [(t, p, rs) for (t, p), rs in sorted(found.records.items())]
                await log.commit("", CommitBatch(outputs=[*outputs,
                                                          (done_topic, 0, found.marks)]))
            return found.lines(dlq)
        finally:
            await log.close()

    for line in asyncio.run(body()):
        click.echo(line)
