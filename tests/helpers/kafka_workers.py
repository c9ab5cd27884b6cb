"""`shoal run` workers of one pipeline on Kafka, for the distributed end-to-end tests
(tests/integration/test_distributed*.py, test_kafka_join.py, test_kafka_table_joins.py):
what a worker's log says it holds, waiting for the group (a split, a catch-up), SIGTERM, and
the group's progress and topics as the broker has them.

The `spawn` fixture (tests/integration/conftest.py) starts the workers: each with a data
directory of its own, commit interval COMMIT_INTERVAL_MS, its stderr in a file.
"""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from engine.transport.kafka import KafkaTransport
from tests.helpers.shoal import kafka, on_log, read_complete
from tests.kafka_broker import Broker

T = TypeVar("T")

PARTITIONS = 6  # input partitions of the distributed tests' apps (what `split` expects)
COMMIT_INTERVAL_MS = 100
WAIT_S = 60  # bound on every wait for a (re)balance (session timeout 6 s + Tansu's 3 s join)
DRAIN_S = 120  # bound on the wait for the group to process all its input


class WorkerApp(Protocol):
    """A pipeline under a unique name (its group) as workers run it: its file, and the input
    topic whose revocations a Worker parses from the log."""

    @property
    def name(self) -> str: ...

    @property
    def file(self) -> Path: ...

    @property
    def source(self) -> str: ...


# -- talking to the broker -------------------------------------------------------------------
def on_kafka(broker: Broker, body: Callable[[KafkaTransport], Coroutine[Any, Any, T]]) -> T:
    """`await body(transport)` on a fresh KafkaTransport, in its own event loop."""
    return on_log(kafka(broker.bootstrap), body)


def group_progress(broker: Broker, app: WorkerApp) -> tuple[list[int], list[int]]:
    """(the group's committed positions, the input's end offsets), per input partition."""
    async def body(log: KafkaTransport) -> tuple[list[int], list[int]]:
        ends = await log.end_offsets(app.source)  # high watermarks: ListOffsets may lag
        tps = [(app.source, p) for p in range(len(ends))]
        committed = await log.committed(app.name, tps)
        return [committed[tp] for tp in tps], ends
    return on_kafka(broker, body)


def caught_up(broker: Broker, app: WorkerApp) -> Callable[[], bool]:
    """A check for wait_until: the group committed every record of its input."""
    def check() -> bool:
        committed, ends = group_progress(broker, app)
        return committed == ends
    return check


Rec = tuple[int, int, bytes | None, bytes | None]  # partition, offset, key, value


def read_topics(broker: Broker, topics: tuple[str, ...]) -> dict[str, list[Rec]]:
    """Every record of `topics`, read up to their end offsets."""
    async def body(log: KafkaTransport) -> dict[str, list[Rec]]:
        out: dict[str, list[Rec]] = {}
        for topic in topics:
            out[topic] = [(partition, r[0], r[1], r[2]) for partition, records
                          in enumerate(await read_complete(log, topic)) for r in records]
        return out
    return on_kafka(broker, body)


def write_chunks(tmp_path: Path, lines: list[str], size: int) -> list[Path]:
    """`lines` in files of `size` lines each (chunk-N.jsonl), to produce one at a time."""
    files = []
    for n, start in enumerate(range(0, len(lines), size)):
        files.append(tmp_path / f"chunk-{n}.jsonl")
        files[-1].write_text("".join(f"{line}\n" for line in lines[start:start + size]))
    return files


# -- workers and their logs ------------------------------------------------------------------
TASK_IDS = re.compile(r": \d+ tasks \((.*)\)$")
PROCESSED = re.compile(r"^processed ([\d,]+) input records", re.M)
PARTS = re.compile(r"(\S+)\[([\d,]+)\]")


@dataclass
class Worker:
    """One `shoal run` process; its stderr (assignments, revocations) goes to `log`."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    source: str

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def events(self) -> list[tuple[str, set[int]]]:
        """('assigned', partitions it holds afterwards) and ('revoked', partitions) lines."""
        out: list[tuple[str, set[int]]] = []
        text = self.text()
        for line in text[:text.rfind("\n") + 1].splitlines():  # complete lines only
            if line.startswith("assigned "):
                found = TASK_IDS.search(line)
                assert found, f"{self.name}: unexpected line {line!r}"
                ids = [t for t in found.group(1).split(", ") if t]
                out.append(("assigned", {int(t.split("_")[1]) for t in ids}))
            elif line.startswith("revoked "):
                out.append(("revoked", {int(p) for topic, ps in PARTS.findall(line)
                                        if topic == self.source for p in ps.split(",")}))
        return out

    def holding(self) -> set[int]:
        """The input partitions it holds, as far as its log tells."""
        held: set[int] = set()
        for kind, parts in self.events():
            held = parts if kind == "assigned" else held - parts
        return held

    def ever_assigned(self) -> set[int]:
        return set().union(*(parts for kind, parts in self.events() if kind == "assigned"))

    def revocations(self) -> int:
        return sum(kind == "revoked" and bool(parts) for kind, parts in self.events())

    def processed(self) -> int:
        """Input records it read and processed, from the summary printed at its exit."""
        found = PROCESSED.search(self.text())
        assert found, f"{self.name} printed no summary:\n{self.text()[-3000:]}"
        return int(found.group(1).replace(",", ""))

    def alive(self) -> bool:
        return self.proc.poll() is None


Spawn = Callable[[WorkerApp], Worker]


def logs(workers: list[Worker]) -> str:
    """The tail of each worker's log, for failure messages."""
    return "\n".join(f"--- {w.name} ({'running' if w.alive() else w.proc.returncode})\n"
                     f"{w.text()[-3000:]}" for w in workers)


def wait_until(done: Callable[[], bool], what: str, workers: list[Worker],
               timeout: float = WAIT_S, every: float = 0.25) -> float:
    """Poll `done` until it is true; the seconds that took. Fails when the time is up or a
    worker in `workers` exited."""
    began = time.monotonic()
    while not done():
        assert all(w.alive() for w in workers), f"a worker exited while waiting for {what}:\n" \
            + logs(workers)
        assert time.monotonic() - began < timeout, \
            f"timed out after {timeout:g}s waiting for {what}:\n{logs(workers)}"
        time.sleep(every)
    return time.monotonic() - began


def split(workers: list[Worker]) -> bool:
    """Each worker holds some partitions, none is held twice, and all are held."""
    held = [w.holding() for w in workers]
    return (all(held) and sum(map(len, held)) == PARTITIONS
            and set().union(*held) == set(range(PARTITIONS)))


def stop(workers: list[Worker]) -> None:
    """SIGTERM each worker: it must commit and exit 0, with no traceback."""
    for worker in workers:
        worker.proc.send_signal(signal.SIGTERM)
    for worker in workers:
        code = worker.proc.wait(timeout=30)
        text = worker.text()
        assert code == 0, f"{worker.name} exited {code}:\n{text[-3000:]}"
        assert "Traceback" not in text and "internal error" not in text, text[-3000:]
