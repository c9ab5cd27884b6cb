"""How a pipeline's values cross process boundaries and go to disk, without pickle.

Internal topics (repartitions, foreign-key messages), changelogs and stores hold a value as
the msgpack array `[type, value]`: `value` is plain msgpack, `type` a short signature of the
Python shape to rebuild, so that any msgpack reader can read the data and Shoal decodes it
into exactly the types it was built from, and no others:

    ""            (the whole value) plain data: None, bool, int, float, str, bytes, and
                  lists and dicts of it
    "_"           (an item) plain data
    "N:name"      a declared class (a msgspec Struct or a dataclass), by its declared name
    "T(a,b,..)"   a tuple whose items have signatures a, b, ... ("T()": empty)
    "A(a,b,..)"   a list whose items have different signatures
    "L(a)"        a list whose items all have signature a
    "D(a)"        a dict whose values all have signature a
    "E(a,b,..)"   a dict whose values have different signatures, in the dict's order
    "W(a)"        a window result whose value has signature a
    "I"           an int beyond 64 bits, written as its decimal string

A class is decodable only when the pipeline declared it: the `value=` schema of a source or
global table, a `Pipeline(types=[...])` entry, or the return annotation of a function given
to the DSL. Decoding never imports, calls or builds anything else, so a record forged into an
internal topic or a changelog fails to decode (and is dead-lettered) instead of running code.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any, TypeGuard

import msgspec

from engine.api.processor import WindowResult

_PLAIN = frozenset({type(None), bool, int, float, str, bytes})
_SHORT = 8  # lists and tuples up to this long have their signatures kept by shape
_Envelope = tuple[str, msgspec.Raw]


class CodecError(TypeError):
    """A value the codec cannot write, or bytes it will not read."""


def declarable(cls: object) -> TypeGuard[type]:
    """True for the classes a pipeline can declare: msgspec Structs and dataclasses."""
    return isinstance(cls, type) and (issubclass(cls, msgspec.Struct)
                                      or dataclasses.is_dataclass(cls))


def type_name(cls: type) -> str:
    """The name a declared class travels under."""
    return f"{cls.__module__}.{cls.__qualname__}"


class Codec:
    """Encodes and decodes one pipeline's values (see the module docstring)."""

    def __init__(self, types: Iterable[type] = ()) -> None:
        self.types: dict[str, type] = {}
        self._sigs: dict[type, str] = {}
        self._shapes: dict[tuple[Any, ...], str] = {}  # see _remember
        self._decoders: dict[str, Callable[[msgspec.Raw], Any]] = {}
        for cls in types:
            self.declare(cls)
        self._encode = msgspec.msgpack.Encoder().encode
        self._envelope = msgspec.msgpack.Decoder(_Envelope).decode
        self._plain = msgspec.msgpack.Decoder().decode

    def declare(self, cls: type) -> None:
        """Make `cls` (a Struct or dataclass) encodable and decodable."""
        if not declarable(cls):
            raise CodecError(f"{cls!r} is not a msgspec Struct or a dataclass")
        if cls is WindowResult:  # built in, with a typed value: signature "W(a)"
            return
        name = type_name(cls)
        self.types[name] = cls
        self._sigs[cls] = "N:" + name

    def encode(self, value: Any) -> bytes:
        """`value` as msgpack [signature, value]."""
        sig = self._sig(value)
        try:
            return self._encode(("" if sig == "_" else sig, value))
        except OverflowError:  # an int beyond 64 bits: rare, so checked only now
            sig, value = _widened(value)
            return self._encode((sig, value))
        except TypeError as exc:
            raise CodecError(f"cannot encode {type_name(value.__class__)}: {exc}") from None

    def decode(self, raw: bytes) -> Any:
        """The value `raw` encodes, in the types it was written from (declared ones only)."""
        try:
            sig, body = self._envelope(raw)
            if not sig:
                return self._plain(body)
            decode = self._decoders.get(sig)
            if decode is None:
                decode = self._decoder(sig)
            return decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
            raise CodecError(f"not a value this pipeline wrote: {exc}") from None

    def _decoder(self, sig: str) -> Callable[[msgspec.Raw], Any]:
        """A decoder for the values of signature `sig` (kept: a pipeline has few shapes;
        a flood of forged ones only refills the cache)."""
        end, tree = _parse(sig, 0, self._lookup)
        if end != len(sig):
            raise CodecError(f"malformed type signature {sig!r}")
        decode = msgspec.msgpack.Decoder(_type(tree)).decode
        fix = _fixer(tree)
        found: Callable[[msgspec.Raw], Any] = decode if fix is None else (
            lambda body: fix(decode(body)))
        if len(self._decoders) > 4096:
            self._decoders.clear()
        self._decoders[sig] = found
        return found

    def _lookup(self, name: str) -> type:
        cls = self.types.get(name)
        if cls is None:
            raise CodecError(f"type '{name}' is not declared by this pipeline")
        return cls

    def _sig(self, value: Any) -> str:
        """The signature of `value` as an item ("_" when plain)."""
        cls = value.__class__
        if cls in _PLAIN:
            return "_"
        sig = self._sigs.get(cls)
        if sig is not None:
            return sig
        if cls is tuple or cls is list:
            if len(value) > _SHORT:
                return self._sequence(cls, value)
            shape = _shape(cls, value)
            sig = self._shapes.get(shape)
            if sig:
                return sig
            return self._sequence(cls, value) if sig == "" else self._remember(shape, value)
        if cls is WindowResult:
            return "W(" + self._sig(value.value) + ")"
        if cls is dict:
            return _many("D", "E", [
                "_" if item.__class__ in _PLAIN else self._sig(item) for item in value.values()])
        raise CodecError(
            f"a value of type {type_name(cls)} cannot be stored or sent between tasks: "
            "declare it with Pipeline(types=[...]) (a msgspec Struct or a dataclass), or "
            "annotate the function that returns it")


    def _sequence(self, cls: type, value: list[Any] | tuple[Any, ...]) -> str:
        """The signature of a list or tuple, from its items'."""
        sigs = ["_" if item.__class__ in _PLAIN else self._sig(item) for item in value]
        return "T(" + ",".join(sigs) + ")" if cls is tuple else _many("L", "A", sigs)

    def _remember(self, shape: tuple[Any, ...], value: list[Any] | tuple[Any, ...]) -> str:
        """The signature of a short list or tuple, kept for its `shape` when that decides
        it (every class in it plain or declared): a store writes the same shapes (a join's
        buffer, an aggregate's tuple) again and again. "" marks a shape that does not."""
        sig = self._sequence(shape[0], value)
        if len(self._shapes) >= 4096:  # bounded, as the decoders
            self._shapes.clear()
        decided = all(self._decided(part) for part in shape[1:])
        self._shapes[shape] = sig if decided else ""
        return sig

    def _decided(self, part: Any) -> bool:
        """True when an item of this shape part (a class, or a short sequence's shape) has
        one signature."""
        if part.__class__ is tuple:
            return all(self._decided(cls) for cls in part[1:])
        return part in _PLAIN or part in self._sigs


