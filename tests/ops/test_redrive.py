"""Redrive against real on-failure messages: the ddbt runtime runs a deployed function that
raises on a poison record, with bisect and a DLQ; after the fix the records are redriven
through the (in-process) ETL processor and the DLQ empties. Expired messages stay, with a
clear message per message."""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest

from ddbt.ops.redrive import batch_info, redrive
from ddbt.ops.target import InProcessTarget
from handlers.archive import read_archive
from tests.local.conftest import REGION, Cloud, failed_filtered_batch, wait_for


@pytest.fixture
def poisoned(cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> tuple[Cloud, str, str]:
    cloud.use(monkeypatch)
    stream, url, _, _, _ = cloud.failing_to_dlq(
        BatchSize=3, BisectBatchOnFunctionError=True, MaximumRetryAttempts=0
    )
    for pk in ["a", "raise-1", "b", "c", "raise-2", "d"]:
        cloud.put(pk, status="NEW")
    rt = cloud.runtime()
    assert rt.wait_caught_up(30)

    wait_for(lambda: cloud.queued(url) == 2, 30)  # one message per poison record
    cloud.close()  # the pollers are done; what failed sits in the DLQ
    return cloud, url, stream


def _bodies(cloud: Cloud, url: str) -> list[dict[str, Any]]:
    msgs = cloud.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0).get(
        "Messages", []
    )
    return [json.loads(m["Body"]) for m in msgs]


def test_redrive_empties_the_dlq_and_leaves_expired_messages(
    poisoned: tuple[Cloud, str, str],
) -> None:
    cloud, url, _ = poisoned
    real = _bodies(cloud, url)
    assert len(real) == 2  # one message per poison record (bisected down to it)
    # An expired message: the same shape, a range the shard no longer holds.
    gone = json.loads(json.dumps(real[0]))
    # (moto answers a trimmed position with a 500, not TrimmedDataAccessException, so the
    # range lies past the records: GetRecords finds nothing there, as after trimming.)
    end = int(real[0]["DDBStreamBatchInfo"]["endSequenceNumber"])
    gone_seq = str(end + 10**6)
    gone["DDBStreamBatchInfo"]["startSequenceNumber"] = gone_seq
    gone["DDBStreamBatchInfo"]["endSequenceNumber"] = str(end + 10**6 + 1)
    cloud.sqs.send_message(QueueUrl=url, MessageBody=json.dumps(gone))
    s3 = cloud.client("s3")
    s3.create_bucket(Bucket="lake", CreateBucketConfiguration={"LocationConstraint": REGION})
    target = InProcessTarget("etl", {"ETL_BUCKET": "lake"})

    dry = redrive(
        sqs=cloud.sqs,
        streams=cloud.client("dynamodbstreams"),
        queue_url=url,
        target=target,
        dry_run=True,
        visibility_timeout=0,
    )
    assert dry.count("dry-run") == 2 and dry.count("expired") == 1
    assert "Contents" not in s3.list_objects_v2(Bucket="lake")

    report = redrive(
        sqs=cloud.sqs,
        streams=cloud.client("dynamodbstreams"),
        queue_url=url,
        target=target,
        visibility_timeout=0,
    )
    assert report.count("redriven") == 2, report.lines()
    (expired,) = [o for o in report.outcomes if o.status == "expired"]
    assert gone_seq in expired.detail and "24 hours" in expired.detail
    assert "expired" in "\n".join(report.lines())
    left = _bodies(cloud, url)
    assert [batch_info(json.dumps(b)) for b in left] == [gone["DDBStreamBatchInfo"]]
    keys = []
    for obj in s3.list_objects_v2(Bucket="lake")["Contents"]:
        body = gzip.decompress(s3.get_object(Bucket="lake", Key=obj["Key"])["Body"].read())
        keys += [json.loads(line)["keys"]["pk"] for line in body.splitlines()]
    assert sorted(keys) == ["raise-1", "raise-2"]


