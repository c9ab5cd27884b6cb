"""Argument checks the DSL calls share, and the default joiner: so that a mistake is
reported at the line that made it."""

from __future__ import annotations

import re
from typing import Any

_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
_NAME = re.compile(r"^[A-Za-z0-9._-]{1,200}$")


def check_topic(topic: object) -> str:
    """A legal Kafka topic name, or a ValueError saying why not."""
    if not isinstance(topic, str) or not _TOPIC.match(topic) or topic in (".", ".."):
        raise ValueError(f"invalid topic name {topic!r}: use 1-249 of [A-Za-z0-9._-]")
    return topic


def pair(left: Any, right: Any) -> tuple[Any, Any]:
    """The default joiner: both sides as a tuple."""
    return (left, right)


def check_fn(fn: object, call: str) -> None:
    """A TypeError unless `fn` is callable."""
    if not callable(fn):
        raise TypeError(f"{call}() expects a callable, got {type(fn).__name__}")


def check_name(name: object, call: str, required: bool) -> None:
    """A ValueError unless `name` is a legal node name (or None where not required)."""
    if name is None and not required:
        return
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(
            f"{call}() needs a stable name= of [A-Za-z0-9._-] (stores and internal topics "
            f"derive from it), got {name!r}"
        )
