"""What the stream pollers (``ddbt.local.stream_poller``) and the SQS poller
(``ddbt.local.queue_poller``) share: their options, and the progress the runtime reads of
a shard or a queue (``Runtime.status``, ``Runtime.caught_up``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["PollerOptions", "ShardProgress"]


class ShardProgress(Protocol):
    """What the runtime's status and ``caught_up`` read of a shard (or a queue)."""

    caught_up_at: float
    closed: bool

    def idle(self) -> bool: ...


@dataclass
class PollerOptions:
    poll_interval: float = 0.25
    shard_refresh: float = 5.0
    retry_delay: float = 0.5
    max_retry_delay: float = 5.0
    window_grace: float = 1.0
    max_buffered: int = 10_000
    # LATEST on a local endpoint: start at TRIM_HORIZON and skip records older than the
    # mapping's LastModified, so a poller started after `terraform apply` still sees the
    # writes made since the mapping was created (on AWS the mapping itself starts reading at
    # creation). On a real stream LATEST is the LATEST iterator.
    latest_from_mapping_time: bool = True
    # SQS sources: the long poll of an idle receive (AWS uses 20 s; shorter here so a stopping
    # runtime is not held up), and how many batches of one mapping run at once (AWS starts
    # with 5 and scales to 1,000 or ScalingConfig.MaximumConcurrency; one by default locally).
    sqs_wait_seconds: int = 1
    sqs_concurrency: int = 1
    # Tumbling windows: AWS ends a window early when its state passes 1 MB per shard; lower
    # it to make that happen on demand. Whether the early-ended invocation also says
    # isFinalInvokeForWindow, and whether a state returned beside batchItemFailures is kept,
    # AWS does not say: both readings can be run.
    window_state_limit: int = 1024 * 1024
    early_end_marks_final: bool = False
    keep_state_on_partial: bool = True
