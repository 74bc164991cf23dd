"""The pipeline (analytics, ETL, notification) against moto, with the accounting every
reliability test ends with: each change delivered by each processor or covered by a failure
record, no duplicate ETL line, no double count, notifications as generated."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from handlers import retry
from tests.conftest import create_table, make_client


@pytest.fixture(autouse=True)
def fast_retries() -> Iterator[None]:
    """Short backoffs (same attempts bound) so outages cost milliseconds in tests."""
    retry.set_policy(retry.Policy(attempts=5, base=0.002, cap=0.01, reserve=0.05))
    yield
    retry.set_policy(retry.POLICY)


@pytest.fixture
def sinks(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    create_table("aggregates")
    create_table("checkpoints")
    s3 = make_client("s3")
    s3.create_bucket(Bucket="etl-bucket")
    sns, sqs = make_client("sns"), make_client("sqs")
    topic = sns.create_topic(Name="changes")["TopicArn"]
    queue = sqs.create_queue(QueueName="captured")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={"RawMessageDelivery": "true"},
    )
    env = {
        "PROCESSORS": "analytics,etl,notification",
        "CHECKPOINT_TABLE": "checkpoints",
        "AGGREGATES_TABLE": "aggregates",
        "ANALYTICS_GROUP_BY": "job_id",
        "ETL_BUCKET": "etl-bucket",
        "NOTIFY_TOPIC_ARN": topic,
        "AWS_LAMBDA_FUNCTION_NAME": "pipeline-fn",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return {"s3": s3, "sqs": sqs, "queue": queue, "ddb": make_client("dynamodb"), "sns": sns}


def etl_lines(s3: Any) -> Counter[str]:
    seen: Counter[str] = Counter()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket="etl-bucket"):
        for obj in page.get("Contents", []):
            body = s3.get_object(Bucket="etl-bucket", Key=obj["Key"])["Body"].read()
            for line in gzip.decompress(body).decode().splitlines():
                seen[json.loads(line)["sequenceNumber"]] += 1
    return seen


def notifications(sqs: Any, queue: str) -> Counter[str]:
    seen: Counter[str] = Counter()
    while True:
        msgs = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        if not msgs:
            return seen
        for m in msgs:
            seen[json.loads(m["Body"])["sequenceNumber"]] += 1
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])


def aggregates(ddb: Any) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for page in ddb.get_paginator("scan").paginate(TableName="aggregates"):
        for item in page["Items"]:
            pk = item["pk"]["S"]
            if pk.startswith("#"):
                continue
            out[pk] = {k: int(v["N"]) for k, v in item.items() if "N" in v and k != "expires_at"}
    return out


def seqs(records: Sequence[dict[str, Any]]) -> list[str]:
    return [r["dynamodb"]["SequenceNumber"] for r in records]


def account(
    sinks: dict[str, Any],
    records: Sequence[dict[str, Any]],
    expected: dict[str, Any],
    dlq: Sequence[Sequence[str]] = (),
    *,
    notifications_exact: bool | None = True,
) -> dict[str, int]:
    """Assert the accounting; return its figures.

    Every change is in the ETL output exactly once or covered by a failure record (never
    both); analytics equals ``expected`` (computed by the generator, not from the sinks);
    every change not in a failure record was notified (exactly once unless a crash after
    a publish makes it at least once, which the notification contract documents)."""
    every = seqs(records)
    failed = {s for batch in dlq for s in batch}
    lines = etl_lines(sinks["s3"])
    sent = notifications(sinks["sqs"], sinks["queue"]) if notifications_exact is not None else None
    duplicates = sum(c - 1 for c in lines.values() if c > 1)
    assert duplicates == 0, f"duplicate ETL lines: {[s for s, c in lines.items() if c > 1][:5]}"
    delivered = set(lines)
    assert delivered.isdisjoint(failed), "a change both delivered and in a failure record"
    lost = [s for s in every if s not in delivered and s not in failed]
    assert not lost, f"{len(lost)} changes lost, e.g. {lost[:5]}"
    assert set(lines) <= set(every), "ETL holds a change that was never written"
    assert aggregates(sinks["ddb"]) == expected
    wanted = Counter(s for s in every if s not in failed)
    if notifications_exact is None:  # notification not in the pipeline
        assert sent is None
    elif notifications_exact:
        assert sent == wanted
    else:
        assert sent is not None
        assert set(sent) == set(wanted)
    return {"written": len(every), "delivered": len(delivered), "failed": len(failed)}
