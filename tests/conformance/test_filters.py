"""Filter patterns of the corpus, with the outcomes recorded against AWS, against the one
matcher (``handlers.filters``) on every path that uses it: a mapping's ``FilterCriteria`` as
the Lambda API returns it (what the local runtime's pollers drop records with), and the
archiver's read of a failed range (what it keeps of the range)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.stub import Stubber

from ddbt.local.model import MappingSettings
from handlers.archive import fetch_records, matcher_of
from handlers.filters import compile_filters, matches
from tests.conformance.corpus import Case, params


def _criteria(case: Case) -> dict[str, Any]:
    return {"Filters": [{"Pattern": json.dumps(case["pattern"])}]}


@params("filters")
def test_the_matcher_gives_the_recorded_outcome(case: Case) -> None:
    assert matches(case["pattern"], case["record"]) is case["matches"]
    assert compile_filters(_criteria(case))(case["record"]) is case["matches"]


@params("filters")
def test_the_local_runtime_delivers_what_aws_delivers(case: Case) -> None:
    mapping = {
        "UUID": "u",
        "FunctionArn": "arn:aws:lambda:us-east-1:111111111111:function:f",
        "EventSourceArn": "arn:aws:dynamodb:us-east-1:111111111111:table/t/stream/x",
        "FilterCriteria": _criteria(case),
    }
    assert MappingSettings.from_api(mapping).matcher(case["record"]) is case["matches"]


def _wire(record: dict[str, Any]) -> dict[str, Any]:
    """A Lambda record as boto3 parses GetRecords (a datetime, no eventSourceARN)."""
    raw = json.loads(json.dumps(record))
    raw.pop("eventSourceARN")
    block = raw["dynamodb"]
    block["ApproximateCreationDateTime"] = datetime.fromtimestamp(
        block["ApproximateCreationDateTime"], UTC
    )
    return dict(raw)


@params("filters", has="record")
def test_the_archiver_keeps_of_a_range_what_aws_delivered(case: Case) -> None:
    record = case["record"]
    if "eventSourceARN" not in record:
        return  # an EventBridge event of the corpus, not a stream record
    seq = record["dynamodb"]["SequenceNumber"]
    info = {
        "shardId": "shardId-00000001764086400000-0000abcd",
        "startSequenceNumber": seq,
        "endSequenceNumber": seq,
        "streamArn": record["eventSourceARN"],
    }
    streams = boto3.client(
        "dynamodbstreams",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    with Stubber(streams) as stub:
        stub.add_response("get_shard_iterator", {"ShardIterator": "it"})
        stub.add_response("get_records", {"Records": [_wire(record)]})
        kept = fetch_records(streams, info, matcher=matcher_of([case["pattern"]]))
    assert kept == ([record] if case["matches"] else [])
