"""What happens to a record that cannot be processed: dead-letter, skip or fail."""

from __future__ import annotations

import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from engine.api import Headers, OutRecord, PipelineFailed
from engine.api.codec import Codec
from engine.api.errors import LateRecord
from engine.api.records import copied
from engine.api.serde import value_encoder
from engine.runtime.lanes import FOREIGN

_encode = value_encoder()
_ROOT = Path(__file__).resolve().parents[2]
_OWN = (f"{_ROOT / 'engine'}/", f"{_ROOT / 'operators'}/")  # left out of user tracebacks


def readable(raw: bytes | None, codec: Codec | None) -> bytes | None:
    """A dead letter's value as the user gave it: a value of an internal topic (codec: the
    pipeline's) becomes JSON; bytes that do not decode stay as they are."""
    if raw is None or codec is None:
        return raw
    try:
        return _encode(codec.decode(raw))
    except Exception:
        return raw


def encoded(value: Any) -> bytes | None:
    """An emitted value as JSON (its repr when it is not JSON-encodable)."""
    try:
        return _encode(value)
    except Exception:
        return repr(value).encode()


@dataclass
class DeadLetters:
    """Applies a pipeline's error policy for one task; dead letters are committed with the
    outputs. Late records are expected, not errors: they are dead-lettered (reason `late`)
    even under the `fail` policy, and dropped under `skip`; they are counted per operator."""

    policy: str
    stages: tuple[tuple[str, str], ...]
    inputs: tuple[tuple[str, bool], ...]  # (topic, internal) per input index
    partition: int
    names: dict[int, str]  # processor node id -> operator name
    records: list[OutRecord]
    codec: Codec = field(default_factory=Codec)  # reads the values of internal inputs
    debug: bool = False  # add the traceback of the user's code (header shoal.traceback)
    count: int = 0
    late: Counter[str] = field(default_factory=Counter)
    by_stage: Counter[str] = field(default_factory=Counter)  # failures per stage

    def __call__(self, op: int, exc: Exception, src: int, offset: int, key: bytes | None,
                 raw: bytes | None, ts: int, headers: Headers | None) -> None:
        """The record at `offset` of input `src` failed at stage `op`."""
        topic, internal = self.inputs[src]
        kind, operator = self._stage(op, exc, topic)
        if self._counted(kind, operator, exc, f"record {topic}[{self.partition}]@{offset}"):
            own = [("shoal.source.topic", topic.encode()),
                   ("shoal.source.partition", str(self.partition).encode()),
                   ("shoal.source.offset", str(offset).encode())]
            self.records.append((key, readable(raw, self.codec if internal else None), ts,
                                 _headers(kind, operator, exc, self._traced(own, exc),
                                          headers)))

    def emitted(self, op: int, exc: Exception, key: bytes | None, value: Any, ts: int,
                node: int, expired: bool, src: int, offset: int) -> None:
        """A result emitted by processor `node` failed downstream at stage `op`: the dead
        letter is that result, with the record that led to it (none for an expiry)."""
        kind, operator = self._stage(op, exc, "")
        emitter = self.names[node]
        if self._counted(kind, operator, exc, f"a result of '{emitter}'"):
            own = [("shoal.emitted.by", emitter.encode())]
            if expired:
                own.append(("shoal.emitted.on", b"expiry"))
            else:
                own += [("shoal.source.topic", self.inputs[src][0].encode()),
                        ("shoal.source.partition", str(self.partition).encode()),
                        ("shoal.source.offset", str(offset).encode())]
            self.records.append((key, encoded(value), ts,
                                 _headers(kind, operator, exc, self._traced(own, exc))))

    def _traced(self, own: list[tuple[str, bytes]], exc: Exception
                ) -> list[tuple[str, bytes]]:
        """`own` headers, with the failure's traceback when debugging (frames of Shoal's
        own modules left out: what is left is the user's code, and the generated line)."""
        if not self.debug or isinstance(exc, LateRecord):
            return own
        frames = [f for f in traceback.extract_tb(exc.__traceback__)
                  if not f.filename.startswith(_OWN)]
        text = "".join(traceback.format_list(frames)) + _error(exc)
        return [*own, ("shoal.traceback", text.encode("utf-8", "replace"))]

    def _stage(self, op: int, exc: Exception, topic: str) -> tuple[str, str]:
        if isinstance(exc, PipelineFailed):
            raise exc  # already a stop (raised downstream of a processor): pass it on
        if op == FOREIGN:
            return "decode", topic
        kind, operator = self.stages[op]
        if isinstance(exc, LateRecord):
            return "late", operator
        if kind == "decode" and isinstance(exc, msgspec.ValidationError):
            return "schema", operator
        return kind, operator

    def _counted(self, kind: str, operator: str, exc: Exception, what: str) -> bool:
        """Count a failure; True when it is to be written to the dead-letter topic."""
        self.count += 1
        self.by_stage[kind] += 1
        if kind == "late":
            self.late[operator] += 1
        elif self.policy == "fail":
            raise PipelineFailed(
                f"{what} failed in {kind} stage of '{operator}': {_error(exc)} "
                "(policy 'fail': stopped, nothing after it committed)")
        return self.policy != "skip"


def _error(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"


def _headers(stage: str, operator: str, exc: Exception, own: list[tuple[str, bytes]],
             original: Headers | None = None) -> Headers:
    """Headers that say where and why a record failed, followed by its own headers."""
    return [("shoal.stage", stage.encode()), ("shoal.operator", operator.encode()),
            ("shoal.error", _error(exc).encode("utf-8", "replace")), *own, *copied(original)]
