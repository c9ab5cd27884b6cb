"""Input files for `shoal produce`: JSON lines read, keyed and timestamped."""

from __future__ import annotations

import sys
from typing import IO, Any

import msgspec

from engine.api import ConfigError, OutRecord
from engine.api.serde import key_to_bytes


def _lines(source: IO[bytes]) -> list[bytes]:
    return [line.rstrip(b"\r\n") for line in source if line.strip()]


def read_lines(file: str) -> list[bytes]:
    if file == "-":
        return _lines(sys.stdin.buffer)
    try:
        with open(file, "rb") as handle:
            return _lines(handle)
    except OSError as exc:
        raise ConfigError(f"cannot read '{file}': {exc.strerror}") from None


def _field(line: bytes, name: str | None) -> Any:
    """A top-level JSON field of `line` (None: no such field, or not a JSON object)."""
    if name is None:
        return None
    try:
        return msgspec.json.decode(line).get(name)
    except (msgspec.DecodeError, AttributeError, RecursionError):  # deeply nested: no field
        return None


def keyed_lines(lines: list[bytes], field: str | None, time_field: str | None,
           now: int) -> tuple[list[OutRecord], int]:
    """Records for `lines`: keyed by `field`, timestamped by `time_field` (epoch ms; a line
    without a usable time gets the previous line's, so it does not jump ahead in event-time
    order) or `now`; also the count of lines without the key field."""
    records: list[OutRecord] = []
    missing = 0
    previous: int | None = None
    for line in lines:
        key = key_to_bytes(_field(line, field))
        missing += field is not None and key is None
        ts = _field(line, time_field)
        if isinstance(ts, int | float) and not isinstance(ts, bool):
            previous = int(ts)
        records.append((key, line, now if previous is None else previous, None))
    return records, missing


def body_lines(body: bytes) -> list[bytes]:
    """Records of an HTTP body: a JSON array (each element a record) or JSON lines; a
    ValueError says what is wrong with it."""
    text = body.strip()
    if not text:
        raise ValueError("the body holds no records (send JSON lines or a JSON array)")
    if text.startswith(b"["):
        try:
            items = msgspec.json.decode(text)
        except (msgspec.DecodeError, RecursionError) as exc:
            raise ValueError(f"the body is not a JSON array: {exc}") from None
        return [msgspec.json.encode(item) for item in items]
    return [line.rstrip(b"\r") for line in text.split(b"\n") if line.strip()]
