"""The runtime against the patched local endpoint with a fake function in worker processes:
moto's traps are gone, and the pollers deliver like Lambda."""

from __future__ import annotations

import json
import urllib.request
from collections import defaultdict
from typing import Any

from ddbt.local.runtime import Runtime
from tests.local.conftest import REGION, Cloud, fake_zip, wait_for


def test_moto_traps_are_patched(cloud: Cloud) -> None:
    stream_a = cloud.table("a")
    stream_b = cloud.table("b")
    cloud.function()
    cloud.mapping(stream_a)
    for i in range(3):
        cloud.put(f"k{i}", table="a")
    cloud.put("x", table="b")
    cloud.lam.delete_function(FunctionName="fake")
    cloud.put("after-delete", table="a")  # moto alone: HTTP 500
    st = cloud.client("dynamodbstreams")
    shards = {}
    for arn in (stream_a, stream_b):
        (shard,) = st.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
        it = st.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        shards[arn] = (shard, st.get_records(ShardIterator=it)["Records"])
    (shard_a, records_a), (shard_b, records_b) = shards[stream_a], shards[stream_b]
    assert len(records_a) == 4 and len(records_b) == 1  # nothing drained
    assert shard_a["ShardId"] != shard_b["ShardId"]
    assert records_a[0]["dynamodb"]["SequenceNumber"] != records_b[0]["dynamodb"]["SequenceNumber"]


def test_get_function_code_location_serves_the_deployed_zip(cloud: Cloud) -> None:
    cloud.function()
    response = cloud.lam.get_function(FunctionName="fake")
    with urllib.request.urlopen(response["Code"]["Location"]) as r:
        assert r.read() == fake_zip()
    config = cloud.lam.update_function_configuration(
        FunctionName="fake", LoggingConfig={"LogFormat": "JSON"}
    )
    assert config["LoggingConfig"]["LogFormat"] == "JSON"
    assert (
        cloud.lam.get_function(FunctionName="fake")["Configuration"]["LoggingConfig"]["LogGroup"]
        == "/aws/lambda/fake"
    )


def test_batches_events_and_poison_to_dlq(cloud: Cloud) -> None:
    stream, url, _, _, fn = cloud.failing_to_dlq(
        BatchSize=3, BisectBatchOnFunctionError=True, MaximumRetryAttempts=1
    )
    for pk in ["a", "b", "c", "d", "raise-me", "f", "g"]:
        cloud.put(pk)
    rt = cloud.runtime()
    assert rt.wait_caught_up(30)
    calls = cloud.invocations()
    delivered_ok = [
        k for c in calls if not any(k.startswith("raise") for k in c["keys"]) for k in c["keys"]
    ]
    assert sorted(delivered_ok) == ["a", "b", "c", "d", "f", "g"]  # each exactly once
    assert [c["keys"] for c in calls[:2]] == [["a", "b", "c"], ["d", "raise-me", "f"]]
    record = calls[0]["event"]["Records"][0]
    assert record["eventVersion"] == "1.1" and record["awsRegion"] == REGION
    assert record["eventSourceARN"] == stream and record["eventSource"] == "aws:dynamodb"
    assert isinstance(record["dynamodb"]["ApproximateCreationDateTime"], int)
    assert record["dynamodb"]["NewImage"] == {"pk": {"S": "a"}}
    env = calls[0]["env"]
    assert env == {
        "AWS_ENDPOINT_URL": cloud.endpoint,
        "GREETING": "hello",
        "AWS_REGION": REGION,
        "AWS_LAMBDA_FUNCTION_NAME": "fake",
    }
    assert 0 < calls[0]["remaining"] <= 10_000
    (message,) = cloud.dlq(url)
    info = message["DDBStreamBatchInfo"]
    poison_seq = next(c["seqs"][0] for c in calls if c["keys"] == ["raise-me"])
    assert info["startSequenceNumber"] == info["endSequenceNumber"] == poison_seq
    assert info["batchSize"] == 1 and info["streamArn"] == stream
    assert info["shardId"].startswith("shardId-")
    assert message["requestContext"]["functionArn"] == fn
    assert message["requestContext"]["approximateInvokeCount"] == 2
    assert message["responseContext"]["functionError"] == "Unhandled"


