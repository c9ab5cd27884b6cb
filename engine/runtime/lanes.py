"""A task's inputs as lanes, and the one order in which the task runs their records.

A lane is an external input partition, or one writer's records in an internal input
partition (internal topics interleave the records of every task that writes them). Each
lane is sorted by order time `ot` (an external partition's running maximum of event time; a
writer's order time, from the record header). The task runs records in the order of
(ot, lane rank): lanes are kept in rank order (tables, then streams; then input order and
writer), so a stable sort by ot of their releasable runs is that order. A record is
releasable once no other lane can still bring a smaller (ot, rank): an ACTIVE lane promises
only that the records it has not read yet have ot >= lane.ot; IDLE and ENDED lanes bring
nothing (more).

Wall-clock decisions are made pending and take effect after the next commit, so that a
replay after a crash follows the same decisions: an external lane at the end of its
partition turns IDLE (it no longer holds the task back); a lane that was IDLE and gets
records again holds them until the commit, then releases them with ot raised to the task's
floor (nothing it already ran or promised is undercut).

A commit saves each lane as it is, with the partition's read position; the consumer resumes
at the first record not run yet. Records read again below the saved read position only
refill the queues (control records and states are already in the saved lanes).
"""

from __future__ import annotations

import bisect
from heapq import merge
from itertools import chain
from operator import itemgetter
from typing import Any

from engine.api.records import END, IDLE, LOOSE, MARK, Seq, TopicPartition, read_seq
from engine.physical import Entry, Failed, RecordTuple

ACTIVE, IDLE_STATE, ENDED = 0, 1, 2
FOREIGN = -1  # the stage of a record no writer of the plan wrote
NEVER = -(1 << 62)
FOREVER = 1 << 62
_OT = itemgetter(0)


class Lane:
    """One external partition, or one writer of an internal partition."""

    __slots__ = ("base", "done", "floor", "head", "held", "idle_pending", "index", "ot",
                 "queue", "ran_ot", "replayed", "seen", "seqs", "src", "state", "tp", "writer")

    def __init__(self, index: int, src: int, tp: TopicPartition, writer: int = -1) -> None:
        self.index, self.src, self.tp, self.writer = index, src, tp, writer
        self.queue: list[Entry] = []
        self.seqs: list[int] = []  # internal: the sequence number of each queued record
        self.head = 0
        self.ot = NEVER  # the next record's order time is >= ot
        self.ran_ot = NEVER  # external: the running maximum at the first record not run
        self.floor = NEVER  # no record is given an order time below this
        self.state = ACTIVE
        self.idle_pending = False  # turns IDLE at the next commit
        self.held = False  # resumed after IDLE: its records wait for the next commit
        self.seen = -1  # internal: last sequence number queued
        self.done = -1  # internal: last sequence number run
        self.replayed = -1  # internal: last sequence number queued again after a restart
        self.base = (NEVER, -1)  # (ran_ot, done) before the first record of the queue

    @property
    def empty(self) -> bool:
        """True when nothing is queued."""
        return self.head >= len(self.queue)

    def next_ot(self, floor: int) -> int | None:
        """Lower bound of the order time of this lane's next record (None: none expected)."""
        if self.held:
            return max(floor, self.queue[self.head][0] if not self.empty else self.ot)
        if self.head < len(self.queue):
            return self.queue[self.head][0]
        return self.ot if self.state == ACTIVE else None

    def add(self, entries: list[Entry], quiet: bool = False) -> None:
        """Queue records (sorted by ot); an IDLE lane resumes, holding them for a commit.
        quiet: records read again after a restart (the lane's state already counts them)."""
        if not entries:
            return
        if not quiet:
            if self.state != ACTIVE:  # back after idling (or after the end of a drained run)
                self.state, self.held = ACTIVE, True
            self.idle_pending = False
        self.queue.extend(entries)

    def take(self, horizon: tuple[int, int]) -> list[Entry]:
        """The queued records that go before `horizon` (ot, lane index)."""
        if self.held or self.head >= len(self.queue):
            return []
        find = bisect.bisect_right if self.index < horizon[1] else bisect.bisect_left
        cut = find(self.queue, horizon[0], lo=self.head, key=_OT)
        if cut == self.head:
            return []
        run = self.queue[self.head:cut]
        self._move(cut)
        return run

    def untake(self, count: int) -> None:
        """Put back the last `count` records taken (a task runs fewer than it could)."""
        self._move(self.head - count)

    def _move(self, head: int) -> None:
        if head > 0:
            self.ran_ot = self.queue[head - 1][0]
            if self.seqs:
                self.done = self.seqs[head - 1]
        else:
            self.ran_ot, self.done = self.base
        self.head = head

    def compact(self) -> None:
        """Forget records run long ago (queues are lists read from `head`)."""
        cut = self.head
        if cut > 4096 and cut * 2 > len(self.queue):
            self.base = (self.ran_ot, self.done)
            del self.queue[:cut]
            del self.seqs[:cut if self.seqs else 0]
            self.head = 0

    def resume(self, floor: int) -> None:
        """The commit is made: release held records, and give none of them (or of the
        records still to come) an order time below `floor`."""
        if not self.held:
            return
        self.floor = max(self.floor, floor)
        queue = self.queue
        for i in range(self.head, len(queue)):
            entry = queue[i]
            if entry[0] >= floor:
                break
            queue[i] = (floor, *entry[1:])
        self.ot = max(self.ot, floor)
        self.held = False

    def saved(self, floor: int) -> list[int]:
        """The lane as a commit saves it: after the commit's decisions (an idle one turns
        IDLE, a held one resumes at the commit's `floor`); an external lane's order time as
        of its first record not run (where the consumer resumes)."""
        state = IDLE_STATE if self.idle_pending else self.state
        lane_floor = max(self.floor, floor) if self.held else self.floor
        if self.empty or self.writer >= 0:
            ot = max(self.ot, floor) if self.held else self.ot
        else:
            ot = max(self.ran_ot, lane_floor)
        return [state, ot, lane_floor, self.done, self.seen]

    def restore(self, saved: list[int]) -> None:
        """Continue from a saved lane."""
        self.state, self.ot, self.floor, self.done, self.seen = saved
        self.ran_ot, self.replayed = self.ot, self.done
        self.base = (self.ran_ot, self.done)


