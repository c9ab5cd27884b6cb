"""`shoal query`: a table of an app as JSON lines, from its running job's HTTP API, from the
embedded log, or (--broker) from the Kafka changelogs as of the group's last commits."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import click
import msgspec

from engine.api import ConfigError
from engine.cli_options import examples, load_app, placement_option, with_log
from engine.dsl import Pipeline
from engine.job import changelog_backends
from engine.planner import plan as compile_plan
from engine.query import View, table_views, unknown_table
from engine.serve import query_via_server
from engine.transport import Transport
from engine.transport import data_dir as data_dir_of


@click.command(epilog=examples(
    "shoal query apps/shop_tables.py inventory sku-007 --data-dir .shoal/demo",
    "shoal query apps/shop_tables.py inventory --limit 5 --data-dir .shoal/demo",
    "shoal query apps/shop_tables.py inventory --broker kafka://127.0.0.1:9092"))
@click.argument("app")
@click.argument("table")
@click.argument("key", required=False)
@click.option("--prefix", default=None, help="only keys starting with this")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="at most N rows")
@click.option("--data-dir", default=None, metavar="DIR", help="embedded log directory")
@click.option("--broker", default=None, metavar="URL",
              help="kafka://HOST:PORT: read the tables from their changelogs (every "
                   "partition, as of the last commits)")
@placement_option
def query(app: str, table: str, key: str | None, prefix: str | None, limit: int | None,
          data_dir: str | None, broker: str | None, partitioners: dict[str, str]) -> None:
    """Print TABLE of APP as JSON lines: one KEY, or all rows (from the committed state)."""
    from engine.app import App

    pipeline = load_app(app, partitioners)
    if broker not in (None, "embedded", "embedded://"):
        view = asyncio.run(with_log(broker, data_dir, True, _kafka_view(pipeline, table)))
        rows = _rows(view, table, key, prefix, limit)
    else:
        served = query_via_server(data_dir_of(data_dir), pipeline.name, table, key, prefix,
                                  limit)
        if served is not None:
            rows = served
        else:
            with App(pipeline, data_dir, read_only=True) as opened:
                rows = _rows(opened.table(table), table, key, prefix, limit)
    for row in rows:
        click.echo(msgspec.json.encode(row).decode())


def _kafka_view(pipeline: Pipeline, table: str
                ) -> Callable[[Transport], Coroutine[Any, Any, View]]:
    """The body reading `table` from the changelogs on an opened Kafka transport."""
    async def body(log: Transport) -> View:
        counts = await log.topics()
        physical = compile_plan(pipeline, counts)
        views = table_views(physical, counts, await changelog_backends(physical, log, counts))
        if table not in views:
            raise unknown_table(table, views)
        return views[table]
    return body


def _rows(view: Any, table: str, key: str | None, prefix: str | None, limit: int | None
          ) -> list[Any]:
    """The rows to print: KEY's value (or its windows), else every row."""
    typed = _key_typer(view)
    if key is not None and view.windowed:
        return [{"key": typed(key), "window": w} for w in view.windows(key)]
    if key is not None:
        value = view.get(key)
        if value is None:
            raise ConfigError(f"no key '{key}' in table '{table}'")
        return [{"key": typed(key), "value": value}]
    return [{"key": typed(k), "value": v} for k, v in view.items(prefix=prefix, limit=limit)]


def _key_typer(view: Any) -> Callable[[Any], Any]:
    """Keys as the table types them: int for int and long keys, text otherwise."""
    kind = getattr(getattr(view, "node", None), "key_type", None) or getattr(
        view, "key_type", "json")
    return (lambda k: int(k) if k is not None else None) if kind in ("int", "long") \
        else (lambda k: k)
