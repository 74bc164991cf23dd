"""SQS event source mappings on the local runtime (``ddbt.local.queue_poller.QueuePoller``) against
the patched endpoint: SendMessage only queues (moto_patches patch 9), and the pollers receive,
batch, invoke and delete like Lambda's SQS event source; what is not deleted comes back after
the queue's visibility timeout, without any new SendMessage."""

from __future__ import annotations

import gzip
import hashlib
import json
import time
from pathlib import Path
from typing import Any

from ddbt.local.runtime import Runtime
from tests.factories import zip_bytes
from tests.local.conftest import REGION, Cloud, handlers_zip, wait_for

CONSUMER = """
import json, os, time

def handler(event, context):
    with open(os.environ["OUT"], "a") as out:
        out.write(json.dumps({"at": time.time(), "event": event}) + "\\n")
    if os.environ.get("FAIL_ALL"):
        raise RuntimeError("this consumer fails every batch")
    failures = []
    for r in event["Records"]:
        first = r["attributes"]["ApproximateReceiveCount"] == "1"
        if first and r["body"].startswith("raise"):
            raise RuntimeError("cannot process " + r["body"])
        if first and r["body"].startswith("partial"):
            failures.append({"itemIdentifier": r["messageId"]})
        if first and r["body"].startswith("invalid"):
            failures.append({"itemIdentifier": "not-in-this-batch"})
    return {"batchItemFailures": failures}
"""


def _zip(name: str, source: str) -> bytes:
    return zip_bytes({name: source})


def consumer(cloud: Cloud, name: str = "consumer", **env: str) -> Path:
    """Deploy the SQS consumer; returns the file its invocations are appended to."""
    out = cloud.tmp / f"{name}.jsonl"
    code = _zip("consumer.py", CONSUMER)
    cloud.deploy(name, "consumer.handler", code, {"OUT": str(out), **env}, timeout=5)
    return out


def calls(out: Path) -> list[dict[str, Any]]:
    if not out.exists():
        return []
    # complete lines only: the consumer may be writing the next one right now
    return [json.loads(line) for line in out.read_text().split("\n")[:-1]]


def delivered(out: Path) -> list[list[tuple[str, str]]]:
    """Per invocation: (body, ApproximateReceiveCount) of each record."""
    return [
        [(r["body"], r["attributes"]["ApproximateReceiveCount"]) for r in c["event"]["Records"]]
        for c in calls(out)
    ]


def reporting_consumer(cloud: Cloud, batch_size: int) -> tuple[str, str, str, Path]:
    """The queue "work" and the consumer mapped to it in batches of ``batch_size``, reporting
    item failures: the queue's URL and ARN, the mapping's UUID, the consumer's output file."""
    url, arn = cloud.queue("work", visibility=1)
    out = consumer(cloud)
    uuid = cloud.mapping(
        arn, "consumer", BatchSize=batch_size, FunctionResponseTypes=["ReportBatchItemFailures"]
    )
    return url, arn, uuid, out


def held(cloud: Cloud, url: str) -> int:
    """Messages still in the queue: visible, in flight or delayed."""
    attrs = cloud.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return sum(
        int(attrs[k])
        for k in (
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        )
    )


def test_reported_items_stay_and_come_back_the_rest_is_deleted(cloud: Cloud) -> None:
    url, arn, uuid, out = reporting_consumer(cloud, batch_size=10)
    # SendMessage only queues: nothing is invoked inside it (moto alone would)
    cloud.sqs.send_message(
        QueueUrl=url,
        MessageBody="ok-1",
        MessageAttributes={"kind": {"DataType": "String", "StringValue": "first"}},
    )
    entries = [{"Id": str(i), "MessageBody": b} for i, b in enumerate(["partial-2", "ok-3"])]
    cloud.sqs.send_message_batch(QueueUrl=url, Entries=entries)
    cloud.sqs.send_message(QueueUrl=url, MessageBody="partial-4")
    assert calls(out) == [] and held(cloud, url) == 4
    rt = cloud.runtime()
    assert rt.wait_caught_up(20), rt.report.summary()
    assert delivered(out) == [
        [("ok-1", "1"), ("partial-2", "1"), ("ok-3", "1"), ("partial-4", "1")],
        [("partial-2", "2"), ("partial-4", "2")],  # exactly the reported ones, once more
    ]
    assert held(cloud, url) == 0
    stats = rt.report.stats[uuid]
    assert (stats.partial, stats.ok, stats.records_done) == (1, 1, 4)
    # the record as Lambda's SQS event source delivers it
    record = calls(out)[0]["event"]["Records"][0]
    assert set(record) == {
        "messageId",
        "receiptHandle",
        "body",
        "attributes",
        "messageAttributes",
        "md5OfBody",
        "md5OfMessageAttributes",
        "eventSource",
        "eventSourceARN",
        "awsRegion",
    }
    assert (record["eventSource"], record["eventSourceARN"]) == ("aws:sqs", arn)
    assert record["awsRegion"] == REGION and record["receiptHandle"]
    assert record["md5OfBody"] == hashlib.md5(b"ok-1").hexdigest()
    assert set(record["attributes"]) == {
        "ApproximateReceiveCount",
        "SentTimestamp",
        "SenderId",
        "ApproximateFirstReceiveTimestamp",
    }
    assert abs(int(record["attributes"]["SentTimestamp"]) / 1000 - time.time()) < 60
    assert record["messageAttributes"] == {
        "kind": {
            "stringValue": "first",
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "String",
        }
    }
    assert "md5OfMessageAttributes" not in calls(out)[0]["event"]["Records"][1]