def release(lanes: list[Lane], limit: int | None = None) -> list[Entry]:
    """Take the releasable records of `lanes` (in rank order), in the task's order, at most
    `limit` of them. A lane that is ACTIVE (and not holding records for a commit) may still
    bring records of order time >= lane.ot: nothing of another lane at or after (lane.ot,
    its rank) may run yet."""
    first = second = (FOREVER, FOREVER)
    for lane in lanes:
        if lane.state == ACTIVE and not lane.held:
            key = (lane.ot, lane.index)
            if key < first:
                first, second = key, first
            elif key < second:
                second = key
    taken = [(lane, run) for lane in lanes
             if (run := lane.take(second if (lane.ot, lane.index) == first else first))]
    if len(taken) == 1:
        merged = taken[0][1]
    elif len(taken) < 4:
        merged = list(merge(*(run for _, run in taken), key=_OT))
    else:
        merged = sorted(chain.from_iterable(run for _, run in taken), key=_OT)
    if limit is not None and len(merged) > limit:
        _put_back(taken, merged[limit:])
        merged = merged[:limit]
    for lane, _ in taken:
        lane.compact()
    return merged


def _put_back(taken: list[tuple[Lane, list[Entry]]], rest: list[Entry]) -> None:
    """Return the records of `rest` to the lanes they were taken from."""
    owner = {id(entry): lane for lane, run in taken for entry in run}
    counts: dict[int, int] = {}
    for entry in rest:
        lane = owner[id(entry)]
        counts[lane.index] = counts.get(lane.index, 0) + 1
    for lane, _ in taken:
        if lane.index in counts:
            lane.untake(counts[lane.index])


class WriterLanes:
    """The lanes of one internal input partition, one per writer, and how its records are
    read: sequence numbers drop replays, control records move bounds and states."""

    def __init__(self, lanes: list[Lane], foreign: Lane, told: bool = False) -> None:
        self.lanes = lanes
        self.foreign = foreign  # records no writer of the plan wrote (dead-lettered)
        self.told = told  # writers tell their bounds directly: control records are old news

    def read(self, records: list[RecordTuple], replay_until: int) -> None:
        """Queue a fetched batch of the partition (records below `replay_until` were read
        before the last commit)."""
        lanes, n = self.lanes, len(self.lanes)
        for off, k, raw, ts, hd in records:
            seq = read_seq(hd)
            if seq is None or not 0 <= seq.writer < n:
                self._foreign(off, k, raw, ts, hd, seq)
                continue
            lane = lanes[seq.writer]
            if off < replay_until:
                if not seq.flags & MARK and seq.seq > lane.replayed:
                    lane.replayed = seq.seq
                    self._queue(lane, seq, (off, k, raw, ts, hd), True)
            elif seq.flags & MARK:
                if not self.told:
                    self._mark(lane, seq)
            elif seq.seq > lane.seen or seq.flags & LOOSE:  # else a replay already read
                lane.seen = max(lane.seen, seq.seq)
                self._queue(lane, seq, (off, k, raw, ts, hd), False)

    @staticmethod
    def _queue(lane: Lane, seq: Seq, record: RecordTuple, quiet: bool) -> None:
        off, k, raw, ts, hd = record
        ot = seq.ot if seq.ot > lane.floor else lane.floor
        if ot > lane.ot:
            lane.ot = ot
        lane.seqs.append(seq.seq)
        lane.add([(ot, off, k, raw, ts, (hd or [])[1:] or None, lane.src, raw)], quiet)

    def _foreign(self, off: int, k: bytes | None, raw: bytes | None, ts: int, hd: Any,
                 seq: Seq | None) -> None:
        lane = self.foreign
        failed = Failed(FOREIGN, ValueError(f"not written by this pipeline ({seq})"))
        lane.add([(lane.ot, off, k, failed, ts, hd, lane.src, raw)], True)
        lane.seqs.append(-1)

    def tell(self, writer: int, seq: int, bound: int, flags: int) -> bool | None:
        """A writer's bound (or idle / ended) told directly, not read from a control record;
        heard (True: it changed the lane, False: it did not) once every record the writer
        wrote up to `seq` was read, else None (to tell again)."""
        lane = self.lanes[writer]
        if lane.seen < seq:
            return None
        before = (lane.ot, lane.state, lane.held)
        self._mark(lane, Seq(writer, seq, bound, MARK | flags))
        return (lane.ot, lane.state, lane.held) != before

    @staticmethod
    def _mark(lane: Lane, seq: Seq) -> None:
        """A writer's control record: a bound for its next records, or idle / ended."""
        if seq.flags & END:
            lane.state = ENDED
        elif seq.flags & IDLE:
            if lane.state == ACTIVE:
                lane.state = IDLE_STATE  # (records it holds are still run after the commit)
        else:
            if seq.ot > lane.ot:
                lane.ot = seq.ot
            if lane.state != ACTIVE:  # the writer is back: wait for it from the commit
                lane.state, lane.held = ACTIVE, True
