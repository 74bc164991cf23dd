"""The DLQ archiver (handlers.archiver) on real on-failure messages.

GIVEN the local runtime delivering a table's stream to a function that raises on poison
records (bisect on, no retries, an SQS DLQ), so the DLQ holds the messages Lambda writes;
WHEN the archiver handler runs on SQS events built from those messages;
THEN each message becomes one S3 object holding exactly the records the function was given
(as it was given them) plus the message, at a deterministic key; expired ranges and bodies
that are not on-failure messages are kept as evidence; transient trouble is reported in
``batchItemFailures``; and ``ddbt redrive --from-s3`` re-runs an archive through a processor.
"""

from __future__ import annotations

import gzip
import io
import json
import re
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from ddbt.cli import main
from handlers import archive as dlq_archive
from handlers import archiver, aws, retry
from handlers.config import ConfigError
from tests.factories import Context
from tests.local.conftest import (
    NEW_ONLY,
    REGION,
    Cloud,
    cloud,
    failed_filtered_batch,
    wait_for,
)

__all__ = ["cloud"]  # the cloud fixture of tests/local (on the session's local_endpoint)

ROOT = Path(__file__).resolve().parents[2]
DAY_AND_A_HALF_AGO = (datetime.now(UTC) - timedelta(hours=36)).strftime("%Y-%m-%dT%H:%M:%SZ")
BUCKET = "archive"
PREFIX = "dlq-archive/"


@dataclass
class Stack:
    cloud: Cloud
    queue_arn: str
    stream: str
    messages: list[dict[str, Any]]  # as ReceiveMessage returns them

    def client(self, service: str) -> Any:
        return self.cloud.client(service)

    def event(self, *bodies: str) -> dict[str, Any]:
        """An SQS event (the shape Lambda's SQS poller sends) of the DLQ's messages, then
        extra ``bodies``."""
        pairs = [(m["MessageId"], m["Body"]) for m in self.messages]
        pairs += [(f"extra-{i}", b) for i, b in enumerate(bodies)]
        return {
            "Records": [
                {
                    "messageId": mid,
                    "receiptHandle": f"handle-{mid}",
                    "body": body,
                    "attributes": {"ApproximateReceiveCount": "1"},
                    "messageAttributes": {},
                    "md5OfBody": "",
                    "eventSource": "aws:sqs",
                    "eventSourceARN": self.queue_arn,
                    "awsRegion": REGION,
                }
                for mid, body in pairs
            ]
        }

    def objects(self) -> dict[str, bytes]:
        s3 = self.client("s3")
        listed = s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])
        return {o["Key"]: s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read() for o in listed}


def _as_archiver(cloud: Cloud, monkeypatch: pytest.MonkeyPatch, uuid: str) -> None:
    """The archiver handler run in this process archives to ``BUCKET`` under ``PREFIX`` the
    failed batches of mapping ``uuid`` (the fake function's)."""
    cloud.use(
        monkeypatch,
        ARCHIVE_BUCKET=BUCKET,
        ARCHIVE_PREFIX=PREFIX,
        AWS_LAMBDA_FUNCTION_NAME="t-dlq-archiver",
        SOURCE_MAPPINGS=json.dumps({"fake": uuid}),
    )


def _with_bucket(s: Stack) -> Stack:
    """``s`` with its archive bucket created (empty)."""
    s.client("s3").create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    return s


@pytest.fixture
def stack(cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    retry.set_policy(retry.Policy(attempts=2, base=0.001, cap=0.001))
    stream, url, arn, uuid, _ = cloud.failing_to_dlq(
        BatchSize=3, BisectBatchOnFunctionError=True, MaximumRetryAttempts=0
    )
    _as_archiver(cloud, monkeypatch, uuid)
    for pk in ["a", "raise-1", "b", "c", "raise-2", "d"]:
        item = {"pk": {"S": pk}, "status": {"S": "NEW"}, "blob": {"B": b"\x00\xff"}}
        cloud.ddb.put_item(TableName="t", Item=item)
    cloud.runtime()
    # one message per poison record, bisected down to it
    wait_for(lambda: cloud.queued(url) == 2, 30)
    cloud.close()
    messages = cloud.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)[
        "Messages"
    ]
    assert len(messages) == 2
    yield _with_bucket(Stack(cloud, arn, stream, messages))
    retry.set_policy(retry.POLICY)


