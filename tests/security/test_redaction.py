"""No secrets or redacted attributes in logs or notifications.

The pipeline runs with ``NOTIFY_REDACT=ssn,salary`` over changes whose redacted attributes
hold a marker string; every line the handlers write to stdout (CloudWatch Logs) and every
SNS message is captured, and the marker must appear in none of them. Also: no credential
from the environment is ever logged.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from handlers import pipeline
from tests import factories as f
from tests.e2e.scenario import drain_bodies
from tests.lambda_sim import deliver

SECRET = "S3CR3T-7f1c"


def run_pipeline(
    recs: list[dict[str, Any]], sinks: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> tuple[str, list[str], list[list[str]]]:
    out = deliver(pipeline.handler, recs, batch_size=len(recs), max_retries=1)
    logs = capsys.readouterr().out
    return logs, drain_bodies(sinks["sqs"], sinks["queue"]), out.dlq


def changes_with_secrets() -> list[dict[str, Any]]:
    return f.sequential(
        [
            f.record("INSERT", {"application_id": "a1"}, {"job_id": "J1", "ssn": SECRET}),
            f.record(
                "MODIFY",
                {"application_id": "a1"},
                new={"job_id": "J1", "ssn": SECRET + "-new", "salary": 1},
                old={"job_id": "J1", "ssn": SECRET},
            ),
            f.record("REMOVE", {"application_id": "a1"}, old={"job_id": "J1", "ssn": SECRET}),
        ]
    )


def assert_clean(logs: str, messages: list[str]) -> None:
    assert SECRET not in logs
    for line in logs.splitlines():
        json.loads(line)  # structured lines only: nothing echoed raw
    for body in messages:
        assert SECRET not in body
        assert '"ssn"' not in body or '"ssn":{"redacted":true}' in body
    for name in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID"):
        assert name not in logs


@pytest.mark.parametrize("level", ["INFO", "DEBUG"])
def test_redacted_attributes_reach_neither_logs_nor_notifications(
    sinks: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    level: str,
) -> None:
    monkeypatch.setenv("NOTIFY_REDACT", "ssn,salary")
    monkeypatch.setenv("LOG_LEVEL", level)
    logs, messages, dlq = run_pipeline(changes_with_secrets(), sinks, capsys)
    assert dlq == [] and len(messages) == 3 and len(logs.splitlines()) >= 4
    assert_clean(logs, messages)


def test_redacted_value_of_a_transient_failure_is_not_logged(
    sinks: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from botocore.exceptions import ClientError

    from handlers import aws
    from tests.lambda_sim import fail_call

    monkeypatch.setenv("NOTIFY_REDACT", "ssn,salary")
    error = ClientError({"Error": {"Code": "Throttled", "Message": "slow"}}, "PublishBatch")
    aws.set_client("sns", fail_call(sinks["sns"], "publish_batch", [1], error))
    logs, messages, dlq = run_pipeline(changes_with_secrets(), sinks, capsys)
    assert dlq == [] and len(messages) == 3 and '"record failed"' in logs
    assert_clean(logs, messages)


def test_malformed_redacted_value_is_not_logged(
    sinks: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("NOTIFY_REDACT", "ssn,salary")
    recs = changes_with_secrets()
    recs[0]["dynamodb"]["NewImage"]["ssn"] = {"N": SECRET}
    logs, messages, dlq = run_pipeline(recs, sinks, capsys)
    assert len(dlq) == 1  # the poison record, alone
    assert_clean(logs, messages)
    # the reason still says where and what: the attribute path, the type tag, the problem
    assert "NewImage.ssn: N must be a decimal number string, got a str of 11 characters" in logs
