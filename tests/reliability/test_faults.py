"""Sink outages, crashes and poison records against the pipeline, each ending with the
accounting (tests/reliability/conftest.py: nothing lost, nothing duplicated, aggregates and
notifications as generated). Faults are injected below botocore's retry loop (faults.py), or
by wrappers that kill the 'process' after a real write (tests/lambda_sim.py)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from handlers import aws, pipeline, retry
from tests import factories as f
from tests.functional.test_analytics import changes
from tests.lambda_sim import Crash, crash_after_call, deliver, fail_call
from tests.reliability.conftest import account, seqs
from tests.reliability.faults import KINDS, Outage, always, first


def outage(kind: str, failing: Any) -> Outage:
    service, operation, code, status, reasons = KINDS[kind]
    return Outage(aws.client(service), operation, failing, code, status, reasons)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_burst_is_absorbed_by_retries_within_the_invocation(
    sinks: dict[str, Any], kind: str
) -> None:
    # GIVEN a sink failing its next 3 attempts (fewer than the 5 the policy allows)
    recs, expected = changes(60)
    fault = outage(kind, first(3))
    # WHEN one batch is delivered
    out = deliver(pipeline.handler, recs, batch_size=60)
    # THEN the retries absorbed the burst: one invocation, nothing reported, all exact
    assert fault.failed == 3 and fault.attempts > 3
    assert out.invocations == [seqs(recs)] and out.dlq == []
    account(sinks, recs, expected)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_outage_longer_than_the_retry_budget_is_reported_then_recovers(
    sinks: dict[str, Any], kind: str
) -> None:
    # GIVEN a sink failing every attempt for as long as the first invocation lasts (calls
    # of one sink run concurrently, so an outage is counted in invocations, not attempts)
    recs, expected = changes(60)
    fault = outage(kind, always)

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        try:
            return pipeline.handler(event, context)
        finally:
            fault.on = False  # the sink recovers before the redelivery

    # WHEN Lambda delivers (retrying what the handler reports)
    out = deliver(handler, recs, batch_size=60, max_retries=5)
    # THEN the first invocation gave up after its 5 attempts and reported a partial failure;
    # the redelivery completed once the sink recovered, with nothing lost or repeated
    assert fault.failed >= retry.POLICY.attempts
    assert len(out.invocations) == 2 and out.dlq == []
    account(sinks, recs, expected)


def test_retries_stop_before_the_function_timeout(sinks: dict[str, Any]) -> None:
    # GIVEN a permanent S3 outage, a policy allowing endless attempts, and a 2 s timeout
    retry.set_policy(retry.Policy(attempts=10_000, base=0.1, cap=0.1, reserve=0.2))
    recs, _ = changes(20)
    fault = outage("s3-slowdown", always)
    started = time.monotonic()
    response = pipeline.handler(f.event(recs), f.Context(remaining_ms=2000))
    elapsed = time.monotonic() - started
    # THEN it retried, but stopped in time to report every record as failed
    assert fault.attempts > 3
    assert elapsed < 2.0, f"took {elapsed:.2f}s of a 2 s timeout"
    assert [x["itemIdentifier"] for x in response["batchItemFailures"]] == seqs(recs)


def test_non_retryable_errors_are_not_retried(sinks: dict[str, Any]) -> None:
    recs, _ = changes(5)
    fault = Outage(aws.client("s3"), "PutObject", always, "AccessDenied", 403)
    response = pipeline.handler(f.event(recs), f.Context())
    assert fault.attempts == 1
    assert len(response["batchItemFailures"]) == len(recs)


def test_retryable_classification() -> None:
    from types import SimpleNamespace

    def resp(status: int, code: str, reasons: list[str] | None = None) -> Any:
        parsed: dict[str, Any] = {"Error": {"Code": code}}
        if reasons is not None:
            parsed["CancellationReasons"] = [{"Code": r} for r in reasons]
        return (SimpleNamespace(status_code=status), parsed)

    assert retry.is_retryable(resp(503, "SlowDown"), None)
    assert retry.is_retryable(resp(500, "Whatever"), None)
    assert retry.is_retryable(resp(400, "ProvisionedThroughputExceededException"), None)
    assert retry.is_retryable(resp(400, "Throttling"), None)
    tce = "TransactionCanceledException"
    assert retry.is_retryable(resp(400, tce, ["None", "TransactionConflict"]), None)
    assert not retry.is_retryable(resp(400, tce, ["ConditionalCheckFailed", "None"]), None)
    assert not retry.is_retryable(
        resp(400, tce, ["ThrottlingError", "ConditionalCheckFailed"]), None
    )
    assert not retry.is_retryable(resp(400, "ConditionalCheckFailedException"), None)
    assert not retry.is_retryable(resp(403, "AccessDenied"), None)
    assert not retry.is_retryable(resp(400, "ValidationException"), None)
    assert not retry.is_retryable(resp(200, ""), None)


@pytest.mark.parametrize(
    ("service", "method", "call", "bisect"),
    [
        ("s3", "put_object", 1, True),
        ("s3", "put_object", 2, False),
        ("dynamodb", "transact_write_items", 1, True),
        ("dynamodb", "transact_write_items", 2, False),
        ("sns", "publish_batch", 3, True),
    ],
)
def test_crash_after_some_writes_is_exactly_once_in_s3_and_aggregates(
    sinks: dict[str, Any], service: str, method: str, call: int, bisect: bool
) -> None:
    # GIVEN the function dies (timeout / out of memory) right after a successful write
    recs, expected = changes(80)
    real = {"s3": sinks["s3"], "dynamodb": sinks["ddb"], "sns": sinks["sns"]}[service]
    aws.set_client(service, crash_after_call(real, method, [call]))
    # WHEN Lambda redelivers (whole or bisected)
    out = deliver(pipeline.handler, recs, batch_size=40, bisect=bisect)
    # THEN S3 and the aggregates hold every change once; notifications at least once
    assert len(out.invocations) > 2 and out.dlq == []
    account(sinks, recs, expected, notifications_exact=False)


def test_a_redelivery_dying_before_its_first_write_does_not_count_twice(
    sinks: dict[str, Any],
) -> None:
    """Found by the soak (make soak, issue 17): a batch of 20 commits its counts and dies;
    Lambda bisects it, and the first half (a redelivery) dies too, before its first write
    (the progress entries at its own bisect points) lands; Lambda bisects that half, and
    its second quarter starts at a record no entry named: it was counted again."""
    recs, expected = changes(20)
    ddb = crash_after_call(sinks["ddb"], "transact_write_items", [1])
    aws.set_client("dynamodb", fail_call(ddb, "update_item", [1], Crash("died")))
    out = deliver(pipeline.handler, recs, batch_size=20)
    s = seqs(recs)
    assert out.invocations[:3] == [s, s[:10], s[:5]] and s[5:10] in out.invocations
    assert out.dlq == []
    account(sinks, recs, expected, notifications_exact=False)


def poisoned(n: int, at: int) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
    """n-1 good changes plus one poison record at index ``at`` (one shard, in order)."""
    recs, expected = changes(n - 1, jobs=5)
    # Unusable for every processor (check() rejects it), so no processor applies it.
    bad = f.record("INSERT", {"application_id": "poison"}, {"job_id": "J0"})
    bad["eventName"] = "UPSERT"
    recs.insert(at, bad)
    recs = f.sequential(recs)
    return recs, expected, recs[at]


@pytest.mark.parametrize("at", [0, 500, 999])
def test_poison_record_in_a_batch_of_1000_goes_alone_to_the_failure_destination(
    sinks: dict[str, Any], monkeypatch: pytest.MonkeyPatch, at: int
) -> None:
    # Analytics and ETL only: moto's SNS-to-SQS fan-out costs ~25 ms per message, which
    # would make 1,000 records take minutes (the notification case is the next test).
    monkeypatch.setenv("PROCESSORS", "analytics,etl")
    recs, expected, bad = poisoned(1000, at)
    out = deliver(pipeline.handler, recs, batch_size=1000, max_retries=2)
    # THEN only the poison record is in the failure destination; all others delivered once
    assert out.dlq == [[bad["dynamodb"]["SequenceNumber"]]]
    figures = account(sinks, recs, expected, out.dlq, notifications_exact=None)
    assert figures == {"written": 1000, "delivered": 999, "failed": 1}
    # and the pipeline kept moving: a later batch is processed in one invocation
    more, _ = changes(10, seed=99)
    more = f.sequential(more, start=int(recs[-1]["dynamodb"]["SequenceNumber"]) + 100)
    assert deliver(pipeline.handler, more, batch_size=10).invocations == [seqs(more)]


@pytest.mark.parametrize("at", [0, 30, 59])
def test_poison_record_with_notifications_goes_alone_to_the_failure_destination(
    sinks: dict[str, Any], at: int
) -> None:
    recs, expected, bad = poisoned(60, at)
    out = deliver(pipeline.handler, recs, batch_size=60, max_retries=2)
    assert out.dlq == [[bad["dynamodb"]["SequenceNumber"]]]
    assert account(sinks, recs, expected, out.dlq)["delivered"] == 59


def test_no_record_is_lost_in_the_response_json(sinks: dict[str, Any]) -> None:
    """The response identifiers are exactly the records from the failure on (sanity for
    the accounting helpers: a reported record is neither lost nor delivered twice)."""
    recs, _ = changes(12)
    outage("sns-throttling", always)
    response = pipeline.handler(f.event(recs), f.Context())
    assert json.loads(json.dumps(response))["batchItemFailures"] == [
        {"itemIdentifier": s} for s in seqs(recs)
    ]
