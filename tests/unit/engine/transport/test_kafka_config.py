"""Kafka settings: a TOML file and SHOAL_KAFKA_* variables become aiokafka's arguments;
mistakes are one ConfigError; every client accepts what it is given (constructed, not
connected); TLS files are really loaded."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from engine.api import ConfigError
from engine.transport.kafka import KafkaTransport
from engine.transport.kafka_config import KafkaSettings
from tests.helpers.shoal import shoal_argv, shoal_env

BOOTSTRAP = "127.0.0.1:9"


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate and its key (openssl), to load as CA and client cert."""
    where = tmp_path_factory.mktemp("tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-keyout", str(where / "key.pem"),
                    "-out", str(where / "cert.pem")], check=True, capture_output=True)
    return where / "cert.pem", where / "key.pem"


def test_defaults_without_file_or_variables() -> None:
    settings = KafkaSettings.load({})
    assert settings == KafkaSettings()
    assert settings.common(BOOTSTRAP) == {"bootstrap_servers": BOOTSTRAP, "client_id": "shoal",
                                          "security_protocol": "PLAINTEXT"}
    assert settings.consumer(BOOTSTRAP)["session_timeout_ms"] == 6_000


def test_file_then_variables(tmp_path: Path) -> None:
    config = tmp_path / "shoal.toml"
    config.write_text('[kafka]\nclient_id = "from-file"\nsession_timeout_ms = 9000\n'
                      'linger_ms = 20\n')
    settings = KafkaSettings.load({"SHOAL_KAFKA_CONFIG": str(config),
                                   "SHOAL_KAFKA_SESSION_TIMEOUT_MS": "3000",
                                   "SHOAL_KAFKA_HEARTBEAT_INTERVAL_MS": "500",
                                   "OTHER": "ignored"})
    assert (settings.client_id, settings.session_timeout_ms, settings.linger_ms) == (
        "from-file", 3000, 20)  # the variable wins over the file
    consumer = settings.consumer(BOOTSTRAP)
    assert (consumer["session_timeout_ms"], consumer["heartbeat_interval_ms"]) == (3000, 500)
    assert settings.producer(BOOTSTRAP)["linger_ms"] == 20
    assert KafkaTransport(BOOTSTRAP, settings).session_timeout_ms == 3000


def test_sasl_ssl_with_scram(cert: tuple[Path, Path]) -> None:
    settings = KafkaSettings.load({
        "SHOAL_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "SHOAL_KAFKA_SASL_MECHANISM":
        "SCRAM-SHA-512", "SHOAL_KAFKA_SASL_PLAIN_USERNAME": "shoal",
        "SHOAL_KAFKA_SASL_PLAIN_PASSWORD": "pw", "SHOAL_KAFKA_SSL_CAFILE": str(cert[0]),
        "SHOAL_KAFKA_SSL_CERTFILE": str(cert[0]), "SHOAL_KAFKA_SSL_KEYFILE": str(cert[1])})
    common = settings.common(BOOTSTRAP)
    assert (common["security_protocol"], common["sasl_mechanism"],
            common["sasl_plain_username"], common["sasl_plain_password"]) == (
        "SASL_SSL", "SCRAM-SHA-512", "shoal", "pw")
    context = common["ssl_context"]
    assert isinstance(context, ssl.SSLContext) and context.check_hostname
    assert any(c.get("subject") == ((("commonName", "localhost"),),)
               for c in context.get_ca_certs())  # the CA file was loaded


def test_every_client_accepts_its_arguments(cert: tuple[Path, Path]) -> None:
    """aiokafka's constructors check their arguments; built inside a loop, never started."""
    asyncio.run(_build_clients(cert))


async def _build_clients(cert: tuple[Path, Path]) -> None:
    settings = KafkaSettings(security_protocol="SASL_SSL", sasl_mechanism="PLAIN",
                             sasl_plain_username="u", sasl_plain_password="p",
                             ssl_cafile=str(cert[0]), client_id="w1")
    clients = [AIOKafkaConsumer(**settings.consumer(BOOTSTRAP), group_id="g"),
               AIOKafkaConsumer(**settings.reader(BOOTSTRAP)),
               AIOKafkaProducer(**settings.producer(BOOTSTRAP))]
    admin = AIOKafkaAdminClient(**settings.admin(BOOTSTRAP))  # a wrong name: TypeError
    await admin.close()
    for client in clients:
        await client.stop()


@pytest.mark.parametrize(("environ", "says"), [
    ({"SHOAL_KAFKA_SESSION_TIMEOUT_MS": "soon"}, "Expected `int`"),
    ({"SHOAL_KAFKA_SASL_MECHANISM": "GSSAPI"}, "sasl_mechanism"),
    ({"SHOAL_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT"}, "needs sasl_mechanism"),
    ({"SHOAL_KAFKA_SECURITY_PROTOCOL": "SSL", "SHOAL_KAFKA_SSL_CAFILE": "/nope.pem"}, None),
    ({"SHOAL_KAFKA_SESSION_TIMEOUT_MS": "2000"}, "a third of session_timeout_ms"),
    ({"SHOAL_KAFKA_BOOTSTRAP": "x"}, "unknown field `bootstrap`"),
    ({"SHOAL_KAFKA_CONFIG": "/nope.toml"}, "cannot read"),
])
def test_mistakes_are_one_clear_error(environ: dict[str, str], says: str | None) -> None:
    with pytest.raises(ConfigError) as raised:
        KafkaSettings.load(environ).common(BOOTSTRAP)
    assert says is None or says in str(raised.value), str(raised.value)
    assert str(raised.value).startswith(("Kafka settings", "cannot read"))


def test_a_file_that_is_not_toml(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("client_id = \n")
    with pytest.raises(ConfigError, match="is not TOML"):
        KafkaSettings.load({"SHOAL_KAFKA_CONFIG": str(bad)})


def test_the_cli_says_what_is_wrong_before_connecting() -> None:
    done = subprocess.run([*shoal_argv(), "topics", "--broker", "kafka://127.0.0.1:9"],
                          env={**shoal_env(), "SHOAL_KAFKA_SASL_MECHANISM": "GSSAPI"},
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("error: Kafka settings:") and "GSSAPI" not in done.stdout
