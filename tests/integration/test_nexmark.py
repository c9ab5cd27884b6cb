"""Every Nexmark query (apps/nexmark/queries.py) at 100,000 generated events equals the
DuckDB reference over the same events (apps/nexmark/reference.py), each on its own embedded
log, run to the end of its input; the partition count differs from query to query (1 to 4),
and the answer must not depend on it."""

from __future__ import annotations

from pathlib import Path

import pytest

from apps.nexmark.queries import QUERIES
from apps.nexmark.reference import QUERIES as REFERENCED
from benchmarks.nexmark import events_dir, run_query

EVENTS = 100_000


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return events_dir(tmp_path_factory.mktemp("nexmark"), EVENTS, 42)


def test_every_referenced_query_is_written() -> None:
    assert sorted(QUERIES) == sorted(REFERENCED)


@pytest.mark.parametrize("name", list(QUERIES))
def test_query_equals_the_duckdb_reference(name: str, events: Path, tmp_path: Path) -> None:
    partitions = 1 + list(QUERIES).index(name) % 4
    result = run_query(QUERIES[name], events, partitions, tmp_path, EVENTS)
    assert result.rows > 0, "the query has rows to compare"
    assert result.equal, f"{name}: {result.rows:,} rows, {result.reference_rows:,} expected"
