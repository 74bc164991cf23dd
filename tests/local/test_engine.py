"""Delivery semantics of one batch with a fake function (docs/aws-semantics.md: failures,
retries and checkpoints; the on-failure destination; tumbling windows)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ddbt.local.engine import BatchRunner, DiscardedBatch, InvokeResult, Window
from ddbt.local.model import MappingSettings, Rec

STREAM = "arn:aws:dynamodb:eu-west-1:123456789012:table/t/stream/2026-01-01T00:00:00.000"
FUNCTION = "arn:aws:lambda:eu-west-1:123456789012:function:f"


def settings(**kw: Any) -> MappingSettings:
    base: dict[str, Any] = {"uuid": "u-1", "function_arn": FUNCTION, "stream_arn": STREAM}
    base.update(kw)
    return MappingSettings(**base)


def recs(n: int, t0: float = 1_000.0) -> list[Rec]:
    out = []
    for i in range(n):
        seq = str(10**21 + i)
        out.append(
            Rec(
                seq=seq,
                key=f"k{i}",
                arrival=t0 + i,
                size=100,
                event={"dynamodb": {"SequenceNumber": seq}},
            )
        )
    return out


class Fake:
    """A function: ``behaviour(seqs, state) -> InvokeResult``; records every invocation."""

    def __init__(self, behaviour: Callable[[list[str], Any], InvokeResult]) -> None:
        self.behaviour = behaviour
        self.calls: list[list[str]] = []
        self.events: list[dict[str, Any]] = []

    def __call__(self, event: dict[str, Any]) -> InvokeResult:
        seqs = [r["dynamodb"]["SequenceNumber"] for r in event["Records"]]
        self.calls.append(seqs)
        self.events.append(event)
        return self.behaviour(seqs, event.get("state"))


def ok(payload: Any = None) -> InvokeResult:
    return InvokeResult("ok", payload=payload)


def run(
    fake: Fake, batch: list[Rec], now: float = 1_010.0, window: Window | None = None, **kw: Any
) -> tuple[list[DiscardedBatch], list[str], Any]:
    failures: list[DiscardedBatch] = []
    done: list[str] = []
    runner = BatchRunner(
        settings(**kw),
        "shardId-1",
        fake,
        on_failure=failures.append,
        on_done=lambda rs: done.extend(r.seq for r in rs),
        clock=lambda: now,
        retry_delay=0,
    )
    state = runner.deliver(batch, window)
    return failures, done, state


def test_success_checkpoints_everything_once() -> None:
    batch = recs(5)
    fake = Fake(lambda s, st: ok())
    failures, done, _ = run(fake, batch)
    assert fake.calls == [[r.seq for r in batch]] and not failures
    assert done == [r.seq for r in batch]


def test_errors_retry_the_same_batch_then_destination_with_aws_shape() -> None:
    batch = recs(3)
    fake = Fake(lambda s, st: InvokeResult("error", error_type="ValueError"))
    failures, done, _ = run(fake, batch, max_retries=2)
    assert len(fake.calls) == 3 and all(c == fake.calls[0] for c in fake.calls)
    (failure,) = failures
    msg = failure.message()
    assert msg["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert msg["requestContext"]["approximateInvokeCount"] == 3
    assert msg["requestContext"]["functionArn"] == FUNCTION
    assert msg["responseContext"] == {
        "statusCode": 200,
        "executedVersion": "$LATEST",
        "functionError": "Unhandled",
    }
    assert msg["version"] == "1.0"
    assert msg["timestamp"].endswith("Z") and len(msg["timestamp"]) == 24  # milliseconds
    assert msg["DDBStreamBatchInfo"] == {
        "shardId": "shardId-1",
        "startSequenceNumber": batch[0].seq,
        "endSequenceNumber": batch[-1].seq,
        "approximateArrivalOfFirstRecord": "1970-01-01T00:16:40Z",
        "approximateArrivalOfLastRecord": "1970-01-01T00:16:42Z",
        "batchSize": 3,
        "streamArn": STREAM,
    }
    assert set(msg) == {
        "requestContext",
        "responseContext",
        "version",
        "timestamp",
        "DDBStreamBatchInfo",
    }
    assert done == [r.seq for r in batch]  # given up on = checkpointed


def test_bisect_isolates_a_poison_record_without_using_retries() -> None:
    batch = recs(8)
    poison = batch[5].seq
    fake = Fake(lambda s, st: InvokeResult("error") if poison in s else ok())
    failures, done, _ = run(fake, batch, max_retries=1, bisect=True)
    assert [f.records for f in failures] == [[batch[5]]]
    assert failures[0].invoke_count == 2  # its own budget: 1 + 1 retry
    # each good record delivered successfully exactly once
    succeeded = [s for c in fake.calls if poison not in c for s in c]
    assert sorted(succeeded) == sorted(r.seq for r in batch if r.seq != poison)
    assert fake.calls[:3] == [
        [r.seq for r in batch],
        [r.seq for r in batch[:4]],
        [r.seq for r in batch[4:]],
    ]
    assert sorted(done) == sorted(r.seq for r in batch)


def test_timeout_counts_as_function_error_and_is_bisected() -> None:
    batch = recs(2)
    fake = Fake(lambda s, st: InvokeResult("timeout") if len(s) > 1 else ok())
    failures, _, _ = run(fake, batch, bisect=True, max_retries=0)
    assert fake.calls == [[batch[0].seq, batch[1].seq], [batch[0].seq], [batch[1].seq]]
    assert not failures


def test_partial_failure_restarts_at_lowest_reported_record() -> None:
    batch = recs(6)
    third, fifth = batch[2].seq, batch[4].seq
    answers = iter(
        [
            ok({"batchItemFailures": [{"itemIdentifier": fifth}, {"itemIdentifier": third}]}),
            ok({"batchItemFailures": []}),
        ]
    )
    fake = Fake(lambda s, st: next(answers))
    failures, done, _ = run(fake, batch, report_item_failures=True, bisect=True)
    assert fake.calls[1] == [r.seq for r in batch[2:]]
    assert not failures and done == [r.seq for r in batch]


def test_partial_failures_exhausted_send_the_remainder_with_null_function_error() -> None:
    batch = recs(5)
    fake = Fake(lambda s, st: ok({"batchItemFailures": [{"itemIdentifier": batch[3].seq}]}))
    failures, _, _ = run(fake, batch, report_item_failures=True, max_retries=2)
    assert fake.calls == [[r.seq for r in batch]] + [[r.seq for r in batch[3:]]] * 2
    (failure,) = failures
    assert failure.records == batch[3:]
    msg = failure.message()
    assert msg["responseContext"]["functionError"] is None
    assert msg["requestContext"]["approximateInvokeCount"] == 3
    assert msg["DDBStreamBatchInfo"]["batchSize"] == 2


@pytest.mark.parametrize(
    "payload",
    [
        {"batchItemFailures": [{"itemIdentifier": ""}]},
        {"batchItemFailures": [{"itemIdentifier": None}]},
        {"batchItemFailures": [{"itemIdentifier": "999"}]},
        {"batchItemFailures": [{"id": "x"}]},
        "not an object",
    ],
)
def test_invalid_partial_response_fails_the_whole_batch(payload: Any) -> None:
    batch = recs(3)
    fake = Fake(lambda s, st: ok(payload))
    failures, _, _ = run(fake, batch, report_item_failures=True, max_retries=1, bisect=True)
    assert fake.calls == [[r.seq for r in batch]] * 2  # not bisected
    assert failures[0].records == batch and failures[0].function_error is None


@pytest.mark.parametrize(
    "payload", [None, {}, {"batchItemFailures": None}, {"batchItemFailures": []}]
)
def test_full_success_responses(payload: Any) -> None:
    fake = Fake(lambda s, st: ok(payload))
    failures, done, _ = run(fake, recs(2), report_item_failures=True)
    assert len(fake.calls) == 1 and not failures and len(done) == 2


def test_response_ignored_without_report_batch_item_failures() -> None:
    fake = Fake(lambda s, st: ok({"batchItemFailures": [{"itemIdentifier": "x"}]}))
    failures, done, _ = run(fake, recs(2))
    assert len(fake.calls) == 1 and not failures and len(done) == 2


def test_record_age_sends_expired_records_without_invoking() -> None:
    batch = recs(4, t0=1_000.0)  # arrivals 1000..1003
    fake = Fake(lambda s, st: ok())
    failures, done, _ = run(fake, batch, now=1_062.5, max_record_age=60)
    (failure,) = failures
    assert failure.condition == "RecordAgeExceeded" and failure.records == batch[:3]
    assert failure.invoke_count == 0
    assert fake.calls == [[batch[3].seq]]
    assert sorted(done) == sorted(r.seq for r in batch)


def test_record_age_stops_retries() -> None:
    batch = recs(2, t0=1_000.0)
    clock = [1_001.0]
    calls = []

    def invoke(event: dict[str, Any]) -> InvokeResult:
        calls.append(1)
        clock[0] += 30  # each attempt takes 30 s
        return InvokeResult("error")

    failures: list[DiscardedBatch] = []
    BatchRunner(
        settings(max_record_age=60),
        "s",
        invoke,
        on_failure=failures.append,
        clock=lambda: clock[0],
        retry_delay=0,
    ).deliver(batch)
    # 1031: both young; 1061: the first is 61 s old -> destination; 1091: the second too
    assert len(calls) == 3
    assert [[r.seq for r in f.records] for f in failures] == [[batch[0].seq], [batch[1].seq]]
    assert {f.condition for f in failures} == {"RecordAgeExceeded"}
    assert failures[0].function_error == "Unhandled" and failures[0].invoke_count == 2


def test_not_invoked_does_not_use_attempts() -> None:
    answers = iter([InvokeResult("not_invoked")] * 3 + [InvokeResult("error"), ok()])
    fake = Fake(lambda s, st: next(answers))
    failures, _, _ = run(fake, recs(1), max_retries=1)
    assert len(fake.calls) == 5 and not failures


def test_tumbling_window_passes_and_keeps_state() -> None:
    window = Window(start=960.0, end=1_020.0)

    def count(seqs: list[str], state: Any) -> InvokeResult:
        return ok({"state": {"n": (state or {}).get("n", 0) + len(seqs)}, "batchItemFailures": []})

    fake = Fake(count)
    failures: list[DiscardedBatch] = []
    runner = BatchRunner(
        settings(tumbling_window=60),
        "shardId-9",
        fake,
        on_failure=failures.append,
        clock=lambda: 1_010.0,
        retry_delay=0,
    )
    batch = recs(5)
    assert runner.deliver(batch[:2], window) == {"n": 2}
    assert runner.deliver(batch[2:], window) == {"n": 5}
    window.final = True
    assert runner.deliver([], window) == {"n": 5}
    first, second, final = fake.events
    assert first["state"] == {} and second["state"] == {"n": 2} and final["state"] == {"n": 5}
    assert final["Records"] == [] and final["isFinalInvokeForWindow"] is True
    assert second["isFinalInvokeForWindow"] is False
    assert first["window"] == {
        "start": "1970-01-01T00:16:00Z",
        "end": "1970-01-01T00:17:00Z",
    }
    assert first["shardId"] == "shardId-9" and first["eventSourceARN"] == STREAM
    assert first["isWindowTerminatedEarly"] is False


def test_tumbling_window_response_without_state_is_a_failure() -> None:
    window = Window(start=960.0, end=1_020.0)
    fake = Fake(lambda s, st: ok({"batchItemFailures": []}))
    failures, _, _ = run(fake, recs(1), window=window, tumbling_window=60, max_retries=1)
    assert len(fake.calls) == 2 and failures[0].function_error is None


@pytest.mark.parametrize("keep", [True, False])
def test_a_window_state_beside_a_partial_failure_follows_the_chosen_reading(keep: bool) -> None:
    """AWS does not say whether the state returned with batchItemFailures is kept: the
    runtime runs either reading (PollerOptions.keep_state_on_partial)."""
    window = Window(start=960.0, end=1_020.0, state={"n": 1})
    batch = recs(3)

    def partial_once(seqs: list[str], state: Any) -> InvokeResult:
        n = (state or {}).get("n", 0)
        failed = [{"itemIdentifier": batch[1].seq}] if len(seqs) == 3 else []
        return ok({"state": {"n": n + 10}, "batchItemFailures": failed})

    fake = Fake(partial_once)
    runner = BatchRunner(
        settings(tumbling_window=60, report_item_failures=True),
        "shardId-9",
        fake,
        on_failure=lambda f: None,
        clock=lambda: 1_010.0,
        retry_delay=0,
        keep_state_on_partial=keep,
    )
    runner.deliver(batch, window)
    assert [e["state"] for e in fake.events] == [{"n": 1}, {"n": 11} if keep else {"n": 1}]


def test_a_closing_window_invocation_is_retried_until_it_succeeds() -> None:
    """A window's final processing blocks the shard until it succeeds (AWS), whatever the
    retry limit: it holds no records that could go to the destination instead."""
    window = Window(start=960.0, end=1_020.0, state={"n": 2}, final=True)
    outcomes = iter([InvokeResult("error")] * 3 + [ok({"state": {}})])
    fake = Fake(lambda s, st: next(outcomes))
    failures, _, state = run(fake, [], window=window, tumbling_window=60, max_retries=1)
    assert len(fake.calls) == 4 and not failures and state == {}
