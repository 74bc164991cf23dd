"""`terraform apply` of examples/complete succeeds against a local moto server, the result is
what the module promises (read back through the AWS APIs), a second plan shows no drift, and
`terraform destroy` removes everything.

The moto server is a subprocess on a free port; Terraform reaches it through AWS_ENDPOINT_URL
with fake credentials and installs the AWS provider from the local mirror when
scripts/terraform.sh finds one. Skipped when terraform is not installed.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore.exceptions import ClientError

from tests.terraform.cli import REGION, ROOT, succeeded, terraform, terraform_env

EXAMPLE = ROOT / "examples" / "complete"
REPLICA_REGION = "us-west-2"  # examples/complete's var.replica_region
NAME = "ex-complete"  # ex-${basename(path.cwd)}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not installed"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with log.open("wb") as sink:
        server = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, f"moto server exited: {log.read_text()[-2000:]}"
            try:
                if requests.get(f"{endpoint}/moto-api/", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, "moto server did not start"
            time.sleep(0.2)
        yield endpoint
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _clients(endpoint: str) -> dict[str, Any]:
    kw = {
        "endpoint_url": endpoint,
        "region_name": REGION,
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
    }
    services = (
        "dynamodb",
        "lambda",
        "sqs",
        "sns",
        "s3",
        "iam",
        "logs",
        "cloudwatch",
        "events",
        "glue",
    )
    clients = {s: boto3.client(s, **kw) for s in services}
    clients["dynamodb_replica"] = boto3.client("dynamodb", **{**kw, "region_name": REPLICA_REGION})
    return clients


def _check_applied(aws: dict[str, Any], out: dict[str, Any]) -> None:
    # The job applications table and its stream
    table = aws["dynamodb"].describe_table(TableName=out["table_name"])["Table"]
    assert table["TableName"] == f"{NAME}-applications"
    assert table["KeySchema"] == [{"AttributeName": "application_id", "KeyType": "HASH"}]
    assert table["StreamSpecification"] == {
        "StreamEnabled": True,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    assert table["LatestStreamArn"] == out["table_stream_arn"]

    # One function (combined layout) with the handlers' environment contract
    fn = aws["lambda"].get_function_configuration(FunctionName=out["function_names"]["pipeline"])
    assert fn["Handler"] == "handlers.pipeline.handler"
    assert fn["Runtime"] == "python3.12"
    assert fn["Architectures"] == ["arm64"]
    assert fn["Environment"]["Variables"] == {
        "PROCESSORS": "analytics,notification,etl,eventbus,view,replicate",
        "CHECKPOINT_TABLE": out["checkpoint_table_name"],
        "METRICS_NAMESPACE": "DynamoDBTriggers",
        "LOG_LEVEL": "INFO",
        "ETL_BUCKET": out["etl_bucket_name"],
        "ETL_PREFIX": "changes/",
        "NOTIFY_TOPIC_ARN": out["notification_topic_arn"],
        "NOTIFY_EVENTS": "MODIFY",
        "NOTIFY_ATTRIBUTES": "status",
        "AGGREGATES_TABLE": out["analytics_table_name"],
        "ANALYTICS_GROUP_BY": "job_id,status",
        "EVENTBUS_NAME": f"{NAME}-events",
        "EVENTBUS_EVENTS": "INSERT,MODIFY,REMOVE",
        "VIEW_TABLE": f"{NAME}-view",
        "VIEW_PARTITION_KEY": "job_id",
        "VIEW_SORT_KEY": "application_id",
        "VIEW_ATTRIBUTES": "status",
        "VIEW_WRITE_CONCURRENCY": "20",
        "REPLICA_TABLE": out["replica_table_arn"],
        "REPLICATE_WRITE_CONCURRENCY": "20",
    }

    # One mapping = one stream reader, as configured
    mappings = [  # (moto ignores the FunctionName filter of ListEventSourceMappings)
        m
        for m in aws["lambda"].list_event_source_mappings()["EventSourceMappings"]
        if m["FunctionArn"] == fn["FunctionArn"]
    ]
    assert len(mappings) == 1
    mapping = mappings[0]
    assert mapping["UUID"] == out["event_source_mapping_uuids"]["pipeline"]
    assert mapping["EventSourceArn"] == out["table_stream_arn"]
    assert mapping["StartingPosition"] == "TRIM_HORIZON"
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BisectBatchOnFunctionError"] is True
    assert mapping["MaximumRetryAttempts"] == 5
    assert mapping["MaximumRecordAgeInSeconds"] == 3600
    dlq_url = out["dlq_urls"]["pipeline"]
    dlq = aws["sqs"].get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["All"])["Attributes"]
    assert mapping["DestinationConfig"]["OnFailure"]["Destination"] == dlq["QueueArn"]

    # Dead-letter queue: 14 days, encrypted, HTTPS only
    assert dlq["MessageRetentionPeriod"] == "1209600"
    assert dlq["SqsManagedSseEnabled"] == "true"
    assert json.loads(dlq["Policy"])["Statement"][0]["Condition"] == {
        "Bool": {"aws:SecureTransport": "false"}
    }

    # Sinks
    bucket = out["etl_bucket_name"]
    block = aws["s3"].get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values()) and len(block) == 4
    sse = aws["s3"].get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
    assert sse["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert aws["s3"].get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    topic = aws["sns"].get_topic_attributes(TopicArn=out["notification_topic_arn"])["Attributes"]
    assert topic["KmsMasterKeyId"] == "alias/aws/sns"
    for name in (out["analytics_table_name"], out["checkpoint_table_name"]):
        t = aws["dynamodb"].describe_table(TableName=name)["Table"]
        assert t["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
        ttl = aws["dynamodb"].describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        assert ttl["AttributeName"] == "expires_at"

    # Least privilege: the role reads exactly this stream and writes only its sinks
    policy = aws["iam"].get_role_policy(RoleName=fn["FunctionName"], PolicyName="least-privilege")
    statements = {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}
    assert statements["ReadTableStream"]["Resource"] == [out["table_stream_arn"]]
    assert statements["SendToOwnDeadLetterQueue"]["Resource"] == [dlq["QueueArn"]]
    assert statements["WriteEtlObjects"]["Resource"] == [f"arn:aws:s3:::{bucket}/changes/*"]
    wildcard = [sid for sid, s in statements.items() if "*" in s["Resource"]]
    assert wildcard == ["ListStreams"]
    bus_arn = f"arn:aws:events:{REGION}:123456789012:event-bus/{NAME}-events"
    view_arn = f"arn:aws:dynamodb:{REGION}:123456789012:table/{NAME}-view"
    assert statements["PublishEvents"]["Action"] == ["events:PutEvents"]
    assert statements["PublishEvents"]["Resource"] == [bus_arn]
    assert statements["WriteView"]["Action"] == ["dynamodb:PutItem"]
    assert statements["WriteView"]["Resource"] == [view_arn]
    assert statements["WriteReplica"]["Action"] == ["dynamodb:PutItem"]
    assert statements["WriteReplica"]["Resource"] == [out["replica_table_arn"]]

    _check_new_sinks(aws, out, bus_arn)

    # Operations
    groups = aws["logs"].describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{NAME}-")
    assert [g["logGroupName"] for g in groups["logGroups"]] == [
        f"/aws/lambda/{NAME}-dlq-archiver",
        f"/aws/lambda/{NAME}-pipeline",
    ]
    alarms = aws["cloudwatch"].describe_alarms(AlarmNamePrefix=NAME)["MetricAlarms"]
    assert sorted(a.get("MetricName") or a["AlarmName"] for a in alarms) == [
        "ApproximateNumberOfMessagesVisible",
        "ArchiveMismatches",  # archived records that are not the failed batch
        "DestinationDeliveryFailures",  # the failure record could not be delivered
        "DroppedEventCount",  # the mapping's own metrics (EventCount)
        "Errors",
        "FailedInvocations",  # the status-changes rule's deliveries to its queue
        "FailedInvokeEventCount",
        "IteratorAge",
        "MessagesArchived",
        "MessagesNotArchived",
        *["RecordsFailed"] * 6,  # per processor of the pipeline function
        "Throttles",
        f"{NAME}-dlq-archiver-errors",  # metric math: Lambda Errors + ArchiveFailures
        f"{NAME}-pipeline-stalled",  # metric math: PolledEventCount against the table's writes
    ]

    # DLQ archiver: one SQS mapping on the DLQ, whose visibility timeout suits it
    archiver = aws["lambda"].get_function_configuration(
        FunctionName=out["dlq_archiver_function_name"]
    )
    assert archiver["Handler"] == "handlers.archiver.handler"
    # the mapping whose filters the archiver applies to the ranges it reads back
    assert json.loads(archiver["Environment"]["Variables"]["SOURCE_MAPPINGS"]) == {
        f"{NAME}-pipeline": out["event_source_mapping_uuids"]["pipeline"]
    }
    (on_dlq,) = [
        m
        for m in aws["lambda"].list_event_source_mappings()["EventSourceMappings"]
        if m["FunctionArn"] == archiver["FunctionArn"]
    ]
    assert on_dlq["EventSourceArn"] == dlq["QueueArn"]
    assert on_dlq["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert dlq["VisibilityTimeout"] == "360"
    assert aws["cloudwatch"].get_dashboard(DashboardName=out["dashboard_name"])["DashboardBody"]


def _check_new_sinks(aws: dict[str, Any], out: dict[str, Any], bus_arn: str) -> None:
    # Event bus and the example rule: MODIFY events to an encrypted queue only it may send to
    assert aws["events"].describe_event_bus(Name=out["eventbus_bus_name"])["Arn"] == bus_arn
    rule = aws["events"].describe_rule(Name=f"{NAME}-status-changes", EventBusName=f"{NAME}-events")
    assert json.loads(rule["EventPattern"]) == {
        "source": [f"dynamodb-triggers.{NAME}-applications"],
        "detail-type": ["DynamoDB MODIFY"],
    }
    queue = aws["sqs"].get_queue_attributes(
        QueueUrl=out["status_changes_queue_url"], AttributeNames=["All"]
    )["Attributes"]
    (target,) = aws["events"].list_targets_by_rule(
        Rule=rule["Name"], EventBusName=f"{NAME}-events"
    )["Targets"]
    assert target["Arn"] == queue["QueueArn"]
    assert queue["SqsManagedSseEnabled"] == "true"
    allow = json.loads(queue["Policy"])["Statement"][0]
    assert allow["Principal"] == {"Service": "events.amazonaws.com"}
    assert allow["Condition"] == {"ArnEquals": {"aws:SourceArn": rule["Arn"]}}

    # View table: keyed like the view, TTL on the tombstones' _ddbt_expires, PITR
    view = aws["dynamodb"].describe_table(TableName=out["view_table_name"])["Table"]
    assert view["KeySchema"] == [
        {"AttributeName": "job_id", "KeyType": "HASH"},
        {"AttributeName": "application_id", "KeyType": "RANGE"},
    ]
    assert view["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    for client, name in (
        (aws["dynamodb"], out["view_table_name"]),
        (aws["dynamodb_replica"], f"{NAME}-applications-replica"),
    ):
        ttl = client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "_ddbt_expires"}
    backups = aws["dynamodb"].describe_continuous_backups(TableName=out["view_table_name"])
    pitr = backups["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    assert pitr["PointInTimeRecoveryStatus"] == "ENABLED"

    # Replica table in the other region, same key schema as the source
    replica = aws["dynamodb_replica"].describe_table(TableName=f"{NAME}-applications-replica")
    assert replica["Table"]["TableArn"] == out["replica_table_arn"]
    assert f":{REPLICA_REGION}:" in out["replica_table_arn"]
    assert replica["Table"]["KeySchema"] == [{"AttributeName": "application_id", "KeyType": "HASH"}]

    # Glue table over the ETL objects with partition projection
    glue = aws["glue"].get_table(
        DatabaseName=out["etl_glue_database_name"], Name=out["etl_glue_table_name"]
    )["Table"]
    assert (out["etl_glue_database_name"], glue["Name"]) == ("ex_complete_etl", "changes")
    location = f"s3://{out['etl_bucket_name']}/changes/table={NAME}-applications/"
    params = glue["Parameters"]
    assert params["projection.enabled"] == "true"
    assert params["storage.location.template"] == location + "dt=${dt}/hour=${hour}/"
    start, end = params["projection.dt.range"].split(",")
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", start) and end == "NOW"
    assert [k["Name"] for k in glue["PartitionKeys"]] == ["dt", "hour"]
    sd = glue["StorageDescriptor"]
    assert sd["Location"] == location
    assert sd["SerdeInfo"]["SerializationLibrary"] == "org.openx.data.jsonserde.JsonSerDe"
    assert [c["Name"] for c in sd["Columns"]] == [
        "event_id",
        "event_name",
        "sequence_number",
        "approximate_creation_date_time",
        "keys",
        "new_image",
        "old_image",
        "ttl_expired",
    ]


def _check_destroyed(aws: dict[str, Any], out: dict[str, Any]) -> None:
    for name in (out["table_name"], out["analytics_table_name"], out["checkpoint_table_name"]):
        with pytest.raises(ClientError, match="ResourceNotFoundException"):
            aws["dynamodb"].describe_table(TableName=name)
    functions = aws["lambda"].list_functions()["Functions"]
    assert [f["FunctionName"] for f in functions if f["FunctionName"].startswith(NAME)] == []
    assert aws["lambda"].list_event_source_mappings()["EventSourceMappings"] == []
    buckets = aws["s3"].list_buckets()["Buckets"]
    assert [b["Name"] for b in buckets if b["Name"].startswith(NAME)] == []
    assert aws["sqs"].list_queues(QueueNamePrefix=NAME).get("QueueUrls", []) == []
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        aws["dynamodb"].describe_table(TableName=out["view_table_name"])
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        aws["dynamodb_replica"].describe_table(TableName=f"{NAME}-applications-replica")
    buses = aws["events"].list_event_buses()["EventBuses"]
    assert [b["Name"] for b in buses if b["Name"].startswith(NAME)] == []
    assert [d["Name"] for d in aws["glue"].get_databases()["DatabaseList"]] == []


def test_complete_example_applies_and_destroys_on_moto(moto_server: str, tmp_path: Path) -> None:
    env = terraform_env(moto_server, tmp_path / ".terraform")
    state = f"-state={tmp_path / 'terraform.tfstate'}"
    aws = _clients(moto_server)
    succeeded(terraform(EXAMPLE, env, "init", "-input=false"))
    applied = False
    try:
        succeeded(terraform(EXAMPLE, env, "apply", "-auto-approve", "-input=false", state))
        applied = True
        raw = json.loads(succeeded(terraform(EXAMPLE, env, "output", "-json", state)))
        out = {k: v["value"] for k, v in raw.items()}
        _check_applied(aws, out)

        plan = terraform(EXAMPLE, env, "plan", "-detailed-exitcode", "-input=false", state)
        assert plan.returncode == 0, f"drift after apply:\n{plan.stdout[-6000:]}\n{plan.stderr}"
    finally:
        if applied:
            succeeded(terraform(EXAMPLE, env, "destroy", "-auto-approve", "-input=false", state))
    _check_destroyed(aws, out)
