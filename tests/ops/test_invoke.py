"""Lambda Invoke against the local endpoint runs the deployed zip for real (moto_patches patch
7), and ``--invoke`` of backfill, redrive and replay goes through it with build/handlers.zip."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ddbt.cli import main
from handlers import aws
from tests import factories as f
from tests.local.conftest import REGION, Cloud, wait_for


def test_invoke_returns_the_payload_and_the_log_tail(cloud: Cloud) -> None:
    cloud.function()
    event = {"Records": [{"dynamodb": {"Keys": {"pk": {"S": "ok-1"}}, "SequenceNumber": "7"}}]}
    reply = cloud.lam.invoke(FunctionName="fake", Payload=json.dumps(event), LogType="Tail")
    assert reply["StatusCode"] == 200 and "FunctionError" not in reply
    assert json.loads(reply["Payload"].read()) == {"batchItemFailures": []}
    log = base64.b64decode(reply["LogResult"]).decode()
    assert log.startswith("START RequestId: ") and "REPORT RequestId: " in log
    (seen,) = cloud.invocations()
    assert seen["env"]["GREETING"] == "hello" and seen["env"]["AWS_REGION"] == REGION
    assert seen["env"]["AWS_LAMBDA_FUNCTION_NAME"] == "fake"
    assert 0 < seen["remaining"] <= 10_000  # the function's timeout
    # Without LogType=Tail there is no LogResult.
    assert "LogResult" not in cloud.lam.invoke(FunctionName="fake", Payload=json.dumps(event))


def test_lambda_target_reads_the_function_response(cloud: Cloud) -> None:
    from ddbt.ops.records import generate_event
    from ddbt.ops.target import LambdaTarget

    cloud.function()
    records = [
        generate_event(item={"pk": pk}, key_names=["pk"], sequence_number=str(10**25 + i))[
            "Records"
        ][0]
        for i, pk in enumerate(["a", "b", "partial-1", "c"])
    ]
    target = LambdaTarget("fake", cloud.lam)
    assert target.run(records).done == 2  # batchItemFailures names the third record
    assert target.run(records[:2]).done == 2
    failed = target.run(
        [
            *records[:1],
            records[0] | {"dynamodb": {**records[0]["dynamodb"], "Keys": {"pk": {"S": "raise-1"}}}},
        ]
    )
    assert failed.done == 0 and "Unhandled" in failed.error and "cannot process" in failed.error


def test_invoke_function_error_timeout_event_and_dry_run(cloud: Cloud) -> None:
    cloud.function(timeout=1)
    bad = {"Records": [{"dynamodb": {"Keys": {"pk": {"S": "raise-1"}}, "SequenceNumber": "7"}}]}
    reply = cloud.lam.invoke(FunctionName="fake", Payload=json.dumps(bad), LogType="Tail")
    assert reply["StatusCode"] == 200 and reply["FunctionError"] == "Unhandled"
    error = json.loads(reply["Payload"].read())
    assert error["errorType"] == "RuntimeError"
    assert error["errorMessage"] == "cannot process raise-1"
    assert error["requestId"] and error["stackTrace"]
    assert error["stackTrace"][-1].startswith('  File "') and "fake.py" in error["stackTrace"][-1]
    assert "cannot process raise-1" in base64.b64decode(reply["LogResult"]).decode()

    slow = {"Records": [{"dynamodb": {"Keys": {"pk": {"S": "sleep-1"}}, "SequenceNumber": "8"}}]}
    started = time.monotonic()
    reply = cloud.lam.invoke(FunctionName="fake", Payload=json.dumps(slow))
    assert time.monotonic() - started < 10  # killed at the 1 s timeout, not after 30 s
    assert reply["FunctionError"] == "Unhandled"
    timeout = json.loads(reply["Payload"].read())
    assert timeout["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in timeout["errorMessage"]

    dry = cloud.lam.invoke(FunctionName="fake", InvocationType="DryRun", Payload=b"{}")
    assert dry["StatusCode"] == 204
    n = len(cloud.invocations())
    ok = {"Records": [{"dynamodb": {"Keys": {"pk": {"S": "async"}}, "SequenceNumber": "9"}}]}
    queued = cloud.lam.invoke(FunctionName="fake", InvocationType="Event", Payload=json.dumps(ok))
    assert queued["StatusCode"] == 202
    wait_for(lambda: len(cloud.invocations()) == n + 1, 20)
    assert cloud.invocations()[-1]["keys"] == ["async"]
    with pytest.raises(cloud.lam.exceptions.ResourceNotFoundException):
        cloud.lam.invoke(FunctionName="missing", Payload=b"{}")
    with pytest.raises(cloud.lam.exceptions.InvalidRequestContentException):
        cloud.lam.invoke(FunctionName="fake", Payload=b"{not json")


# -- --invoke with the real handlers zip ------------------------------------------------------


@pytest.fixture
def deployed(cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cloud]:
    cloud.use(monkeypatch)
    cloud.analytics_function("agg")
    yield cloud
    aws.reset_clients()


def _inserts(cloud: Cloud) -> int:
    items = cloud.ddb.scan(TableName="aggregates")["Items"]
    return sum(int(i["INSERT"]["N"]) for i in items if "INSERT" in i)


def test_backfill_redrive_and_replay_invoke_the_deployed_zip(
    deployed: Cloud, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cloud = deployed
    aws_args = ["--endpoint-url", cloud.endpoint, "--region", REGION]
    # backfill --invoke: 12 existing items, through the deployed function.
    stream = cloud.table("src")
    for i in range(12):
        cloud.put(f"i{i}", table="src")
    cp = str(tmp_path / "cp.json")
    argv = ["backfill", "src", "--function", "agg", "--invoke", "--checkpoint", cp]
    assert main([*argv, "--batch-size", "5", *aws_args]) == 0
    assert "12 items read, 12 records processed, 0 failed" in capsys.readouterr().out
    assert _inserts(cloud) == 12

    # redrive --invoke: a DLQ message describing the stream's first 4 records.
    from ddbt.ops.stream_reading import read_shards

    streams = cloud.client("dynamodbstreams")
    rows = list(read_shards(streams, stream))
    assert len(rows) == 12
    shard = rows[0][0]
    records = [r for _, r in rows]
    url, _ = cloud.queue("agg-dlq")
    agg = f"arn:aws:lambda:{REGION}:123456789012:function:agg"
    message = f.failure_message(records[:4], function=agg, shard=shard, stream=stream)
    cloud.sqs.send_message(QueueUrl=url, MessageBody=json.dumps(message))
    argv = ["redrive", "--queue", "agg-dlq", "--function", "agg", "--invoke", *aws_args]
    assert main(argv) == 0
    assert "1 done and deleted" in capsys.readouterr().out
    assert _inserts(cloud) == 16
    assert cloud.dlq(url) == []

    # replay --invoke --mode skip: the 4 redriven records were applied (the function's own
    # checkpoint entries say so): only the other 8 are sent.
    argv = ["replay", "--table", "src", "--mode", "skip", "--function", "agg", "--invoke"]
    assert main([*argv, *aws_args]) == 0
    out = capsys.readouterr().out
    assert "8 processed, 4 skipped as already applied" in out
    assert _inserts(cloud) == 24
    # Overwrite of an analytics function is a recompute, which runs in-process only.
    argv = ["replay", "--table", "src", "--mode", "overwrite", "--function", "agg", "--invoke"]
    assert main([*argv, *aws_args]) == 2
    assert "in-process" in capsys.readouterr().err