def _delivered(cloud: Cloud, pk: str) -> dict[str, Any]:
    """The record with key ``pk`` as the function last received it."""
    found = [
        r
        for inv in cloud.invocations()
        for r in inv["event"]["Records"]
        if r["dynamodb"]["Keys"]["pk"]["S"] == pk
    ]
    return dict(found[-1])


def _run(event: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    out = io.StringIO()
    with redirect_stdout(out):
        response = archiver.handler(event, Context(name="t-dlq-archiver"))
    return response, [json.loads(line) for line in out.getvalue().splitlines()]


def test_each_message_is_archived_with_exactly_its_records(stack: Stack) -> None:
    bodies = [json.loads(m["Body"]) for m in stack.messages]
    # An expired message: a range the shard no longer holds (moto cannot trim, so the
    # range lies past the records: GetRecords finds nothing there, as after trimming).
    gone = json.loads(json.dumps(bodies[0]))
    end = int(gone["DDBStreamBatchInfo"]["endSequenceNumber"])
    gone["DDBStreamBatchInfo"]["startSequenceNumber"] = str(end + 10**6)
    gone["DDBStreamBatchInfo"]["endSequenceNumber"] = str(end + 10**6 + 1)
    gone["DDBStreamBatchInfo"]["approximateArrivalOfFirstRecord"] = DAY_AND_A_HALF_AGO
    event = stack.event(json.dumps(gone), "not json at all")
    used: set[str] = set()

    def record_call(model: Any, **_: Any) -> None:
        prefix = {"s3": "s3", "streams.dynamodb": "dynamodb", "lambda": "lambda"}[
            model.service_model.endpoint_prefix
        ]
        used.add(f"{prefix}:{model.name}")

    for service in ("s3", "dynamodbstreams", "lambda"):
        aws.client(service).meta.events.register("before-call", record_call)

    response, lines = _run(event)

    assert response == {"batchItemFailures": []}
    objects = stack.objects()
    shard = bodies[0]["DDBStreamBatchInfo"]["shardId"]
    archived = {}
    for body in bodies:
        info = body["DDBStreamBatchInfo"]
        key = (
            f"{PREFIX}fake/{shard}/{info['startSequenceNumber']}-{info['endSequenceNumber']}"
            ".jsonl.gz"
        )
        archive = dlq_archive.read_archive(objects[key])
        assert archive.header is not None and archive.header["message"] == body
        assert archive.header["recordsExpired"] is False and archive.header["records"] == 1
        archived[archive.records[0]["dynamodb"]["Keys"]["pk"]["S"]] = archive.records
    # exactly the described records, exactly as Lambda delivered them to the function
    assert sorted(archived) == ["raise-1", "raise-2"]
    for pk, records in archived.items():
        assert records == [_delivered(stack.cloud, pk)]
        assert records[0]["dynamodb"]["NewImage"]["blob"] == {"B": "AP8="}  # base64
        assert records[0]["eventSourceARN"] == stack.stream
    # the expired message is kept as evidence, flagged, with the reason
    info = gone["DDBStreamBatchInfo"]
    key = f"{PREFIX}fake/{shard}/{info['startSequenceNumber']}-{info['endSequenceNumber']}.jsonl.gz"
    expired = dlq_archive.read_archive(objects[key])
    assert expired.expired and expired.records == [] and expired.header is not None
    assert expired.header["message"] == gone and "24 hours" in expired.header["detail"]
    # a body that is not an on-failure message is kept too
    invalid = json.loads(gzip.decompress(objects[f"{PREFIX}dlq/invalid/extra-1.json.gz"]))
    assert invalid["sqs"]["body"] == "not json at all" and invalid["invalid"]
    assert len(objects) == 4
    # one clear ERROR line per message that could not be archived with its records
    errors = [x for x in lines if x.get("level") == "ERROR"]
    assert sorted(x["messageId"] for x in errors) == ["extra-0", "extra-1"]
    assert any("expired" in x["message"] for x in errors)
    (metrics,) = [x for x in lines if "_aws" in x]
    assert metrics["MessagesArchived"] == 2 and metrics["RecordsArchived"] == 2
    assert metrics["MessagesNotArchived"] == 2 and metrics["ArchiveFailures"] == 0
    assert metrics["FunctionName"] == "t-dlq-archiver"

    # the handler's own calls are exactly the DynamoDB, S3 and Lambda actions archiver.tf
    # grants (the SQS actions are the mapping's, the logs ones Lambda's)
    tf = (ROOT / "archiver.tf").read_text()
    granted = set(re.findall(r'"((?:dynamodb|s3|lambda):\w+)"', tf))
    assert (
        used
        == granted
        == {
            "dynamodb:GetShardIterator",
            "dynamodb:GetRecords",
            "s3:PutObject",
            "lambda:GetEventSourceMapping",
        }
    )

    # archiving the same messages again (an SQS redelivery) overwrites: same keys, same bytes
    assert _run(event)[0] == {"batchItemFailures": []}
    assert stack.objects() == objects


def _short_circuit(code: str, status: int, match: str) -> Any:
    """A before-call hook answering calls whose request mentions ``match`` with an error."""

    def hook(params: dict[str, Any], **_: Any) -> Any:
        if match in json.dumps(params, default=str):
            return AWSResponse("https://injected", status, {}, None), {
                "Error": {"Code": code, "Message": f"injected {code}"}
            }
        return None

    return hook


def test_transient_trouble_is_reported_and_an_expired_iterator_renewed(stack: Stack) -> None:
    first, second = (json.loads(m["Body"])["DDBStreamBatchInfo"] for m in stack.messages)
    s3 = aws.client("s3")
    streams = aws.client("dynamodbstreams")
    # S3 is slow for the first message's object (retries exhausted); the stream hands out
    # an iterator that has expired (15 minutes) for the second one, once.
    slow = _short_circuit("SlowDown", 503, first["startSequenceNumber"])
    s3.meta.events.register("before-call.s3.PutObject", slow)
    calls: list[str] = []

    def expire_once(params: dict[str, Any], **kw: Any) -> Any:
        calls.append("GetRecords")
        if len(calls) == 1:
            return _short_circuit("ExpiredIteratorException", 400, "")(params, **kw)
        return None

    streams.meta.events.register("before-call.dynamodb-streams.GetRecords", expire_once)

    # A fresh message whose range GetRecords answers only with empty pages: not judged
    # expired before its records are 24 hours old (GetRecords may need several calls to reach
    # records), so SQS delivers it again.
    fresh = json.loads(stack.messages[1]["Body"])
    fresh["DDBStreamBatchInfo"]["startSequenceNumber"] += "0"
    fresh["DDBStreamBatchInfo"]["endSequenceNumber"] += "0"

    response, lines = _run(stack.event(json.dumps(fresh)))

    assert response == {
        "batchItemFailures": [
            {"itemIdentifier": stack.messages[0]["MessageId"]},
            {"itemIdentifier": "extra-0"},
        ]
    }
    slow_down, empty = [x for x in lines if x.get("level") == "WARNING"]
    assert "SlowDown" in slow_down["error"] and "delivers it again" in slow_down["message"]
    assert "Incomplete" in empty["error"] and "empty pages" in empty["error"]
    keys = list(stack.objects())
    assert keys == [
        f"{PREFIX}fake/{second['shardId']}/"
        f"{second['startSequenceNumber']}-{second['endSequenceNumber']}.jsonl.gz"
    ]
    assert len(dlq_archive.read_archive(stack.objects()[keys[0]]).records) == 1
    (metrics,) = [x for x in lines if "_aws" in x]
    assert metrics["ArchiveFailures"] == 2 and metrics["MessagesArchived"] == 1

    # S3 is back: SQS delivers the failed message again and it is archived
    s3.meta.events.unregister("before-call.s3.PutObject", slow)
    event = stack.event()
    event["Records"] = event["Records"][:1]
    assert _run(event)[0] == {"batchItemFailures": []}
    assert len(stack.objects()) == 2


def test_trimmed_records_and_a_missing_bucket(stack: Stack, monkeypatch: Any) -> None:
    first = json.loads(stack.messages[0]["Body"])["DDBStreamBatchInfo"]
    trimmed = _short_circuit("TrimmedDataAccessException", 400, first["startSequenceNumber"])
    aws.client("dynamodbstreams").meta.events.register(
        "before-call.dynamodb-streams.GetShardIterator", trimmed
    )
    response, _ = _run(stack.event())
    assert response == {"batchItemFailures": []}
    archives = {k: dlq_archive.read_archive(v) for k, v in stack.objects().items()}
    assert sorted(a.expired for a in archives.values()) == [False, True]
    (gone,) = [a for a in archives.values() if a.expired]
    assert gone.header is not None and "TrimmedDataAccessException" in gone.header["detail"]

    # A bucket that does not exist: every message is reported for redelivery.
    monkeypatch.setenv("ARCHIVE_BUCKET", "no-such-bucket")
    from handlers import coldstart

    coldstart.reset()
    response, _ = _run(stack.event())
    assert sorted(f["itemIdentifier"] for f in response["batchItemFailures"]) == sorted(
        m["MessageId"] for m in stack.messages
    )


def test_redrive_from_s3_reruns_the_archived_records(stack: Stack) -> None:
    gone = json.loads(stack.messages[0]["Body"])
    gone["DDBStreamBatchInfo"]["startSequenceNumber"] += "0"
    gone["DDBStreamBatchInfo"]["endSequenceNumber"] += "0"
    gone["DDBStreamBatchInfo"]["approximateArrivalOfFirstRecord"] = DAY_AND_A_HALF_AGO
    assert _run(stack.event(json.dumps(gone)))[0] == {"batchItemFailures": []}
    s3 = stack.client("s3")
    s3.create_bucket(Bucket="lake", CreateBucketConfiguration={"LocationConstraint": REGION})
    # replay --from-archive reads one archive (gzip, header line) back
    one = next(k for k, v in stack.objects().items() if not dlq_archive.read_archive(v).expired)
    replay = ["replay", "--from-archive", f"s3://{BUCKET}/{one}", "--mode", "overwrite"]
    s3.create_bucket(Bucket="replayed", CreateBucketConfiguration={"LocationConstraint": REGION})
    with redirect_stdout(io.StringIO()) as replayed:
        assert main([*replay, "--processor", "etl", "--env", "ETL_BUCKET=replayed"]) == 0
    assert "1 processed" in replayed.getvalue()
    assert len(s3.list_objects_v2(Bucket="replayed")["Contents"]) == 1

    argv = ["redrive", "--from-s3", f"s3://{BUCKET}/{PREFIX}", "--processor", "etl"]
    argv += ["--env", "ETL_BUCKET=lake"]

    out = io.StringIO()
    with redirect_stdout(out):
        status = main(argv)

    assert status == 1, out.getvalue()  # the expired archive is reported and left
    report = out.getvalue()
    assert "2 done and deleted, 1 expired" in report
    lake = s3.list_objects_v2(Bucket="lake")["Contents"]
    keys = []
    for obj in lake:
        body = gzip.decompress(s3.get_object(Bucket="lake", Key=obj["Key"])["Body"].read())
        keys += [json.loads(line)["keys"]["pk"] for line in body.splitlines()]
    assert sorted(keys) == ["raise-1", "raise-2"]
    (left,) = stack.objects()  # the re-run archives were deleted; the expired one stays
    assert dlq_archive.read_archive(stack.objects()[left]).expired


def test_configuration_errors_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="ARCHIVE_BUCKET is required"):
        archiver.build({})
    with pytest.raises(ConfigError, match=r"ARCHIVE_PREFIX=.*'\.\.'"):
        archiver.build({"ARCHIVE_BUCKET": "b", "ARCHIVE_PREFIX": "a/../b"})
    assert archiver.build({"ARCHIVE_BUCKET": "b", "ARCHIVE_PREFIX": "x"}).prefix == "x/"
    with pytest.raises(ValueError, match="lacks endSequenceNumber"):
        dlq_archive.batch_info(
            {"DDBStreamBatchInfo": {"shardId": "s", "startSequenceNumber": "1", "streamArn": "a"}}
        )