def test_timeout_kills_the_worker_and_is_retried(cloud: Cloud) -> None:
    url = cloud.failing_to_dlq(
        timeout=1, MaximumRetryAttempts=1, BisectBatchOnFunctionError=True
    ).url
    cloud.put("ok-1")
    cloud.put("sleep-1")
    rt = cloud.runtime()
    wait_for(
        lambda: bool(rt.report.stats) and next(iter(rt.report.stats.values())).to_destination > 0,
        30,
    )
    assert rt.wait_caught_up(30)
    keys = [c["keys"] for c in cloud.invocations()]
    assert keys == [["ok-1", "sleep-1"], ["ok-1"], ["sleep-1"], ["sleep-1"]]
    (message,) = cloud.dlq(url)
    assert message["responseContext"]["functionError"] == "Unhandled"
    stats = next(iter(rt.report.stats.values()))
    assert stats.timeouts == 3


def test_filters_skip_and_checkpoint(cloud: Cloud) -> None:
    stream = cloud.table()
    cloud.function()
    uuid = cloud.mapping(
        stream,
        FilterCriteria={
            "Filters": [
                {"Pattern": json.dumps({"dynamodb": {"NewImage": {"status": {"S": ["OFFER"]}}}})},
                {"Pattern": json.dumps({"eventName": ["REMOVE"]})},
            ]
        },
    )
    cloud.put("a", status="APPLIED")
    cloud.put("b", status="OFFER")
    cloud.put("a", status="OFFER")
    cloud.put("c", status="SCREEN")
    cloud.ddb.delete_item(TableName="t", Key={"pk": {"S": "c"}})
    cloud.put("d", status="REJECTED")  # the last record is filtered out
    rt = cloud.runtime()
    assert rt.wait_caught_up(30)
    delivered = [
        (r["eventName"], r["dynamodb"]["Keys"]["pk"]["S"])
        for c in cloud.invocations()
        for r in c["event"]["Records"]
    ]
    assert delivered == [("INSERT", "b"), ("MODIFY", "a"), ("REMOVE", "c")]
    checkpoint = json.loads((cloud.tmp / "state" / "checkpoints.json").read_text())
    (shard,) = checkpoint["mappings"][uuid].values()
    assert rt.report.stats[uuid].filtered == 3
    # the filtered-out last record is checkpointed too
    assert int(shard["seq"]) == max(int(c["seqs"][-1]) for c in cloud.invocations()) + 1


def test_partial_failure_restarts_at_reported_record(cloud: Cloud) -> None:
    url = cloud.failing_to_dlq(
        FunctionResponseTypes=["ReportBatchItemFailures"], MaximumRetryAttempts=2
    ).url
    for pk in ["a", "partial-b", "c"]:
        cloud.put(pk)
    rt = cloud.runtime()
    wait_for(lambda: len(cloud.invocations()) >= 3)
    assert rt.wait_caught_up(30)
    assert [c["keys"] for c in cloud.invocations()] == [
        ["a", "partial-b", "c"],
        ["partial-b", "c"],
        ["partial-b", "c"],
    ]
    (message,) = cloud.dlq(url)
    assert message["responseContext"]["functionError"] is None
    assert message["DDBStreamBatchInfo"]["batchSize"] == 2


