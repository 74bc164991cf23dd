"""moto_patches patch 13: DynamoDB's and DynamoDB Streams' answers are written by a converter
built from the model, not by moto's ResponseSerializer. The answer must be what moto's
serializer writes: for stream records and items of every attribute type, nested, with and
without sub-millisecond times, and for every DynamoDB operation the project and its tests
call; anything the converter does not take (an unknown member, a value that is not a plain
dict, an error) is left to moto's serializer."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import create_table, make_client


def _moto_body(result: dict[str, Any], service: str, operation: str) -> Any:
    """What moto's own serializer writes for a result of ``operation``."""
    from moto.core.serialize import XFormedAttributePicker, get_serializer_class
    from moto.core.utils import get_service_model

    model = get_service_model(service)
    serializer = get_serializer_class(service, model.metadata["protocol"])(
        operation_model=model.operation_model(operation),
        pretty_print=False,
        value_picker=XFormedAttributePicker(response_transformers=None),
    )
    return json.loads(serializer.serialize(result)["body"])


def _patched_body(result: dict[str, Any], service: str, operation: str) -> Any:
    from moto.core.utils import get_service_model

    from ddbt.local.moto_patches import _json_writer

    shape = get_service_model(service).operation_model(operation).output_shape
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
    args = ("dynamodbstreams", "GetRecords")
    assert _patched_body(result, *args) == _moto_body(result, *args)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(images, max_size=4), st.none() | images, st.integers(0, 4))
def test_items_are_written_as_motos_serializer_writes_them(
    items: list[dict[str, Any]], last_key: dict[str, Any] | None, scanned: int
) -> None:
    query = {"Items": items, "Count": len(items), "ScannedCount": len(items) + scanned}
    if last_key is not None:
        query["LastEvaluatedKey"] = last_key
    capacity = {"TableName": "t", "CapacityUnits": 1.5, "Table": {"CapacityUnits": 0.5}}
    for operation, result in (
        ("Query", query),
        ("GetItem", {"Item": items[0]} if items else {}),
        ("UpdateItem", {"Attributes": last_key or {}, "ConsumedCapacity": capacity}),
        ("BatchGetItem", {"Responses": {"t": items}, "UnprocessedKeys": {}}),
        ("TransactGetItems", {"Responses": [{"Item": item} for item in items]}),
    ):
        assert _patched_body(result, "dynamodb", operation) == _moto_body(
            result, "dynamodb", operation
        ), operation


