"""Stream records of the corpus against our code.

GetRecords wire bodies are parsed by botocore's own parser (``corpus.get_records_parsed``),
then read back by every reader we have: the one conversion (``handlers.getrecords``), the
local runtime's poller (``ddbt.local.model.make_rec``), the archiver's range read, ``ddbt
replay``'s shard read and ``ddbt tail``; each must produce the record exactly as Lambda
delivers it. The Lambda records are then read by the handlers (``handlers.stream``) and must
mean what the case says: event names, TTL deletions, creation time, images.
"""

from __future__ import annotations

import json
from typing import Any

from boto3.dynamodb.types import Binary, TypeDeserializer
from botocore.stub import Stubber

from ddbt.local.model import make_rec
from ddbt.ops.stream_reading import read_shards
from ddbt.ops.tail import describe_change, follow
from handlers.archive import fetch_records
from handlers.codec import deserialize_image
from handlers.etl import EtlProcessor
from handlers.getrecords import lambda_records
from handlers.stream import parse_event
from tests.conformance.corpus import Case, get_records_parsed, params

WIRE_PARAMS = params("records", has="get_records_wire")


def _lambda(case: Case) -> list[dict[str, Any]]:
    if "lambda_records" in case.data:
        return list(case["lambda_records"])
    return [case["lambda_record"]]


def _parsed(case: Case) -> dict[str, Any]:
    return get_records_parsed(case["get_records_wire"])


def _streams(region: str) -> Any:
    import boto3

    return boto3.client(
        "dynamodbstreams",
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _region(case: Case) -> str:
    return str(case["stream_arn"]).split(":")[3]


def _shard(case: Case) -> dict[str, Any]:
    seqs = [r["dynamodb"]["SequenceNumber"] for r in _lambda(case)]
    return {
        "ShardId": "shardId-00000001700000000000-00000001",
        "SequenceNumberRange": {
            "StartingSequenceNumber": seqs[0],
            "EndingSequenceNumber": seqs[-1],
        },
    }


@WIRE_PARAMS
def test_the_one_conversion_gives_the_lambda_record(case: Case) -> None:
    assert lambda_records(_parsed(case)["Records"], case["stream_arn"]) == _lambda(case)


@WIRE_PARAMS
def test_the_local_runtime_delivers_the_lambda_record(case: Case) -> None:
    events = [make_rec(r, case["stream_arn"], None).event for r in _parsed(case)["Records"]]
    assert events == _lambda(case)


@WIRE_PARAMS
def test_the_archiver_reads_the_lambda_record_back(case: Case) -> None:
    expected = _lambda(case)
    shard = _shard(case)
    info = {
        "shardId": shard["ShardId"],
        "startSequenceNumber": expected[0]["dynamodb"]["SequenceNumber"],
        "endSequenceNumber": expected[-1]["dynamodb"]["SequenceNumber"],
        "streamArn": case["stream_arn"],
    }
    streams = _streams(_region(case))
    with Stubber(streams) as stub:
        stub.add_response(
            "get_shard_iterator",
            {"ShardIterator": "it-1"},
            {
                "StreamArn": case["stream_arn"],
                "ShardId": shard["ShardId"],
                "ShardIteratorType": "AT_SEQUENCE_NUMBER",
                "SequenceNumber": info["startSequenceNumber"],
            },
        )
        stub.add_response("get_records", _parsed(case), {"ShardIterator": "it-1", "Limit": 1000})
        assert fetch_records(streams, info) == expected


@WIRE_PARAMS
def test_replay_and_tail_read_the_lambda_record_back(case: Case) -> None:
    expected = _lambda(case)
    shard = _shard(case)
    describe = {"StreamDescription": {"StreamArn": case["stream_arn"], "Shards": [shard]}}
    closed_page = {"Records": []}  # a closed shard's end: no NextShardIterator
    streams = _streams(_region(case))
    with Stubber(streams) as stub:
        stub.add_response("describe_stream", describe)
        stub.add_response("get_shard_iterator", {"ShardIterator": "it-1"})
        stub.add_response("get_records", _parsed(case))
        stub.add_response("get_records", closed_page)
        assert [r for _, r in read_shards(streams, case["stream_arn"])] == expected
    lines: list[str] = []
    with Stubber(streams) as stub:
        stub.add_response("describe_stream", describe)
        stub.add_response("get_shard_iterator", {"ShardIterator": "it-1"})
        stub.add_response("get_records", _parsed(case))
        follow(
            streams, case["stream_arn"], lines.append, from_start=True, max_records=len(expected)
        )
    assert lines == [describe_change(r) for r in expected]
    assert ["(TTL)" in line for line in lines] == case["expect"]["ttl_expired"]


def _plain(value: Any) -> Any:
    """boto3's decoded values with Binary unwrapped (our decoder gives bytes)."""
    if isinstance(value, Binary):
        return bytes(value.value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, set):
        return {_plain(v) for v in value}
    return value


@params("records")
def test_handlers_read_what_the_record_means(case: Case) -> None:
    records = _lambda(case)
    expect = case["expect"]
    parsed = parse_event({"Records": records})
    assert [r.event_name.value for r in parsed] == expect["event_names"]
    assert [r.ttl_expired for r in parsed] == expect["ttl_expired"]
    assert [r.creation_iso for r in parsed] == expect["creation_iso"]
    assert [[n for n in ("NewImage", "OldImage") if n in r.dynamodb] for r in parsed] == expect[
        "images"
    ]
    # ETL keeps the TTL marker (a replayed object must equal the original)
    runs, stop, reason = EtlProcessor("bucket", "", lambda: None).plan(parsed)
    assert stop == len(parsed), reason
    lines = [json.loads(x) for run in runs for x in run.lines]
    assert [x["ttlExpired"] for x in lines] == expect["ttl_expired"]


@WIRE_PARAMS
def test_images_decode_as_boto3_decodes_the_wire(case: Case) -> None:
    """Our decoder on the Lambda form agrees with boto3's on the parsed wire form."""
    boto = TypeDeserializer()
    for raw, record in zip(_parsed(case)["Records"], _lambda(case), strict=True):
        for name in ("Keys", "NewImage", "OldImage"):
            if name in raw["dynamodb"]:
                ours = deserialize_image(record["dynamodb"][name], name)
                theirs = {k: boto.deserialize(v) for k, v in raw["dynamodb"][name].items()}
                assert ours == _plain(theirs)
