"""Our contenders: the real processors (``handlers.*``), each with a stubbed sink client.

``process`` is what the CPU figures time: ``parse_event`` plus ``Processor.process`` over
the whole batch (what the engine does around it, per record, is timed by ``handler``, which
runs ``run_batch`` as the entry points do, without a checkpoint table).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from typing import Any

from bench import workload as w
from handlers.analytics import AnalyticsProcessor, AnalyticsSettings
from handlers.batch import Batch, Budget, Outcome, Processor, run_batch
from handlers.cache import CacheProcessor
from handlers.etl import EtlProcessor
from handlers.eventbus import EventBusProcessor
from handlers.notification import NotificationProcessor
from handlers.registry import NAMES, PROCESSORS
from handlers.replicate import ReplicateProcessor
from handlers.stream import parse_event
from handlers.versioned import Versioned
from handlers.view import ViewProcessor

__all__ = ["IMAGES_NEEDED", "NAMES", "Context", "build", "handler", "process"]

# Processors that need the new image (a KEYS_ONLY stream cannot feed them).
IMAGES_NEEDED = tuple(p.name for p in PROCESSORS if p.needs_images)


class Context:
    """The parts of a Lambda context the handlers use (15 minutes left: never expires here)."""

    function_name = "bench"
    aws_request_id = "00000000-0000-0000-0000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


def build(name: str, client: Any) -> Processor:
    """Processor ``name`` configured as the benchmark's sinks, writing through ``client``."""
    getter: Callable[[], Any] = lambda: client  # noqa: E731
    if name == "etl":
        return EtlProcessor(w.BUCKET, w.PREFIX, getter)
    if name == "notification":
        return NotificationProcessor(w.TOPIC_ARN, getter)
    if name == "analytics":
        return AnalyticsProcessor(
            AnalyticsSettings(w.AGGREGATES_TABLE, w.GROUP_BY), getter, "bench"
        )
    if name == "eventbus":
        return EventBusProcessor(w.EVENT_BUS, getter)
    if name == "view":
        partition, sort = w.VIEW_KEY
        return ViewProcessor(
            Versioned(w.VIEW_TABLE, getter), partition, sort, attributes=w.VIEW_ATTRIBUTES
        )
    if name == "replicate":
        return ReplicateProcessor(Versioned(w.REPLICA_TABLE, getter))
    if name == "cache":
        return CacheProcessor(getter)
    raise ValueError(name)


def process(processor: Processor, event: dict[str, Any], context: Any) -> Outcome:
    """Parse the event and run the processor over every record; asserts all were applied."""
    records = parse_event(event)
    outcome = processor.process(records, Batch(records, records[0].stream_arn, Budget(context)))
    if outcome.done != len(records):
        raise AssertionError(f"{processor.name} stopped at {outcome}")
    return outcome


def handler(processor: Processor, event: dict[str, Any], context: Any) -> dict[str, Any]:
    """``run_batch`` as an entry point runs it (no checkpoint table); log lines discarded."""
    with contextlib.redirect_stdout(io.StringIO()):
        response = run_batch(event, context, [processor], None)
    if response["batchItemFailures"]:
        raise AssertionError(f"{processor.name} reported failures")
    return response
