"""What happens to a record that cannot be processed: dead-letter, skip or fail."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from engine.api import Headers, OutRecord, PipelineFailed
from engine.api.errors import LateRecord


@dataclass
class DeadLetters:
    """Applies a pipeline's error policy; dead letters are committed with the outputs.
    Late records are expected, not errors: they are dead-lettered (reason `late`) even under
    the `fail` policy, and dropped under `skip`."""

    policy: str
    stages: tuple[tuple[str, str], ...]
    records: list[OutRecord]
    count: int = 0
    late: int = 0

    def __call__(self, op: int, exc: Exception, topic: str, partition: int, offset: int,
                 key: bytes | None, raw: bytes | None, ts: int, headers: Any) -> None:
        kind, operator = self.stages[op]
        if kind == "decode" and isinstance(exc, msgspec.ValidationError):
            kind = "schema"
        error = f"{type(exc).__name__}: {exc}"
        self.count += 1
        late = isinstance(exc, LateRecord)
        if late:
            kind = "late"
            self.late += 1
        if self.policy == "fail" and not late:
            raise PipelineFailed(
                f"record {topic}[{partition}]@{offset} failed in {kind} stage of "
                f"'{operator}': {error} (policy 'fail': stopped, nothing after it committed)")
        if self.policy != "skip":
            self.records.append((key, raw, ts, dead_letter_headers(
                kind, operator, error, topic, partition, offset, headers)))


def dead_letter_headers(stage: str, operator: str, error: str, topic: str, partition: int,
                        offset: int, original: Headers | None) -> Headers:
    """Headers that say where and why a record failed, followed by its own headers."""
    own: Headers = [
        ("shoal.stage", stage.encode()),
        ("shoal.operator", operator.encode()),
        ("shoal.error", error.encode("utf-8", "replace")),
        ("shoal.source.topic", topic.encode()),
        ("shoal.source.partition", str(partition).encode()),
        ("shoal.source.offset", str(offset).encode()),
    ]
    return own + [(str(k), bytes(v)) for k, v in (original or [])]
