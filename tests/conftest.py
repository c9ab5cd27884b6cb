"""Fixtures shared by unit and integration tests."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.transport import EmbeddedLog, MemoryLog
from engine.transport.local import LocalLog
from tests.helpers.transports import LogFactory
from tests.kafka_broker import Broker, tansu


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """A Tansu broker for the whole session. It must start: a failure fails the Kafka tests,
    unless SHOAL_SKIP_KAFKA=1 says to skip them."""
    if os.environ.get("SHOAL_SKIP_KAFKA") == "1":
        pytest.skip("SHOAL_SKIP_KAFKA=1: Kafka tests skipped on request")
    with tansu(tmp_path_factory.mktemp("tansu") / "tansu.log") as broker:
        yield broker


@pytest.fixture(params=["memory", "embedded", "kafka"])
def make_log(request: pytest.FixtureRequest, tmp_path: Path) -> LogFactory:
    """A factory for every transport, for the shared contract tests."""
    if request.param == "kafka":
        broker = request.getfixturevalue("kafka_broker")
        return LogFactory("kafka", tmp_path, broker, f"t{uuid.uuid4().hex[:8]}-")
    return LogFactory(request.param, tmp_path)


@pytest.fixture(params=["memory", "embedded"])
def local_log(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LocalLog]:
    """Each single-process log implementation, for the shared contract tests."""
    log: LocalLog = MemoryLog() if request.param == "memory" else EmbeddedLog(tmp_path / "d")
    yield log
    if isinstance(log, EmbeddedLog):
        log.db.close()