def test_function_error_and_invalid_report_keep_the_whole_batch(cloud: Cloud) -> None:
    url, _, uuid, out = reporting_consumer(cloud, batch_size=2)
    entries = [
        {"Id": str(i), "MessageBody": b}
        for i, b in enumerate(["ok-a", "raise-b", "ok-c", "invalid-d"])
    ]
    cloud.sqs.send_message_batch(QueueUrl=url, Entries=entries)
    rt = cloud.runtime()
    assert rt.wait_caught_up(20), rt.report.summary()
    assert delivered(out) == [
        [("ok-a", "1"), ("raise-b", "1")],  # function error: both stay
        [("ok-c", "1"), ("invalid-d", "1")],  # unknown itemIdentifier: both stay
        [("ok-a", "2"), ("raise-b", "2")],
        [("ok-c", "2"), ("invalid-d", "2")],
    ]
    stats = rt.report.stats[uuid]
    assert (stats.errors, stats.invalid, stats.ok, stats.records_done) == (1, 1, 2, 4)
    assert held(cloud, url) == 0


def test_batch_size_and_batching_window(cloud: Cloud) -> None:
    url, arn = cloud.queue("work", visibility=30)
    out = consumer(cloud)
    # a 4 s window: a wide margin on a loaded machine for the messages sent 0.5 s apart below
    cloud.mapping(arn, "consumer", BatchSize=3, MaximumBatchingWindowInSeconds=4)
    entries = [{"Id": str(i), "MessageBody": f"m{i}"} for i in range(7)]
    sent_at = time.time()
    cloud.sqs.send_message_batch(QueueUrl=url, Entries=entries)
    rt: Runtime = cloud.runtime()
    wait_for(lambda: len(calls(out)) == 3, 20)
    first = calls(out)
    assert [[b for b, _ in c] for c in delivered(out)] == [
        ["m0", "m1", "m2"],
        ["m3", "m4", "m5"],
        ["m6"],
    ]
    # the last batch, not full, waits out the window from its first message (a lower bound
    # only: how soon the full ones go depends on the machine's load)
    assert first[2]["at"] - sent_at >= 3.9
    # messages that arrive within the window share one invocation
    cloud.sqs.send_message(QueueUrl=url, MessageBody="late-1")
    time.sleep(0.5)
    cloud.sqs.send_message(QueueUrl=url, MessageBody="late-2")
    assert rt.wait_caught_up(15), rt.report.summary()
    assert [[b for b, _ in c] for c in delivered(out)][3:] == [["late-1", "late-2"]]
    assert held(cloud, url) == 0


def test_fifo_attributes_binary_attributes_and_filters(cloud: Cloud) -> None:
    url = cloud.sqs.create_queue(
        QueueName="work.fifo",
        Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"},
    )["QueueUrl"]
    arn = cloud.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    arn = arn["Attributes"]["QueueArn"]
    out = consumer(cloud)
    uuid = cloud.mapping(
        arn,
        "consumer",
        FilterCriteria={"Filters": [{"Pattern": json.dumps({"body": {"kind": ["keep"]}})}]},
    )
    for n, kind in enumerate(["keep", "drop", "keep"]):
        cloud.sqs.send_message(
            QueueUrl=url,
            MessageBody=json.dumps({"kind": kind, "n": n}),
            MessageGroupId="g1",
            MessageAttributes={"raw": {"DataType": "Binary", "BinaryValue": b"\x00\xff"}},
        )
    cloud.sqs.send_message(QueueUrl=url, MessageBody="plain text", MessageGroupId="g1")
    rt = cloud.runtime()
    assert rt.wait_caught_up(20), rt.report.summary()
    records = [r for c in calls(out) for r in c["event"]["Records"]]
    # JSON bodies are matched by their fields; the rest were deleted without an invocation
    assert [json.loads(r["body"])["n"] for r in records] == [0, 2]
    assert rt.report.stats[uuid].filtered == 2 and held(cloud, url) == 0
    attributes = records[0]["attributes"]
    assert attributes["MessageGroupId"] == "g1" and attributes["MessageDeduplicationId"]
    # (AWS adds SequenceNumber too; moto's ReceiveMessage does not return it)
    assert records[0]["messageAttributes"]["raw"] == {
        "binaryValue": "AP8=",
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "Binary",
    }


