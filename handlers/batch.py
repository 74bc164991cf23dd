"""Running processors over one Lambda batch with Lambda's partial-failure rules.

The rules this module implements (docs/aws-semantics.md#failures-retries-and-checkpoints):

* Every processor applies a *prefix* of the batch and stops at its first failure: Lambda
  restarts from the lowest reported record and redelivers every later one, so side effects
  for later records would only be repeated.
* The processors of a pipeline run at once over the same batch (one thread each: their
  sinks' round trips overlap), each over every record from where its own progress ends. A
  processor may therefore apply records past another one's failure: what it applied is
  recorded where the redelivery starts (below), so the redelivery skips it for that
  processor and never repeats its effects.
* The response reports the lowest failed record and every later one. Success is never
  reported for a record some processor has not applied.
* When the lowest failure is the batch's *first* record and it is a poison record (or the
  time budget ran out before anything was done), the handler raises instead: with
  ``BisectBatchOnFunctionError`` Lambda then narrows the batch down to that record (splits
  do not use up retries), whereas a partial-failure report would send it, with every later
  record of the batch, to the failure destination once retries run out. Transient sink
  failures on the first record are reported instead (a whole-batch retry without bisecting).
* Progress past the restart point is recorded in the checkpoint table (see checkpoint.py),
  so the redelivery skips what a processor already applied.
* The remaining time is watched; processors stop early and report the rest rather than
  being killed at the timeout (a killed function can report nothing).
"""

from __future__ import annotations

import contextvars
import math
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

from handlers.checkpoint import (
    COVERED_BYTES,
    CheckpointStore,
    CoveredTooLarge,
    check_covered,
    encode_covered,
)
from handlers.observe import emit_metrics, log
from handlers.stream import StreamRecord, parse_event, sequence_numbers, sequence_problem

__all__ = [
    "Batch",
    "BatchFailed",
    "Budget",
    "Failure",
    "Outcome",
    "Processor",
    "WindowProcessor",
    "covered_after",
    "run_batch",
]


class Failure(Enum):
    POISON = "poison"  # the record itself (or the sink's permanent rejection of it)
    TRANSIENT = "transient"  # the sink is unavailable; the same record may succeed later
    TIME = "time"  # not attempted: the invocation's time budget ran out


class BatchFailed(RuntimeError):
    """Raised to make Lambda retry (and, with bisect on, split) the whole batch."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a processor did with the records it was given.

    ``done`` records (a prefix) were applied; when ``done`` is short of the records given,
    the record at ``done`` failed with ``failure`` for ``reason``.
    """

    done: int
    failure: Failure | None = None
    reason: str = ""


