"""Partial-batch responses of the corpus, with what Lambda recorded doing with them, against
the local runtime's delivery engine (``ddbt.local.engine``) and the ops tools' reading of a
function's answer (``ddbt.ops.target``)."""

from __future__ import annotations

from typing import Any

from ddbt.local.engine import BatchRunner, DiscardedBatch, InvokeResult, item_failures
from ddbt.local.model import MappingSettings, Rec
from ddbt.ops.target import _done_from_response
from tests.conformance.corpus import Case, params

STREAM = "arn:aws:dynamodb:us-east-1:111111111111:table/t/stream/2025-11-25T15:50:00.000"


def _recs(case: Case) -> list[Rec]:
    return [
        Rec(seq=s, key=s, arrival=1_000.0, size=100, event={"dynamodb": {"SequenceNumber": s}})
        for s in case["batch"]
    ]


def _answer(case: Case) -> InvokeResult:
    response = case["response"]
    if isinstance(response, dict) and "raise" in response:
        return InvokeResult("error", error_type=str(response["raise"]))
    return InvokeResult("ok", payload=response)


@params("responses")
def test_the_response_is_judged_as_lambda_judges_it(case: Case) -> None:
    expect = case["expect"]
    if expect["verdict"] == "error":
        return  # not a response: the function raised
    verdict, indexes = item_failures(case["response"], case["batch"])
    assert verdict == expect["verdict"]
    if "failed_from" in expect:
        assert min(indexes) == expect["failed_from"]
    done = _done_from_response(case["response"], [r.event for r in _recs(case)])
    assert done.done == {"ok": len(case["batch"]), "partial": expect.get("failed_from")}.get(
        verdict, 0
    )


@params("responses", has="batch")
def test_the_local_runtime_retries_and_reports_as_recorded(case: Case) -> None:
    expect = case["expect"]
    if "invocations" not in expect:
        return
    calls: list[dict[str, Any]] = []
    failures: list[DiscardedBatch] = []

    def invoke(event: dict[str, Any]) -> InvokeResult:
        calls.append(event)
        return _answer(case)

    settings = MappingSettings(
        uuid="u",
        function_arn="arn:aws:lambda:us-east-1:111111111111:function:f",
        stream_arn=STREAM,
        batch_size=3,
        max_retries=3,
        report_item_failures=True,
        destination_arn="arn:aws:sqs:us-east-1:111111111111:dlq",
    )
    runner = BatchRunner(
        settings, "shardId-1", invoke, on_failure=failures.append, clock=lambda: 1_010.0
    )
    runner.retry_delay = 0
    runner.deliver(_recs(case))
    assert len(calls) == expect["invocations"]
    if expect["verdict"] == "ok":
        assert not failures
        return
    (failure,) = failures
    message = failure.message()
    assert message["requestContext"]["condition"] == expect["condition"]
    assert message["requestContext"]["approximateInvokeCount"] == expect["invocations"]
    assert message["responseContext"]["functionError"] == expect["function_error"]
