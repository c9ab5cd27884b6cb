"""The `shoal` command: the composition root that wires plans, logs and workers together."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar

import click

from engine.api import ConfigError, LogBusy, PipelineFailed, ShoalError, TransportError
from engine.cli_options import examples, load_app, log_options, placement_option, with_log
from engine.cli_query import query
from engine.console import (
    describe_lines,
    err,
    record_json,
    run_progress,
    summary,
    table_lines,
)
from engine.ingest import keyed_lines, read_lines
from engine.job import Job
from engine.planner import plan as compile_plan
from engine.planner.render import RENDERERS
from engine.replay import replay_dlq
from engine.reset import reset
from engine.runtime import RunStats, WorkerConfig
from engine.serve import DEFAULT_PORT, produce_via_server, query_server
from engine.state import CACHE_ENTRIES
from engine.transport import RecordTuple, Transport, read_range
from engine.transport import data_dir as data_dir_of

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])
PRODUCE_CHUNK = 10_000
MAX_PARTITIONS = 10_000  # a task per partition: beyond this a typo, not a plan


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="shoal")
@click.option("--debug", is_flag=True,
              help="dead letters carry the traceback of your function (header "
                   "shoal.traceback), and internal errors print theirs (= SHOAL_DEBUG=1)")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]),
              default=None, help="log Shoal's and its libraries' messages at this level")
def cli(debug: bool, log_level: str | None) -> None:
    """Shoal: stateful stream processing for Python."""
    if debug:
        os.environ["SHOAL_DEBUG"] = "1"
    if log_level is not None:
        logging.basicConfig(level=log_level.upper(),
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        logging.getLogger("aiokafka").setLevel(log_level.upper())


@cli.command(epilog=examples(
    "shoal run apps/shop.py",
    "shoal run apps/shop.py --drain --data-dir .shoal/demo",
    "shoal run apps/shop.py --broker kafka://127.0.0.1:9092 --partitioner buys=crc32"))
@click.argument("app")
@click.option("--until-caught-up", is_flag=True,
              help="stop once every input is processed (open windows stay open)")
@click.option("--drain", is_flag=True,
              help="end the input where it ends now, emit every window, session and unmatched "
                   "join row as final, then stop")
@click.option("--commit-interval", type=click.IntRange(min=1), default=None, metavar="MS",
              help="commit at least this often (default: the pipeline's, 200 ms)")
@click.option("--port", type=click.IntRange(min=0, max=65535), default=DEFAULT_PORT,
              show_default=True, help="query server port on 127.0.0.1 (0: any free port)")
@click.option("--cache-entries", type=click.IntRange(min=1), default=CACHE_ENTRIES,
              show_default=True, metavar="N",
              help="entries each task keeps cached per store (memory vs. store reads)")
@placement_option
@log_options
def run(app: str, until_caught_up: bool, drain: bool, commit_interval: int | None, port: int,
        cache_entries: int, partitioners: dict[str, str], data_dir: str | None,
        broker: str | None) -> None:
    """Run the pipeline in APP (a .py file or module path)."""
    pipeline = load_app(app, partitioners)
    compile_plan(pipeline)  # plan errors before touching the log
    config = WorkerConfig(until_caught_up=until_caught_up, drain=drain,
                          commit_interval_ms=commit_interval, cache_entries=cache_entries,
                          debug=bool(os.environ.get("SHOAL_DEBUG")))
    directory = data_dir_of(data_dir)

    async def body(log: Transport) -> None:
        job = Job(compile_plan(pipeline, await log.topics()), log, directory)
        try:
            stats = await _run_job(job, config, port, directory, until_caught_up or drain)
        finally:
            job.close()
        err.print(summary(stats, job.plan.dead_letter_topic))
        if stats.records_in and stats.dead_lettered >= stats.records_in:
            raise PipelineFailed(f"every one of the {stats.records_in:,} input records was "
                                 f"dead-lettered (see `shoal tail {job.plan.dead_letter_topic}"
                                 "`): fix the pipeline, then run it again")

    asyncio.run(with_log(broker, data_dir, False, body))


def _stopper(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> Callable[[int, Any], None]:
    """The SIGINT/SIGTERM handler of a run: the first asks for a final commit and a clean
    stop; a second one exits at once (a function stuck in a loop never gives the run its
    turn back). It runs between bytecodes of whatever is running, so it always gets in;
    nothing committed is lost, and what was not committed runs again next time."""
    asked: list[bool] = []

    def handle(signum: int, frame: Any) -> None:
        if asked:  # os.write: a print could be interrupted mid-write by this very handler
            os.write(2, b"\nstopped at once, without a final commit\n")
            os._exit(130)
        asked.append(True)
        os.write(2, b"\nstopping after a final commit (press Ctrl-C again to stop at once)\n")
        loop.call_soon_threadsafe(stop.set)

    return handle


async def _run_job(job: Job, config: WorkerConfig, port: int, directory: str,
                   bounded: bool) -> RunStats:
    """Start a worker of `job`, say what it guarantees, serve its tables and run it until
    it ends (bounded) or a signal stops it."""
    stop = asyncio.Event()
    handler = _stopper(asyncio.get_running_loop(), stop)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handler)
    worker = job.worker(config)
    worker.on_event = lambda text: err.print(text, markup=False)
    await worker.prepare_topics()
    log = job.log
    guarantee = "exactly-once" if log.exactly_once else (
        "exactly-once for internal topics and tables: replays are dropped by sequence "
        "number; at-least-once for output topics: their records carry a shoal.seq header "
        "to drop replays by")
    err.print(f"pipeline '{job.plan.pipeline}' on the {log.name} log, group "
              f"'{worker.group}' ({guarantee})", markup=False)
    await worker.start()
    async with query_server(job.plan, log, job.backends, port, directory,
                            worker.global_tables.rows(), worker) as url:
        if url:
            err.print(f"query server: {url}/tables", markup=False)
        with run_progress(bounded) as observe:
            worker.observer = observe
            return await worker.run(stop)


@cli.command(epilog=examples(
    "shoal produce orders orders.jsonl --key order_id --time ts --partitions 4",
    "cat buys.jsonl | shoal produce buys - --key order_id"))
@click.argument("topic")
@click.argument("file", default="-")
@click.option("--key", "key_field", default=None, metavar="FIELD",
              help="use this JSON field of each line as the record key")
@click.option("--time", "time_field", default=None, metavar="FIELD",
              help="use this JSON field (epoch ms) as the record timestamp (default: now)")
@click.option("--partitions", type=click.IntRange(min=1, max=MAX_PARTITIONS), default=None,
              help=f"partitions when creating the topic (default 1, at most "
                   f"{MAX_PARTITIONS:,})")
@log_options
def produce(topic: str, file: str, key_field: str | None, time_field: str | None,
            partitions: int | None, data_dir: str | None, broker: str | None) -> None:
    """Append JSON lines from FILE (or - for stdin) to TOPIC."""
    from engine.dsl import check_topic

    try:
        check_topic(topic)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    lines = read_lines(file)
    records, missing = keyed_lines(lines, key_field, time_field, int(time.time() * 1000))

    async def body(log: Transport) -> int:
        existing = (await log.topics()).get(topic)
        if existing is None or partitions is not None:
            await log.create_topic(topic, partitions or existing or 1)
        for start in range(0, len(records), PRODUCE_CHUNK):
            try:
                await log.produce(topic, records[start:start + PRODUCE_CHUNK])
            except TransportError as exc:
                raise TransportError(f"{exc} (the first {start:,} of {len(records):,} "
                                     "records were produced)") from None
        return len(await log.end_offsets(topic))

    try:
        where = f"({asyncio.run(with_log(broker, data_dir, False, body))} partitions)"
    except LogBusy:  # a running job holds the embedded log: hand the records to it
        served = produce_via_server(data_dir_of(data_dir), topic, lines, key_field, time_field)
        if served is None:
            raise
        where = f"through the running job at {served}"
    err.print(f"produced {len(records):,} records to '{topic}' {where}")
    if missing:
        err.print(f"warning: {missing:,} lines had no '{key_field}' field (or were not JSON "
                  "objects) and were produced without a key")


@cli.command(epilog=examples(
    "shoal tail orders.fulfilled",
    "shoal tail shop.dlq --from-beginning",
    "shoal tail orders -n 50 --data-dir .shoal/demo"))
@click.argument("topic")
@click.option("--from-beginning", is_flag=True, help="print every record")
@click.option("-n", "count", type=click.IntRange(min=0), default=10, show_default=True,
              help="how many of the latest records to print")
@log_options
def tail(topic: str, from_beginning: bool, count: int, data_dir: str | None,
         broker: str | None) -> None:
    """Print records of TOPIC as JSON lines (the latest N, or all)."""

    async def body(log: Transport) -> None:
        ends = await log.end_offsets(topic)
        chosen: list[tuple[int, int, RecordTuple]] = []
        for partition, end in enumerate(ends):
            start = 0 if from_beginning else max(0, end - count)
            async for batch in read_range(log, (topic, partition), start, end):
                chosen.extend((r[3], partition, r) for r in batch)
        chosen.sort(key=lambda item: (item[0], item[1], item[2][0]))
        selected = chosen if from_beginning else chosen[len(chosen) - count:] if count else []
        out = sys.stdout
        for _, partition, record in selected:
            out.write(record_json(topic, partition, record) + "\n")

    asyncio.run(with_log(broker, data_dir, True, body))


@cli.command(epilog=examples(
    "shoal topics",
    "shoal topics buys --data-dir .shoal/demo"))
@click.argument("topic", required=False)
@log_options
def topics(topic: str | None, data_dir: str | None, broker: str | None) -> None:
    """List topics (partitions, records kept, records deleted: consumed internal records);
    with TOPIC, describe its partitions and groups."""

    async def body(log: Transport) -> list[str]:
        if topic is not None:
            return describe_lines(await log.describe_topic(topic))
        rows = []
        for name, n in (await log.topics()).items():
            ends, starts = sum(await log.end_offsets(name)), sum(await log.start_offsets(name))
            rows.append((name, n, ends - starts, starts))
        return table_lines(["TOPIC", "PARTITIONS", "RECORDS", "DELETED"], rows)

    for line in asyncio.run(with_log(broker, data_dir, True, body)):
        click.echo(line)


@cli.command(epilog=examples(
    "shoal describe apps/shop.py",
    "shoal describe apps/shop.py --format mermaid",
    "shoal describe apps/shop.py --data-dir .shoal/demo"))
@click.argument("app")
@click.option("--format", "fmt", type=click.Choice(sorted(RENDERERS)), default="text",
              show_default=True)
@placement_option
@log_options
def describe(app: str, fmt: str, partitioners: dict[str, str], data_dir: str | None,
             broker: str | None) -> None:
    """Print the compiled topology of APP: sub-topologies, tasks, topics, stores. With
    --broker (or --data-dir) it also counts the tasks from the topics' partitions."""
    pipeline = load_app(app, partitioners)
    if broker is None and data_dir is None:
        click.echo(RENDERERS[fmt](compile_plan(pipeline)))
        return

    async def body(log: Transport) -> dict[str, int]:
        return await log.topics()

    counts = asyncio.run(with_log(broker, data_dir, True, body))
    physical = compile_plan(pipeline, counts)
    click.echo(RENDERERS[fmt](physical))
    if fmt != "text":
        return
    for sub in physical.subtopologies:
        known = {t: counts[t] for t in sub.sources if t in counts}
        tasks = max(known.values(), default=0)
        parts = ", ".join(f"{t}: {n}" for t, n in known.items()) or "topics not created yet"
        click.echo(f"Sub-topology {sub.id}: {tasks} tasks ({parts})")


cli.add_command(query)
cli.add_command(reset)
cli.add_command(replay_dlq)


def _quiet_libraries() -> None:
    """aiokafka logs connection retries itself; Shoal reports failures as one line."""
    if not os.environ.get("SHOAL_DEBUG"):
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)


def main() -> None:
    """Entry point: user errors print one `error:` line (click's usage errors print its usage
    help) and exit non-zero, never a traceback."""
    _quiet_libraries()
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        err.print("aborted")
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except ShoalError as exc:
        err.print(f"error: {exc}", markup=False)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        if os.environ.get("SHOAL_DEBUG"):
            raise
        err.print(f"internal error: {type(exc).__name__}: {exc} (set SHOAL_DEBUG=1 for the "
                  "traceback, and please report it)", markup=False)
        sys.exit(70)


if __name__ == "__main__":
    main()
