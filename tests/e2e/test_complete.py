"""examples/complete on the local cloud, inside the stack of ``make e2e-aws`` (examples/complete
plus a recorder, tests/e2e/aws_stack), applied once (module scope) by pytest-terraform and shared
by every test here: the code of ``make e2e-aws`` (tests/e2e/aws.py) run on it, the resources as
applied (read back through the AWS APIs), no drift on a second plan, settings as applied, sinks
after item changes, poison records, retries, bisection and filters, with the real handlers from
the deployed zip. The destroy, and that nothing is left after it, is checked when the last test
here ends. The stack and its tests live in this one module: pytest-terraform declares its fixture
when the module is imported, which needs pytest's configuration (an initial conftest is
imported before it exists)."""

from __future__ import annotations

import json
import re
import time
import uuid
import zipfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from pytest_terraform import terraform, tf

from ddbt.local.engine import Window
from handlers import registry
from handlers.archive import Archive, batch_info, on_failure_message, read_archive
from handlers.getrecords import lambda_records
from tests.conformance.corpus import KINDS, SOURCE_KINDS, get_records_parsed
from tests.e2e.aws import Options, Run, exercise, write_corpus
from tests.e2e.conftest import PREFIX, REGION, ROOT, LocalCloud, check_destroyed, terraform_env
from tests.e2e.scenario import check, drain, drive, etl_lines, put, set_status
from tests.factories import zip_bytes

Stack = tuple[LocalCloud, dict[str, Any]]
TOO_MANY_DIGITS = "123456789012345678901234567890123456789012"  # moto stores it, AWS refuses
NAME = f"ex-{PREFIX}"  # examples/complete's names: ex-${basename(path.cwd)}
REPLICA_REGION = "us-west-2"  # examples/complete's var.replica_region
RECORDER = (
    f"{NAME}-e2e-recorder"  # the stack's second reader (tests/e2e/aws_stack), not the example's
)

# One worker: the tests share the local cloud (the endpoint process and the pollers).
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("e2e")]

# pytest-terraform: the stack's folder (named PREFIX, prepared by tests/e2e/aws.py) applied
# once for this module. Its destroy is run by e2e_run (then checked), not left to the plugin.
terraform(PREFIX, scope="module", name="tf_e2e", teardown=terraform.TEARDOWN_OFF)


@contextmanager
def stacks_in(folder: Path) -> Iterator[None]:
    """pytest-terraform looks for the stack's folder in ``folder`` (for the block): the stack
    is prepared under the session's temporary folder, so Terraform runs in a folder named
    PREFIX (path.cwd names every resource ex-PREFIX-...)."""
    saved = tf.LazyModuleDir.value
    tf.LazyModuleDir.value = str(folder)
    try:
        yield
    finally:
        tf.LazyModuleDir.value = saved


@pytest.fixture(scope="module")
def e2e_run(
    local_cloud: LocalCloud,
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Run]:
    """The stack of ``make e2e-aws``, prepared by that command's code, applied once by
    pytest-terraform and handed to the run (``Run.adopt``); destroyed after the last e2e test
    by pytest-terraform, and checked gone."""
    run = Run(
        Options(
            prefix=PREFIX,
            region=REGION,
            endpoint_url=local_cloud.endpoint,
            env=local_cloud.env,
            timeout=180,
            root=tmp_path_factory.mktemp("e2e-aws"),
        )
    )
    folder = run.prepare().parent
    try:
        with stacks_in(folder), terraform_env(local_cloud, run.variables()):
            applied = request.getfixturevalue("tf_e2e")
        run.adopt(applied.outputs, Path(applied.work_dir), Path(applied.terraform.state_path))
        yield run
    finally:
        # a failed apply has been destroyed by pytest-terraform already: then this does nothing
        with stacks_in(folder), terraform_env(local_cloud, run.variables()):
            terraform.get_fixture(PREFIX).tear_down()
    check_destroyed(local_cloud, run.outputs)


def test_the_aws_run_on_the_local_endpoint(e2e_run: Run, tmp_path: Path) -> None:
    """The code of ``make e2e-aws`` (tests/e2e/aws.py) on the applied stack: it drives the
    changes, checks every processor and records the event shapes in the corpus format. Only
    the endpoint differs from a run on a real account."""
    out = tmp_path / "corpus"
    docs = write_corpus(exercise(e2e_run).corpus(REGION), out)
    assert sorted(docs) == ["destinations", "records", "windows"]
    for kind, doc in docs.items():
        assert kind in KINDS and json.loads((out / f"{kind}.json").read_text()) == doc
        assert doc["source"]["url"].startswith("https://")
        assert doc["source"]["kind"] in SOURCE_KINDS and doc["cases"]
        assert all(c["id"] and c["facts"] for c in doc["cases"])
    # the recorded shapes read as the corpus tests read them
    (records,) = docs["records"]["cases"]
    parsed = get_records_parsed(records["get_records_wire"])
    assert lambda_records(parsed["Records"], records["stream_arn"]) == records["lambda_records"]
    (failure,) = docs["destinations"]["cases"]
    assert batch_info(on_failure_message(json.dumps(failure["message"])))["batchSize"] >= 1
    assert failure["expect"]["condition"] == "RetryAttemptsExhausted"
    (window,) = docs["windows"]["cases"]
    fields = set(Window(0.0, 0.0).fields("s", "a")) | {"Records"}
    assert set(window["event"]) == fields


@pytest.fixture(scope="module")
def stack(local_cloud: LocalCloud, e2e_run: Run) -> Stack:
    """The applied stack (one for this module, tests/e2e/conftest.py) and its outputs, once the
    pollers have caught up. Notifications are captured through the stack's SQS subscription
    to the topic (``_notifications``)."""
    local_cloud.settle()
    return local_cloud, e2e_run.outputs


def _aws(cloud: LocalCloud) -> dict[str, Any]:
    services = ("dynamodb", "lambda", "sqs", "sns", "s3", "iam", "logs", "cloudwatch", "events")
    clients = {s: cloud.client(s) for s in (*services, "glue")}
    clients["dynamodb_replica"] = cloud.client("dynamodb", REPLICA_REGION)
    return clients


def test_complete_example_as_applied(stack: Stack) -> None:
    """What the module promises, read back through the AWS APIs."""
    cloud, out = stack
    _check_applied(_aws(cloud), out)


def test_no_drift_after_apply(e2e_run: Run) -> None:
    """A plan of the applied stack changes nothing: the provider reads back what it wrote."""
    assert e2e_run.drift() == ""


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


def _check_applied(aws: dict[str, Any], out: dict[str, Any]) -> None:
    """examples/complete as applied, read back through the AWS APIs."""
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
        # every processor but the cache, which examples/complete runs given a cache endpoint
        "PROCESSORS": ",".join(name for name in registry.NAMES if name != "cache"),
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
    assert [
        g["logGroupName"] for g in groups["logGroups"] if RECORDER not in g["logGroupName"]
    ] == [
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
    assert (out["etl_glue_database_name"], glue["Name"]) == (
        f"{NAME}_etl".replace("-", "_"),
        "changes",
    )
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
