"""Logs: the protocol, the embedded RocksDB log, an in-memory log, and the partitioner."""

from engine.transport.base import (
    AssignmentListener,
    CommitBatch,
    Consumer,
    PartitionReader,
    RecordTuple,
    Routed,
    StateWrite,
    TopicDescription,
    Transport,
    changelog_topic,
    progress_topic,
    read_partitions,
    read_range,
)
from engine.transport.embedded import EmbeddedLog
from engine.transport.memory import MemoryLog
from engine.transport.partitioner import murmur2, partition_for
from engine.transport.url import data_dir, open_transport

__all__ = [
    "AssignmentListener",
    "CommitBatch",
    "Consumer",
    "EmbeddedLog",
    "MemoryLog",
    "PartitionReader",
    "RecordTuple",
    "Routed",
    "StateWrite",
    "TopicDescription",
    "Transport",
    "changelog_topic",
    "data_dir",
    "murmur2",
    "open_transport",
    "partition_for",
    "progress_topic",
    "read_partitions",
    "read_range",
]
