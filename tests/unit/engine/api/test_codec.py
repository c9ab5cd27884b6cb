"""The codec of internal topics, changelogs and stores: values come back in the types they
were written from, declared classes only, and forged bytes run nothing."""

from __future__ import annotations

import dataclasses
import os
import pickle
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.api.codec import Codec, CodecError
from engine.api.processor import WindowResult


class Buy(msgspec.Struct):
    order_id: str
    price: float


@dataclasses.dataclass
class Pair:
    count: int
    last: Buy | None


CODEC = Codec([Buy, Pair, WindowResult])
BUY = Buy("o-1", 9.5)

plain = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
    | st.binary(),
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner)
    | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=12)


def _same(a: Any, b: Any) -> bool:
    """Equal, and of the same types all the way down (a tuple is not a list)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return bool(a == b)


@given(plain)
def test_plain_data_round_trips_with_its_types(value: Any) -> None:
    assert _same(CODEC.decode(CODEC.encode(value)), value)


@pytest.mark.parametrize("value", [
    BUY, (BUY, None), [BUY, BUY], [[1_700_000_000_000, BUY, False]], {"a": BUY},
    Pair(2, BUY), ((3, 120.5), False, 10, 20), (), (1,), [BUY, 1, "x"],
    WindowResult("k", 0, 10, (1, 2.5)), 2**70, (1, [2**80]),
])
def test_declared_classes_and_shapes_round_trip(value: Any) -> None:
    assert _same(CODEC.decode(CODEC.encode(value)), value)


def test_an_undeclared_class_is_refused_with_the_fix() -> None:
    class Secret(msgspec.Struct):
        x: int

    with pytest.raises(CodecError, match="Pipeline\\(types="):
        CODEC.encode(Secret(1))
    forged = msgspec.msgpack.encode([f"N:{__name__}.Secret", [1]])
    with pytest.raises(CodecError, match="not declared"):
        CODEC.decode(forged)


class Boom:
    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.system, ("touch /tmp/shoal-codec-pwned",))


def test_a_pickle_is_never_run() -> None:
    with pytest.raises(CodecError):
        CODEC.decode(pickle.dumps(Boom()))
    for forged in (msgspec.msgpack.encode(["N:os.system", "ls"]),
                   msgspec.msgpack.encode(["T(N:builtins.eval)", ["1"]]),
                   msgspec.msgpack.encode(["L(_,_)", []]), b"\xc1"):
        with pytest.raises(CodecError):
            CODEC.decode(forged)
    assert not os.path.exists("/tmp/shoal-codec-pwned")