def test_redrive_keeps_a_message_whose_records_fail_again_and_archives_to_s3(
    poisoned: tuple[Cloud, str, str],
) -> None:
    cloud, url, stream = poisoned
    streams = cloud.client("dynamodbstreams")
    # Still failing (the ETL bucket does not exist): nothing is deleted.
    again = redrive(
        sqs=cloud.sqs,
        streams=streams,
        queue_url=url,
        target=InProcessTarget("etl", {"ETL_BUCKET": "missing-bucket"}),
        visibility_timeout=0,
    )
    assert again.count("failed") == 2 and len(_bodies(cloud, url)) == 2
    assert all("failed again" in o.detail for o in again.outcomes)
    s3 = cloud.client("s3")
    s3.create_bucket(Bucket="archive", CreateBucketConfiguration={"LocationConstraint": REGION})
    report = redrive(
        sqs=cloud.sqs,
        streams=streams,
        queue_url=url,
        s3=s3,
        to_s3=("archive", "dlq/"),
        visibility_timeout=0,
    )
    assert report.count("archived") == 2 and _bodies(cloud, url) == []
    objects = s3.list_objects_v2(Bucket="archive")["Contents"]
    # the archiver's format (handlers.archiver): <prefix><function>/<shard>/<range>.jsonl.gz
    assert all(o["Key"].startswith("dlq/fake/shardId-") for o in objects)
    records = [
        r
        for o in objects
        for r in read_archive(s3.get_object(Bucket="archive", Key=o["Key"])["Body"].read()).records
    ]
    assert sorted(r["dynamodb"]["Keys"]["pk"]["S"] for r in records) == ["raise-1", "raise-2"]
    assert all(r["eventSourceARN"] == stream for r in records)


def test_redrive_skips_what_the_filters_dropped_and_leaves_an_unknown_batch(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The failed batch was [raise-1, b]; skip-1, dropped by the mapping's filter, lies in
    its range. Redrive reads the mapping's filters and re-runs exactly the batch; without
    them (no Lambda client: filters unknown) the count differs from batchSize and the
    message is left, reported, never run."""
    cloud.use(monkeypatch)
    _, _, url, _ = failed_filtered_batch(cloud)
    s3 = cloud.client("s3")
    s3.create_bucket(Bucket="lake", CreateBucketConfiguration={"LocationConstraint": REGION})
    target = InProcessTarget("etl", {"ETL_BUCKET": "lake"})
    streams = cloud.client("dynamodbstreams")

    unknown = redrive(
        sqs=cloud.sqs, streams=streams, queue_url=url, target=target, visibility_timeout=0
    )
    assert [o.status for o in unknown.outcomes] == ["mismatch"]
    assert "held 2 record(s) but the range holds 3" in unknown.outcomes[0].detail
    assert "Contents" not in s3.list_objects_v2(Bucket="lake")

    report = redrive(
        sqs=cloud.sqs,
        streams=streams,
        queue_url=url,
        target=target,
        visibility_timeout=0,
        lambda_client=cloud.client("lambda"),
    )
    assert [(o.status, o.records) for o in report.outcomes] == [("redriven", 2)]
    (obj,) = s3.list_objects_v2(Bucket="lake")["Contents"]
    body = gzip.decompress(s3.get_object(Bucket="lake", Key=obj["Key"])["Body"].read())
    assert [json.loads(x)["keys"]["pk"] for x in body.splitlines()] == ["raise-1", "b"]
    assert _bodies(cloud, url) == []


def test_replay_with_a_function_leaves_out_what_its_filters_dropped(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    """replay --function reads the stream range through that function's mapping filters:
    skip-1 was never delivered to it, so it is not replayed either."""
    from contextlib import redirect_stdout
    from io import StringIO

    from ddbt.cli import main

    cloud.use(monkeypatch)
    _, stream, _, _ = failed_filtered_batch(cloud)
    s3 = cloud.client("s3")
    s3.create_bucket(Bucket="lake", CreateBucketConfiguration={"LocationConstraint": REGION})
    argv = ["replay", "--stream-arn", stream, "--mode", "overwrite", "--function", "fake"]
    argv += ["--processor", "etl", "--env", "ETL_BUCKET=lake"]
    with redirect_stdout(StringIO()) as out:
        assert main(argv) == 0, out.getvalue()
    assert "replay: 2 records in range" in out.getvalue()
    keys = []
    for obj in s3.list_objects_v2(Bucket="lake")["Contents"]:
        body = gzip.decompress(s3.get_object(Bucket="lake", Key=obj["Key"])["Body"].read())
        keys += [json.loads(x)["keys"]["pk"] for x in body.splitlines()]
    assert keys == ["raise-1", "b"]
