"""The contenders of `python -m benchmarks.peers`: what each one runs on, the command of its
process, and the virtual environment of each peer that is not a dependency of Shoal.

Every contender runs as its own process (so that its CPU time and peak memory are its own):
Shoal and the hand-written loops with this interpreter (benchmarks.peers.shoal_app), Faust
with it too (faust-streaming is a dev dependency), Bytewax, Pathway and Quix Streams each
with the python of its own venv under WORK/venvs, installed there with pip by package name.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

PEERS = Path(__file__).resolve().parent
EMBEDDED, MEMORY, KAFKA = "embedded log", "in memory", "Kafka (Tansu)"
FAUST_JOIN = "faust-streaming has no stream-stream join (Stream.join is not implemented)"


@dataclass(frozen=True)
class Contender:
    """One column of the table."""

    key: str  # its name on the command line
    label: str
    runs_on: str  # EMBEDDED, MEMORY or KAFKA: which input it reads
    program: str  # `shoal_app MODE` (this interpreter, -m) or a peer program's file name
    venv: str | None = None  # its own venv under WORK/venvs, or None: this interpreter
    packages: tuple[str, ...] = ()
    stops: bool = True  # exits by itself; False: SIGTERM once it printed its result line
    cannot: dict[str, str] = field(default_factory=dict)  # workload -> why it cannot run it

    def command(self, python: str, workload: str, source: str, output: str, expected: int,
                scratch: Path) -> list[str]:
        """The command line of one run."""
        if self.program.startswith("shoal_app "):
            mode = self.program.split()[1]
            return [python, "-m", "benchmarks.peers.shoal_app", mode, workload, source,
                    str(scratch)]
        return [python, str(PEERS / self.program), workload, source, output, str(expected),
                str(scratch)]


CONTENDERS = {c.key: c for c in (
    Contender("embedded", "Shoal embedded", EMBEDDED, "shoal_app embedded"),
    Contender("kafka", "Shoal on Kafka", KAFKA, "shoal_app kafka"),
    Contender("hand", "hand-written aiokafka+RocksDB", KAFKA, "shoal_app hand"),
    Contender("bytewax", "Bytewax", MEMORY, "bytewax_app.py", "bytewax",
              ("bytewax==0.21.*", "msgspec")),
    Contender("pathway", "Pathway", MEMORY, "pathway_app.py", "pathway", ("pathway", "msgspec")),
    Contender("quix", "Quix Streams", KAFKA, "quix_app.py", "quixstreams",
              ("quixstreams>=3,<4", "msgspec")),
    Contender("faust", "faust-streaming", KAFKA, "faust_app.py", stops=False,
              cannot={"join": FAUST_JOIN}),
)}
SHOAL = ("embedded", "kafka", "hand")  # a failure of these fails the benchmark


def venv_python(work: Path, contender: Contender) -> Path:
    """The interpreter of the contender's own venv."""
    return work / "venvs" / str(contender.venv) / "bin" / "python"


def install(work: Path, contender: Contender, skip: bool) -> str | None:
    """Create the contender's venv and pip-install its packages (once: a marker file names
    what was installed); None when ready, else why not."""
    if contender.venv is None:
        return None
    python = venv_python(work, contender)
    marker = python.parent.parent / "peers-installed.txt"
    wanted = "\n".join(contender.packages)
    if marker.exists() and marker.read_text() == wanted:
        return None
    if skip:
        return f"not installed in {python.parent.parent} (--skip-install)"
    print(f"installing {', '.join(contender.packages)} into {python.parent.parent} ...",
          flush=True)
    steps = [[sys.executable, "-m", "venv", str(python.parent.parent)],
             [str(python), "-m", "pip", "install", "--quiet", *contender.packages]]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True)
        if done.returncode != 0:
            lines = (done.stderr or done.stdout).strip().splitlines()
            return f"{' '.join(step[:4])} failed: {lines[-1] if lines else done.returncode}"
    marker.write_text(wanted)
    return None


def python_of(work: Path, contender: Contender) -> str:
    """The interpreter a contender's process runs with."""
    return sys.executable if contender.venv is None else str(venv_python(work, contender))
