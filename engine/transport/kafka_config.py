"""Kafka client settings: TLS, SASL, client id, group timeouts and tuning.

Read from a TOML file (`$SHOAL_KAFKA_CONFIG`, its `[kafka]` table or the whole file) and
then from `SHOAL_KAFKA_<NAME>` environment variables, which win; checked by msgspec, so a
misspelt key or a non-number is one clear error. Every aiokafka client the transport
starts takes its arguments from here.

    # shoal-kafka.toml                         # or, in the environment:
    [kafka]                                    # SHOAL_KAFKA_SECURITY_PROTOCOL=SASL_SSL
    security_protocol = "SASL_SSL"             # SHOAL_KAFKA_SASL_MECHANISM=SCRAM-SHA-512
    sasl_mechanism = "SCRAM-SHA-512"           # SHOAL_KAFKA_SESSION_TIMEOUT_MS=10000
    sasl_plain_username = "shoal"
    sasl_plain_password = "secret"
    ssl_cafile = "/etc/kafka/ca.pem"
    client_id = "shop-worker-1"
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import msgspec
from aiokafka.helpers import create_ssl_context

from engine.api import ConfigError

ENV_PREFIX = "SHOAL_KAFKA_"
CONFIG_ENV = "SHOAL_KAFKA_CONFIG"


class KafkaSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Client settings (names as aiokafka's arguments; defaults suit a local broker)."""

    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_plain_username: str | None = None
    sasl_plain_password: str | None = None
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    ssl_password: str | None = None
    client_id: str = "shoal"
    session_timeout_ms: int = 6_000
    heartbeat_interval_ms: int = 1_000
    max_poll_interval_ms: int = 300_000
    request_timeout_ms: int = 30_000
    connect_timeout_s: float = 10.0
    fetch_max_wait_ms: int = 100
    max_partition_fetch_bytes: int = 4 << 20
    linger_ms: int = 5
    max_batch_size: int = 1 << 20

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None) -> KafkaSettings:
        """The file named by $SHOAL_KAFKA_CONFIG (if any), then SHOAL_KAFKA_* variables."""
        env = os.environ if environ is None else environ
        found: dict[str, Any] = {}
        if env.get(CONFIG_ENV):
            found.update(_read_file(Path(env[CONFIG_ENV])))
        for name, value in env.items():
            if name.startswith(ENV_PREFIX) and name != CONFIG_ENV:
                found[name[len(ENV_PREFIX):].lower()] = value
        try:
            settings = msgspec.convert(found, cls, strict=False)
        except msgspec.ValidationError as exc:
            raise ConfigError(f"Kafka settings: {exc} (from ${CONFIG_ENV} or "
                              f"{ENV_PREFIX}* variables)") from None
        settings.check()
        return settings

    def check(self) -> None:
        """Settings that contradict each other are refused before connecting."""
        sasl = self.security_protocol.startswith("SASL")
        if sasl and (self.sasl_mechanism is None or self.sasl_plain_username is None
                     or self.sasl_plain_password is None):
            raise ConfigError(f"Kafka settings: security_protocol {self.security_protocol} "
                              "needs sasl_mechanism, sasl_plain_username and "
                              "sasl_plain_password")
        if self.heartbeat_interval_ms * 3 > self.session_timeout_ms:
            raise ConfigError("Kafka settings: heartbeat_interval_ms must be at most a third "
                              f"of session_timeout_ms ({self.session_timeout_ms})")

    def common(self, bootstrap: str) -> dict[str, Any]:
        """Arguments every aiokafka client takes: where, who, and how to connect."""
        out: dict[str, Any] = {"bootstrap_servers": bootstrap, "client_id": self.client_id,
                               "security_protocol": self.security_protocol}
        if self.security_protocol.startswith("SASL"):
            out.update(sasl_mechanism=self.sasl_mechanism,
                       sasl_plain_username=self.sasl_plain_username,
                       sasl_plain_password=self.sasl_plain_password)
        if self.security_protocol in ("SSL", "SASL_SSL"):
            out["ssl_context"] = self._ssl_context()
        return out

    def consumer(self, bootstrap: str) -> dict[str, Any]:
        """Arguments of a consumer (group timeouts and fetch sizes)."""
        return {**self.common(bootstrap), "enable_auto_commit": False,
                "session_timeout_ms": self.session_timeout_ms,
                "heartbeat_interval_ms": self.heartbeat_interval_ms,
                "max_poll_interval_ms": self.max_poll_interval_ms,
                "request_timeout_ms": self.request_timeout_ms,
                "fetch_max_wait_ms": self.fetch_max_wait_ms,
                "max_partition_fetch_bytes": self.max_partition_fetch_bytes}

    def reader(self, bootstrap: str) -> dict[str, Any]:
        """Arguments of a group-less consumer (short fetch waits: reads want answers)."""
        return {**self.consumer(bootstrap), "group_id": None, "fetch_max_wait_ms": 50}

    def producer(self, bootstrap: str) -> dict[str, Any]:
        """Arguments of the producer (acks from every replica, batching)."""
        return {**self.common(bootstrap), "acks": "all", "linger_ms": self.linger_ms,
                "max_batch_size": self.max_batch_size,
                "request_timeout_ms": self.request_timeout_ms}

    def admin(self, bootstrap: str) -> dict[str, Any]:
        """Arguments of the admin client."""
        return {**self.common(bootstrap), "request_timeout_ms": self.request_timeout_ms}

    def _ssl_context(self) -> Any:
        try:
            return create_ssl_context(cafile=self.ssl_cafile, certfile=self.ssl_certfile,
                                      keyfile=self.ssl_keyfile, password=self.ssl_password)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"Kafka settings: cannot load the TLS files: {exc}") from None


def _read_file(path: Path) -> dict[str, Any]:
    """The settings of a TOML file: its [kafka] table, else the whole file."""
    try:
        doc = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read ${CONFIG_ENV} file '{path}': {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"${CONFIG_ENV} file '{path}' is not TOML: {exc}") from None
    table = doc.get("kafka", doc)
    if not isinstance(table, dict):
        raise ConfigError(f"${CONFIG_ENV} file '{path}': [kafka] must be a table")
    return table
