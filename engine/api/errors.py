"""Errors a user can act on; the CLI prints their message as one line."""


class ShoalError(Exception):
    """Base of every error Shoal reports to a user without a traceback."""


class PlanError(ShoalError):
    """The pipeline cannot be compiled (bad names, missing inputs, unsupported shape)."""


class ConfigError(ShoalError):
    """A command line, URL or configuration value is wrong."""


class TransportError(ShoalError):
    """The log (embedded or Kafka) refused an operation."""


class LogBusy(TransportError):
    """Another process (a running job) holds the embedded log: hand records to it."""


class UnknownTopicError(TransportError):
    """A topic that must exist does not."""

    def __init__(self, topic: str, hint: str = "") -> None:
        self.topic = topic
        super().__init__(f"topic '{topic}' does not exist{hint}")


class PipelineFailed(ShoalError):
    """A record failed under the `fail` error policy; nothing after it was committed."""


class LateRecord(Exception):
    """A record whose windows have all closed (stream time >= end + grace)."""
