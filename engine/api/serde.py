"""Key and value (de)serialisation: msgspec JSON for values, a fixed rule for keys."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from engine.api.keys import json_key

Schema = type[Any] | None

_json_encode = msgspec.json.Encoder().encode


key_to_bytes = json_key  # the default key encoding (engine/api/keys.py)


def key_from_bytes(key: bytes | None) -> str | None:
    """Readable form of a wire key (UTF-8, with replacement for binary keys)."""
    return None if key is None else key.decode("utf-8", "replace")


def is_struct_schema(schema: Schema) -> bool:
    """True when values decode into msgspec Structs (attribute access)."""
    return isinstance(schema, type) and issubclass(schema, msgspec.Struct)


def value_decoder(schema: Schema) -> Callable[[bytes], Any]:
    """Decoder for a stream's values: a msgspec Struct, dict, or untyped JSON."""
    if schema is None or schema is Any:
        return msgspec.json.Decoder().decode
    if schema is bytes:
        return bytes
    if schema is str:
        return lambda raw: raw.decode()
    return msgspec.json.Decoder(schema).decode


def value_encoder() -> Callable[[Any], bytes | None]:
    """Encoder used at sinks: JSON for structs, dicts, lists and scalars; bytes pass through;
    None becomes a null value (a tombstone)."""
    enc = msgspec.json.Encoder().encode

    def encode(value: Any) -> bytes | None:
        if value.__class__ is bytes:
            return value
        if value is None:
            return None  # a tombstone: deletes the key downstream
        return enc(value)

    return encode


def coerce_timestamp(value: object) -> int:
    """Event time in epoch milliseconds from an int or float field."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"event time must be epoch milliseconds (int), got {value!r}")
    return int(value)
