"""The shard poller's reading and batching, with a stand-in stream (no endpoint): the 6 MB cut
counts the invocation payload, and a read past the stream's retention moves on."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from ddbt.local.engine import InvokeResult
from ddbt.local.model import PAYLOAD_LIMIT_BYTES, MappingSettings, make_rec, payload_size
from ddbt.local.polling import PollerOptions
from ddbt.local.shard_checkpoints import ShardCheckpoints
from ddbt.local.stream_poller import ShardPoller
from tests.factories import getrecords_record

STREAM = "arn:aws:dynamodb:eu-west-1:123456789012:table/t/stream/2026-01-01T00:00:00.000"
SHARD = "shardId-00000001767225600000-0000abcd"


raw = getrecords_record


def shard(streams: Any = None, **settings: Any) -> ShardPoller:
    return ShardPoller(
        MappingSettings(
            uuid="u-1",
            function_arn="arn:aws:lambda:eu-west-1:123456789012:function:f",
            stream_arn=STREAM,
            starting_position="TRIM_HORIZON",
            **settings,
        ),
        SHARD,
        streams=streams,
        invoke=lambda event: InvokeResult("ok"),
        on_failure=lambda failure: None,
        store=ShardCheckpoints(),
        hash_key="pk",
        options=PollerOptions(poll_interval=0.01),
        initial=True,
        log=lambda line: None,
    )


def test_the_6_mb_cut_counts_the_invocation_payload_not_size_bytes() -> None:
    """20 items of 300,000 bytes: 6.0 MB by SizeBytes (under Lambda's 6 MB), about 8 MB as
    the function receives them (base64 and type tags), so not all fit in one invocation."""
    blob = bytes(range(256)) * (300_000 // 256)
    recs = [make_rec(raw(i, blob=blob), STREAM, "pk") for i in range(20)]
    assert sum(r.event["dynamodb"]["SizeBytes"] for r in recs) < PAYLOAD_LIMIT_BYTES
    poller = shard(batch_size=100)
    lane = poller.lanes[0]
    for rec in recs:
        lane.put(rec)
    batch, _ = lane._take()
    assert 0 < len(batch) < 20
    event = {"Records": [r.event for r in batch]}
    assert payload_size(event) <= PAYLOAD_LIMIT_BYTES
    one_more = {"Records": [r.event for r in recs[: len(batch) + 1]]}
    assert payload_size(one_more) > PAYLOAD_LIMIT_BYTES


class TrimmedStream:
    """A shard whose first record is read, then everything up to the 5th expires: asking for
    an iterator after the first record, or reading on, says TrimmedDataAccessException."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    @staticmethod
    def _trimmed(operation: str) -> ClientError:
        error = {"Error": {"Code": "TrimmedDataAccessException", "Message": "trimmed"}}
        return ClientError(error, operation)  # type: ignore[arg-type]

    def get_shard_iterator(self, **kw: Any) -> dict[str, str]:
        self.calls.append(kw["ShardIteratorType"])
        if kw["ShardIteratorType"] == "AFTER_SEQUENCE_NUMBER":
            raise self._trimmed("GetShardIterator")
        return {"ShardIterator": "horizon" if len(self.calls) > 1 else "start"}

    def get_records(self, ShardIterator: str, Limit: int) -> dict[str, Any]:
        if ShardIterator == "start":
            return {"Records": [raw(1)], "NextShardIterator": "next"}
        if ShardIterator == "next":
            raise self._trimmed("GetRecords")
        return {"Records": [raw(5), raw(6)]}  # the shard's end: no NextShardIterator


def test_a_read_past_retention_moves_on_to_the_oldest_record() -> None:
    streams = TrimmedStream()
    poller = shard(streams)
    reader = threading.Thread(target=poller._read, daemon=True)
    reader.start()
    reader.join(30)
    alive = reader.is_alive()
    poller.stop_event.set()
    assert not alive, f"the reader is stuck asking {streams.calls[-3:]}"
    assert poller.closed and streams.calls[0] == "TRIM_HORIZON"
    assert streams.calls[-1] == "TRIM_HORIZON"
    read = [r.seq for lane in poller.lanes for r in lane.buffer]
    assert read == [str(10**21 + i) for i in (1, 5, 6)]


class OnePage:
    """A shard holding ``records`` (one GetRecords page); then it has ended."""

    def __init__(self, records: list[dict[str, Any]]) -> None:
        self.records = records

    def get_shard_iterator(self, **_: Any) -> dict[str, str]:
        return {"ShardIterator": "start"}

    def get_records(self, ShardIterator: str, Limit: int) -> dict[str, Any]:
        return {"Records": self.records}


def test_a_failing_batch_holds_its_lane_while_the_other_lanes_go_on() -> None:
    """AWS documents that a failed batch's keys wait for it (order per partition key), not
    whether the shard's other concurrent batches wait too. The runtime's choice (the one
    that lets most run beside a failure, so the handlers are tested against it): only the
    failing batch's lane waits; every record of the other lanes is delivered meanwhile."""
    from ddbt.local.stream_poller import lane_of

    now = datetime.now(UTC)
    records = [raw(i, key=f"k{i % 8}", created=now) for i in range(40)]
    seqs = [r["dynamodb"]["SequenceNumber"] for r in records]
    keys = [r["dynamodb"]["Keys"]["pk"]["S"] for r in records]
    lane = {k: lane_of(json.dumps({"pk": {"S": k}}, sort_keys=True), 4) for k in set(keys)}
    failing = seqs[3]  # k3's first change
    held = [s for s, k in zip(seqs, keys, strict=True) if lane[k] == lane["k3"] and s > failing]
    others = [s for s, k in zip(seqs, keys, strict=True) if lane[k] != lane["k3"]]
    assert held and others
    gate = threading.Event()
    done: list[str] = []
    lock = threading.Lock()

    def invoke(event: dict[str, Any]) -> InvokeResult:
        batch = [r["dynamodb"]["SequenceNumber"] for r in event["Records"]]
        if failing in batch and not gate.is_set():
            return InvokeResult("error", error_type="Error", error_message="not yet")
        with lock:
            done.extend(batch)
        return InvokeResult("ok", payload={})

    poller = shard(OnePage(records), batch_size=1, parallelization_factor=4)
    poller.invoke = invoke
    poller.start()
    try:
        deadline = time.monotonic() + 30
        while not set(others) <= set(done):  # the other lanes deliver everything ...
            assert time.monotonic() < deadline, f"other lanes stalled: {len(done)} done"
            time.sleep(0.01)
        with lock:
            assert not set(held) & set(done)  # ... while the failing lane holds its records
        gate.set()
        while not poller.finished:
            assert time.monotonic() < deadline, "not delivered after the failure cleared"
            time.sleep(0.01)
    finally:
        poller.stop(5)
    assert sorted(done) == sorted(seqs) and len(done) == len(seqs)
    for key in set(keys):  # and each key's changes in order
        order = [s for s in done if keys[seqs.index(s)] == key]
        assert order == sorted(order, key=int)


class Watched:
    """A lane's condition that notes how many records the lane held each time it was woken."""

    def __init__(self, lane: Any) -> None:
        self.lane = lane
        self.cond = lane.cond
        self.woken_with: list[int] = []

    def __enter__(self) -> Any:
        return self.cond.__enter__()

    def __exit__(self, *exc: Any) -> Any:
        return self.cond.__exit__(*exc)

    def notify(self, n: int = 1) -> None:
        self.woken_with.append(len(self.lane.buffer))
        self.cond.notify(n)

    def notify_all(self) -> None:
        self.woken_with.append(len(self.lane.buffer))
        self.cond.notify_all()

    def wait(self, timeout: float | None = None) -> bool:
        return bool(self.cond.wait(timeout))


def test_the_records_of_one_read_wake_their_lane_once() -> None:
    """With no batching window, a lane woken per record formed a batch of the first record
    alone while the reader still handed it the rest of the read (seen in the soak: a poison
    record written with 24 other changes in one transaction was delivered alone). Lambda
    batches what a read returned, up to BatchSize."""
    records = [raw(i) for i in range(5)]
    for r in records:  # one item: one lane
        r["dynamodb"]["Keys"] = r["dynamodb"]["NewImage"] = {"pk": {"S": "same"}}
    poller = shard(OnePage(records), batch_size=100)
    (lane,) = poller.lanes
    watched = Watched(lane)
    lane.cond = watched
    reader = threading.Thread(target=poller._read, daemon=True)
    reader.start()
    reader.join(30)
    poller.stop_event.set()
    assert not reader.is_alive() and poller.closed
    assert watched.woken_with == [5]
    assert [r.seq for r in lane.buffer] == [str(10**21 + i) for i in range(5)]