class Budget:
    """The invocation's time budget, minus a reserve to report before the timeout.

    Guess (documented): reserve 10% of the time left at the start, at least 250 ms and at
    most 3 s; Lambda gives no signal before killing a function at its timeout.
    """

    def __init__(self, context: object, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        if callable(remaining):
            seconds = float(remaining()) / 1000.0
            reserve = min(3.0, max(0.25, 0.1 * seconds))
            self._deadline = clock() + seconds - reserve
        else:
            self._deadline = float("inf")

    def expired(self) -> bool:
        return self._clock() >= self._deadline

    def remaining(self) -> float:
        return max(0.0, self._deadline - self._clock())


@dataclass
class Batch:
    """One invocation's records and what processors share about it."""

    records: Sequence[StreamRecord]
    stream_arn: str
    budget: Budget
    store: CheckpointStore | None = None
    loaded: dict[str, int] = field(default_factory=dict)
    loaded_item: dict[str, Any] = field(default_factory=dict)
    window: dict[str, Any] | None = None
    state: dict[str, Any] = field(default_factory=dict)
    new_state: dict[str, Any] = field(default_factory=dict)
    final_window: bool = False
    window_terminated_early: bool = False
    shard_id: str = ""
    partial: bool = False  # records of this batch will be reported failed
    _seqs: list[int] | None = field(default=None, init=False, repr=False, compare=False)

    def seqs(self) -> list[int]:
        """The records' sequence numbers as integers (``StreamRecord.seq``), parsed once per
        batch (processors on other threads may parse them too: the same list)."""
        if self._seqs is None:
            self._seqs = sequence_numbers(self.records)
        return self._seqs

    def restart_points(self) -> list[int]:
        """Indexes where the next delivery of these records can start after a function
        error: the first record (same batch again), or a bisected half. Guess: AWS's split
        point for an odd count is not documented, so both neighbours are covered."""
        n = len(self.records)
        return sorted({0, n // 2, (n + 1) // 2} - {n})


class Processor(Protocol):
    name: str

    def process(self, records: Sequence[StreamRecord], batch: Batch) -> Outcome: ...


class WindowProcessor(Processor, Protocol):
    """A processor that keeps tumbling-window state: after every processor ran, it learns
    which of its records the batch applied (``batch.partial``: some are reported failed)
    and decides then what to commit and which state to answer with."""

    def finish_window(self, records: Sequence[StreamRecord], batch: Batch) -> Outcome: ...


def _skip_count(records: Sequence[StreamRecord], through: int | None) -> int:
    """Leading records already applied (sequence numbers <= ``through``, same shard)."""
    if through is None:
        return 0
    count = 0
    for record in records:
        if record.seq > through:
            break
        count += 1
    return count


def run_batch(
    event: object,
    context: object,
    processors: Sequence[Processor],
    store: CheckpointStore | None,
    *,
    concurrent: bool = True,
) -> dict[str, Any]:
    """Run ``processors`` over the event's records; return Lambda's batch response.
    ``concurrent``: the processors run at once (``_apply``); False runs them one after
    another, each stopping at the lowest failure found before it."""
    started = time.monotonic()
    records = parse_event(event)
    assert isinstance(event, dict)  # parse_event rejected anything else
    window = event.get("window") if isinstance(event.get("window"), dict) else None
    batch = Batch(
        records=records,
        stream_arn=records[0].stream_arn if records else str(event.get("eventSourceARN", "")),
        budget=Budget(context),
        store=store,
        window=window,
        state=dict(event.get("state") or {}) if window is not None else {},
        final_window=bool(event.get("isFinalInvokeForWindow")),
        window_terminated_early=bool(event.get("isWindowTerminatedEarly")),
        shard_id=str(event.get("shardId", "")),
    )
    if not records:
        if batch.final_window or batch.window_terminated_early:
            _close_window(batch, processors)
        elif window is not None:
            batch.new_state = dict(batch.state)  # nothing happened: keep the state
        return _response([], batch)
    problem = sequence_problem(records)
    if problem:
        log("ERROR", "batch cannot be reported per record; failing it whole", reason=problem)
        raise BatchFailed(problem)

    n = len(records)
    if store is not None:
        try:  # before anything is applied: no entry of this batch may outgrow its item
            check_covered(records[0].seq, records[-1].seq, n - 1, lambda: batch.seqs()[1:])
        except CoveredTooLarge as exc:
            log("ERROR", "batch too large for its checkpoint entries", reason=str(exc))
            raise BatchFailed(str(exc)) from exc
        batch.loaded_item = store.load_item(batch.stream_arn, records[0].sequence_number)
        batch.loaded = store.progress(batch.loaded_item)
        _protect_redelivery(batch)
    starts = [_skip_count(records, batch.loaded.get(p.name)) for p in processors]
    ends, error = _apply(processors, batch, starts, concurrent)
    limit = n
    lowest: tuple[str, Outcome] | None = None
    through: dict[str, int] = {}
    counts: dict[str, tuple[int, int]] = {}
    for processor, start, (end, outcome) in zip(processors, starts, ends, strict=True):
        previous = batch.loaded.get(processor.name)
        if outcome is not None and end < limit:  # the lowest failure (the first one's on ties)
            limit = end
            lowest = (processor.name, outcome)
        # What this processor applied, past ``limit`` too: the redelivery starts at
        # ``limit`` and must skip it (recorded there by _record_progress).
        applied_seq = records[end - 1].seq if end else None
        best = max((v for v in (previous, applied_seq) if v is not None), default=None)
        if best is not None:
            through[processor.name] = best
        counts[processor.name] = (end - start, start)

    if error is not None:
        if isinstance(error, Exception):
            # Lambda retries (and bisects) the batch: what the others applied is recorded
            # where it restarts. A BaseException (the process dying) records nothing.
            try:
                _record_progress(batch, batch.restart_points(), through)
            except Exception as save:
                log("ERROR", "recording progress after a processor's error failed", error=save)
        raise error
    if batch.window is not None:
        limit, lowest = _finish_windows(batch, processors, counts, limit, lowest, through)
    failed = records[limit:]
    _report(batch, processors, counts, limit, lowest, started)
    if not failed:
        return _response([], batch)

    assert lowest is not None
    name, outcome = lowest
    raise_now = limit == 0 and outcome.failure in (Failure.POISON, Failure.TIME, None)
    points = batch.restart_points() if raise_now else [limit]
    _record_progress(batch, points, through)
    if raise_now:
        raise BatchFailed(
            f"{name}: the first record of the batch failed ({outcome.reason}); raising so "
            "that Lambda retries the batch and bisects it down to the failing record"
        )
    return _response(failed, batch)


def _finish_windows(
    batch: Batch,
    processors: Sequence[Processor],
    counts: dict[str, tuple[int, int]],
    limit: int,
    lowest: tuple[str, Outcome] | None,
    through: dict[str, int],
) -> tuple[int, tuple[str, Outcome] | None]:
    """Let window processors settle the batch once its outcome is known (``WindowProcessor``);
    one that fails lowers the limit to what it made durable."""
    for processor in processors:
        finish = getattr(processor, "finish_window", None)
        if finish is None:
            continue
        _, start = counts[processor.name]
        batch.partial = limit < len(batch.records)
        share = batch.records[start:limit] if start < limit else []
        outcome = finish(share, batch)
        # What it made durable ends at the limit (its state keeps no record past a failure).
        end = start + min(max(outcome.done, 0), len(share))
        previous = batch.loaded.get(processor.name)
        applied = batch.records[end - 1].seq if end > start else None
        best = max((v for v in (previous, applied) if v is not None), default=None)
        through.pop(processor.name, None)
        if best is not None:
            through[processor.name] = best
        counts[processor.name] = (end - start, start)
        if end < limit:
            limit = end
            lowest = (processor.name, outcome)
    return limit, lowest


def _apply(
    processors: Sequence[Processor], batch: Batch, starts: Sequence[int], concurrent: bool
) -> tuple[list[tuple[int, Outcome | None]], BaseException | None]:
    """Each processor's end (records[start:end] applied) and outcome (None: it was given
    nothing, or raised), and the exception a processor raised (the first processor's).

    Concurrently, every processor gets every record from its start, one thread each (a copy
    of this thread's context, so each keeps its own retry budget), and all run to their end
    whatever another raises. One after another, a processor gets the records up to the
    lowest failure so far, and an exception stops the rest."""
    records = batch.records
    ends: list[tuple[int, Outcome | None]] = [(start, None) for start in starts]
    todo = [i for i, start in enumerate(starts) if start < len(records)]
    if not concurrent or len(todo) < 2:
        limit = len(records)
        for i in todo:
            if starts[i] < limit:
                try:
                    ends[i] = _end(processors[i], records[starts[i] : limit], starts[i], batch)
                except BaseException as exc:  # raised again by run_batch
                    return ends, exc
                limit = min(limit, ends[i][0])
        return ends, None
    errors: list[BaseException | None] = [None] * len(processors)

    def run(i: int) -> None:
        try:
            ends[i] = _end(processors[i], records[starts[i] :], starts[i], batch)
        except BaseException as exc:  # raised again by run_batch, never swallowed
            errors[i] = exc

    threads = [
        threading.Thread(
            target=contextvars.copy_context().run, args=(run, i), name=processors[i].name
        )
        for i in todo[1:]
    ]
    for thread in threads:
        thread.start()
    run(todo[0])
    for thread in threads:
        thread.join()
    return ends, next((e for e in errors if e is not None), None)


def _end(
    processor: Processor, given: Sequence[StreamRecord], start: int, batch: Batch
) -> tuple[int, Outcome]:
    outcome = processor.process(given, batch)
    return start + min(max(outcome.done, 0), len(given)), outcome


def _close_window(batch: Batch, processors: Sequence[Processor]) -> None:
    """An invocation of a tumbling window with no records that ends it (final, or ended
    early): Lambda sends the final one when the window closes after the last batch (the
    records were in earlier invocations, their aggregate is in ``state``). Processors still
    get it, with no records, so they commit the window; a failure raises, and Lambda retries
    the invocation until it succeeds.
    """
    for processor in processors:
        outcome = processor.process([], batch)
        finish = getattr(processor, "finish_window", None)
        if outcome.failure is None and finish is not None:
            outcome = finish([], batch)
        if outcome.failure is not None:
            raise BatchFailed(f"{processor.name}: closing the window failed ({outcome.reason})")


def _protect_redelivery(batch: Batch) -> None:
    """In a redelivery, record progress at this batch's own bisect points first, and at every
    record the loaded entry's ``covered`` lists.

    When the loaded entry says a processor already applied records past this batch's
    bisect point and the invocation then dies (timeout, out of memory), Lambda bisects and
    the second half starts at a record no entry names: it would be applied again. Writing
    the entries up front closes that; it costs a write only on such redeliveries.

    That write can be cut short too (the invocation dies before it lands), and Lambda then
    bisects this batch further. So the analytics commit lists, at the batch's first record,
    every record it covered (``checkpoint.COVERED``); a redelivery starting there (the same
    batch, or its first half, which Lambda runs before the rest) writes the progress at each
    of them, then drops the list: whatever Lambda delivers later starts at a record with an
    entry. Only if every delivery starting at that record dies before these writes land
    (the record then fails for good) could a later one miss its entry.
    """
    starts = [batch.records[i].sequence_number for i in batch.restart_points() if i]
    covered = CheckpointStore.covered(batch.loaded_item, batch.records[0].sequence_number)
    _save_progress(batch, starts + covered, batch.loaded)
    if covered and batch.store is not None:
        batch.store.forget_covered(batch.stream_arn, batch.records[0].sequence_number)


def _record_progress(batch: Batch, starts: Sequence[int], through: dict[str, int]) -> None:
    """Save, at each start index, the progress of processors that applied past it, with the
    later records of the batch it covers (``checkpoint.COVERED``): a redelivery starting
    there writes the progress at each of them before anything else (``_protect_redelivery``),
    so a bisected half of a later redelivery that died before its own up-front writes landed
    still finds an entry (found by the soak, issue 17: the ETL lines and notifications of
    records past a partial failure were applied again)."""
    records = batch.records
    if batch.store is None:
        return
    entries: dict[str, dict[str, int]] = {}
    covered: dict[str, str] = {}
    for i in starts:
        start = records[i].sequence_number
        progress = {p: t for p, t in through.items() if t >= int(start)}
        if progress:
            entries[start] = progress
            top = max(progress.values())
            # fits: run_batch checked the whole batch's list (check_covered)
            covered[start] = covered_after(batch, i, top, limit=None)
    if entries:
        batch.store.save(batch.stream_arn, entries, covered)


def covered_after(batch: Batch, i: int, through: int, limit: int | None = COVERED_BYTES) -> str:
    """The ``covered`` text of the entry at ``batch.records[i]``: the batch's later records
    up to ``through`` (``checkpoint.encode_covered``, which raises ``CoveredTooLarge`` past
    ``limit``)."""
    seqs = batch.seqs()
    later = seqs[i + 1 :]
    if later and max(later) > through:  # else every one is covered (the usual case)
        later = [s for s in later if s <= through]
    return encode_covered(seqs[i], later, limit)


def _save_progress(batch: Batch, starts: Sequence[str], through: dict[str, int]) -> None:
    """Save, at each start (a sequence number), the progress of processors past it."""
    entries: dict[str, dict[str, int]] = {}
    for start in starts:
        progress = {p: t for p, t in through.items() if t >= int(start)}
        if progress:
            entries[start] = progress
    if batch.store is not None and entries:
        batch.store.save(batch.stream_arn, entries)


def _response(failed: Sequence[StreamRecord], batch: Batch) -> dict[str, Any]:
    response: dict[str, Any] = {
        "batchItemFailures": [{"itemIdentifier": r.sequence_number} for r in failed]
    }
    if batch.window is not None:
        # Tumbling windows: the response must carry state, or the invocation counts as failed.
        response["state"] = batch.new_state
    return response


def _report(
    batch: Batch,
    processors: Sequence[Processor],
    counts: dict[str, tuple[int, int]],
    limit: int,
    lowest: tuple[str, Outcome] | None,
    started: float,
) -> None:
    records = batch.records
    failed = len(records) - limit
    newest = 0
    for record in records:
        value = record.dynamodb.get("ApproximateCreationDateTime")
        if (
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and math.isfinite(value)
            and newest < value < 1e12
        ):
            newest = int(value)
    lag_ms = max(0, int(time.time() * 1000) - newest * 1000) if newest else 0
    by_event: dict[str, int] = {}
    for record in records[:limit]:
        name = record.raw.get("eventName")
        if isinstance(name, str):
            by_event[name] = by_event.get(name, 0) + 1
    fields: dict[str, Any] = {
        "records": len(records),
        "failed": failed,
        "first_sequence_number": records[0].sequence_number,
        "last_sequence_number": records[-1].sequence_number,
        "iterator_lag_ms": lag_ms,
        "duration_ms": int((time.monotonic() - started) * 1000),
        "processors": {
            name: {"applied": done, "skipped": skipped} for name, (done, skipped) in counts.items()
        },
    }
    if lowest is not None:
        name, outcome = lowest
        bad = records[limit]
        fields["failure"] = {
            "processor": name,
            "kind": outcome.failure.value if outcome.failure else "unknown",
            "reason": outcome.reason,
        }
        log(
            "ERROR",
            "record failed",
            processor=name,
            kind=fields["failure"]["kind"],
            reason=outcome.reason,
            sequence_number=bad.sequence_number,
            event_id=bad.event_id,
            event_name=bad.raw.get("eventName"),
        )
    log("INFO" if not failed else "WARNING", "batch processed", **fields)
    function = _function_name()
    # The reported records are charged to the processor whose failure cut the batch (the
    # others' alarms stay quiet: their records are only redelivered, and skipped by them).
    failing = lowest[0] if lowest is not None else None
    for processor in processors:
        done, skipped = counts.get(processor.name, (0, 0))
        emit_metrics(
            {
                "RecordsProcessed": (float(done + skipped), "Count"),
                "RecordsFailed": (float(failed if processor.name == failing else 0), "Count"),
                "InsertRecords": (float(by_event.get("INSERT", 0)), "Count"),
                "ModifyRecords": (float(by_event.get("MODIFY", 0)), "Count"),
                "RemoveRecords": (float(by_event.get("REMOVE", 0)), "Count"),
                "IteratorLagMs": (float(lag_ms), "Milliseconds"),
            },
            {"Function": function, "Processor": processor.name},
        )


def _function_name() -> str:
    return os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "local")
