"""What the embedded-log benchmarks share: the command line and the data-dir lifecycle."""

from __future__ import annotations

import argparse
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

Bench = Callable[[Path, int, int], int]


def bench_main(prog: str, doc: str | None, bench: Bench, argv: list[str] | None = None) -> int:
    """Parse --events/--data-dir/--seed, run `bench` in the given or a temporary data dir
    (deleted afterwards), and return its exit status."""
    parser = argparse.ArgumentParser(prog=prog,
                                     description=doc.split("\n\n")[0] if doc else None)
    parser.add_argument("--events", type=int, default=1_000_000, help="input events (N)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="empty or new directory to use (default: a temp dir, deleted)")
    parser.add_argument("--seed", type=int, default=42, help="generator seed")
    args = parser.parse_args(argv)
    if args.events < 1:
        parser.error("--events must be positive")
    if args.data_dir is not None:
        if args.data_dir.exists() and any(args.data_dir.iterdir()):
            parser.error(f"--data-dir {args.data_dir} is not empty")
        return bench(args.data_dir, args.events, args.seed)
    data = Path(tempfile.mkdtemp(prefix="shoal-bench-"))
    try:
        return bench(data, args.events, args.seed)
    finally:
        shutil.rmtree(data, ignore_errors=True)
