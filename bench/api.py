"""AWS API calls per 1,000 records, counted against moto.

Set up as the tests' ``aws_env`` fixture does: moto's server in a thread (``moto_in_thread``),
fake credentials and ``AWS_ENDPOINT_URL`` in the environment, the sinks created with boto3.
Each entry point (``handlers.<name>.handler``) then runs once per cold start (its
configuration and clients built from the environment, as in Lambda) over the 1,000-record
event; a botocore ``before-parameter-build`` hook on each of its clients counts every API
call (one per operation, whatever botocore's retries do) and keeps its parameters, from
which the targets are checked: PutObject per partition, PublishBatch and PutEvents per
message or event, writes per aggregate key.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from bench import ours, workload
from handlers.registry import PIPELINE, PROCESSORS, spec

__all__ = ["COUNTED", "SERVICES", "ApiResult", "count_calls", "moto_server"]

CHECKPOINT_TABLE = "bench-checkpoints"
# The pipeline the bench runs (the entry point's PROCESSORS).
PIPELINE_PROCESSORS = ("analytics", "notification", "etl")
# The boto3 clients each entry point creates (the checkpoint table is the pipeline's own).
SERVICES: dict[str, tuple[str, ...]] = {
    **{p.name: p.services for p in PROCESSORS},
    PIPELINE: tuple(
        dict.fromkeys(("dynamodb", *(s for n in PIPELINE_PROCESSORS for s in spec(n).services)))
    ),
}
# The entry points whose calls count_calls counts (view and replicate write coalesced per
# item: the latency run counts their PutItem calls).
COUNTED = (*(p.name for p in PROCESSORS if not p.needs_images), PIPELINE)


@dataclass
class ApiResult:
    """Calls one invocation made, by operation, and what the targets need."""

    calls: Counter[str] = field(default_factory=Counter)
    partitions: int = 0  # ETL: distinct partitions of the batch
    messages: int = 0  # notification: messages published
    events: int = 0  # eventbus: events put
    aggregate_keys: int = 0  # analytics: distinct aggregate keys
    max_writes_per_key: int = 0  # analytics: most writes any aggregate key received

    @property
    def total(self) -> int:
        return sum(self.calls.values())


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """A moto server for the duration, with fake credentials pointing every client at it."""
    from ddbt.local.server import moto_in_thread

    saved = dict(os.environ)
    with moto_in_thread() as endpoint:
        os.environ.update(
            {
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_SESSION_TOKEN": "testing",
                "AWS_DEFAULT_REGION": workload.REGION,
                "AWS_REGION": workload.REGION,
                "AWS_ENDPOINT_URL": endpoint,
                "AWS_EC2_METADATA_DISABLED": "true",
            }
        )
        os.environ.pop("AWS_PROFILE", None)
        try:
            yield endpoint
        finally:
            os.environ.clear()
            os.environ.update(saved)


def _reset(endpoint: str) -> None:
    """Empty moto, then create the sinks (bucket, topic, event bus, aggregates and checkpoint
    tables)."""
    import urllib.request

    import boto3

    urllib.request.urlopen(
        urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10
    ).read()
    boto3.client("s3").create_bucket(Bucket=workload.BUCKET)
    arn = boto3.client("sns").create_topic(Name=workload.TOPIC_ARN.rsplit(":", 1)[1])["TopicArn"]
    assert arn == workload.TOPIC_ARN, arn
    boto3.client("events").create_event_bus(Name=workload.EVENT_BUS)
    ddb = boto3.client("dynamodb")
    for table in (workload.AGGREGATES_TABLE, CHECKPOINT_TABLE):
        ddb.create_table(
            TableName=table,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )


def _environment(entry_point: str) -> dict[str, str]:
    env = {
        "ETL_BUCKET": workload.BUCKET,
        "ETL_PREFIX": workload.PREFIX,
        "NOTIFY_TOPIC_ARN": workload.TOPIC_ARN,
        "AGGREGATES_TABLE": workload.AGGREGATES_TABLE,
        "ANALYTICS_GROUP_BY": ",".join(workload.GROUP_BY),
        "EVENTBUS_NAME": workload.EVENT_BUS,
        "VIEW_TABLE": workload.VIEW_TABLE,
        "VIEW_PARTITION_KEY": workload.VIEW_KEY[0],
        "VIEW_SORT_KEY": workload.VIEW_KEY[1],
        "REPLICA_TABLE": workload.REPLICA_TABLE,
        "CACHE_ENDPOINT": "127.0.0.1:6379",
        "CACHE_TLS": "false",
        "AWS_LAMBDA_FUNCTION_NAME": f"bench-{entry_point}",
    }
    if entry_point == PIPELINE:
        env["PROCESSORS"] = ",".join(PIPELINE_PROCESSORS)
        env["CHECKPOINT_TABLE"] = CHECKPOINT_TABLE
    return env


def count_calls(endpoint: str, entry_point: str, event: dict[str, Any]) -> ApiResult:
    """Run ``handlers.<entry_point>.handler`` once over ``event``; count its API calls."""
    import importlib

    from handlers import aws, coldstart

    _reset(endpoint)
    result = ApiResult()
    writes: Counter[str] = Counter()

    def hook(params: dict[str, Any], model: Any, **_: Any) -> None:
        operation = model.name
        result.calls[operation] += 1
        if operation == "PublishBatch":
            result.messages += len(params["PublishBatchRequestEntries"])
        elif operation == "PutEvents":
            result.events += len(params["Entries"])
        elif operation == "TransactWriteItems":
            for action in params["TransactItems"]:
                body = next(iter(action.values()))
                if body["TableName"] == workload.AGGREGATES_TABLE:
                    pk = body["Key"]["pk"]["S"]
                    if not pk.startswith("#"):  # '#...' keys are checkpoint entries
                        writes[pk] += 1
        elif operation == "UpdateItem" and params["TableName"] == workload.AGGREGATES_TABLE:
            pk = params["Key"]["pk"]["S"]
            if not pk.startswith("#"):
                writes[pk] += 1

    saved = dict(os.environ)
    os.environ.update(_environment(entry_point))
    coldstart.reset()
    aws.reset_clients()
    try:
        for service in SERVICES[entry_point]:
            aws.client(service).meta.events.register("before-parameter-build", hook)
        module = importlib.import_module(f"handlers.{entry_point}")
        with contextlib.redirect_stdout(io.StringIO()):
            response = module.handler(json.loads(json.dumps(event)), ours.Context())
    finally:
        os.environ.clear()
        os.environ.update(saved)
        coldstart.reset()
        aws.reset_clients()
    if response["batchItemFailures"]:
        raise AssertionError(f"{entry_point}: {response}")
    result.partitions = len(
        {r["dynamodb"]["ApproximateCreationDateTime"] // 3600 for r in event["Records"]}
    )
    result.aggregate_keys = len(writes)
    result.max_writes_per_key = max(writes.values(), default=0)
    return result


def publish_bound(messages: int) -> int:
    """Notification target: at most ceil(n/10) PublishBatch calls for n messages."""
    return math.ceil(messages / 10)
