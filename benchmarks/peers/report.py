"""The figures of `python -m benchmarks.peers`: one block per workload as it finishes, and
the final markdown table (median of the rounds; Shoal embedded's events/s over each).

events/s count from the start of the contender's run (after its imports and, in memory,
after loading its input), so a Kafka contender's include connecting and joining its group
(Tansu takes ~3 s); "after join" counts from its first partition assignment or record."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from benchmarks.peers.contenders import CONTENDERS, KAFKA, SHOAL
from benchmarks.peers.runner import Outcome

BASE = "embedded"


@dataclass
class Cell:
    """One contender on one workload: its runs, or why it did not run."""

    na: str | None = None
    runs: list[Outcome] = field(default_factory=list)

    @property
    def failed(self) -> str | None:
        """The first failure among the runs."""
        return next((r.failed for r in self.runs if r.failed), None)

    @property
    def mismatch(self) -> str | None:
        """The first mismatch among the runs."""
        return next((f"round {i + 1}: {r.mismatch}" for i, r in enumerate(self.runs)
                     if r.mismatch), None)

    def median(self, attr: str) -> float:
        """Median of one figure over the runs."""
        return float(statistics.median(getattr(r, attr) for r in self.runs))

    def rate(self, events: int, attr: str = "seconds") -> float:
        """Median events/s (from the start, or `active`: from the first record)."""
        return float(statistics.median(events / max(getattr(r, attr), 1e-9)
                                       for r in self.runs))

    @property
    def usable(self) -> bool:
        """Ran every round without failing (a mismatch still has figures)."""
        return self.na is None and bool(self.runs) and self.failed is None


Results = dict[str, dict[str, Cell]]  # workload -> contender -> cell


def why_not(key: str, cell: Cell) -> str | None:
    """The text of a cell with no figures, or None."""
    if cell.na is not None:
        return f"n/a: {cell.na}"
    if cell.failed is not None:
        return f"FAILED: {cell.failed}" if key in SHOAL else f"n/a: failed: {cell.failed}"
    return None


def print_workload(name: str, title: str, events: int, cells: dict[str, Cell]) -> None:
    """The figures of one workload, a line per contender."""
    rounds = max((len(c.runs) for c in cells.values()), default=0)
    print(f"\n{name}: {title}")
    print(f"  {events:,} input events, median of {rounds} round(s)")
    print(f"  {'contender':<31}{'events/s':>10}{'after join':>12}{'CPU s':>8}{'(total)':>9}"
          f"{'RSS MB':>8}{'outputs':>10}{'shoal x':>9}  check")
    base = cells.get(BASE)
    for key, cell in cells.items():
        label = CONTENDERS[key].label
        if (text := why_not(key, cell)) is not None:
            print(f"  {label:<31}{text}")
            continue
        rate, active = cell.rate(events), cell.rate(events, "active")
        ratio = (f"{base.rate(events) / rate:9.2f}" if base is not None and base.usable
                 else f"{'-':>9}")
        check = "ok" if cell.mismatch is None else f"!!! MISMATCH !!! {cell.mismatch}"
        print(f"  {label:<31}{rate:>10,.0f}{active:>12,.0f}{cell.median('cpu'):>8.2f}"
              f"{cell.median('cpu_total'):>9.2f}{cell.median('rss_mb'):>8.0f}"
              f"{int(cell.median('outputs')):>10,}{ratio}  {check}")


def table_cell(key: str, cell: Cell, events: int, base: Cell | None) -> str:
    """One cell of the final table."""
    if (text := why_not(key, cell)) is not None:
        return text
    rate, active = cell.rate(events), cell.rate(events, "active")
    parts = [f"{rate / 1000:.1f}k ev/s", f"{cell.median('cpu'):.2f} CPU s",
             f"{cell.median('rss_mb'):.0f} MB"]
    if CONTENDERS[key].runs_on == KAFKA:
        parts[0] += f" ({active / 1000:.1f}k after join)"
    if base is not None and base.usable and key != BASE:
        parts.append(f"Shoal x{base.rate(events) / rate:.2f}")
    if cell.mismatch is not None:
        parts.insert(0, "**MISMATCH**")
    return " · ".join(parts)


def print_table(results: Results, events: dict[str, int], keys: list[str]) -> None:
    """The final markdown table: a row per workload, a column per contender."""
    print("\n| workload | " + " | ".join(CONTENDERS[k].label for k in keys) + " |")
    print("|---" * (len(keys) + 1) + "|")
    for name, cells in results.items():
        row = [table_cell(k, cells[k], events[name], cells.get(BASE)) for k in keys]
        print(f"| {name} | " + " | ".join(row) + " |")


def status(results: Results) -> int:
    """1 on any mismatch or on a failure of Shoal or the hand-written loop, else 0."""
    for cells in results.values():
        for key, cell in cells.items():
            if cell.mismatch is not None or (key in SHOAL and cell.failed is not None):
                return 1
    return 0
