"""The pipeline entry point against moto: three processors over the same batches, and a
failure in one of them that must not repeat the side effects of the others."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from typing import Any

import pytest
from botocore.exceptions import ClientError

from handlers import aws, pipeline
from handlers.config import ConfigError
from tests import factories as f
from tests.conftest import create_table, make_client
from tests.functional.test_analytics import aggregates, changes
from tests.lambda_sim import crash_after_call, deliver, fail_call


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


def test_all_three_processors_exactly_once(sinks: dict[str, Any]) -> None:
    recs, expected = changes(120)
    deliver(pipeline.handler, recs, batch_size=50)
    every = Counter(r["dynamodb"]["SequenceNumber"] for r in recs)
    assert etl_lines(sinks["s3"]) == every
    assert notifications(sinks["sqs"], sinks["queue"]) == every
    assert aggregates(sinks["ddb"]) == expected


@pytest.mark.parametrize("call", [1, 3])
def test_notification_outage_does_not_repeat_etl_or_analytics(
    sinks: dict[str, Any], call: int
) -> None:
    """SNS throttles one PublishBatch call: the pipeline reports from that call's first
    record; the redelivery starts there and ETL and analytics skip what they applied."""
    recs, expected = changes(50)
    throttled = ClientError({"Error": {"Code": "Throttled", "Message": "slow"}}, "PublishBatch")
    aws.set_client("sns", fail_call(sinks["sns"], "publish_batch", [call], throttled))
    result = deliver(pipeline.handler, recs, batch_size=50)
    assert len(result.invocations) == 2 and result.dlq == []
    every = Counter(r["dynamodb"]["SequenceNumber"] for r in recs)
    assert etl_lines(sinks["s3"]) == every
    assert notifications(sinks["sqs"], sinks["queue"]) == every
    assert aggregates(sinks["ddb"]) == expected


def test_timeout_after_all_writes_repeats_nothing_but_notifications(sinks: dict[str, Any]) -> None:
    """The function dies after its last publish (a timeout): Lambda retries the batch.
    S3 objects are overwritten at the same keys and counts are skipped by the checkpoint;
    notifications are at least once: they are published again (documented)."""
    recs, expected = changes(30)
    aws.set_client("sns", crash_after_call(sinks["sns"], "publish_batch", [3]))
    deliver(pipeline.handler, recs, batch_size=30, bisect=False)
    every = Counter(r["dynamodb"]["SequenceNumber"] for r in recs)
    assert etl_lines(sinks["s3"]) == every
    assert aggregates(sinks["ddb"]) == expected
    assert set(notifications(sinks["sqs"], sinks["queue"])) == set(every)


def test_poison_record_reaches_the_failure_destination_alone(sinks: dict[str, Any]) -> None:
    recs, _ = changes(40)
    bad = recs[10]
    bad["dynamodb"]["Keys"] = {"application_id": {"Q": "unknown tag"}}
    result = deliver(pipeline.handler, recs, batch_size=40, max_retries=1)
    assert result.dlq == [[bad["dynamodb"]["SequenceNumber"]]]
    others = Counter(r["dynamodb"]["SequenceNumber"] for r in recs if r is not bad)
    assert etl_lines(sinks["s3"]) == others
    assert notifications(sinks["sqs"], sinks["queue"]) == others


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"PROCESSORS": ""}, "PROCESSORS is required"),
        ({"PROCESSORS": "etl,search"}, "PROCESSORS has 'search'"),
        ({"CHECKPOINT_TABLE": ""}, "CHECKPOINT_TABLE is required"),
        ({"ETL_BUCKET": ""}, "ETL_BUCKET is required"),
    ],
)
def test_configuration_errors_name_the_variable(
    sinks: dict[str, Any], monkeypatch: Any, change: dict[str, str], message: str
) -> None:
    for k, v in change.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(ConfigError, match=message):
        pipeline.handler(f.event([f.record()]), f.Context())


def test_processors_run_in_the_given_order_and_only_those(
    sinks: dict[str, Any], monkeypatch: Any
) -> None:
    monkeypatch.setenv("PROCESSORS", "etl")
    monkeypatch.delenv("NOTIFY_TOPIC_ARN")
    monkeypatch.delenv("AGGREGATES_TABLE")
    recs, _ = changes(5)
    assert pipeline.handler(f.event(recs), f.Context()) == {"batchItemFailures": []}
    assert sum(etl_lines(sinks["s3"]).values()) == 5
    assert [p.name for p in pipeline.processors()] == ["etl"]
