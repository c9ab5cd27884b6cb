"""Shoal against its Python peers: three workloads over the same generated input, each
contender run as its own process, interleaved over rounds, every output checked.

    .venv/bin/python -m benchmarks.peers [--events N] [--rounds R] [--workloads a,b]
        [--contenders x,y] [--work DIR] [--skip-install] [--seed S]

Workloads: stateless (parse, filter, map, write), windows (count + sum per product in tumbling
minutes), join (buys with their shipments within 1 hour). Contenders: Shoal on its embedded
log and on Kafka (one worker), a hand-written aiokafka + RocksDB loop, Bytewax and Pathway in
memory, Quix Streams and faust-streaming; every Kafka run is on a Tansu broker started on
127.0.0.1 for each round (memory storage). Peers that are not dependencies of Shoal are
installed into WORK/venvs/NAME with pip (kept between runs when --work is given). Per workload
and contender: median events/s, CPU seconds (user + sys of its process while it ran), peak
RSS and Shoal embedded's events/s over its own. Every output is checked against one
plain-Python reference per workload; a mismatch is printed loudly and makes the exit status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path

from benchmarks.peers.contenders import CONTENDERS, EMBEDDED, KAFKA, MEMORY, install
from benchmarks.peers.report import Cell, Results, print_table, print_workload, status
from benchmarks.peers.runner import Setting, produce, run_one, write_files
from benchmarks.peers.workloads import WORKLOADS, Inputs, Workload, expected_outputs
from engine.transport import EmbeddedLog
from tests.kafka_broker import tansu


def parse(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.peers",
                                     description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000, help="input events (N)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (the median is given)")
    parser.add_argument("--workloads", default=",".join(WORKLOADS),
                        help=f"comma-separated, of {','.join(WORKLOADS)}")
    parser.add_argument("--contenders", default=",".join(CONTENDERS),
                        help=f"comma-separated, of {','.join(CONTENDERS)}")
    parser.add_argument("--work", type=Path, default=None,
                        help="work dir (venvs, inputs, logs); default: a temp dir, deleted")
    parser.add_argument("--skip-install", action="store_true",
                        help="do not create or install peer venvs (missing ones are n/a)")
    parser.add_argument("--seed", type=int, default=42, help="generator seed")
    args = parser.parse_args(argv)
    args.workloads, args.contenders = args.workloads.split(","), args.contenders.split(",")
    unknown = ([w for w in args.workloads if w not in WORKLOADS]
               + [c for c in args.contenders if c not in CONTENDERS])
    if unknown or args.events < 1 or args.rounds < 1:
        parser.error(f"unknown workload or contender {unknown}" if unknown
                     else "--events and --rounds must be positive")
    return args


def prepare(work: Path, workload: Workload, n: int, seed: int, keys: list[str]
            ) -> tuple[Setting, Inputs]:
    """Generate the inputs, the reference, and the files and embedded log the runs read."""
    inputs = workload.generate(n, seed)
    reference = workload.reference(inputs)
    base = work / "inputs" / workload.name
    shutil.rmtree(base, ignore_errors=True)
    if any(CONTENDERS[k].runs_on == MEMORY for k in keys):
        write_files(inputs, base / "files")
    if any(CONTENDERS[k].runs_on == EMBEDDED for k in keys):
        log = EmbeddedLog(base / "log")
        asyncio.run(workload.prepare(log, n, seed))
        asyncio.run(log.close())
    return Setting(work, workload, expected_outputs(workload, inputs, reference), reference,
                   base / "files", base / "log", None, 0), inputs


def bench_workload(work: Path, workload: Workload, args: argparse.Namespace,
                   cells: dict[str, Cell]) -> int:
    """Every round of one workload, the contenders interleaved; its input events."""
    setting, inputs = prepare(work, workload, args.events, args.seed, list(cells))
    kafka = any(CONTENDERS[k].runs_on == KAFKA and c.na is None for k, c in cells.items())
    for round_no in range(1, args.rounds + 1):
        broker_log = work / "logs" / f"tansu-{workload.name}-r{round_no}.log"
        broker_log.parent.mkdir(parents=True, exist_ok=True)
        with tansu(broker_log) if kafka else nullcontext() as broker:
            if broker is not None:
                asyncio.run(produce(broker.bootstrap, inputs))
            here = replace(setting, round=round_no,
                           bootstrap=broker.bootstrap if broker else None)
            for key, cell in cells.items():
                if cell.na is None:
                    print(f"  {workload.name} round {round_no}: {key} ...", flush=True)
                    cell.runs.append(run_one(here, CONTENDERS[key]))
    return workload.events(inputs)


def bench(work: Path, args: argparse.Namespace) -> int:
    """Install the peers, run every workload, print the figures; the exit status."""
    ready = {k: install(work, CONTENDERS[k], args.skip_install) for k in args.contenders}
    results: Results = {}
    events: dict[str, int] = {}
    for name in args.workloads:
        cells = {k: Cell(ready[k] or CONTENDERS[k].cannot.get(name)) for k in args.contenders}
        results[name] = cells
        events[name] = bench_workload(work, WORKLOADS[name], args, cells)
        print_workload(name, WORKLOADS[name].title, events[name], cells)
    print_table(results, events, args.contenders)
    return status(results)


def main(argv: list[str] | None = None) -> int:
    """Run in --work or a temporary directory (deleted afterwards); print the time taken."""
    args = parse(argv)
    start = time.perf_counter()
    work = args.work or Path(tempfile.mkdtemp(prefix="shoal-peers-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        code = bench(work.resolve(), args)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    print(f"\ntook {time.perf_counter() - start:,.0f} s; exit status {code}")
    return code


if __name__ == "__main__":
    sys.exit(main())
