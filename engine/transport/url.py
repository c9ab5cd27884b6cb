"""Broker URLs: where a command's log lives."""

from __future__ import annotations

import os
from urllib.parse import urlparse

from engine.api import ConfigError
from engine.transport.base import Transport
from engine.transport.embedded import EmbeddedLog

DEFAULT_DATA_DIR = ".shoal"


def data_dir(explicit: str | None) -> str:
    """--data-dir, else $SHOAL_DATA_DIR, else ./.shoal."""
    return explicit or os.environ.get("SHOAL_DATA_DIR") or DEFAULT_DATA_DIR


def open_transport(broker: str | None, data_dir_path: str, read_only: bool = False) -> Transport:
    """The log a command uses: the embedded one unless --broker names another."""
    if broker is None or broker in ("embedded", "embedded://"):
        return EmbeddedLog(data_dir_path, read_only=read_only)
    try:
        parsed = urlparse(broker)
        parsed.port  # noqa: B018 (validates the port)
    except ValueError:
        raise ConfigError(f"bad broker URL '{broker}': expected kafka://HOST:PORT") from None
    if parsed.scheme == "kafka":
        if not parsed.hostname or not parsed.port:
            raise ConfigError(f"bad broker URL '{broker}': expected kafka://HOST:PORT")
        from engine.transport.kafka import KafkaTransport
        from engine.transport.kafka_config import KafkaSettings

        return KafkaTransport(f"{parsed.hostname}:{parsed.port}", KafkaSettings.load())
    raise ConfigError(f"bad broker URL '{broker}': expected 'embedded' or kafka://HOST:PORT")
