"""Faults on the network between the handlers and the endpoint (tests/reliability/proxy.py).

The case botocore hooks cannot produce: the server applied the write, then the connection
was reset (before or in the middle of the response). The handler sees a connection error,
retries a write that already happened, and the sinks must still hold every change exactly
once. Also: latency, and the error responses AWS sends under load, on the wire. Each test
ends with the accounting (conftest.account)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import pytest

from handlers import aws, pipeline
from tests.functional.test_analytics import changes
from tests.lambda_sim import Crash, deliver
from tests.pipeline_stack import notifications
from tests.reliability.conftest import account, seqs
from tests.reliability.proxy import (
    Proxy,
    ddb_op,
    ddb_throttling,
    s3_put,
    s3_slowdown,
    sns_op,
    sns_throttling,
)


@pytest.fixture
def proxy(sinks: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Iterator[Proxy]:
    """The handlers' clients talk to moto through the proxy; the sink readers (made by
    ``sinks``) talk to moto directly."""
    import os

    with Proxy(os.environ["AWS_ENDPOINT_URL"]) as p:
        monkeypatch.setenv("AWS_ENDPOINT_URL", p.url)
        aws.reset_clients()
        yield p
    aws.reset_clients()


@pytest.mark.parametrize(
    "action",
    [("reset_after", 0.0), ("reset_after", 0.5), ("reset_before",)],
    ids=["before-response", "mid-response", "mid-request"],
)
def test_s3_put_reset_after_the_write_is_retried_without_a_duplicate_line(
    sinks: dict[str, Any], proxy: Proxy, action: tuple[Any, ...]
) -> None:
    # GIVEN the first ETL PutObject reaches S3 (the object is written) but its connection
    # is reset before the response, or halfway through it (or, for comparison, the request
    # is cut before it reaches S3)
    recs, expected = changes(30)
    reset = proxy.add(s3_put("etl-bucket"), action)
    retried = proxy.add(s3_put("etl-bucket"), ("pass",), times=None)
    # WHEN the batch is delivered
    out = deliver(pipeline.handler, recs, batch_size=30)
    # THEN the handler retried the same object (same key: overwritten) within the
    # invocation; S3 holds each change once
    assert reset.hits == 1 and retried.hits >= 1
    assert urls(reset) == urls(retried)[:1]
    assert out.invocations == [seqs(recs)] and out.dlq == []
    account(sinks, recs, expected)


def test_transaction_reset_after_commit_is_retried_without_a_double_count(
    sinks: dict[str, Any], proxy: Proxy
) -> None:
    # GIVEN the analytics TransactWriteItems commits on the server, then its connection is
    # reset: the handler cannot know it committed and retries the same transaction. (AWS
    # would recognise the retry by botocore's ClientRequestToken; moto ignores the token,
    # so this is the case where the handler's own idempotency must hold.)
    recs, expected = changes(30)
    reset = proxy.add(ddb_op("TransactWriteItems"), ("reset_after", 0.0))
    again = proxy.add(ddb_op("TransactWriteItems"), ("pass",), times=None)
    # WHEN the batch is delivered
    out = deliver(pipeline.handler, recs, batch_size=30)
    # THEN the retry was made, and the aggregates count every change once
    assert reset.hits == 1 and again.hits >= 1
    assert reset.seen[0].body == again.seen[0].body  # the very same transaction again
    assert out.dlq == []
    account(sinks, recs, expected)


def test_a_publish_whose_answer_was_lost_is_sent_again_and_duplicated(
    sinks: dict[str, Any], proxy: Proxy
) -> None:
    # GIVEN SNS accepts the first PublishBatch, then its connection is reset before the
    # answer: PublishBatch has no idempotency token (tests/conformance/cases/sinks/
    # botocore-idempotency-tokens.json), so nothing makes the resent call a no-op
    recs, expected = changes(30)
    reset = proxy.add(sns_op("PublishBatch"), ("reset_after", 0.0))
    # WHEN the batch is delivered
    out = deliver(pipeline.handler, recs, batch_size=30)
    # THEN the handler sent the same call again within the invocation: exactly that call's
    # messages are delivered twice (the documented cause "a call whose answer was lost"),
    # every other message once, every other sink exact
    assert reset.hits == 1 and out.invocations == [seqs(recs)] and out.dlq == []
    fields = parse_qs(reset.seen[0].body.decode())
    twice = {
        json.loads(v[0])["sequenceNumber"]
        for k, v in fields.items()
        if k.startswith("PublishBatchRequestEntries.member.") and k.endswith(".Message")
    }
    seen = notifications(sinks["sqs"], sinks["queue"])
    assert twice and {s for s, n in seen.items() if n == 2} == twice
    assert set(seen.values()) == {1, 2}
    account(sinks, recs, expected, notifications_exact=None)


@pytest.mark.parametrize(
    ("match", "action"),
    [
        (s3_put("etl-bucket"), s3_slowdown()),
        (s3_put("etl-bucket"), s3_slowdown(500, "InternalError")),
        (ddb_op("TransactWriteItems"), ddb_throttling()),
        (ddb_op("TransactWriteItems"), ddb_throttling("ThrottlingException")),
        (sns_op("PublishBatch"), sns_throttling()),
        # 0.3 s more on every call of each sink: slower, nothing else
        (lambda r: r.method == "PUT" or r.target or r.query_action, ("delay", 0.3)),
    ],
    ids=["s3-503", "s3-500", "ddb-throughput", "ddb-throttling", "sns-throttling", "latency"],
)
def test_a_burst_on_the_wire_is_absorbed_within_the_invocation(
    sinks: dict[str, Any], proxy: Proxy, match: Any, action: tuple[Any, ...]
) -> None:
    # GIVEN three requests of one sink answered as AWS does under load (or slowed down)
    recs, expected = changes(20)
    rule = proxy.add(match, action, times=3)
    # WHEN one batch is delivered
    out = deliver(pipeline.handler, recs, batch_size=20)
    # THEN the retries absorbed it: one invocation, nothing reported, everything exact
    assert rule.hits == 3, [r.method + r.path + r.target for r in rule.seen]
    assert out.invocations == [seqs(recs)] and out.dlq == []
    account(sinks, recs, expected)


def urls(rule: Any) -> list[str]:
    return [r.path.split("?")[0] for r in rule.seen]


class LateTransaction:
    """The first TransactWriteItems of a (moto-backed) client is in flight when the
    function dies; the server applies it only later, just before the next transaction
    arrives (a slow endpoint: the dead process's request was still queued there)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.held: dict[str, Any] | None = None
        self.landed = False

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._client, name)
        if name != "transact_write_items":
            return target

        def call(**kwargs: Any) -> Any:
            if self.held is None and not self.landed:
                self.held = kwargs
                raise Crash("the function died with a transaction in flight")
            if self.held is not None:
                target(**self.held)
                self.held, self.landed = None, True
            return target(**kwargs)

        return call


def test_transaction_landing_after_the_function_died_is_not_counted_twice(
    sinks: dict[str, Any],
) -> None:
    # GIVEN the function dies with its commit in flight; Lambda bisects, and the first
    # half's invocation starts before the dead one's commit lands (it loads no progress)
    recs, expected = changes(40)
    late = LateTransaction(sinks["ddb"])
    aws.set_client("dynamodb", late)
    # WHEN Lambda delivers (bisecting after the crash)
    out = deliver(pipeline.handler, recs, batch_size=40, bisect=True)
    # THEN the late commit landed, the half's own commit saw the progress change under it
    # and reported its records for a retry, which skipped them: every change counted once.
    # The processors run at once: notification published the batch before the function
    # died, with no progress recorded (a dead process records nothing), so the halves
    # publish it again: at least once, as documented
    assert late.landed
    assert out.invocations[:3] == [seqs(recs), seqs(recs[:20]), seqs(recs[:20])]
    assert out.dlq == []
    account(sinks, recs, expected, notifications_exact=False)
