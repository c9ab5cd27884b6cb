"""Key and value (de)serialisation: msgspec JSON for values, a fixed rule for keys."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any

import msgspec

Schema = type[Any] | None

_json_encode = msgspec.json.Encoder().encode


def key_to_bytes(key: object) -> bytes | None:
    """Wire form of a key: bytes as is, str as UTF-8, anything else as compact JSON."""
    if key is None or key.__class__ is bytes:
        return key
    if isinstance(key, str):
        return key.encode()
    if isinstance(key, bytes | bytearray | memoryview):
        return bytes(key)
    return _json_encode(key)


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


def internal_encoder() -> Callable[[Any], bytes]:
    """Encoder for internal (repartition) topics: keeps Python types such as Structs intact."""
    protocol = pickle.HIGHEST_PROTOCOL
    return lambda value: pickle.dumps(value, protocol)


def internal_decoder() -> Callable[[bytes], Any]:
    """Decoder for internal topics; they are written only by this pipeline's own tasks."""
    return pickle.loads
