"""Delivery semantics of one batch: invocation, retries, bisection, partial failures, record
age and the on-failure destination (ESM-SEMANTICS sections 3 and 4).

Pure logic: the function call, the clock, sleeping and the destination are injected, so the
unit tests drive it with a fake function and a fake clock.

Choices where AWS is unsettled or undocumented (keep in sync with docs/local.md):

* Bisection (``BisectBatchOnFunctionError``) happens on the first function error and recurses
  down to single records; each half starts with a fresh retry budget and its own
  ``approximateInvokeCount`` (ESM-SEMANTICS' "reasonable model"). The first half is the smaller
  one for odd sizes (``n // 2``).
* A partial-failure response (``ReportBatchItemFailures``) checkpoints before the lowest
  reported record and retries exactly the remainder (the retried batch is not refilled with
  newer records); it uses one retry attempt, with or without bisect.
* An invalid partial-failure response (empty/null/unknown ``itemIdentifier``, wrong key name, a
  response that is neither an object nor empty) fails the whole batch with
  ``functionError: null`` and is not bisected; so is a tumbling-window response without
  ``state``.
* Record age (``MaximumRecordAgeInSeconds``; 24 h retention when -1) is checked before every
  invocation: the expired leading records go to the destination (condition
  ``RecordAgeExceeded``) and the rest is delivered.
* Errors before the invocation (function missing, code not downloadable) are retried every
  ``retry_delay`` without using attempts, until the records expire.
* A window's closing invocation without records (final, or ended early) is retried until it
  succeeds: AWS suspends the shard until its final processing succeeds.
* After a partial failure in a tumbling window, the returned ``state`` is kept
  (``keep_state_on_partial``; AWS does not say, so the other reading can be chosen).
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ddbt.model import MappingSettings, Rec

__all__ = [
    "BatchRunner",
    "Failure",
    "InvokeResult",
    "Stopped",
    "Window",
    "destination_message",
    "item_failures",
]


class Stopped(Exception):
    """The poller is stopping; undelivered records stay behind the checkpoint."""


@dataclass
class InvokeResult:
    """What one invocation of the function produced."""

    outcome: str  # "ok" | "error" | "timeout" | "not_invoked"
    payload: Any = None
    error_type: str = ""
    error_message: str = ""
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    duration: float = 0.0

    @property
    def function_error(self) -> bool:
        return self.outcome in ("error", "timeout")


@dataclass
class Window:
    """A tumbling window of one shard (or of one parallelization lane of it)."""

    start: float
    end: float
    state: dict[str, Any] = field(default_factory=dict)
    final: bool = False
    terminated_early: bool = False

    def fields(self, shard_id: str, stream_arn: str) -> dict[str, Any]:
        return {
            # As AWS spells them: whole seconds, no milliseconds (2020-07-30T17:00:00Z).
            "window": {"start": _iso_s(self.start), "end": _iso_s(self.end)},
            "state": dict(self.state),
            "shardId": shard_id,
            "eventSourceARN": stream_arn,
            "isFinalInvokeForWindow": self.final,
            "isWindowTerminatedEarly": self.terminated_early,
        }


@dataclass
class Failure:
    """A batch given up on: becomes one message for the on-failure destination."""

    records: list[Rec]
    condition: str  # RetryAttemptsExhausted | RecordAgeExceeded
    invoke_count: int
    function_error: str | None  # "Unhandled" or None
    request_id: str
    shard_id: str
    settings: MappingSettings
    at: float = field(default_factory=time.time)

    def message(self) -> dict[str, Any]:
        return destination_message(self)


def _iso_ms(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{int(ts * 1000) % 1000:03d}Z"
    )


def _iso_s(ts: float) -> str:
    return dt.datetime.fromtimestamp(int(ts), dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def destination_message(failure: Failure) -> dict[str, Any]:
    """AWS's on-failure message for stream sources (the conformance corpus's destinations)."""
    records = failure.records
    message: dict[str, Any] = {
        "requestContext": {
            "requestId": failure.request_id,
            "functionArn": failure.settings.function_arn,
            "condition": failure.condition,
            "approximateInvokeCount": failure.invoke_count,
        }
    }
    if failure.condition != "RecordAgeExceeded":
        # Recorded against AWS: a RecordAgeExceeded message has no responseContext, even
        # after invocations (tests/conformance/cases/destinations).
        message["responseContext"] = {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": failure.function_error,
        }
    message.update(
        {
            "version": "1.0",
            "timestamp": _iso_ms(failure.at),
            "DDBStreamBatchInfo": {
                "shardId": failure.shard_id,
                "startSequenceNumber": records[0].seq,
                "endSequenceNumber": records[-1].seq,
                "approximateArrivalOfFirstRecord": _iso_s(records[0].arrival),
                "approximateArrivalOfLastRecord": _iso_s(records[-1].arrival),
                "batchSize": len(records),
                "streamArn": failure.settings.stream_arn,
            },
        }
    )
    return message


@dataclass
class Attempt:
    """What the observer hears after each invocation."""

    records: Sequence[Rec]
    result: InvokeResult
    verdict: str  # ok | partial | invalid-response | error | timeout | not-invoked
    failed_from: int | None = None  # index of the lowest reported failure (partial)
    window: Window | None = None


class BatchRunner:
    """Delivers batches of one shard lane to one function until each record is done."""

    def __init__(
        self,
        settings: MappingSettings,
        shard_id: str,
        invoke: Callable[[dict[str, Any]], InvokeResult],
        *,
        on_failure: Callable[[Failure], None],
        on_done: Callable[[Sequence[Rec]], None] = lambda records: None,
        on_attempt: Callable[[Attempt], None] = lambda attempt: None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        retry_delay: float = 0.5,
        max_retry_delay: float = 5.0,
        should_stop: Callable[[], bool] = lambda: False,
        keep_state_on_partial: bool = True,
    ) -> None:
        self.settings = settings
        self.shard_id = shard_id
        self.invoke = invoke
        self.on_failure = on_failure
        self.on_done = on_done
        self.on_attempt = on_attempt
        self.clock = clock
        self.sleep = sleep
        self.retry_delay = retry_delay
        self.max_retry_delay = max_retry_delay
        self.should_stop = should_stop
        # Unsettled on AWS: whether a window's state returned beside batchItemFailures is
        # kept (True) or the previous one is passed again (False). Both can be run.
        self.keep_state_on_partial = keep_state_on_partial

    # -- public --------------------------------------------------------------------------
    def deliver(self, batch: Sequence[Rec], window: Window | None = None) -> dict[str, Any] | None:
        """Deliver ``batch`` (in sequence order) until every record is processed or sent to
        the destination. Returns the window state to keep (tumbling windows), else None."""
        state = [window.state if window else None]
        self._run(list(batch), window, state)
        return state[0]

    # -- internals -----------------------------------------------------------------------
    def _event(self, batch: Sequence[Rec], window: Window | None, state: Any) -> dict[str, Any]:
        event: dict[str, Any] = {"Records": [r.event for r in batch]}
        if window is not None:
            fields = window.fields(self.shard_id, self.settings.stream_arn)
            fields["state"] = dict(state or {})
            event.update(fields)
        return event

    def _expire(self, batch: list[Rec], invoke_count: int, last: InvokeResult | None) -> list[Rec]:
        limit = self.settings.record_age_limit
        now = self.clock()
        expired = 0
        while expired < len(batch) and now - batch[expired].arrival > limit:
            expired += 1
        if expired:
            self._fail(
                batch[:expired],
                "RecordAgeExceeded",
                invoke_count,
                "Unhandled" if last is not None and last.function_error else None,
                last,
            )
        return batch[expired:]

    def _fail(
        self,
        records: list[Rec],
        condition: str,
        invoke_count: int,
        function_error: str | None,
        last: InvokeResult | None,
    ) -> None:
        failure = Failure(
            records=records,
            condition=condition,
            invoke_count=invoke_count,
            function_error=function_error,
            request_id=last.request_id if last is not None else str(uuid.uuid4()),
            shard_id=self.shard_id,
            settings=self.settings,
            at=self.clock(),
        )
        self.on_failure(failure)
        self.on_done(records)

    def _backoff(self, failures: int) -> None:
        if self.retry_delay > 0:
            self.sleep(min(self.max_retry_delay, self.retry_delay * 2 ** max(0, failures - 1)))

    def _run(self, batch: list[Rec], window: Window | None, state: list[Any]) -> None:
        retries_left = self.settings.retry_limit
        invoke_count = 0
        consecutive = 0
        last: InvokeResult | None = None
        while True:
            if self.should_stop():
                raise Stopped()
            batch = self._expire(batch, invoke_count, last)
            closing = not batch and window is not None and (window.final or window.terminated_early)
            if not batch and not closing:
                return
            result = self.invoke(self._event(batch, window, state[0]))
            if result.outcome == "not_invoked":
                self.on_attempt(Attempt(batch, result, "not-invoked", window=window))
                consecutive += 1
                self._backoff(consecutive)
                continue
            invoke_count += 1
            last = result
            if result.function_error:
                self.on_attempt(Attempt(batch, result, result.outcome, window=window))
                if self.settings.bisect and len(batch) > 1:
                    half = len(batch) // 2
                    self._run(batch[:half], window, state)
                    self._run(batch[half:], window, state)
                    return
                retries_left -= 1
                if retries_left < 0 and not closing:
                    self._fail(batch, "RetryAttemptsExhausted", invoke_count, "Unhandled", last)
                    return
                consecutive += 1
                self._backoff(consecutive)
                continue

            verdict, index, new_state = self._judge(result.payload, batch, window)
            self.on_attempt(Attempt(batch, result, verdict, failed_from=index, window=window))
            keep = verdict == "ok" or (verdict == "partial" and self.keep_state_on_partial)
            if keep and window is not None:
                state[0] = new_state
                window.state = dict(new_state or {})
            if verdict == "ok":
                self.on_done(batch)
                return
            if verdict == "partial":
                assert index is not None
                self.on_done(batch[:index])
                batch = batch[index:]
            retries_left -= 1
            if retries_left < 0 and not closing:
                self._fail(batch, "RetryAttemptsExhausted", invoke_count, None, last)
                return
            consecutive += 1
            self._backoff(consecutive)

    def _judge(
        self, payload: Any, batch: Sequence[Rec], window: Window | None
    ) -> tuple[str, int | None, dict[str, Any] | None]:
        """(verdict, index of the lowest failed record, new window state)."""
        new_state: dict[str, Any] | None = None
        if window is not None:
            if not isinstance(payload, dict) or not isinstance(payload.get("state"), dict):
                return "invalid-response", None, None
            new_state = payload["state"]
        if not self.settings.report_item_failures:
            return "ok", None, new_state
        verdict, indexes = item_failures(payload, [r.seq for r in batch])
        if verdict == "partial":
            return verdict, min(indexes), new_state
        return verdict, None, new_state if verdict == "ok" else None


def item_failures(payload: Any, identifiers: Sequence[str]) -> tuple[str, list[int]]:
    """A ``ReportBatchItemFailures`` response, judged as Lambda does for streams (identifiers:
    sequence numbers) and SQS (message ids): ``("ok", [])`` for a null, empty (``{}``) or
    empty-list (``[]``, recorded against AWS) response or ``batchItemFailures`` null or
    ``[]``; ``("partial", indexes of the reported records)``;
    ``("invalid-response", [])`` (the whole batch failed) for a response that is not an object,
    or an ``itemIdentifier`` that is empty, null, not in the batch or under another key."""
    if payload is None or payload == {} or payload == []:
        return "ok", []
    if not isinstance(payload, dict):
        return "invalid-response", []
    failures = payload.get("batchItemFailures")
    if failures is None or failures == []:
        return "ok", []
    if not isinstance(failures, list):
        return "invalid-response", []
    order = {ident: i for i, ident in enumerate(identifiers)}
    indexes = []
    for entry in failures:
        ident = entry.get("itemIdentifier") if isinstance(entry, dict) else None
        if not isinstance(ident, str) or ident not in order:
            return "invalid-response", []
        indexes.append(order[ident])
    return "partial", indexes