def test_a_range_ending_at_the_last_record_of_an_open_shard_is_read_at_once(
    aws_env: str,
) -> None:
    """The failed batch was the newest records of an open shard: nothing follows its last
    record yet, so the read stops there instead of polling empty pages and giving up."""
    from tests.conftest import create_table, make_client

    arn = create_table("open", stream="NEW_IMAGE")
    ddb = make_client("dynamodb")
    for i in range(3):
        ddb.put_item(TableName="open", Item={"pk": {"S": f"k{i}"}})
    streams = make_client("dynamodbstreams")
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]
    iterator = streams.get_shard_iterator(
        StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    seqs = [
        r["dynamodb"]["SequenceNumber"]
        for r in streams.get_records(ShardIterator=iterator)["Records"]
    ]
    info = {
        "shardId": shard["ShardId"],
        "startSequenceNumber": seqs[1],
        "endSequenceNumber": seqs[-1],
        "streamArn": arn,
        "batchSize": 2,
    }
    got = dlq_archive.fetch_records(streams, info, max_empty=1, empty_means_expired=False)
    assert [r["dynamodb"]["SequenceNumber"] for r in got] == seqs[1:]


@pytest.fixture
def filtered(cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    """A filtered mapping's failed batch whose range spans a record the filter dropped."""
    uuid, stream, _, messages = failed_filtered_batch(cloud)
    _as_archiver(cloud, monkeypatch, uuid)
    arn = cloud.sqs.get_queue_attributes(
        QueueUrl=cloud.sqs.get_queue_url(QueueName="dlq")["QueueUrl"], AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    yield _with_bucket(Stack(cloud, arn, stream, messages))


def _keys(records: list[dict[str, Any]]) -> list[str]:
    return [r["dynamodb"]["Keys"]["pk"]["S"] for r in records]


def test_records_the_filters_dropped_are_not_archived(
    filtered: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    (message,) = filtered.messages
    info = json.loads(message["Body"])["DDBStreamBatchInfo"]
    assert info["batchSize"] == 2  # skip-1 was never delivered, yet lies in the range

    response, lines = _run(filtered.event())

    assert response == {"batchItemFailures": []}
    (body,) = filtered.objects().values()
    archive = dlq_archive.read_archive(body)
    assert _keys(archive.records) == ["raise-1", "b"]
    assert archive.filters == [NEW_ONLY] and archive.mismatch == ""
    assert not [x for x in lines if x.get("level") == "ERROR"]

    # redrive re-runs exactly the delivered records
    s3 = filtered.client("s3")
    s3.create_bucket(Bucket="lake", CreateBucketConfiguration={"LocationConstraint": REGION})
    argv = ["redrive", "--from-s3", f"s3://{BUCKET}/{PREFIX}", "--processor", "etl"]
    with redirect_stdout(io.StringIO()) as out:
        assert main([*argv, "--env", "ETL_BUCKET=lake"]) == 0, out.getvalue()
    (obj,) = s3.list_objects_v2(Bucket="lake")["Contents"]
    lake = gzip.decompress(s3.get_object(Bucket="lake", Key=obj["Key"])["Body"].read())
    assert [json.loads(x)["keys"]["pk"] for x in lake.splitlines()] == ["raise-1", "b"]


def test_unknown_filters_are_a_reported_mismatch_never_silently_rerun(
    filtered: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The archiver cannot read the filters (no mapping known for the function): it keeps
    every record of the range, flags the difference from batchSize, logs it as an ERROR and
    counts it; redrive and replay refuse the archive unless told to run it anyway."""
    monkeypatch.setenv("SOURCE_MAPPINGS", "{}")
    response, lines = _run(filtered.event())

    assert response == {"batchItemFailures": []}
    ((key, body),) = filtered.objects().items()
    archive = dlq_archive.read_archive(body)
    assert _keys(archive.records) == ["raise-1", "skip-1", "b"]
    assert archive.filters is None and "held 2 record(s)" in archive.mismatch
    errors = [x["message"] for x in lines if x.get("level") == "ERROR"]
    assert any("filters are unknown" in e for e in errors)
    assert any("not the failed batch" in e for e in errors)
    (metrics,) = [x for x in lines if "_aws" in x]
    assert metrics["ArchiveMismatches"] == 1

    s3 = filtered.client("s3")
    s3.create_bucket(Bucket="lake", CreateBucketConfiguration={"LocationConstraint": REGION})

    def lake() -> list[str]:
        keys = []
        for obj in s3.list_objects_v2(Bucket="lake").get("Contents") or []:
            body = gzip.decompress(s3.get_object(Bucket="lake", Key=obj["Key"])["Body"].read())
            keys += [json.loads(x)["keys"]["pk"] for x in body.splitlines()]
        return keys

    # The mapping is there now: replay reads its filters, and the delivered records match
    # the batch, so they run.
    replay = ["replay", "--from-archive", f"s3://{BUCKET}/{key}", "--mode", "overwrite"]
    replay += ["--processor", "etl", "--env", "ETL_BUCKET=lake"]
    with redirect_stdout(io.StringIO()):
        assert main(replay) == 0
    assert lake() == ["raise-1", "b"]

    # The mapping is gone: nothing can tell which records it delivered; both commands refuse
    # the archive (one line, non-zero), and run all of it only when told to.
    for obj in s3.list_objects_v2(Bucket="lake")["Contents"]:
        s3.delete_object(Bucket="lake", Key=obj["Key"])
    (mapping,) = filtered.client("lambda").list_event_source_mappings()["EventSourceMappings"]
    filtered.client("lambda").delete_event_source_mapping(UUID=mapping["UUID"])
    with redirect_stderr(io.StringIO()) as err:
        assert main(replay) == 2
    assert re.search(r"held 2 record.*--accept-mismatch", err.getvalue())
    assert len(err.getvalue().splitlines()) == 1
    argv = ["redrive", "--from-s3", f"s3://{BUCKET}/{PREFIX}", "--processor", "etl"]
    argv += ["--env", "ETL_BUCKET=lake"]
    with redirect_stdout(io.StringIO()) as out:
        assert main(argv) == 1
    assert "1 not the failed batch (left)" in out.getvalue()
    assert lake() == [] and list(filtered.objects()) == [key]
    with redirect_stdout(io.StringIO()):
        assert main([*argv, "--accept-mismatch"]) == 0
    assert lake() == ["raise-1", "skip-1", "b"] and not filtered.objects()


# -- ParallelizationFactor above 1: a failed batch held only some keys of its range ---------


def _named(prefix: str, lane: int, count: int, factor: int = 4) -> list[str]:
    """``count`` item names starting with ``prefix`` that the local runtime puts in lane
    ``lane`` of ``factor`` (its hash: ``ddbt.local.stream_poller.lane_of``), to build a failed
    batch of known keys and a range that interleaves other batches' records."""
    from ddbt.local.stream_poller import lane_of

    names = (f"{prefix}{i}" for i in range(10_000))
    key = lambda n: json.dumps({"pk": {"S": n}}, sort_keys=True)  # noqa: E731 (Rec.key)
    return [n for n in names if lane_of(key(n), factor) == lane][:count]


def _parallel_failure(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch, writes: list[str]
) -> tuple[Stack, dict[str, Any]]:
    """The fake function behind a mapping at ParallelizationFactor 4 (no retries, partial
    failures reported: it reports the first ``partial-`` record of a batch) and ``writes``
    (item names, in stream order): the failed batch's rest goes to the DLQ in one message.
    Returns the stack and the message."""
    stream, url, arn, uuid, _ = cloud.failing_to_dlq(
        BatchSize=10,
        ParallelizationFactor=4,
        MaximumRetryAttempts=0,
        FunctionResponseTypes=["ReportBatchItemFailures"],
    )
    _as_archiver(cloud, monkeypatch, uuid)
    for pk in writes:
        cloud.put(pk)
    cloud.runtime()  # started after the writes: one GetRecords page
    wait_for(lambda: cloud.queued(url) == 1, 30)
    cloud.close()
    (message,) = cloud.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    return _with_bucket(Stack(cloud, arn, stream, [message])), json.loads(message["Body"])


def test_a_parallel_batch_is_picked_out_of_its_range(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Factor 4: the failed batch held the items x and y of one lane; its range also holds
    two records of other lanes, which succeeded. The items of the range's first and last
    record are batchSize records: exactly they are archived, and redrive runs only them."""
    (x,), (y,) = _named("partial-x", 0, 1), _named("y", 0, 1)
    o1, o2 = _named("o", 1, 1) + _named("o", 2, 1)
    stack, message = _parallel_failure(cloud, monkeypatch, [x, o1, y, o2, y])
    info = message["DDBStreamBatchInfo"]
    assert info["batchSize"] == 3 and message["responseContext"]["functionError"] is None

    response, lines = _run(stack.event())

    assert response == {"batchItemFailures": []}
    ((_, body),) = stack.objects().items()
    archive = dlq_archive.read_archive(body)
    assert _keys(archive.records) == [x, y, y] and archive.mismatch == ""
    assert archive.header is not None
    assert archive.header["parallelizationFactor"] == 4 and archive.header["otherRecords"] == 2
    assert not [line for line in lines if line.get("level") == "ERROR"]
    # redrive from the queue reads the range again and picks the same records
    from ddbt.ops.redrive import archive_records, mapping_of

    mapping, _ = mapping_of(stack.client("lambda"), message)
    assert mapping is not None and mapping.parallelization_factor == 4
    assert _keys(archive_records(archive, stack.client("lambda"))) == [x, y, y]
    streams = stack.client("dynamodbstreams")
    in_range = dlq_archive.fetch_records(streams, info)
    assert _keys(in_range) == [x, o1, y, o2, y]
    picked, problem = dlq_archive.failed_batch(info, in_range, 4)
    assert (_keys(picked), problem) == ([x, y, y], "")
    # with factor 1 (or unknown) the same range is only a mismatch: nothing is picked
    assert dlq_archive.failed_batch(info, in_range, 1)[1].startswith("the failed batch held 3")
    assert dlq_archive.failed_batch(info, in_range, None)[0] == in_range


def test_a_parallel_batch_that_cannot_be_told_is_flagged_and_refused(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Factor 4: the failed batch held x, z and y of one lane, its range a record of another
    lane too. The items of its first and last record are 2 of its 3 records, and which other
    item of the range was the third cannot be told: the whole range is archived, flagged, and
    redrive refuses it unless told to run it anyway."""
    (x,), (z, y) = _named("partial-x", 0, 1), _named("z", 0, 2)
    (o1,) = _named("o", 3, 1)
    stack, message = _parallel_failure(cloud, monkeypatch, [x, z, o1, y])
    assert message["DDBStreamBatchInfo"]["batchSize"] == 3

    response, lines = _run(stack.event())

    assert response == {"batchItemFailures": []}
    ((_, body),) = stack.objects().items()
    archive = dlq_archive.read_archive(body)
    assert _keys(archive.records) == [x, z, o1, y]
    assert "ParallelizationFactor 4" in archive.mismatch and "cannot be told" in archive.mismatch
    errors = [line["message"] for line in lines if line.get("level") == "ERROR"]
    assert any("not the failed batch" in e for e in errors)
    from ddbt.ops.redrive import ArchiveRefused, archive_records

    with pytest.raises(ArchiveRefused, match="ParallelizationFactor 4"):
        archive_records(archive, stack.client("lambda"))
    assert _keys(archive_records(archive, stack.client("lambda"), True)) == [x, z, o1, y]
