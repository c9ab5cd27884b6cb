"""Making transports for the contract tests (the `make_log` fixture of tests/conftest.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.transport import EmbeddedLog, MemoryLog
from engine.transport.kafka import KafkaTransport
from tests.kafka_broker import Broker


@dataclass
class LogFactory:
    """Makes one transport of a kind inside the running event loop, with a name prefix so
    tests sharing one broker never see each other's topics or groups."""

    kind: str
    tmp: Path
    broker: Broker | None = None
    prefix: str = ""

    def __call__(self) -> Any:
        if self.kind == "kafka":
            assert self.broker is not None
            return KafkaTransport(self.broker.bootstrap)
        return MemoryLog() if self.kind == "memory" else EmbeddedLog(self.tmp / "d")
