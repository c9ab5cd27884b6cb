"""What a worker does when its partitions change: revoked tasks are committed and parked,
assigned ones are taken back from the parking (nothing restored) or created and restored.

A rebalance on Kafka revokes every partition and then assigns (aiokafka's eager protocol),
and the assignor gives each member back what it held where the balance allows. A parked
task is taken back only if the group's committed positions are still the ones it
committed: then no other worker has committed work on it since, and its state in memory
and in the local stores is what a restore would rebuild. Otherwise it is restored as any
new task. Parked tasks not assigned again are dropped with their local stores.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from engine.api import ConfigError, TopicPartition
from engine.physical import PhysicalPlan
from engine.runtime.stats import RunStats
from engine.runtime.task import Task, saved_n, saved_writers
from engine.runtime.taskenv import TaskEnv
from engine.transport.base import Consumer, Transport

TaskKey = tuple[int, int]  # sub-topology id, partition


class LocalStores(Protocol):
    """A worker-local copy of stores kept in step with changelog topics (Kafka), with the
    checkpoint of the last clean stop on its data directory (task id -> progress)."""

    checkpoint: dict[str, bytes]

    def write(self, store: str, changes: Iterable[tuple[bytes, bytes | None]]) -> None: ...

    def reset(self, store: str, partition: int) -> None: ...

    def keep(self, progress: dict[str, bytes]) -> None: ...


def describe_partitions(partitions: list[TopicPartition]) -> str:
    """'orders[0,2] orders.x[0,2]' for log lines."""
    by_topic: dict[str, list[int]] = {}
    for topic, p in sorted(partitions):
        by_topic.setdefault(topic, []).append(p)
    return " ".join(f"{t}[{','.join(map(str, ps))}]" for t, ps in by_topic.items()) or "none"


class Rebalancing:
    """The assignment side of the Worker (its AssignmentListener)."""

    plan: PhysicalPlan
    transport: Transport
    group: str
    stats: RunStats
    env: TaskEnv | None
    consumer: Consumer | None
    local: LocalStores | None
    tasks: dict[TaskKey, Task]
    parked: dict[TaskKey, Task]
    routes: dict[TopicPartition, Task]
    last_progress: dict[str, bytes]  # task id -> progress of its last commit (or restore)
    _external: frozenset[str]

    async def commit(self) -> bool:
        raise NotImplementedError

    def _event(self, text: str) -> None:
        raise NotImplementedError

    def _warn_late(self, tasks: Iterable[Task]) -> None:
        raise NotImplementedError

    async def on_revoked(self, partitions: list[TopicPartition]) -> None:
        """Commit, then park the tasks of revoked partitions (stores kept)."""
        await self.commit()
        self.stats.rebalances += bool(partitions)
        if partitions:
            self._event(f"revoked {describe_partitions(partitions)} (committed first)")
        for tp in partitions:
            task = self.routes.pop(tp, None)
            if task is not None and not any(t is task for t in self.routes.values()):
                key = (task.sub.id, task.partition)
                self.tasks.pop(key, None)
                self.parked[key] = task

    async def on_assigned(self, partitions: list[TopicPartition]) -> None:
        """Take back parked tasks that nobody ran since, create (and restore) the others,
        drop the rest of the parking; seek every partition."""
        assert self.consumer is not None
        self.stats.rebalances += bool(partitions)
        committed = await self.transport.committed(self.group, partitions)
        wanted = self._wanted(partitions, committed)
        kept = {key: task for key, tps in wanted.items()
                if (task := self._unpark(key, tps)) is not None}
        fresh = {key: tps for key, tps in wanted.items()
                 if key not in kept and key not in self.tasks}
        saved = await self.transport.progress(
            self.group, {f"{s}_{p}": tps for (s, p), tps in fresh.items()})
        self._drop_parked()
        restored = 0
        for key, tps in wanted.items():
            task = kept.get(key) or self.tasks.get(key)
            if task is None:
                task, stores = await self._new_task(*key, saved.get(f"{key[0]}_{key[1]}"))
                restored += stores
            for tp, position in tps.items():
                self.routes[tp] = task
                if key in kept:  # where it stopped: its queues hold what it fetched
                    self.consumer.seek(tp, task.fetched.get(tp, position))
                else:
                    self.consumer.seek(tp, position)
                    task.seek(tp, position)
        self._drop_checkpoint()
        self._assigned_event(partitions, kept, fresh, restored)
        self._warn_late(self.tasks[key] for key in wanted if key in self.tasks)
        await self._count_backlog(partitions, committed)

    def _wanted(self, partitions: list[TopicPartition], committed: dict[TopicPartition, int]
                ) -> dict[TaskKey, dict[TopicPartition, int]]:
        """The tasks of `partitions`, each with its partitions' committed positions."""
        by_topic = {t: sub for sub in self.plan.subtopologies for t in sub.sources}
        wanted: dict[TaskKey, dict[TopicPartition, int]] = {}
        for tp in partitions:
            wanted.setdefault((by_topic[tp[0]].id, tp[1]), {})[tp] = committed[tp]
        return wanted

    def _unpark(self, key: TaskKey, tps: dict[TopicPartition, int]) -> Task | None:
        """The parked task `key` if the group's positions are still what it committed."""
        task = self.parked.get(key)
        if task is None or any(task.committed.get(tp) != pos for tp, pos in tps.items()):
            return None
        del self.parked[key]
        self.tasks[key] = task
        return task

    def _drop_parked(self) -> None:
        """Forget parked tasks (another worker has them, or ran them) and their stores."""
        local, parked = self.local, list(self.parked.values())
        self.parked.clear()
        if local is None:
            return
        for task in parked:
            for store in task.sub.stores:
                local.reset(f"{self.plan.pipeline}.{store}", task.partition)

    def _drop_checkpoint(self) -> None:
        """Clear the stores of checkpointed tasks this worker was not given (stale here)."""
        local = self.local
        if local is None:
            return
        for task_id in sorted(local.checkpoint):
            sub_id, partition = map(int, task_id.split("_"))
            for store in self.plan.subtopologies[sub_id].stores:
                local.reset(f"{self.plan.pipeline}.{store}", partition)
        local.checkpoint.clear()

    def _assigned_event(self, partitions: list[TopicPartition], kept: dict[TaskKey, Task],
                        fresh: dict[TaskKey, dict[TopicPartition, int]], restored: int
                        ) -> None:
        ids = ", ".join(sorted(t.id for t in self.tasks.values()))
        self._event(f"assigned {describe_partitions(partitions)}: {len(self.tasks)} tasks "
                    f"({ids})")
        if kept or fresh:
            self._event(f"kept {len(kept)} tasks (nothing restored), took on {len(fresh)} "
                        f"({restored} store partitions restored)")

    async def _count_backlog(self, partitions: list[TopicPartition],
                             committed: dict[TopicPartition, int]) -> None:
        for topic in {tp[0] for tp in partitions} & self._external:
            ends = await self.transport.end_offsets(topic)
            self.stats.backlog += sum(max(0, ends[p] - committed[(t, p)])
                                      for t, p in partitions if t == topic)

    async def _new_task(self, sub_id: int, partition: int, progress: bytes | None
                        ) -> tuple[Task, int]:
        """A task for (sub_id, partition) and how many store partitions it restored: none
        when the checkpoint of the last clean stop holds its committed progress."""
        assert self.env is not None
        sub = self.plan.subtopologies[sub_id]
        if progress is not None and saved_writers(progress) != {
                i.topic: self.env.writers[i.topic] for i in sub.inputs if i.internal}:
            raise ConfigError(
                f"task {sub_id}_{partition} was run with other partition counts upstream "
                f"(internal topics' writers changed): drain the pipeline (shoal run --drain) "
                "or `shoal reset` it before running it with new partition counts")
        task_id = f"{sub_id}_{partition}"
        checkpoint = self.local.checkpoint.pop(task_id, None) if self.local else None
        restored = 0
        if progress is not None and checkpoint == progress:
            if sub.stores:
                self._event(f"task {task_id}: stores as the last clean stop left them "
                            "(checkpoint), nothing restored")
        else:
            restored = await self._restore(sub.stores, partition,
                                           0 if progress is None else saved_n(progress))
        if progress is not None:
            self.last_progress[task_id] = progress
        task = self.tasks[(sub_id, partition)] = Task(sub, partition, self.env, progress)
        return task, restored

    async def _restore(self, stores: tuple[str, ...], partition: int, n: int) -> int:
        """Rebuild a task's local stores from their changelogs, as of its committed progress
        (`n` records run); how many it rebuilt."""
        if not self.transport.changelogs or self.local is None:
            return 0
        for store in stores:
            name = f"{self.plan.pipeline}.{store}"
            self.local.reset(name, partition)
            changes = await self.transport.read_changelog(name, partition, n)
            self.local.write(name, changes)
            self._event(f"restored {store}[{partition}] from its changelog: "
                        f"{len(changes)} changes")
        return len(stores)