def _shape(cls: type, value: list[Any] | tuple[Any, ...]) -> tuple[Any, ...]:
    """A short list's or tuple's classes, two levels deep: its class, then per item the
    item's class, or for a short list or tuple (class, its items' classes)."""
    return (cls, *[(kind, *map(type, item)) if (
        (kind := type(item)) is list or kind is tuple) and len(item) <= _SHORT else kind
        for item in value])


def _many(same: str, mixed: str, sigs: list[str]) -> str:
    """The signature of a list (or a dict's values) from its items' signatures."""
    if not sigs:
        return "_"
    first = sigs[0]
    if sigs.count(first) == len(sigs):
        return "_" if first == "_" else f"{same}({first})"
    return f"{mixed}(" + ",".join(sigs) + ")"


Tree = tuple[str, Any]  # (kind, declared class | child tree | child trees)


def _widened(value: Any) -> tuple[str, Any]:
    """`value` with its ints beyond 64 bits as strings (signature "I"), inside plain data,
    tuples, lists and dicts ("" when it stays plain); CodecError for anything else."""
    cls = value.__class__
    if cls is int and not -(1 << 63) <= value < (1 << 64):
        return "I", str(value)
    if cls in _PLAIN:
        return "", value
    if cls in (tuple, list, dict):
        pairs = [_widened(item) for item in (value.values() if cls is dict else value)]
        if cls is not tuple and all(not sig for sig, _ in pairs):
            return "", value
        sigs = ",".join(sig or "_" for sig, _ in pairs)
        if cls is dict:
            return f"E({sigs})", dict(zip(value, [v for _, v in pairs], strict=True))
        return ("T" if cls is tuple else "A") + f"({sigs})", [v for _, v in pairs]
    raise CodecError(f"an int inside a {type_name(cls)} does not fit in 64 bits")


