"""The three sinks of a pipeline on moto (S3 bucket, SNS topic captured by an SQS queue,
aggregates and checkpoint tables) and readers that count what landed in them.

Registered as a pytest plugin by tests/conftest.py, so every test can ask for ``sinks``.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from typing import Any

import pytest

from tests.conftest import create_table, make_client
from tests.e2e.scenario import drain

__all__ = ["aggregates", "etl_lines", "notifications", "sinks"]


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
    return Counter(body["sequenceNumber"] for body in drain(sqs, queue))


def aggregates(ddb: Any) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for page in ddb.get_paginator("scan").paginate(TableName="aggregates"):
        for item in page["Items"]:
            pk = item["pk"]["S"]
            if pk.startswith("#"):
                continue
            out[pk] = {k: int(v["N"]) for k, v in item.items() if "N" in v and k != "expires_at"}
    return out
