"""Fixtures shared by unit and integration tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.transport import EmbeddedLog, MemoryLog
from engine.transport.local import LocalLog


@pytest.fixture(params=["memory", "embedded"])
def local_log(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LocalLog]:
    """Each single-process log implementation, for the shared contract tests."""
    log: LocalLog = MemoryLog() if request.param == "memory" else EmbeddedLog(tmp_path / "d")
    yield log
    if isinstance(log, EmbeddedLog):
        log.db.close()