def test_parallelization_keeps_order_per_partition_key(cloud: Cloud) -> None:
    stream = cloud.table()
    cloud.function()
    cloud.mapping(stream, ParallelizationFactor=4, BatchSize=2)
    expected: dict[str, list[str]] = defaultdict(list)
    for round_ in range(5):
        for key in ["k1", "k2", "k3", "k4", "k5", "k6"]:
            cloud.put(key, n=str(round_))
            expected[key].append(str(round_))
    rt = cloud.runtime()
    assert rt.wait_caught_up(60)
    seen: dict[str, list[str]] = defaultdict(list)
    pids = set()
    for call in cloud.invocations():
        for r in call["event"]["Records"]:
            seen[r["dynamodb"]["Keys"]["pk"]["S"]].append(r["dynamodb"]["NewImage"]["n"]["S"])
        pids.add(tuple(call["keys"]))
    assert dict(seen) == dict(expected)  # every change once, in order per key


def test_restart_resumes_after_the_durable_checkpoint(cloud: Cloud) -> None:
    stream = cloud.table()
    cloud.function()
    cloud.mapping(stream)
    cloud.put("a")
    cloud.put("b")
    rt = cloud.runtime()
    assert rt.wait_caught_up(30)
    rt.close()
    cloud.put("c")
    rt2 = cloud.runtime()
    assert rt2.wait_caught_up(30)
    assert [c["keys"] for c in cloud.invocations()] == [["a", "b"], ["c"]]


def test_latest_starts_at_mapping_creation_and_changes_are_picked_up(cloud: Cloud) -> None:
    stream = cloud.table()
    cloud.function()
    cloud.put("before-mapping")
    import time

    time.sleep(1.1)
    uuid = cloud.mapping(stream, StartingPosition="LATEST")
    cloud.put("a")
    rt: Runtime = cloud.runtime()
    assert rt.wait_caught_up(30)
    cloud.lam.update_event_source_mapping(UUID=uuid, Enabled=False)
    wait_for(lambda: uuid not in rt.pollers)
    cloud.put("while-disabled")
    cloud.lam.update_event_source_mapping(UUID=uuid, Enabled=True, BatchSize=1)
    wait_for(lambda: uuid in rt.pollers and rt.settings[uuid].batch_size == 1)
    cloud.put("after")
    assert rt.wait_caught_up(30)
    # re-enabled: resumes from the checkpoint (the record written while disabled comes too)
    assert [c["keys"] for c in cloud.invocations()] == [["a"], ["while-disabled"], ["after"]]
    cloud.lam.delete_event_source_mapping(UUID=uuid)
    wait_for(lambda: uuid not in rt.pollers)
    cloud.put("after-delete")
    assert rt.wait_caught_up(5)
    assert len(cloud.invocations()) == 3


def test_batching_window_collects_records(cloud: Cloud) -> None:
    stream = cloud.table()
    cloud.function()
    cloud.mapping(stream, MaximumBatchingWindowInSeconds=2)
    rt = cloud.runtime()
    wait_for(lambda: rt.pollers and all(p.shards for p in rt.pollers.values()))
    for pk in "abcde":
        cloud.put(pk)
    wait_for(lambda: cloud.invocations(), 10)
    assert rt.wait_caught_up(10)
    assert [c["keys"] for c in cloud.invocations()] == [list("abcde")]


def test_tumbling_window_state_and_final_invocation(cloud: Cloud) -> None:
    stream = cloud.table()
    cloud.function()
    cloud.mapping(stream, TumblingWindowInSeconds=2, BatchSize=2)
    for pk in "abc":
        cloud.put(pk)
    cloud.runtime()
    wait_for(lambda: any(c["event"].get("isFinalInvokeForWindow") for c in cloud.invocations()), 15)
    calls = [c["event"] for c in cloud.invocations()]
    windows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in calls:
        windows[event["window"]["start"]].append(event)
    for events in windows.values():
        counted = 0
        for event in events:
            assert event["state"] == ({"n": counted} if counted else {})
            counted += len(event["Records"])
        if events[-1]["isFinalInvokeForWindow"]:
            assert events[-1]["Records"] == []
    assert sum(len(e["Records"]) for e in calls) == 3
