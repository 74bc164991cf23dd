"""The benchmark compares like with like: on the benchmark's own workload, our processors and
their Powertools equivalents (``bench/``) make the same sink calls with the same parameters
and bytes. No timings are asserted. Skipped when Powertools (a benchmark-only dependency,
``requirements-bench.txt``) is not installed."""

from __future__ import annotations

import copy
import gzip
import json
from collections import Counter
from decimal import Decimal
from typing import Any

import pytest

pytest.importorskip("aws_lambda_powertools")

from bench import cpu, ours, workload
from bench import powertools_contenders as pt
from bench.stubs import CountingClient

VIEW_TYPES = ("NEW_AND_OLD_IMAGES", "KEYS_ONLY")


def batches(view_type: str) -> dict[str, dict[str, Any]]:
    """20-record batches: the stream's first 20, and 20 around 10:00:00 that hold a TTL
    removal and cross an hour (two ETL partitions)."""
    records = workload.event(1000, view_type)["Records"]
    return {
        "first": workload.event(20, view_type),
        "boundary": {"Records": copy.deepcopy(records[484:504])},
    }


def normalized(log: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    """Calls with the checkpoint expiry (now + 2 days, read from the clock) masked."""
    out = []
    for operation, params in copy.deepcopy(log):
        for action in params.get("TransactItems", ()):
            values = action["Update"]["ExpressionAttributeValues"]
            if ":expires" in values:
                values[":expires"] = {"N": "<now + ttl>"}
        out.append((operation, params))
    return out


def run_both(name: str, event: dict[str, Any]) -> tuple[CountingClient, CountingClient]:
    mine, theirs = CountingClient(keep=True), CountingClient(keep=True)
    ours.process(ours.build(name, mine), copy.deepcopy(event), ours.Context())
    response = pt.build(name, theirs).handler(copy.deepcopy(event), ours.Context())
    assert response == {"batchItemFailures": []}
    mine.log.sort(key=_place)  # ours makes its calls concurrently: put them in record order
    return mine, theirs


def _place(call: tuple[str, dict[str, Any]]) -> Any:
    """Where a call's records start in the batch (object key: first sequence number)."""
    operation, params = call
    if operation == "PutObject":
        return params["Key"]
    if operation == "PublishBatch":
        return int(params["PublishBatchRequestEntries"][0]["Id"])
    if operation == "PutEvents":
        return int(json.loads(params["Entries"][0]["Detail"])["sequenceNumber"])
    return 0  # one call (analytics), or writes compared by their end state (view, replicate)


# -- the workload ----------------------------------------------------------------------


def test_workload_is_reproducible_and_shaped_as_specified() -> None:
    text = workload.event_text(20)
    assert workload.event_text(20) == text
    assert workload.event_text(20, seed=workload.SEED + 1) != text
    records = json.loads(text)["Records"]
    assert len(records) == 20
    assert {r["eventName"] for r in records} == {"INSERT", "MODIFY", "REMOVE"}
    seqs = [int(r["dynamodb"]["SequenceNumber"]) for r in records]
    assert seqs == sorted(seqs)
    image = next(r["dynamodb"]["NewImage"] for r in records if "NewImage" in r["dynamodb"])
    tags = Counter(tag for value in image.values() for tag in value)
    assert {"S", "N", "SS", "L", "M", "BOOL"} <= set(tags)
    digits = [v["N"].replace("0.", "", 1) for v in image.values() if "N" in v]
    assert any(len(d) == 38 for d in digits), digits
    assert any(
        isinstance(v.get("M"), dict) and any("M" in x for x in v["M"].values())
        for v in image.values()
    ), "a nested map"
    item = json.loads(json.dumps(image))
    assert 1200 <= len(json.dumps(item)) <= 2600  # typed JSON of an item of about 1.5 KB


def test_keys_only_variant_has_the_same_changes_without_images() -> None:
    full = workload.event(20)["Records"]
    keys = workload.event(20, "KEYS_ONLY")["Records"]
    for a, b in zip(full, keys, strict=True):
        assert (a["eventName"], a["dynamodb"]["Keys"], a["dynamodb"]["SequenceNumber"]) == (
            b["eventName"],
            b["dynamodb"]["Keys"],
            b["dynamodb"]["SequenceNumber"],
        )
        assert not {"NewImage", "OldImage"} & set(b["dynamodb"])
        assert b["dynamodb"]["StreamViewType"] == "KEYS_ONLY"


# -- same sink calls, same output --------------------------------------------------------


@pytest.mark.parametrize("view_type", VIEW_TYPES)
def test_etl_writes_the_same_objects(view_type: str) -> None:
    for label, event in batches(view_type).items():
        mine, theirs = run_both("etl", event)
        assert mine.log == theirs.log, label  # keys, metadata and gzip bytes, exactly
        partitions = 2 if label == "boundary" else 1
        assert mine.calls == Counter({"PutObject": partitions})
        lines = [
            json.loads(line)
            for _, params in mine.log
            for line in gzip.decompress(params["Body"]).splitlines()
        ]
        assert [line["sequenceNumber"] for line in lines] == [
            r["dynamodb"]["SequenceNumber"] for r in event["Records"]
        ]
        assert any(line["ttlExpired"] for line in lines) == (label == "boundary")


@pytest.mark.parametrize("view_type", VIEW_TYPES)
def test_etl_encode_only_contender_writes_the_uncompressed_lines(view_type: str) -> None:
    event = batches(view_type)["boundary"]
    mine, _ = run_both("etl", event)
    raw = CountingClient(keep=True)
    pt.PowertoolsEtl(raw, compress=False).handler(copy.deepcopy(event), ours.Context())
    assert [gzip.decompress(p["Body"]) for _, p in mine.log] == [p["Body"] for _, p in raw.log]


@pytest.mark.parametrize("view_type", VIEW_TYPES)
def test_notification_publishes_the_same_messages(view_type: str) -> None:
    for label, event in batches(view_type).items():
        mine, theirs = run_both("notification", event)
        assert mine.log == theirs.log, label
        assert mine.calls == Counter({"PublishBatch": 2})  # 20 messages, 10 per call
        bodies = [
            json.loads(e["Message"])
            for _, params in mine.log
            for e in params["PublishBatchRequestEntries"]
        ]
        assert len(bodies) == 20
        if view_type == "NEW_AND_OLD_IMAGES":
            assert any(b["changedAttributes"] for b in bodies if b["eventName"] == "MODIFY")


@pytest.mark.parametrize("view_type", VIEW_TYPES)
def test_eventbus_puts_the_same_events(view_type: str) -> None:
    for label, event in batches(view_type).items():
        mine, theirs = run_both("eventbus", event)
        assert mine.log == theirs.log, label  # entries: Detail text, Time, Source, ...
        assert mine.calls == Counter({"PutEvents": 2})  # 20 events, 10 per call
        details = [json.loads(e["Detail"]) for _, params in mine.log for e in params["Entries"]]
        assert [d["eventID"] for d in details] == [r["eventID"] for r in event["Records"]]
        if view_type == "NEW_AND_OLD_IMAGES":
            assert any(d["changedAttributes"] and d["oldImage"] for d in details)


def puts(log: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    """PutItem calls with set members sorted (DynamoDB sets have no order; a decoded set
    comes back in any order) and the tombstone expiry (now + 2 days) masked."""
    out = []
    for operation, params in copy.deepcopy(log):
        item = params["Item"]
        for value in item.values():
            for tag in ("SS", "NS"):
                if tag in value:
                    value[tag] = sorted(value[tag])
        if "_ddbt_expires" in item:
            item["_ddbt_expires"] = {"N": "<now + ttl>"}
        out.append((operation, params))
    return out


def end_state(
    log: list[tuple[str, dict[str, Any]]], key: tuple[str, ...]
) -> dict[tuple[str, ...], dict[str, Any]]:
    """The items conditional writes leave: per item key, the write with the greatest stamp
    (``_ddbt_version`` as a number, then ``_ddbt_order``), as the writes' condition keeps."""
    found: dict[tuple[str, ...], dict[str, Any]] = {}
    rank: dict[tuple[str, ...], tuple[Decimal, str]] = {}
    for _, params in puts(log):
        item = params["Item"]
        at = tuple(item[k]["S"] for k in key)
        stamp = (Decimal(item["_ddbt_version"]["N"]), item["_ddbt_order"]["S"])
        if at not in rank or stamp > rank[at]:
            found[at], rank[at] = item, stamp
    return found


@pytest.mark.parametrize("name", ["view", "replicate"])
def test_view_and_replicate_leave_the_same_items(name: str) -> None:
    key = workload.VIEW_KEY if name == "view" else ("application_id",)
    for label, event in batches("NEW_AND_OLD_IMAGES").items():
        mine, theirs = run_both(name, event)
        # Powertools writes every change; ours coalesces a batch's changes per item and
        # writes the newest alone: the same items and tombstones in the end
        assert end_state(mine.log, key) == end_state(theirs.log, key), label
        targets = {tuple(p["Item"][k]["S"] for k in key) for _, p in theirs.log}
        assert mine.calls == Counter({"PutItem": len(targets)})  # one write per item


@pytest.mark.parametrize("view_type", VIEW_TYPES)
def test_analytics_commits_the_same_transaction(view_type: str) -> None:
    for label, event in batches(view_type).items():
        mine, theirs = run_both("analytics", event)
        assert normalized(mine.log) == normalized(theirs.log), label
        assert mine.calls == Counter({"TransactWriteItems": 1})
        actions = mine.log[0][1]["TransactItems"]
        counted = sum(
            int(value["N"])
            for action in actions
            for key, value in action["Update"]["ExpressionAttributeValues"].items()
            if key.startswith(":c")
            and key[2:].isdigit()  # the counters :c0, :c1, ... (not a mark's :covered)
            and action["Update"]["ExpressionAttributeNames"]["#" + key[1:]]
            in ("INSERT", "MODIFY", "REMOVE")
        )
        assert counted == 20


def test_entry_point_path_makes_the_same_calls_as_process() -> None:
    event = batches("NEW_AND_OLD_IMAGES")["boundary"]
    for name in ours.NAMES:
        direct, via_handler = CountingClient(keep=True), CountingClient(keep=True)
        ours.process(ours.build(name, direct), copy.deepcopy(event), ours.Context())
        ours.handler(ours.build(name, via_handler), copy.deepcopy(event), ours.Context())
        for client in (direct, via_handler):  # calls made concurrently: in record order
            client.log.sort(key=_place)
        if any(operation == "PutItem" for operation, _ in direct.log):  # view, replicate
            assert sorted(puts(direct.log), key=repr) == sorted(puts(via_handler.log), key=repr)
        else:
            assert normalized(direct.log) == normalized(via_handler.log), name


def test_every_cpu_job_runs_on_a_small_batch() -> None:
    timings = cpu.measure("NEW_AND_OLD_IMAGES", rounds=1, n=20)
    assert set(timings) >= {"floor", "etl", "powertools_etl", "etl_encode", "etl_compress"}
    assert all(t.median > 0 for t in timings.values())
