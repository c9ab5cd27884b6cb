"""Foreign-key table joins: left ⋈ right on on(left_value) = right key, keyed like left.

The two tables are partitioned by different keys, so the join goes through internal topics
(the scheme of Kafka Streams' KIP-213, with the result in a task of its own):

1. `FKSubscribe` (left's task) remembers each left key's foreign key and a version
   (store `<name>.subscribe`: left key -> [fk, version]). On a change it unsubscribes the
   old foreign key if it changed and subscribes the new one, through the topic
   `<pipeline>-<name>-subscription`, keyed by foreign key (right's partitioning). Every
   left change is also copied to `<pipeline>-<name>-left` (left's partitioning).
2. `FKRespond` (right's task) keeps the subscribers of each foreign key (store
   `<name>.respond`) and answers with the right row: once per subscription, and to every
   subscriber when the right row changes; through `<pipeline>-<name>-response`, keyed by
   the left key (left's partitioning).
3. `FKResult` (a task reading the left copy and the responses) keeps each left row with its
   foreign key and version (store `<name>.left`, versions counted as FKSubscribe counts
   them) and emits joiner(left row, right row) for an answer whose [fk, version] is the left
   key's current one (older answers are dropped); it deletes the joined row when the left
   row goes or (inner) the right row is missing.

No task reads what it wrote itself: each task merges its inputs by order time and none waits
for a round trip (a left change's answer comes after it: left copies go before responses of
the same order time).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from engine.api.keys import key_encoder
from engine.api.nodes import ProcessorNode, TableNode
from engine.api.processor import Emit, Processor, ProcessorContext, require_key
from engine.api.state import KeyValueStore, prefix_end
from operators.join import JoinedTable, Materializer, TwoSidedJoin

SUBSCRIBE, UNSUBSCRIBE = "sub", "unsub"


@dataclass(frozen=True, slots=True)
class FKSubscribe(ProcessorNode):
    """Left side: (un)subscribes left keys to the foreign keys of their rows."""

    on: Callable[[Any], Any]
    left: TableNode

    @property
    def stores(self) -> tuple[str, ...]:
        return (self.name,)

    def describe(self) -> dict[str, Any]:
        return {"foreign_key": getattr(self.on, "__qualname__", "fn"), "store": self.name}

    def processor(self, ctx: ProcessorContext, emit: Emit | None) -> Processor:
        assert emit is not None, "a subscription always has its topic downstream"
        return Subscriber(ctx.store(self.name), self, emit)


class Subscriber(Processor):
    """Emits (fk, (op, left key, version)) subscription messages for each left change."""

    def __init__(self, store: KeyValueStore, node: FKSubscribe, emit: Emit) -> None:
        self.store, self.node, self.emit = store, node, emit
        self.fk_key = key_encoder(node.key_type)  # the right table's keys

    def process(self, key: bytes | None, value: Any, ts: int, side: int = 0) -> None:
        key = require_key(key, "a foreign-key join (left row)")
        old = self.store.get(key)
        fk = None if value is None else self.fk_key(self.node.on(value))
        version = 1 if old is None else old[1] + 1
        if old is not None and old[0] is not None and old[0] != fk:
            self.emit(old[0], (UNSUBSCRIBE, key, version), ts)
        self.store.put(key, [fk, version])  # kept after a delete: versions never repeat
        if fk is not None:
            self.emit(fk, (SUBSCRIBE, key, version), ts)


def subscriber_key(fk: bytes, left_key: bytes) -> bytes:
    """Store key of one subscription: all of a foreign key's subscribers are one range."""
    return len(fk).to_bytes(4, "big") + fk + left_key


@dataclass(frozen=True, slots=True)
class FKRespond(TwoSidedJoin):
    """Right side: side 0 are subscription messages, side 1 the right table's changes."""

    right: TableNode

    @property
    def stores(self) -> tuple[str, ...]:
        return (self.name,)

    def describe(self) -> dict[str, Any]:
        return {"right": self.right.name, "store": self.name}

    def processor(self, ctx: ProcessorContext, emit: Emit | None) -> Processor:
        assert emit is not None, "a response always has its topic downstream"
        return Responder(ctx.store(self.name), ctx.store(self.right.name), self, emit)


class Responder(Processor):
    """Emits (left key, (fk, version, right row)) answers; an answer to a subscription
    carries the later of its time and the right row's (as in Kafka Streams)."""

    def __init__(self, subscribers: KeyValueStore, right: KeyValueStore, node: FKRespond,
                 emit: Emit) -> None:
        self.subscribers, self.right, self.node, self.emit = subscribers, right, node, emit

    def process(self, key: bytes | None, value: Any, ts: int, side: int = 0) -> None:
        key = require_key(key, "a foreign-key join (right row)")
        if side == 1:
            prefix = subscriber_key(key, b"")
            for sk, version in list(self.subscribers.items(prefix, prefix_end(prefix))):
                self.emit(sk[len(prefix):], (key, version, value), ts)
            return
        op, left_key, version = value
        if op == UNSUBSCRIBE:
            self.subscribers.delete(subscriber_key(key, left_key))
            return
        self.subscribers.put(subscriber_key(key, left_key), version)
        stored = self.right.get(key)
        if stored is None:
            self.emit(left_key, (key, version, None), ts)
            return
        right = self.node.right
        self.emit(left_key, (key, version, right.table_value(stored)),
                  max(ts, right.table_time(stored)))


@dataclass(frozen=True, slots=True)
class FKResult(JoinedTable):
    """The result: side 0 are left changes (the copy), side 1 the answers."""

    subscribe: FKSubscribe
    join_kind: ClassVar[str] = "foreign-key"

    @property
    def stores(self) -> tuple[str, ...]:
        return (self.name, f"{self.name}.left")

    def processor(self, ctx: ProcessorContext, emit: Emit | None) -> Processor:
        return Answers(ctx.store(f"{self.name}.left"), self,
                       Materializer(ctx.store(self.name), emit))


class Answers(Processor):
    """Turns current answers into joined rows; deletes rows whose left side went."""

    def __init__(self, lefts: KeyValueStore, node: FKResult, keep: Materializer) -> None:
        self.lefts, self.node, self.keep = lefts, node, keep
        self.fk_key = key_encoder(node.subscribe.key_type)

    def process(self, key: bytes | None, value: Any, ts: int, side: int = 0) -> None:
        key = require_key(key, "a foreign-key join")
        node = self.node
        if side == 0:  # a left change: joined rows wait for the answer, unless no fk
            old = self.lefts.get(key)
            fk = None if value is None else self.fk_key(node.subscribe.on(value))
            self.lefts.put(key, [value, fk, 1 if old is None else old[2] + 1])
            if value is None:
                self.keep(key, None, ts)
            elif fk is None:
                self.keep(key, node.joiner(value, None) if node.how == "left" else None, ts)
            return
        fk, version, row = value
        stored = self.lefts.get(key)
        if stored is None or stored[0] is None or [stored[1], stored[2]] != [fk, version]:
            return  # an answer to an older subscription
        present = row is not None or node.how == "left"
        self.keep(key, node.joiner(stored[0], row) if present else None, ts)
