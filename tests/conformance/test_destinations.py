"""On-failure messages of the corpus (SQS, SNS and S3 destinations; RetryAttemptsExhausted and
RecordAgeExceeded) against the code that reads them (the archiver, ``ddbt redrive``) and the
local runtime that writes them (``ddbt.local.engine.destination_message``,
``ddbt.local.destinations``)."""

from __future__ import annotations

import json
from typing import Any

from ddbt.local.destinations import DestinationSender
from ddbt.local.engine import DiscardedBatch
from ddbt.local.model import MappingSettings, Rec
from handlers.archive import batch_info, batch_mismatch, on_failure_message
from tests.conformance.corpus import Case, params


def _document(case: Case) -> dict[str, Any]:
    """The on-failure document itself (an SNS notification carries it in Message)."""
    message = dict(case["message"])
    return dict(json.loads(message["Message"])) if case["target"] == "sns" else message


def _shape(value: Any) -> Any:
    """Keys and value types, recursively: what a reader of the message relies on."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(v) for v in value[:1]]
    return type(value).__name__


@params("destinations")
def test_the_archiver_and_redrive_read_the_message(case: Case) -> None:
    body = json.dumps(case["message"])
    document = _document(case)
    if case["target"] == "s3":
        records = case["message"]["payload"]["Records"]
        assert len(records) == case["expect"]["records"]
        assert batch_mismatch(case["message"]["DDBStreamBatchInfo"], records) == ""
    else:
        assert on_failure_message(body) == document
    info = batch_info(document)
    assert info == document["DDBStreamBatchInfo"]
    assert document["requestContext"]["condition"] == case["expect"]["condition"]
    assert ("responseContext" in document) is case["expect"]["response_context"]


def _failure(case: Case, destination: str) -> DiscardedBatch:
    document = _document(case)
    info = document["DDBStreamBatchInfo"]
    rec = Rec(
        seq=info["startSequenceNumber"],
        key="k",
        arrival=1_764_085_921.0,
        size=100,
        event=(case["message"].get("payload") or {"Records": [{}]})["Records"][0],
    )
    settings = MappingSettings(
        uuid="6f1c1b7e-1111-4222-8333-944455556666",
        function_arn=document["requestContext"]["functionArn"],
        stream_arn=info["streamArn"],
        destination_arn=destination,
    )
    return DiscardedBatch(
        records=[rec],
        condition=case["expect"]["condition"],
        invoke_count=document["requestContext"]["approximateInvokeCount"],
        function_error=case["expect"]["function_error"],
        request_id="316aa6d0-8154-4b6d-9af7-85d5f4a6bc81",
        shard_id=info["shardId"],
        settings=settings,
        at=1_764_085_988.123,
    )


class _Capture:
    """A boto3 stand-in that keeps what the destination sender sends."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def __call__(self, service: str, region: str) -> _Capture:
        return self

    def get_queue_url(self, **_: Any) -> dict[str, str]:
        return {"QueueUrl": "https://sqs/dlq"}

    def send_message(self, MessageBody: str, **_: Any) -> None:
        self.sent.append(json.loads(MessageBody))

    def publish(self, Message: str, **_: Any) -> None:
        self.sent.append(json.loads(Message))

    def put_object(self, Body: bytes, **_: Any) -> None:
        self.sent.append(json.loads(Body))


@params("destinations")
def test_the_local_runtime_writes_the_recorded_shape(case: Case) -> None:
    destination = {
        "sqs": "arn:aws:sqs:us-east-1:111111111111:dlq",
        "sns": "arn:aws:sns:us-east-1:111111111111:failures",
        "s3": "arn:aws:s3:::failures",
    }[case["target"]]
    capture = _Capture()
    DestinationSender(capture)(_failure(case, destination))
    (sent,) = capture.sent
    expected = dict(case["message"]) if case["target"] == "s3" else _document(case)
    assert _shape(sent) == _shape(expected)
    if case["expect"]["response_context"]:
        assert sent["responseContext"]["functionError"] == case["expect"]["function_error"]