def test_every_dynamodb_answer_is_what_motos_serializer_writes(
    aws_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.core.responses import BaseResponse
    from moto.core.serialize import ResponseSerializer
    from moto.dynamodb.responses import DynamoHandler
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

    serializer = ResponseSerializer.serialize
    written = [0]  # answers moto's serializer wrote

    def counted(self: Any, result: Any) -> Any:
        written[0] += 1
        return serializer(self, result)

    answers: list[tuple[str, Any, Any, bool]] = []

    def comparing(patched: Any) -> Any:
        def serialized(self: Any, action_result: Any) -> Any:
            before = written[0]
            ours = patched(self, action_result)
            by_moto = written[0] > before
            theirs = BaseResponse.serialized(self, action_result)
            # (copies: the caller adds headers to the dict it gets)
            answers.append((self._get_action(), (ours[0], dict(ours[1]), ours[2]), theirs, by_moto))
            return ours

        return serialized

    monkeypatch.setattr(ResponseSerializer, "serialize", counted)
    for handler in (DynamoHandler, DynamoDBStreamsHandler):
        monkeypatch.setattr(handler, "serialized", comparing(handler.serialized))
    # GIVEN every kind of call the handlers, the local runtime and the tests make
    _dynamodb_workload()
    # THEN each answer has moto's status, headers and body, byte for byte
    for action, ours, theirs, _ in answers:
        assert ours == theirs, action
    # and the converter wrote every one but DeleteItem's, whose result holds a key that is no
    # member of its output (ConsumedCapacityUnits, which moto's serializer leaves out: a key
    # the converter does not know could be another spelling of a member, which moto finds)
    assert sorted({action for action, *_, moto in answers if moto}) == ["DeleteItem"]
    assert len({action for action, *_ in answers}) >= 25


def _dynamodb_workload() -> None:
    """Calls of most DynamoDB and DynamoDB Streams operations, answered or refused."""
    ddb = make_client("dynamodb")
    arn = ddb.create_table(
        TableName="tbl",
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
            {"AttributeName": "g", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-g",
                "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        Tags=[{"Key": "team", "Value": "x"}],
    )["TableDescription"]["TableArn"]
    capacity: dict[str, Any] = {"ReturnConsumedCapacity": "INDEXES"}
    item = {
        "pk": {"S": "a"},
        "sk": {"N": "1"},
        "g": {"S": "x"},
        "m": {"M": {"l": {"L": [{"N": "1.5"}, {"NULL": True}, {"BOOL": True}]}}},
        "b": {"B": b"\x00\xff"},
        "ss": {"SS": ["p", "q"]},
    }
    ddb.describe_table(TableName="tbl")
    ddb.list_tables()
    ddb.list_tags_of_resource(ResourceArn=arn)
    ddb.update_time_to_live(
        TableName="tbl", TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"}
    )
    ddb.describe_time_to_live(TableName="tbl")
    ddb.describe_continuous_backups(TableName="tbl")
    ddb.put_item(TableName="tbl", Item=item, **capacity)
    ddb.put_item(TableName="tbl", Item=item, ReturnValues="ALL_OLD", **capacity)
    ddb.get_item(TableName="tbl", Key={"pk": {"S": "a"}, "sk": {"N": "1"}}, ConsistentRead=True)
    ddb.get_item(TableName="tbl", Key={"pk": {"S": "none"}, "sk": {"N": "1"}})
    for returns in ("ALL_NEW", "UPDATED_OLD", "NONE"):
        ddb.update_item(
            TableName="tbl",
            Key={"pk": {"S": "a"}, "sk": {"N": "1"}},
            UpdateExpression="ADD n :one SET #s = :s",
            ExpressionAttributeNames={"#s": "state"},
            ExpressionAttributeValues={":one": {"N": "1"}, ":s": {"S": "ok"}},
            ReturnValues=returns,
            **capacity,
        )
    with pytest.raises(ddb.exceptions.ConditionalCheckFailedException):
        ddb.put_item(
            TableName="tbl",
            Item=item,
            ConditionExpression="attribute_not_exists(pk)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    ddb.batch_write_item(
        RequestItems={
            "tbl": [{"PutRequest": {"Item": {**item, "sk": {"N": str(n)}}}} for n in range(2, 12)]
        },
        ReturnConsumedCapacity="TOTAL",
    )
    ddb.batch_get_item(
        RequestItems={"tbl": {"Keys": [{"pk": {"S": "a"}, "sk": {"N": str(n)}} for n in (1, 2)]}}
    )
    ddb.query(
        TableName="tbl",
        KeyConditionExpression="pk = :a",
        ExpressionAttributeValues={":a": {"S": "a"}},
        Limit=3,
        **capacity,
    )
    ddb.query(
        TableName="tbl",
        IndexName="by-g",
        KeyConditionExpression="g = :x",
        ExpressionAttributeValues={":x": {"S": "x"}},
        Select="COUNT",
    )
    ddb.scan(TableName="tbl", Limit=4, ProjectionExpression="pk, sk, m.l[0]")
    ddb.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": "tbl", "Item": {**item, "sk": {"N": "20"}}}},
            {
                "Update": {
                    "TableName": "tbl",
                    "Key": {"pk": {"S": "a"}, "sk": {"N": "2"}},
                    "UpdateExpression": "ADD n :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}},
                }
            },
            {"Delete": {"TableName": "tbl", "Key": {"pk": {"S": "a"}, "sk": {"N": "3"}}}},
        ],
        **capacity,
    )
    with pytest.raises(ddb.exceptions.TransactionCanceledException):
        ddb.transact_write_items(
            TransactItems=[
                {
                    "ConditionCheck": {
                        "TableName": "tbl",
                        "Key": {"pk": {"S": "a"}, "sk": {"N": "1"}},
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
            ]
        )
    ddb.transact_get_items(
        TransactItems=[{"Get": {"TableName": "tbl", "Key": {"pk": {"S": "a"}, "sk": {"N": "1"}}}}]
    )
    ddb.delete_item(
        TableName="tbl", Key={"pk": {"S": "a"}, "sk": {"N": "4"}}, ReturnValues="ALL_OLD"
    )
    ddb.execute_statement(Statement="SELECT * FROM \"tbl\" WHERE pk = 'a'")
    ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": "k", "Value": "v"}])
    with pytest.raises(ddb.exceptions.ResourceNotFoundException):
        ddb.describe_table(TableName="missing")
    streams = make_client("dynamodbstreams")
    stream_arn = streams.list_streams(TableName="tbl")["Streams"][0]["StreamArn"]
    shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]
    iterator = streams.get_shard_iterator(
        StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    streams.get_records(ShardIterator=iterator, Limit=5)
    ddb.update_table(TableName="tbl", StreamSpecification={"StreamEnabled": False})
    ddb.delete_table(TableName="tbl")


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


def test_item_operations_and_get_records_are_answered_without_motos_serializer(
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
    key = {"pk": {"S": "a"}}
    assert ddb.get_item(TableName="t", Key=key)["Item"] == item
    ddb.update_item(TableName="t", Key=key, AttributeUpdates={"n": {"Value": {"N": "2"}}})
    found = ddb.query(
        TableName="t", KeyConditionExpression="pk = :a", ExpressionAttributeValues={":a": key["pk"]}
    )
    assert found["Items"] == [{**item, "n": {"N": "2"}}] and found["Count"] == 1
    answer = streams.get_records(ShardIterator=iterator)
    record, _ = answer["Records"]
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
