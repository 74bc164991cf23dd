"""examples/complete on the local cloud: settings as applied, sinks after item changes,
poison records, retries, bisection and filters, with the real handlers from the deployed zip."""

from __future__ import annotations

import json
import time
import uuid
import zipfile
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from pytest_terraform import terraform

from handlers.archiver import Archive, read_archive
from tests.e2e.conftest import ROOT, LocalCloud, use_examples_dir
from tests.e2e.scenario import check, drain, drive, etl_lines, put, set_status
from tests.factories import zip_bytes

# pytest-terraform: one session-scoped apply of examples/complete, destroyed at the end.
terraform("complete", scope="session", name="tf_complete")

Stack = tuple[LocalCloud, dict[str, Any]]
TOO_MANY_DIGITS = "123456789012345678901234567890123456789012"  # moto stores it, AWS refuses

# One worker: the tests share the local cloud (the endpoint process and the pollers).
pytestmark = pytest.mark.xdist_group("e2e")


@pytest.fixture(scope="session")
def stack(local_cloud: LocalCloud, request: pytest.FixtureRequest) -> Iterator[Stack]:
    # local_cloud first: Terraform needs its endpoint, and it must outlive the destroy. The
    # apply runs now; the destroy runs right after this fixture's teardown.
    use_examples_dir()
    local_cloud.use_env()
    try:
        tf = request.getfixturevalue("tf_complete")
    finally:
        local_cloud.restore_env()
    outputs = {
        k: v["value"] if isinstance(v, dict) and "value" in v else v for k, v in tf.outputs.items()
    }
    # Notifications are captured through an SQS subscription to the topic.
    queue = local_cloud.sqs.create_queue(QueueName="e2e-notifications")["QueueUrl"]
    arn = local_cloud.sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
    local_cloud.sns.subscribe(
        TopicArn=outputs["notification_topic_arn"],
        Protocol="sqs",
        Endpoint=arn["Attributes"]["QueueArn"],
    )
    outputs["_notifications"] = queue
    local_cloud.settle()
    yield local_cloud, outputs
    local_cloud.use_env()  # for pytest-terraform's destroy; local_cloud restores it after


ARCHIVER_DEPLOYED = (
    "handlers/archiver.py" in zipfile.ZipFile(ROOT / "dist" / "handlers.zip").namelist()
)


def archives(cloud: LocalCloud, bucket: str) -> list[Archive]:
    """The DLQ archives (handlers.archiver format) in ``bucket``."""
    return [
        read_archive(cloud.s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read())
        for obj in cloud.s3.list_objects_v2(Bucket=bucket).get("Contents") or []
        if obj["Key"].endswith(".jsonl.gz")
    ]


def archived_keys(archive: Archive) -> list[str]:
    return [r["dynamodb"]["Keys"]["application_id"]["S"] for r in archive.records]


