"""A task: one partition of one sub-topology, with its lanes, processors, stores and outputs.

The worker hands a task what it fetched (`enqueue`) and tells it where partitions end
(`at_end`); `run_ready` runs every record that is releasable in the task's order (see
engine/runtime/lanes.py); a commit takes `commit_parts` and, once the log accepted them,
`after_commit` acts on the decisions the commit recorded.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from engine.api import TopicPartition
from engine.api.processor import Emit, Processor
from engine.api.records import END, IDLE
from engine.physical import RecordTuple, SubTopology
from engine.runtime.deadletter import DeadLetters
from engine.runtime.lanes import ACTIVE, ENDED, IDLE_STATE, NEVER, Lane, WriterLanes, release
from engine.runtime.outputs import Outputs, Routed
from engine.runtime.stats import Placement
from engine.runtime.taskenv import TaskContext, TaskEnv
from engine.transport.base import StateWrite
from engine.transport.partitioner import KEY_HASHES


@dataclass
class TaskCommit:
    """What one task adds to a commit."""

    outputs: list[Routed]
    state: list[StateWrite]
    positions: dict[TopicPartition, int]
    progress: bytes


class Task:
    """Runs a sub-topology's fused code over the records of one partition of its inputs."""

    def __init__(self, sub: SubTopology, partition: int, env: TaskEnv,
                 progress: bytes | None = None) -> None:
        self.sub, self.partition, self.env = sub, partition, env
        self.outputs = Outputs((*sub.outputs, (env.dead_letter_topic, "sink")), env.counts,
                               partition, env.partitioner, env.number_sinks)
        self.buffers = self.outputs.buffers
        nodes = sub.processor_nodes
        self.deadletters = DeadLetters(
            env.policy, sub.stages, tuple((i.topic, i.internal) for i in sub.inputs), partition,
            {n: node.name for n, node in nodes.items()}, self.buffers[-1], env.codec,
            debug=env.debug)
        self.context = TaskContext(partition, env)
        self.processors: dict[int, Processor] = {}
        self.placement: dict[str, Placement] = {}  # sampled records of keyed inputs
        self._lanes(sub, partition, env)
        self.n = 0  # records run since the task began
        self.ran_ot = NEVER  # order time of the last record run
        self.pending = 0  # records run since the last commit
        self.finished = False  # a drained run: every processor finished
        self.tick: int | None = None  # an idle tick decided, to act on after the commit
        self.promised = NEVER  # the highest bound told to readers directly (not by record)
        self.last_input = time.monotonic()
        self.last_tick = 0.0
        self.prep, self.run, place, self.direct = sub.factory(self)
        self.place = place or _nowhere
        if progress is not None:
            self._restore(progress)

    def _lanes(self, sub: SubTopology, partition: int, env: TaskEnv) -> None:
        """One lane per external input, one per writer of an internal input, in rank
        order; and a foreign lane per internal input for records no writer wrote."""
        self.lanes: list[Lane] = []
        self.external: dict[TopicPartition, Lane] = {}
        self.internal: dict[TopicPartition, WriterLanes] = {}
        foreign: list[Lane] = []
        for src, spec in enumerate(sub.inputs):
            tp = (spec.topic, partition)
            if not spec.internal:
                self.external[tp] = lane = Lane(len(self.lanes), src, tp)
                self.lanes.append(lane)
                continue
            writers = [Lane(len(self.lanes) + w, src, tp, w)
                       for w in range(env.writers[spec.topic])]
            self.lanes.extend(writers)
            stray = Lane(-1, src, tp, -2)
            stray.state = ENDED
            foreign.append(stray)
            self.internal[tp] = WriterLanes(writers, stray, env.told)
        for stray in foreign:
            stray.index = len(self.lanes) + len(foreign)
        self.all_lanes = [*self.lanes, *foreign]
        self.read_upto: dict[TopicPartition, int] = {}  # replay below this after a restart
        self.fetched: dict[TopicPartition, int] = {}  # next offset to read per partition
        self.committed: dict[TopicPartition, int] = {}  # positions of the last commit
        self.tps = [*self.external, *self.internal]
        self.reach = {topic: [lane for lane in self.lanes
                              if topic in sub.inputs[lane.src].reaches]
                      for topic, kind in sub.outputs if kind == "internal"}

    @property
    def id(self) -> str:
        """Task id as Kafka Streams writes it: `<sub-topology>_<partition>`."""
        return f"{self.sub.id}_{self.partition}"

    # -- what the generated factory uses -------------------------------------------------
    def misplaced(self, topic: str, offset: int, key: bytes, null_key: bool) -> None:
        """Count a sampled record of `topic`, and whether its key hashes elsewhere under
        the input's partitioner (and where the others would put it)."""
        found = self.placement.get(topic)
        if found is None:
            source = next(n for n in self.sub.nodes if getattr(n, "topic", None) == topic)
            found = self.placement[topic] = Placement(topic, source.partitioner)
        found.checked += 1
        count = self.env.counts[topic]
        home = KEY_HASHES[found.partitioner](key) % count
        if home != self.partition:
            found.wrong += 1
            found.example = found.example or (key, self.partition, home)
            found.null_keys += null_key
            for name, hash_of in KEY_HASHES.items():
                if name != found.partitioner and hash_of(key) % count == self.partition:
                    found.fits[name] = found.fits.get(name, 0) + 1

    def processor(self, node_id: int, emit: Emit | None) -> Callable[..., None]:
        """Build node `node_id`'s processor for this task; returns its `process`."""
        proc = self.sub.processor_nodes[node_id].processor(self.context, emit)
        self.processors[node_id] = proc
        return proc.process

    def dead(self, op: int, exc: Exception, src: int, offset: int, key: bytes | None,
             raw: bytes | None, ts: int, headers: Any) -> None:
        """A record failed (see DeadLetters)."""
        self.deadletters(op, exc, src, offset, key, raw, ts, headers)

    def dead_emitted(self, op: int, exc: Exception, key: bytes | None, value: Any, ts: int,
                     node: int, expired: bool, src: int, offset: int) -> None:
        """A processor's result failed downstream (see DeadLetters)."""
        self.deadletters.emitted(op, exc, key, value, ts, node, expired, src, offset)

    # -- input ---------------------------------------------------------------------------
    def enqueue(self, tp: TopicPartition, records: list[RecordTuple]) -> None:
        """Queue a fetched batch of `tp` (records below the saved read position of a restart
        only refill the queues)."""
        replay = self.read_upto.get(tp, -1)
        self.fetched[tp] = records[-1][0] + 1
        lanes = self.internal.get(tp)
        if lanes is not None:
            lanes.read(records, replay)
            return
        lane = self.external[tp]
        end = self.env.ends.get(tp) if self.env.ends is not None else None
        if end is not None and records[-1][0] >= end:
            records = [r for r in records if r[0] < end]
            self.fetched[tp] = end
        if not records:
            return
        cut = 0 if records[0][0] >= replay else next(
            (i for i, r in enumerate(records) if r[0] >= replay), len(records))
        if not cut and self.direct is not None and lane.empty and lane.state == ACTIVE:
            self._direct(lane, records)
            return
        if cut:
            lane.add(self.prep[lane.src](records[:cut], lane), quiet=True)
        if cut < len(records):
            lane.add(self.prep[lane.src](records[cut:], lane))

    def _direct(self, lane: Lane, records: list[RecordTuple]) -> None:
        """Run records of the one (external) input at once: nothing to order them against."""
        assert self.direct is not None
        lane.idle_pending = False
        self.direct(records, lane)
        self.finished = False
        lane.ran_ot = self.ran_ot = lane.ot
        self.n += len(records)
        self.pending += len(records)
        self.last_input = time.monotonic()

    def at_end(self, tp: TopicPartition, position: int) -> None:
        """External partition `tp` has nothing after `position` (fresh from the log): in a
        drained run past its end it ends; otherwise it turns idle from the next commit."""
        lane = self.external[tp]
        end = self.env.ends.get(tp) if self.env.ends is not None else None
        if end is not None and position >= end:
            lane.state = ENDED
            self.fetched[tp] = max(self.fetched.get(tp, end), end)
        elif lane.state != IDLE_STATE and not lane.held:
            lane.idle_pending = True

    def seek(self, tp: TopicPartition, position: int) -> None:
        """The consumer starts `tp` at `position` (the first record not run)."""
        self.fetched[tp] = self.committed[tp] = position

    # -- running -------------------------------------------------------------------------
    def head(self) -> int | None:
        """Order time of the next record this task can run, if any."""
        best = None
        for lane in self.lanes:
            if not lane.empty and not lane.held:
                ot = lane.queue[lane.head][0]
                if best is None or ot < best:
                    best = ot
        return best

    def run_ready(self, limit: int | None = None) -> int:
        """Run the releasable records (at most `limit`); returns how many ran. After a
        restart, nothing runs before the queues hold again what they held at the commit."""
        if self.read_upto and not self._replayed():
            return 0
        entries = release(self.all_lanes, limit)
        if not entries:
            return 0
        self.run(entries)
        self.finished = False
        self.n += len(entries)
        self.ran_ot = max(self.ran_ot, entries[-1][0])
        self.pending += len(entries)
        self.last_input = time.monotonic()
        return len(entries)

    def _replayed(self) -> bool:
        """True once every input was read again up to where it was read at the commit."""
        if any(self.fetched.get(tp, 0) < upto for tp, upto in self.read_upto.items()):
            return False
        self.read_upto = {}
        return True

    def drained(self) -> bool:
        """In a drained run, finish once every input ended and was run: every window,
        session and unmatched join row is emitted. True when it finished now."""
        if self.finished or (self.read_upto and not self._replayed()) or not all(
                lane.state == ENDED and lane.empty for lane in self.lanes):
            return False
        self.place(self.floor())
        for proc in self.processors.values():
            proc.finish()
        self.finished = True
        self.pending += 1
        return True

    def idle(self, now: float, timeout_ms: int) -> bool:
        """Decide an idle tick when no input came for `timeout_ms` (wall clock); it acts
        after the next commit (so a replay after a crash ticks at the same point)."""
        elapsed = int((now - self.last_input) * 1000)
        if elapsed < timeout_ms or (now - self.last_tick) * 1000 < timeout_ms \
                or self.tick is not None or not self.processors:
            return False
        self.last_tick = now
        self.tick = elapsed
        return True

    def _do_tick(self, elapsed: int) -> None:
        self.place(self.floor())
        for proc in self.processors.values():
            proc.idle(elapsed)
        self.pending += 1

    # -- committing ------------------------------------------------------------------------
    def floor(self) -> int:
        """No record may run (or be emitted) below this: what ran, and what was promised."""
        told = max((t.bound for told in self.outputs.told.values() for t in told),
                   default=NEVER)
        return max(self.ran_ot, told, self.promised)

    def promise(self) -> dict[str, tuple[int, int]]:
        """The bounds to tell readers directly (kept: no record may undercut them)."""
        bounds = self.bounds(self.floor())
        for bound, flags in bounds.values():
            if not flags and bound > self.promised:
                self.promised = bound
        return bounds

    def tell(self, tp: TopicPartition, writer: int, seq: int, bound: int, flags: int
             ) -> bool | None:
        """Writer `writer` of internal input `tp` says (directly) what its bound is; None
        when not heard yet (a restart reading its queues back, or records not read yet)."""
        if self.read_upto and not self._replayed():
            return None
        return self.internal[tp].tell(writer, seq, bound, flags)

    def bounds(self, floor: int) -> dict[str, tuple[int, int]]:
        """Per internal output: (lower bound of the next order time written there, IDLE or
        END when nothing more is expected), with this commit's decisions made. Nothing while
        a restart reads its queues back (they are not what they were yet)."""
        out: dict[str, tuple[int, int]] = {}
        if self.read_upto and not self._replayed():
            return out
        for topic, lanes in self.reach.items():
            nexts = [ot for lane in lanes if not (lane.idle_pending and lane.empty)
                     and (ot := lane.next_ot(floor)) is not None]
            if nexts:
                out[topic] = (min(nexts), 0)
            elif all(lane.state == ENDED for lane in lanes):
                out[topic] = (floor, END if self.finished else 0)
            else:
                out[topic] = (floor, IDLE)
        return out

    @property
    def deciding(self) -> bool:
        """True when a decision waits for a commit."""
        return self.tick is not None or any(
            lane.idle_pending or lane.held for lane in self.lanes)

    def needs_commit(self) -> bool:
        """True when a commit would write something: records run, decisions, or news for
        the readers of the internal outputs."""
        if self.pending or self.deciding or self.outputs.pending:
            return True
        if any(self._position(tp) != self.committed.get(tp) for tp in self.fetched):
            return True  # read control records (or replays) only: positions moved
        return self.outputs.news(self.bounds(self.floor()))

    def commit_parts(self) -> TaskCommit:
        """Outputs, state changes, positions and progress of this task for one commit."""
        floor = self._commit_floor = self.floor()
        outputs = self.outputs.drain(self.bounds(floor))
        for proc in self.processors.values() if self.pending else ():
            proc.before_commit()
        state = [StateWrite(store.name, self.partition, changes, self.n)
                 for store in self.context.stores.values() if (changes := store.flush())]
        positions = {tp: self._position(tp) for tp in self.tps if tp in self.fetched}
        self.committed = positions
        self.pending = 0
        return TaskCommit(outputs, state, positions, self._progress(positions))

    def _position(self, tp: TopicPartition) -> int:
        lanes = [*self.internal[tp].lanes, self.internal[tp].foreign] \
            if tp in self.internal else [self.external[tp]]
        heads = [lane.queue[lane.head][1] for lane in lanes if not lane.empty]
        return min(heads) if heads else self.fetched[tp]

    def _progress(self, positions: dict[TopicPartition, int]) -> bytes:
        return msgspec.msgpack.encode({
            "n": self.n, "ot": self.ran_ot, "fin": self.finished, "tick": self.tick,
            "promised": self.promised,
            "lanes": [lane.saved(self._commit_floor) for lane in self.lanes],
            "read": [[t, p, max(self.fetched[(t, p)], self.read_upto.get((t, p), -1))]
                     for t, p in positions],  # (a replay not done yet keeps its end)
            "told": self.outputs.state(),
            "writers": {t: len(w.lanes) for (t, _), w in self.internal.items()}})

    def after_commit(self) -> None:
        """The log accepted the commit: act on its decisions."""
        floor = self._commit_floor
        for lane in self.lanes:
            if lane.idle_pending:
                lane.state, lane.idle_pending = IDLE_STATE, False
            lane.resume(floor)
        if self.tick is not None:
            tick, self.tick = self.tick, None
            self._do_tick(tick)

    def _restore(self, raw: bytes) -> None:
        saved = msgspec.msgpack.decode(raw)
        self.n, self.ran_ot, self.finished = saved["n"], saved["ot"], saved["fin"]
        self.promised = saved["promised"]
        for lane, lane_saved in zip(self.lanes, saved["lanes"], strict=True):
            lane.restore(lane_saved)
            if lane.writer < 0 and lane.state == ENDED:  # the end of an earlier (drained) run
                lane.state = ACTIVE
        self.read_upto = {(t, p): upto for t, p, upto in saved["read"]}
        self.outputs.restore(saved["told"])
        if saved["tick"] is not None:  # decided and committed, not acted on
            self._do_tick(saved["tick"])

    def lateness(self) -> dict[str, tuple[int, int, int, int]]:
        """Per operator that drops late records: (seen, late, the grace that would have
        kept them all, its grace)."""
        nodes = self.sub.processor_nodes
        return {nodes[n].name: (*proc.lateness(), getattr(nodes[n], "grace", 0))
                for n, proc in self.processors.items() if proc.lateness()[0]}


def _nowhere(ot: int) -> None:
    """`place` of a sub-topology without processors: nothing is emitted outside a record."""


def saved_writers(raw: bytes) -> dict[str, int]:
    """The writer count per internal input a saved progress record was made with."""
    found: dict[str, int] = msgspec.msgpack.decode(raw).get("writers", {})
    return found


def saved_n(raw: bytes) -> int:
    """How many records the task had run at the commit that saved `raw`."""
    found: int = msgspec.msgpack.decode(raw)["n"]
    return found