def _parse(sig: str, at: int, lookup: Callable[[str], type]) -> tuple[int, Tree]:
    """The tree of the signature starting at `at`, and where it ends."""
    if sig.startswith("_", at):
        return at + 1, ("_", None)
    if sig.startswith("I", at):
        return at + 1, ("I", None)
    if sig.startswith("N:", at):
        ends = [i for i in (sig.find(",", at), sig.find(")", at)) if i >= 0]
        end = min(ends, default=len(sig))
        return end, ("N", lookup(sig[at + 2:end]))
    kind = sig[at:at + 2]
    if kind not in ("T(", "A(", "L(", "D(", "E(", "W("):
        raise CodecError(f"malformed type signature {sig!r}")
    items: list[Tree] = []
    at += 2
    while not sig.startswith(")", at):
        at, item = _parse(sig, at, lookup)
        items.append(item)
        if sig.startswith(",", at):
            at += 1
        elif not sig.startswith(")", at):
            raise CodecError(f"malformed type signature {sig!r}")
    if kind in ("L(", "D(", "W(") and len(items) != 1:
        raise CodecError(f"malformed type signature {sig!r}")
    return at + 1, (kind[0], items if kind in ("T(", "A(", "E(") else items[0])


def _type(tree: Tree) -> Any:
    """The type msgspec decodes a tree's values into (lists of mixed items as tuples)."""
    kind, inner = tree
    if kind == "_":
        return Any
    if kind == "I":
        return str
    if kind == "N":
        return inner
    if kind == "L":
        return list.__class_getitem__(_type(inner))
    if kind == "D":
        return dict.__class_getitem__((Any, _type(inner)))
    if kind == "E":
        return dict
    if kind == "W":
        return _window_result(_type(inner))
    return tuple.__class_getitem__(tuple(_type(item) for item in inner) or ())


def _window_result(value: Any) -> type:
    """A Struct like WindowResult whose value field has the type `value` (decoded into it,
    then turned into a WindowResult by the fixer)."""
    return msgspec.defstruct("TypedWindowResult", [
        ("key", str | None), ("start", int), ("end", int), ("value", value)], frozen=True)


Fix = Callable[[Any], Any]


def _positional(trees: list[Tree]) -> Fix:
    """Rebuilds the values of a dict decoded as plain data, each in its own types."""
    steps = [(_type(tree), _fixer(tree)) for tree in trees]

    def fix(value: dict[Any, Any]) -> dict[Any, Any]:
        if len(value) != len(steps):
            raise CodecError("a dict's values do not match its signature")
        out = {}
        for (key, item), (kind, child) in zip(value.items(), steps, strict=True):
            item = msgspec.convert(item, kind)
            out[key] = item if child is None else child(item)
        return out

    return fix


def _fixer(tree: Tree) -> Fix | None:
    """What turns the decoded tuples of mixed lists ("A") back into lists; None when the
    tree has none."""
    kind, inner = tree
    if kind == "I":
        return int
    if kind in ("_", "N"):
        return None
    if kind == "E":
        return _positional(inner)
    if kind == "W":
        child = _fixer(inner)
        return lambda r: WindowResult(r.key, r.start, r.end,
                                      r.value if child is None else child(r.value))
    if kind in ("L", "D"):
        child = _fixer(inner)
        if child is None:
            return None
        if kind == "L":
            return lambda value: [child(item) for item in value]
        return lambda value: {k: child(item) for k, item in value.items()}
    fixes = [_fixer(item) for item in inner]
    if kind == "T" and not any(fixes):
        return None
    build: Callable[[Any], Any] = list if kind == "A" else tuple
    return lambda value: build(item if f is None else f(item)
                               for item, f in zip(value, fixes, strict=True))
