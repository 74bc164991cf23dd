"""moto_patches patch 13: GetRecords' answer is written by a converter built from the model, not
by moto's ResponseSerializer. The body must be what moto's serializer writes, for records of
every attribute type, nested, with and without sub-millisecond times; anything the converter
does not take (an unknown member, a value that is not a plain dict) falls back to moto."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import create_table, make_client


def _moto_body(result: dict[str, Any]) -> Any:
    """What moto's own serializer writes for a GetRecords result."""
    from moto.core.serialize import XFormedAttributePicker, get_serializer_class
    from moto.core.utils import get_service_model

    service = get_service_model("dynamodbstreams")
    serializer = get_serializer_class("dynamodbstreams", service.metadata["protocol"])(
        operation_model=service.operation_model("GetRecords"),
        pretty_print=False,
        value_picker=XFormedAttributePicker(response_transformers=None),
    )
    return json.loads(serializer.serialize(result)["body"])


def _patched_body(result: dict[str, Any]) -> Any:
    from moto.core.utils import get_service_model

    from ddbt.local.moto_patches import _json_writer

    shape = get_service_model("dynamodbstreams").operation_model("GetRecords").output_shape
    return json.loads(json.dumps(_json_writer(shape, {})(result)))


texts = st.text(max_size=8)
# "Attribute names must be at least one character long" (DynamoDB's naming rules), map keys
# included. (moto's serializer would write an empty name's value into the map itself.)
names = st.text(min_size=1, max_size=8)
numbers = st.integers(-(10**20), 10**20).map(str) | st.sampled_from(["1.5", "-0.001", "1E+9"])
blobs = st.binary(max_size=8)
attribute_values = st.recursive(
    st.one_of(
        texts.map(lambda v: {"S": v}),
        numbers.map(lambda v: {"N": v}),
        blobs.map(lambda v: {"B": v}),
        st.lists(texts, min_size=1, max_size=3, unique=True).map(lambda v: {"SS": v}),
        st.lists(numbers, min_size=1, max_size=3, unique=True).map(lambda v: {"NS": v}),
        st.lists(blobs, min_size=1, max_size=3, unique=True).map(lambda v: {"BS": v}),
        st.booleans().map(lambda v: {"BOOL": v}),
        st.just({"NULL": True}),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=3).map(lambda v: {"L": v}),
        st.dictionaries(names, children, max_size=3).map(lambda v: {"M": v}),
    ),
    max_leaves=12,
)
images = st.dictionaries(names, attribute_values, max_size=4)
times = st.datetimes(
    min_value=dt.datetime(2020, 1, 1), max_value=dt.datetime(2030, 1, 1)
) | st.just(dt.datetime(2026, 12, 6, 1, 2, 3))  # no microseconds: a whole number


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    """A record as moto's StreamRecord (and patch 1) keep it."""
    stream: dict[str, Any] = {
        "StreamViewType": draw(st.sampled_from(["KEYS_ONLY", "NEW_AND_OLD_IMAGES"])),
        "ApproximateCreationDateTime": draw(times),
        "SequenceNumber": str(draw(st.integers(10**20, 10**22))),
        "SizeBytes": draw(st.integers(1, 400_000)),
        "Keys": {"pk": draw(texts.map(lambda v: {"S": v}))},
    }
    for image in draw(st.sets(st.sampled_from(["NewImage", "OldImage"]))):
        stream[image] = draw(images)
    return {
        "eventID": draw(st.uuids()).hex,
        "eventName": draw(st.sampled_from(["INSERT", "MODIFY", "REMOVE"])),
        "eventSource": "aws:dynamodb",
        "eventVersion": "1.1",
        "awsRegion": "eu-west-1",
        "dynamodb": stream,
    }


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(records(), max_size=4),
    st.none() | st.just("arn:aws:dynamodb:eu-west-1:123456789012:table/t/stream/x|1|it"),
)
def test_the_body_is_what_motos_serializer_writes(
    batch: list[dict[str, Any]], iterator: str | None
) -> None:
    result = {"Records": batch, "NextShardIterator": iterator}
    assert _patched_body(result) == _moto_body(result)


@pytest.mark.parametrize(
    "record",
    [
        {"eventID": "e", "event_name": "INSERT"},  # a member moto would find by an alias
        {"eventID": "e", "dynamodb": {"Keys": {"pk": "not an attribute value"}}},
        {"eventID": "e", "dynamodb": {"Keys": {"pk": {"L": [None]}}}},
    ],
)
def test_what_the_converter_does_not_take_is_left_to_moto(record: dict[str, Any]) -> None:
    from moto.core.utils import get_service_model

    from ddbt.local.moto_patches import _json_writer, _NotPlain

    shape = get_service_model("dynamodbstreams").operation_model("GetRecords").output_shape
    with pytest.raises(_NotPlain):
        _json_writer(shape, {})({"Records": [record]})


def test_get_records_is_answered_without_motos_serializer(
    aws_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.core.serialize import ResponseSerializer

    arn = create_table("t", stream="NEW_AND_OLD_IMAGES")
    ddb = make_client("dynamodb")
    item = {
        "pk": {"S": "a"},
        "b": {"B": b"\x00\xff"},
        "bs": {"BS": [b"x", b"yz"]},
        "m": {"M": {"l": {"L": [{"N": "1.5"}, {"NULL": True}, {"BOOL": False}]}}},
        "ss": {"SS": ["p", "q"]},
    }
    ddb.put_item(TableName="t", Item=item)
    streams = make_client("dynamodbstreams")
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]
    iterator = streams.get_shard_iterator(
        StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]

    def refused(self: Any, result: Any) -> Any:
        raise AssertionError("moto's serializer wrote the GetRecords answer")

    monkeypatch.setattr(ResponseSerializer, "serialize", refused)
    answer = streams.get_records(ShardIterator=iterator)
    (record,) = answer["Records"]
    assert record["dynamodb"]["NewImage"] == item and record["eventName"] == "INSERT"
    assert isinstance(record["dynamodb"]["ApproximateCreationDateTime"], dt.datetime)
    assert answer["NextShardIterator"]


def test_a_record_the_converter_does_not_take_is_answered_by_moto(aws_env: str) -> None:
    # a userIdentity kept in snake_case: moto's serializer finds its members by their aliases
    arn = create_table("t", stream="NEW_IMAGE")
    make_client("dynamodb").put_item(TableName="t", Item={"pk": {"S": "a"}})
    shard = next(s for s in _shards() if s.table.name == "t")
    shard.items[0].record["userIdentity"] = {"type": "Service", "principal_id": "x"}
    streams = make_client("dynamodbstreams")
    shard_id = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]
    iterator = streams.get_shard_iterator(
        StreamArn=arn, ShardId=shard_id["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    (record,) = streams.get_records(ShardIterator=iterator)["Records"]
    assert record["userIdentity"] == {"Type": "Service", "PrincipalId": "x"}
    assert record["dynamodb"]["NewImage"] == {"pk": {"S": "a"}}


def _shards() -> list[Any]:
    from moto.dynamodb.models import dynamodb_backends

    return [
        t.stream_shard
        for regions in dynamodb_backends.values()
        for backend in regions.values()
        for t in backend.tables.values()
        if t.stream_shard is not None
    ]


def test_the_patch_applies_once() -> None:
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

    from ddbt.local.moto_patches import patch_stream_records_response

    patch_stream_records_response()
    kept = DynamoDBStreamsHandler.get_records
    patch_stream_records_response()
    assert DynamoDBStreamsHandler.get_records is kept