def test_applied_settings(stack: Stack) -> None:
    cloud, out = stack
    table = cloud.dynamodb.describe_table(TableName=out["table_name"])["Table"]
    assert table["StreamSpecification"] == {
        "StreamEnabled": True,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    assert table["LatestStreamArn"] == out["table_stream_arn"]
    (uuid_,) = out["event_source_mapping_uuids"].values()
    esm = cloud.clients["lambda"].get_event_source_mapping(UUID=uuid_)
    dlq_url = out["dlq_urls"]["pipeline"]
    dlq_arn = cloud.sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    assert esm["EventSourceArn"] == out["table_stream_arn"]
    assert esm["DestinationConfig"]["OnFailure"]["Destination"] == dlq_arn
    assert esm["BisectBatchOnFunctionError"] is True
    assert esm["MaximumRetryAttempts"] == 5
    assert esm["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert esm["StartingPosition"] in ("TRIM_HORIZON", "LATEST")
    # IAM: the stream, the sinks and the DLQ by their exact ARNs
    fn = cloud.clients["lambda"].get_function(FunctionName=out["function_names"]["pipeline"])
    role = fn["Configuration"]["Role"].rsplit("/", 1)[-1]
    docs = [
        cloud.iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        for name in cloud.iam.list_role_policies(RoleName=role)["PolicyNames"]
    ]
    docs = [json.loads(d) if isinstance(d, str) else d for d in docs]
    by_action: dict[str, set[str]] = {}
    for doc in docs:
        for st in doc["Statement"]:
            actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
            res = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
            for a in actions:
                by_action.setdefault(a, set()).update(res)
    assert by_action["dynamodb:GetRecords"] == {out["table_stream_arn"]}
    assert by_action["sqs:SendMessage"] == {dlq_arn}
    assert by_action["sns:Publish"] == {out["notification_topic_arn"]}
    assert all(
        r.startswith(f"arn:aws:s3:::{out['etl_bucket_name']}/") for r in by_action["s3:PutObject"]
    )
    # dynamodb:ListStreams has no resource-level permission: "*" is the only option there
    wildcard = {a for a, res in by_action.items() if "*" in res}
    assert wildcard <= {"dynamodb:ListStreams"}


def test_item_changes_reach_every_sink_exactly_once(stack: Stack) -> None:
    """The scenario make e2e-aws runs on a real account (tests/e2e/scenario.py)."""
    cloud, out = stack
    changes = drive(cloud, out, uuid.uuid4().hex[:6])
    cloud.settle()
    check(cloud, out, changes)


def test_poison_record_goes_to_the_dlq_alone(stack: Stack) -> None:
    cloud, out = stack
    table, run = out["table_name"], uuid.uuid4().hex[:6]
    drain(cloud.sqs, out["dlq_urls"]["pipeline"])
    put(cloud.dynamodb, table, f"p-{run}-0", "APPLIED")
    put(cloud.dynamodb, table, f"p-{run}-bad", "APPLIED", salary={"N": TOO_MANY_DIGITS})
    put(cloud.dynamodb, table, f"p-{run}-2", "APPLIED")
    set_status(cloud.dynamodb, table, f"p-{run}-0", "SCREEN")
    cloud.settle(180)
    # examples/complete enables the DLQ archiver: the local runtime polls the DLQ's SQS
    # mapping like Lambda; the archiver archives the message with its records and the
    # mapping deletes the message from the queue.
    assert ARCHIVER_DEPLOYED, "dist/handlers.zip has no handlers/archiver.py: run make dist"
    assert drain(cloud.sqs, out["dlq_urls"]["pipeline"]) == []
    (archived,) = [
        a
        for a in archives(cloud, out["dlq_archive_bucket_name"])
        if any(k.startswith(f"p-{run}") for k in archived_keys(a))
    ]
    assert archived_keys(archived) == [f"p-{run}-bad"] and archived.header is not None
    message = archived.header["message"]
    info = message["DDBStreamBatchInfo"]
    assert info["batchSize"] == 1 and info["streamArn"] == out["table_stream_arn"]
    assert info["startSequenceNumber"] == info["endSequenceNumber"]
    assert message["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert message["requestContext"]["approximateInvokeCount"] == 6  # retries 5 + 1
    mine = [
        x
        for x in etl_lines(cloud.s3, out["etl_bucket_name"])
        if x["keys"]["application_id"].startswith(f"p-{run}")
    ]
    assert all(x["keys"]["application_id"] != f"p-{run}-bad" for x in mine)
    assert info["startSequenceNumber"] not in {x["sequenceNumber"] for x in mine}
    per_seq = Counter(x["sequenceNumber"] for x in mine)
    assert len(per_seq) == 3 and set(per_seq.values()) == {1}


FLAKY = """
import json, os, time
def handler(event, context):
    keys = [r["dynamodb"]["Keys"]["application_id"]["S"] for r in event["Records"]]
    with open(os.environ["OUT"], "a") as out:
        out.write(json.dumps(keys) + "\\n")
    if any(k.endswith("-sleep") for k in keys):
        time.sleep(10)
    if any(k.endswith("-raise") for k in keys):
        raise RuntimeError("cannot")
    return {}
"""


def test_second_mapping_retries_bisects_and_filters(stack: Stack, tmp_path: Any) -> None:
    """A second reader of the applied stream (created through the API, like a user's own
    function): a raise and a timeout are retried and bisected; filters drop exactly the
    records that match no pattern."""
    cloud, out = stack
    table, run = out["table_name"], uuid.uuid4().hex[:6]
    role = cloud.iam.create_role(RoleName=f"flaky-{run}", AssumeRolePolicyDocument="{}")
    log = tmp_path / "calls.jsonl"
    cloud.clients["lambda"].create_function(
        FunctionName=f"flaky-{run}",
        Runtime="python3.12",
        Role=role["Role"]["Arn"],
        Handler="flaky.handler",
        Code={"ZipFile": zip_bytes({"flaky.py": FLAKY})},
        Timeout=1,
        Environment={"Variables": {"OUT": str(log)}},
    )
    dlq = cloud.sqs.create_queue(QueueName=f"flaky-{run}-dlq")["QueueUrl"]
    dlq_arn = cloud.sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    pattern = {
        "dynamodb": {"NewImage": {"job_id": {"S": [f"flaky-{run}"]}}},
        "eventName": ["INSERT"],
    }
    mapping = cloud.clients["lambda"].create_event_source_mapping(
        EventSourceArn=out["table_stream_arn"],
        FunctionName=f"flaky-{run}",
        StartingPosition="LATEST",
        BatchSize=10,
        MaximumBatchingWindowInSeconds=1,
        BisectBatchOnFunctionError=True,
        MaximumRetryAttempts=1,
        DestinationConfig={"OnFailure": {"Destination": dlq_arn}},
        FilterCriteria={"Filters": [{"Pattern": json.dumps(pattern)}]},
    )
    try:
        time.sleep(1.5)  # let the runtime discover the mapping
        names = ["a", "b-raise", "c", "d-sleep"]
        for n in names:
            put(cloud.dynamodb, table, f"{run}-{n}", "APPLIED", job=f"flaky-{run}")
        put(cloud.dynamodb, table, f"{run}-other-job", "APPLIED", job="job-other")  # filtered out
        set_status(cloud.dynamodb, table, f"{run}-a", "SCREEN")  # MODIFY: filtered out
        cloud.settle(120)
        calls = [json.loads(x) for x in log.read_text().splitlines()]
        short = [[k.split("-", 1)[1] for k in c] for c in calls]
        assert short[0] == names  # one batch (window), only matching records
        # bisected: [a, b-raise] then [c, d-sleep]; each failing half bisected down
        assert ["a"] in short and ["c"] in short
        assert short.count(["b-raise"]) == 2 and short.count(["d-sleep"]) == 2
        assert not any("other-job" in k for c in calls for k in c)
        msgs = drain(cloud.sqs, dlq)
        assert sorted(m["DDBStreamBatchInfo"]["batchSize"] for m in msgs) == [1, 1]
        assert {m["responseContext"]["functionError"] for m in msgs} == {"Unhandled"}
    finally:
        cloud.clients["lambda"].delete_event_source_mapping(UUID=mapping["UUID"])
        cloud.clients["lambda"].delete_function(FunctionName=f"flaky-{run}")
