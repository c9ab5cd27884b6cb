"""Record keys on the wire: how a key value becomes bytes, and how key bytes read back.

Stores, partitioning and joins compare key bytes, so a key must be written exactly as the
producers of the other side write it. `key_type=` (on streams, tables, global tables and
key_by) names the encoding; the typed ones are the bytes of the Java serializers:

    "json" (default)   bytes as they are, str as UTF-8, anything else as compact JSON
    "string" / str     UTF-8 (StringSerializer)
    "bytes" / bytes    the bytes as they are (ByteArraySerializer)
    "int" / int        4-byte big-endian two's complement (IntegerSerializer)
    "long"             8-byte big-endian two's complement (LongSerializer)

Typed int keys also accept their decimal text (a key typed in a URL or on the command line).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import msgspec

KEY_TYPES = ("json", "string", "bytes", "int", "long")
KeySpec = str | type | None
_WIDTH = {"int": 4, "long": 8}
_PYTHON: dict[object, str] = {int: "int", str: "string", bytes: "bytes"}
_json = msgspec.json.Encoder().encode


# How a producer placed keys in partitions (`partitioner=` on a stream or table):
# "murmur2" (Kafka's Java client and Shoal), "crc32" (librdkafka's default, consistent_random)
# or "any" (not by key: null keys, or an unknown producer; every record is repartitioned).
PARTITIONERS = ("murmur2", "crc32", "any")
_PLACEMENT_ALIASES = {"murmur2_random": "murmur2", "consistent": "crc32",
                      "consistent_random": "crc32", "random": "any"}


def partitioner_name(spec: str | None) -> str:
    """The partitioner named by `spec` (None: murmur2); librdkafka's names are accepted."""
    named = _PLACEMENT_ALIASES.get(spec or "murmur2", spec or "murmur2")
    if named not in PARTITIONERS:
        raise ValueError(f"partitioner must be one of {PARTITIONERS} (or librdkafka's "
                         f"murmur2_random, consistent_random, consistent, random), got {spec!r}")
    return named


def key_type_name(spec: KeySpec) -> str:
    """The name of a key type given as a name, `int`, `str`, `bytes` or None (json)."""
    named = "json" if spec is None else _PYTHON.get(spec, spec)
    if not isinstance(named, str) or named not in KEY_TYPES:
        raise ValueError(f"key_type must be one of {KEY_TYPES} (or int, str, bytes), "
                         f"got {spec!r}")
    return named


def json_key(key: object) -> bytes | None:
    """The default encoding: bytes as is, str as UTF-8, anything else as compact JSON."""
    if key is None:
        return None
    if isinstance(key, bytes):
        return key
    if isinstance(key, str):
        return key.encode()
    if isinstance(key, bytearray | memoryview):
        return bytes(key)
    return _json(key)


@functools.cache
def key_encoder(name: str) -> Callable[[Any], bytes | None]:
    """The function writing keys of key type `name` (None stays None); one per type, so
    callers on a hot path (a global table's rows, lookups) need not keep it."""
    if name == "json":
        return json_key
    if name == "string":
        return _string
    if name == "bytes":
        return _bytes
    width = _WIDTH[name]

    def encode(key: Any) -> bytes | None:
        if key is None:
            return None
        number = int(key) if isinstance(key, str) else key
        if number.__class__ is not int:
            raise TypeError(f"a key of key_type '{name}' must be an int, got "
                            f"{type(key).__name__} {key!r}")
        try:
            return int.to_bytes(number, width, "big", signed=True)
        except OverflowError:
            raise ValueError(f"key {number} does not fit key_type '{name}' "
                             f"({width} bytes)") from None

    return encode


@functools.cache
def key_reader(name: str) -> Callable[[bytes | None], str | None]:
    """The function giving a key of key type `name` as text (for results and queries)."""
    if name not in _WIDTH:
        return _text
    width = _WIDTH[name]

    def read(key: bytes | None) -> str | None:
        if key is None:
            return None
        if len(key) != width:
            return _text(key)
        return str(int.from_bytes(key, "big", signed=True))

    return read


def _string(key: Any) -> bytes | None:
    if key is None:
        return None
    if not isinstance(key, str):
        raise TypeError(f"a key of key_type 'string' must be a str, got {type(key).__name__}")
    return key.encode()


def _bytes(key: Any) -> bytes | None:
    if key is None or isinstance(key, bytes):
        return key if key is None else bytes(key)
    if isinstance(key, bytearray | memoryview):
        return bytes(key)
    if isinstance(key, str):  # as typed in a URL or on the command line
        return key.encode()
    raise TypeError(f"a key of key_type 'bytes' must be bytes, got {type(key).__name__}")


def _text(key: bytes | None) -> str | None:
    return None if key is None else key.decode("utf-8", "replace")
