"""Preparing a plan's topics before a worker starts: check the inputs, create the rest."""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.api import ConfigError, UnknownTopicError
from engine.physical import InternalTopic, PhysicalPlan
from engine.transport import Transport, changelog_topic, progress_topic


@dataclass
class Layout:
    """Partition counts: of every topic a plan's tasks touch, and of each sub-topology (its
    task count); and how many tasks write each internal topic."""

    counts: dict[str, int] = field(default_factory=dict)
    tasks: dict[int, int] = field(default_factory=dict)
    writers: dict[str, int] = field(default_factory=dict)


async def prepare_topics(plan: PhysicalPlan, transport: Transport) -> Layout:
    """Check that the source topics exist; create internal, sink, changelog and dead-letter
    topics; return the layout the tasks are built with."""
    existing = await transport.topics()
    for topic in (*plan.external_sources, *plan.global_topics):
        if topic not in existing:
            raise UnknownTopicError(topic, " (create it first, e.g. `shoal produce "
                                    f"{topic} FILE --partitions N`)")
    layout = Layout(counts=existing)
    internal = {t.name: t for t in plan.internal_topics}
    for sub in plan.subtopologies:
        counts = [existing[t] for t in sub.sources if t in existing]
        count = layout.tasks[sub.id] = max(counts) if counts else 1
        if sub.copartitioned and len(set(counts)) > 1:
            sizes = ", ".join(f"'{t}' has {existing[t]}" for t in sub.sources if t in existing)
            raise ConfigError(f"a join needs co-partitioned inputs, but {sizes} partitions: "
                              "give them the same count (or key_by(..., partitions=N))")
        for store in sub.stores if transport.changelogs else ():
            await _create(transport, existing, changelog_topic(f"{plan.pipeline}.{store}"),
                          count, compact=True)
        for topic, kind in sub.outputs:
            wanted = _repartition_size(plan, internal[topic], existing) \
                if kind == "internal" else None
            await _create(transport, existing, topic, wanted or count)
    for t in plan.internal_topics:
        layout.writers[t.name] = layout.tasks[t.written_by]
    if transport.changelogs:
        await _create(transport, existing, progress_topic(plan.pipeline),
                      max(layout.tasks.values()), compact=True)
    await _create(transport, existing, plan.dead_letter_topic, max(layout.tasks.values()),
                  retention_ms=plan.dead_letter_retention_ms)
    return layout


async def _create(transport: Transport, existing: dict[str, int], topic: str, count: int,
                  compact: bool = False, retention_ms: int | None = None) -> None:
    if topic not in existing:
        existing[topic] = count
        await transport.create_topic(topic, count, compact=compact, retention_ms=retention_ms)


def _repartition_size(plan: PhysicalPlan, topic: InternalTopic, existing: dict[str, int]
                      ) -> int | None:
    """The planned count, else that of the reader's other inputs (a key_by feeding a join
    takes the join's partition count), else None (the writer's count)."""
    if topic.partitions is not None:
        return topic.partitions
    reader = plan.subtopologies[topic.read_by]
    internal = plan.internal_names
    return max((existing[t] for t in reader.sources if t in existing and t not in internal),
               default=None)