def test_one_failure_message_per_poison_record_whatever_the_dlq_consumer_does(
    cloud: Cloud,
) -> None:
    """moto alone invoked the DLQ's consumer inside SendMessage and turned its error into a
    SendMessage error: the on-failure sender retried and the DLQ got copies."""
    # the stream's function raises on "raise" keys
    _, url, arn, stream_uuid, _ = cloud.failing_to_dlq(
        visibility=1, BatchSize=10, BisectBatchOnFunctionError=True, MaximumRetryAttempts=0
    )
    out = consumer(cloud, FAIL_ALL="1")
    dlq_uuid = cloud.mapping(arn, "consumer", FunctionResponseTypes=["ReportBatchItemFailures"])
    for pk in ["a", "raise-1", "b", "raise-2"]:
        cloud.put(pk)
    rt = cloud.runtime()
    wait_for(lambda: rt.report.stats[stream_uuid].destination_messages == 2, 20)
    # the failing consumer got both, and gets them again after the visibility timeout
    wait_for(lambda: {b for c in delivered(out) for b, n in c if n == "2"}.__len__() == 2, 20)
    assert rt.report.stats[dlq_uuid].errors >= 2 and rt.report.stats[dlq_uuid].records_done == 0
    rt.close()
    time.sleep(1.1)  # the last receive's visibility timeout
    bodies = []
    while msgs := cloud.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        bodies += [json.loads(m["Body"]) for m in msgs]
    poison = {
        c["seqs"][0]: c["keys"][0]
        for c in cloud.invocations()
        if len(c["keys"]) == 1 and c["keys"][0].startswith("raise")
    }
    starts = sorted(b["DDBStreamBatchInfo"]["startSequenceNumber"] for b in bodies)
    assert sorted(poison.values()) == ["raise-1", "raise-2"]
    assert starts == sorted(poison)  # exactly one message per poison record, no copies


def test_dlq_archiver_archives_a_poison_record_within_seconds(cloud: Cloud) -> None:
    """End to end on the local runtime: poison write -> bisected down to the record -> the
    DLQ message -> the archiver's SQS mapping -> the S3 archive, and the DLQ is empty."""
    _, url, arn, stream_uuid, _ = cloud.failing_to_dlq(
        visibility=60, BatchSize=10, BisectBatchOnFunctionError=True, MaximumRetryAttempts=0
    )
    s3 = cloud.client("s3")
    s3.create_bucket(Bucket="archive", CreateBucketConfiguration={"LocationConstraint": REGION})
    env = {"ARCHIVE_BUCKET": "archive"}
    cloud.deploy("t-dlq-archiver", "handlers.archiver.handler", handlers_zip(), env)
    archiver_uuid = cloud.mapping(
        arn,
        "t-dlq-archiver",
        BatchSize=10,
        FunctionResponseTypes=["ReportBatchItemFailures"],
    )
    rt = cloud.runtime()
    wait_for(lambda: rt.pollers and all(p.shards for p in rt.pollers.values()), 10)
    written = time.time()
    for pk in ["a", "raise-1", "b"]:
        cloud.put(pk)

    def archived() -> list[str]:
        listed = s3.list_objects_v2(Bucket="archive").get("Contents") or []
        return [o["Key"] for o in listed]

    wait_for(lambda: archived(), 20)
    assert time.time() - written < 15
    (key,) = archived()
    lines = [
        json.loads(x)
        for x in gzip.decompress(
            s3.get_object(Bucket="archive", Key=key)["Body"].read()
        ).splitlines()
    ]
    header, records = lines[0], lines[1:]
    (poison,) = [c for c in cloud.invocations() if c["keys"] == ["raise-1"]]
    info = header["message"]["DDBStreamBatchInfo"]
    assert info["startSequenceNumber"] == info["endSequenceNumber"] == poison["seqs"][0]
    assert (
        key
        == f"dlq-archive/fake/{info['shardId']}/{poison['seqs'][0]}-{poison['seqs'][0]}.jsonl.gz"
    )
    assert header["recordsExpired"] is False
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in records] == ["raise-1"]
    assert records[0]["dynamodb"]["SequenceNumber"] == poison["seqs"][0]
    assert rt.wait_caught_up(20), rt.report.summary()
    assert held(cloud, url) == 0  # the archiver's mapping deleted the message
    assert rt.report.stats[stream_uuid].destination_messages == 1
    assert rt.report.stats[archiver_uuid].records_done == 1
