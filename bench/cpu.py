"""CPU time per record: our processors, their Powertools equivalents, the ``json.loads`` floor.

Every job runs on a fresh copy of the event (``json.loads`` of the event text, untimed: the
Lambda runtime does it before any handler runs, and it is the floor figure) with the same
stubbed sink client. Jobs are interleaved round by round, after one untimed warm-up round;
after each run the job drops what it still references of the batch (Powertools'
``BatchProcessor`` keeps the records until its next call) and a full garbage collection
runs, so every run starts from the same small heap. The figure is the median over the
rounds of ``time.process_time_ns`` (CPU time of this process: waiting and other processes
do not count) divided by the number of records.
"""

from __future__ import annotations

import gc
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from bench import ours, workload
from bench import powertools_contenders as pt
from bench.stubs import CountingClient
from handlers.etl import GZIP_LEVEL, EtlProcessor
from handlers.stream import parse_event

__all__ = ["Job", "Timing", "gzip_level", "jobs", "measure"]


@dataclass(frozen=True)
class Timing:
    """CPU microseconds per record over the rounds."""

    median: float
    low: float
    high: float


@dataclass(frozen=True)
class Job:
    """``run(event)`` is timed; ``fresh``: it needs its own parsed event; ``release`` (untimed)
    drops what the job still holds of the batch."""

    fresh: bool
    run: Callable[[Any], object]
    release: Callable[[], None] = lambda: None


def jobs(text: str, view_type: str = "NEW_AND_OLD_IMAGES") -> dict[str, Job]:
    """Every CPU job on one event text, by figure name (processors that need the new image
    are left out of a KEYS_ONLY run)."""
    client = CountingClient()
    context = ours.Context()
    out: dict[str, Job] = {"floor": Job(False, lambda _: json.loads(text))}
    etl = ours.build("etl", client)
    assert isinstance(etl, EtlProcessor)
    runs, stop, reason = etl.plan(parse_event(json.loads(text)))
    assert stop == len(json.loads(text)["Records"]), reason
    out["etl_encode"] = Job(True, lambda ev: etl.plan(parse_event(ev)))
    out["etl_compress"] = Job(False, lambda _: [run.body() for run in runs])
    pt_encode = pt.PowertoolsEtl(client, compress=False)
    out["powertools_etl_encode"] = Job(
        True, lambda ev: pt_encode.handler(ev, context), pt_encode.release
    )
    for name in ours.NAMES:
        if view_type == "KEYS_ONLY" and name in ours.IMAGES_NEEDED:
            continue
        processor = ours.build(name, client)
        contender = pt.build(name, client)
        out[name] = Job(True, partial(_process, processor, context))
        if name not in ours.IMAGES_NEEDED:
            # view and replicate: the entry point's own cost is the engine's, already timed
            # with the others (left out to keep the benchmark's run time down)
            out[f"{name}_handler"] = Job(True, partial(_handler, processor, context))
        out[f"powertools_{name}"] = Job(
            True, partial(_contender, contender, context), contender.release
        )
    return out


def _process(processor: Any, context: Any, event: Any) -> object:
    return ours.process(processor, event, context)


def _handler(processor: Any, context: Any, event: Any) -> object:
    return ours.handler(processor, event, context)


def _contender(contender: Any, context: Any, event: Any) -> object:
    return contender.handler(event, context)


def measure(view_type: str, rounds: int, n: int = workload.BATCH) -> dict[str, Timing]:
    """Timings of every job on the ``n``-record event of ``view_type``."""
    text = workload.event_text(n, view_type)
    todo = jobs(text, view_type)
    samples: dict[str, list[int]] = {name: [] for name in todo}
    for round_ in range(rounds + 1):  # round 0 warms up (caches, first allocations)
        for name, job in todo.items():
            event = json.loads(text) if job.fresh else None
            gc.collect()
            start = time.process_time_ns()
            job.run(event)
            elapsed = time.process_time_ns() - start
            if round_:
                samples[name].append(elapsed)
            del event
            job.release()
    return {
        name: Timing(
            statistics.median(values) / 1000 / n, min(values) / 1000 / n, max(values) / 1000 / n
        )
        for name, values in samples.items()
    }


def gzip_level() -> int:
    return GZIP_LEVEL
