"""Runtime-level reliability: the real pipeline handler (build/handlers.zip) in worker
processes of the local runtime (ddbt), fed by its Lambda-faithful pollers from a local
endpoint process. Poison records isolated with the right DDBStreamBatchInfo, and a runtime
stopped and restarted mid-stream, each ending with the accounting."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

from tests.reliability.local_stack import REGION, ZIP, Stack, Writer, check_etl, endpoint

TOO_MANY_DIGITS = "123456789012345678901234567890123456789012"  # moto stores it, AWS refuses

pytestmark = pytest.mark.skipif(
    not ZIP.exists(), reason="build/handlers.zip missing (make package)"
)


@pytest.fixture(scope="module")
def local_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with endpoint(tmp_path_factory.mktemp("endpoint")) as url:
        yield url


@pytest.fixture
def stack(local_url: str, tmp_path: Path) -> Iterator[Stack]:
    requests.post(f"{local_url}/moto-api/reset", timeout=10)
    s = Stack(local_url, tmp_path)
    try:
        yield s
    finally:
        s.close()


def stream_seqs(stack: Stack) -> dict[str, str]:
    """pk -> sequence number of its (single) change, read from the stream itself."""
    st = boto3.client(
        "dynamodbstreams",
        endpoint_url=stack.url,
        region_name=REGION,
        aws_access_key_id="t",
        aws_secret_access_key="t",
    )
    (shard,) = st.describe_stream(StreamArn=stack.stream)["StreamDescription"]["Shards"]
    it = st.get_shard_iterator(
        StreamArn=stack.stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    out: dict[str, str] = {}
    while it:
        page = st.get_records(ShardIterator=it, Limit=1000)
        for r in page["Records"]:
            out[r["dynamodb"]["Keys"]["pk"]["S"]] = r["dynamodb"]["SequenceNumber"]
        if not page["Records"]:
            break
        it = page.get("NextShardIterator")
    return out


def test_poison_records_at_start_middle_and_end_of_a_batch_of_1000(stack: Stack) -> None:
    # GIVEN 1,000 inserts in one batch, the 1st, 500th and 1,000th unusable by ETL
    stack.deploy(processors="analytics,etl", batch_size=1000, retries=1)
    writer = Writer(stack.c["dynamodb"], "p")
    poison = {"k0000", "k0499", "k0999"}
    for i in range(1000):
        key = f"k{i:04d}"
        extra = {"salary": {"N": TOO_MANY_DIGITS}} if key in poison else {}
        writer.put(key, f"J{i % 3}", **extra)
    # WHEN the runtime delivers
    rt = stack.runtime()
    assert rt.wait_caught_up(120), rt.report.summary()
    # THEN each poison record has its own failure record, naming exactly it
    seqs = stream_seqs(stack)
    messages = stack.drain(stack.dlq)
    infos = sorted(
        (m["DDBStreamBatchInfo"] for m in messages), key=lambda i: int(i["startSequenceNumber"])
    )
    assert [i["startSequenceNumber"] for i in infos] == sorted((seqs[k] for k in poison), key=int)
    for info, message in zip(infos, messages, strict=True):
        assert info["endSequenceNumber"] == info["startSequenceNumber"]
        assert info["batchSize"] == 1 and info["streamArn"] == stack.stream
        assert info["shardId"].startswith("shardId-")
        assert info["approximateArrivalOfFirstRecord"] and info["approximateArrivalOfLastRecord"]
        assert message["requestContext"]["condition"] == "RetryAttemptsExhausted"
    # and every other change is in S3 exactly once; analytics counted all 1,000 (it could)
    lines = stack.etl_lines()
    figures = check_etl(lines, [writer], poison)
    assert figures["duplicates"] == 0 and figures["out_of_order_keys"] == 0
    assert sorted(x["keys"]["pk"] for x in lines) == sorted(set(seqs) - poison)
    assert stack.aggregates() == writer.expected
    # and the pipeline keeps moving: new changes are delivered promptly (lag recovers)
    since = time.time()
    writer.put("after", "J0")
    assert rt.wait_caught_up(30, since=since)
    deadline = time.time() + 15
    while time.time() < deadline and "after" not in {x["keys"]["pk"] for x in stack.etl_lines()}:
        time.sleep(0.1)
    assert "after" in {x["keys"]["pk"] for x in stack.etl_lines()}


def test_runtime_restarts_mid_stream_lose_and_duplicate_nothing(stack: Stack) -> None:
    # GIVEN a writer making 500 changes (hot keys, inserts, updates, deletes); one writer
    # thread, because concurrent writers trip the endpoint's sequence-number race (see
    # test_concurrent_writes_get_unique_sequence_numbers), which stalls ddbt's checkpoint
    stack.deploy(processors="analytics,etl", batch_size=50)
    writers = [Writer(stack.c["dynamodb"], "w0")]

    def write(w: Writer, seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(500):
            key = f"{w.prefix}-{rng.randrange(12)}"
            if key in w.live and rng.random() < 0.15:
                w.delete(key)
            else:
                w.put(key, w.live.get(key) or f"J{rng.randrange(3)}")

    threads = [threading.Thread(target=write, args=(w, i)) for i, w in enumerate(writers)]
    for t in threads:
        t.start()
    # WHEN the runtime is stopped and restarted twice while the writes go on
    for _ in range(2):
        rt = stack.runtime()
        time.sleep(1.0)
        rt.close()
        stack.runtimes.remove(rt)
    for t in threads:
        t.join()
    stack.runtime()
    # Wait for the output itself (and a little longer: a duplicate would show up late).
    deadline = time.time() + 90
    while time.time() < deadline and len(stack.etl_lines()) < 500:
        time.sleep(0.5)
    time.sleep(1.0)  # anything beyond 500 (a duplicate) would show up now
    # THEN (from the durable checkpoint) every change is in S3 once, in order per key, and
    # the aggregates equal the writers' own bookkeeping
    figures = check_etl(stack.etl_lines(), writers)
    assert figures["expected"] == 500
    assert (figures["duplicates"], figures["lost"], figures["out_of_order_keys"]) == (0, 0, 0)
    assert figures["delivered"] == 500
    expected: dict[str, Any] = {}
    for w in writers:
        for pk, counts in w.expected.items():
            for name, n in counts.items():
                expected.setdefault(pk, {}).setdefault(name, 0)
                expected[pk][name] += n
    assert stack.aggregates() == expected
    assert stack.drain(stack.dlq) == []


def test_concurrent_writes_get_unique_sequence_numbers(stack: Stack) -> None:
    stack.deploy(processors="etl")
    ddb = stack.c["dynamodb"]

    def write(prefix: str) -> None:
        for i in range(250):
            ddb.put_item(TableName="applications", Item={"pk": {"S": f"{prefix}-{i % 20}"}})

    for round_ in range(4):
        threads = [threading.Thread(target=write, args=(f"r{round_}w{t}",)) for t in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        seqs = all_stream_seqs(stack)
        assert len(seqs) == len(set(seqs)), f"{len(seqs) - len(set(seqs))} sequence numbers reused"


def all_stream_seqs(stack: Stack) -> list[str]:
    st = boto3.client(
        "dynamodbstreams",
        endpoint_url=stack.url,
        region_name=REGION,
        aws_access_key_id="t",
        aws_secret_access_key="t",
    )
    (shard,) = st.describe_stream(StreamArn=stack.stream)["StreamDescription"]["Shards"]
    it = st.get_shard_iterator(
        StreamArn=stack.stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    out: list[str] = []
    while it:
        page = st.get_records(ShardIterator=it, Limit=1000)
        out += [r["dynamodb"]["SequenceNumber"] for r in page["Records"]]
        if not page["Records"]:
            break
        it = page.get("NextShardIterator")
    return out
