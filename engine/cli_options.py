"""What the `shoal` subcommands share: --help examples, the log and placement options,
loading an app, and running a body on an opened log."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import click

from engine.api import ConfigError, TransportError
from engine.dsl import Pipeline
from engine.loader import load_pipeline
from engine.transport import Transport, data_dir, open_transport

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


def examples(*lines: str) -> str:
    """A command's --help epilog: example command lines, kept as written (click's \\b)."""
    return "Examples:\n\n\b\n" + "\n".join(f"  {line}" for line in lines)


def log_options(fn: F) -> F:
    """--data-dir and --broker, shared by every command that touches a log."""
    fn = click.option("--broker", default=None, metavar="URL",
                      help="'embedded' (default) or kafka://HOST:PORT")(fn)
    return click.option("--data-dir", default=None, metavar="DIR",
                        help="embedded log directory (default $SHOAL_DATA_DIR or ./.shoal)")(fn)


def _placements(ctx: click.Context, param: click.Parameter,
                value: tuple[str, ...]) -> dict[str, str]:
    """TOPIC=NAME pairs of --partitioner, as a dict."""
    pairs = [v.partition("=") for v in value]
    bad = [v for v, (topic, eq, name) in zip(value, pairs, strict=True)
           if not (topic and eq and name)]
    if bad:
        raise click.BadParameter(f"{bad[0]!r}: expected TOPIC=PARTITIONER, e.g. buys=crc32")
    return {topic: name for topic, _, name in pairs}


def placement_option(fn: F) -> F:
    """--partitioner TOPIC=NAME: how an input's producer placed its keys."""
    return click.option(
        "--partitioner", "partitioners", multiple=True, callback=_placements,
        metavar="TOPIC=NAME",
        help="how TOPIC's producer placed keys: murmur2 (Java client, default), crc32 "
             "(librdkafka's default) or any (repartition every record); repeatable")(fn)


def load_app(app: str, partitioners: dict[str, str]) -> Pipeline:
    """The pipeline of APP, with the inputs' partitioners given on the command line."""
    pipeline = load_pipeline(app)
    try:
        pipeline.place(partitioners)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return pipeline


async def with_log(broker: str | None, directory: str | None, read_only: bool,
                    body: Callable[[Transport], Coroutine[Any, Any, T]]) -> T:
    log = open_transport(broker, data_dir(directory), read_only=read_only)
    try:
        result = await body(log)
    except BaseException:
        with contextlib.suppress(TransportError):  # the first error is the one to tell
            await log.close()
        raise
    await log.close()
    return result
