"""One run of one contender: its process (timed by itself), the inputs it reads and the check
of what it wrote against the reference."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from benchmarks.peers.contenders import EMBEDDED, MEMORY, Contender, python_of
from benchmarks.peers.workloads import Inputs, Workload, compare, values
from benchmarks.stateless import CHUNK, PARTITIONS
from engine.transport import EmbeddedLog, Transport, read_partitions
from engine.transport.kafka import KafkaTransport

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S, STOP_GRACE_S = 900.0, 30.0


@dataclass
class Outcome:
    """One run: its figures, or why there are none (`failed`), and its check (`mismatch`).
    The process reports its own times, CPU and peak memory; wait4 gives its total CPU."""

    seconds: float = 0.0
    active: float = 0.0  # from its first assignment or record (Kafka: after the group join)
    cpu: float = 0.0  # user + sys of its process over the timed part
    cpu_total: float = 0.0  # ... over its whole life (start-up and imports too)
    rss_mb: float = 0.0
    outputs: int = 0
    failed: str | None = None
    mismatch: str | None = None


@dataclass(frozen=True)
class Setting:
    """Where one round's inputs are and where its runs may write."""

    work: Path
    workload: Workload
    expected: int
    reference: Any
    files: Path  # the inputs as JSON lines (in-memory peers)
    template: Path  # an embedded log holding the inputs (copied for each run)
    bootstrap: str | None  # the round's broker
    round: int


def write_files(inputs: Inputs, directory: Path) -> None:
    """Each input topic as `TOPIC.jsonl` of raw JSON values."""
    directory.mkdir(parents=True, exist_ok=True)
    for topic, records in inputs.items():
        with open(directory / f"{topic}.jsonl", "wb") as out:
            out.writelines(value + b"\n" for value in values(records))


async def produce(bootstrap: str, inputs: Inputs) -> None:
    """Create the input topics on the broker and write the inputs (keys and timestamps
    kept), in chunks."""
    log = KafkaTransport(bootstrap)
    try:
        for topic, records in inputs.items():
            await log.create_topic(topic, PARTITIONS)
            for at in range(0, len(records), CHUNK):
                await log.produce(topic, records[at:at + CHUNK])
    finally:
        await log.close()


def launch(cmd: list[str], log_path: Path, stops: bool) -> tuple[dict[str, Any] | None, Any, str]:
    """Run `cmd` until it exits (SIGTERM it once it printed its result when it does not stop
    by itself; SIGKILL after TIMEOUT_S); its result line, rusage and exit status text."""
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=log, text=True)
        killer = threading.Timer(TIMEOUT_S, proc.kill)
        killer.start()
        result = None
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("{") and '"seconds"' in line:
                result = json.loads(line)
                if not stops:
                    proc.send_signal(signal.SIGTERM)
                    killer.cancel()
                    killer = threading.Timer(STOP_GRACE_S, proc.kill)
                    killer.start()
            else:
                log.write(line)
        _, status, usage = os.wait4(proc.pid, 0)
        killer.cancel()
        proc.returncode = code = os.waitstatus_to_exitcode(status)
    return result, usage, "" if code == 0 or (result and not stops) else f"exit status {code}"


def run_one(setting: Setting, contender: Contender) -> Outcome:
    """Run the contender once and check its outputs."""
    w, name = setting.workload.name, contender.key
    scratch = setting.work / "runs" / f"{w}-{name}-r{setting.round}"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    source, output = locate(setting, contender, scratch)
    cmd = contender.command(python_of(setting.work, contender), w, source, output,
                            setting.expected, scratch)
    log_path = setting.work / "logs" / f"{w}-{name}-r{setting.round}.log"
    log_path.parent.mkdir(exist_ok=True)
    result, usage, error = launch(cmd, log_path, contender.stops)
    outcome = Outcome(cpu_total=usage.ru_utime + usage.ru_stime)
    if result is None or error:
        outcome.failed = f"{error or 'no result line'} (see {log_path})"
        return outcome
    outcome.seconds, outcome.active, outcome.cpu, outcome.rss_mb = (
        result["seconds"], result["active"], result["cpu"], result["rss_mb"])
    try:
        rows = read_outputs(contender, result.get("topic", output), source, setting.bootstrap)
    except Exception as e:  # any failure to read them is this contender's
        outcome.failed = f"could not read its outputs: {e!r}"
        return outcome
    outcome.outputs = len(rows)
    try:
        outcome.mismatch = compare(setting.reference, setting.workload.summarise(rows))
    except (KeyError, TypeError, ValueError) as e:
        outcome.mismatch = f"malformed outputs: {e!r}"
    shutil.rmtree(scratch, ignore_errors=True)
    return outcome


def locate(setting: Setting, contender: Contender, scratch: Path) -> tuple[str, str]:
    """The (source, output) arguments of a run; an embedded run gets a copy of the log."""
    if contender.runs_on == EMBEDDED:
        shutil.copytree(setting.template, scratch / "log")
        return str(scratch / "log"), ""
    if contender.runs_on == MEMORY:
        return str(setting.files), str(scratch / "out.jsonl")
    return str(setting.bootstrap), f"out.{contender.key}.{setting.workload.name}"


def read_outputs(contender: Contender, output: str, source: str,
                 bootstrap: str | None) -> list[dict[str, Any]]:
    """The records the contender wrote, decoded."""
    decode = msgspec.json.decode
    if contender.runs_on == MEMORY:
        return [decode(line) for line in Path(output).read_bytes().splitlines()]
    log: Transport = (EmbeddedLog(Path(source), read_only=True)
                      if contender.runs_on == EMBEDDED else KafkaTransport(str(bootstrap)))

    async def read() -> list[dict[str, Any]]:
        try:
            parts = await read_partitions(log, output)
        finally:
            await log.close()
        return [decode(value or b"null") for records in parts for _, _, value, _, _ in records]

    return asyncio.run(read())
