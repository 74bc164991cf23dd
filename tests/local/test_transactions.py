"""moto_patches patch 8's journal: a failed TransactWriteItems leaves every item and every
stream as they were before it, without moto copying the tables it names; a transaction that
succeeds keeps all its writes."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import create_table, make_client


def _tables(ddb: Any) -> None:
    create_table("plain", stream="NEW_AND_OLD_IMAGES")
    ddb.create_table(
        TableName="ranged",
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.put_item(TableName="plain", Item={"pk": {"S": "kept"}, "n": {"N": "1"}})
    ddb.put_item(TableName="plain", Item={"pk": {"S": "doomed"}, "n": {"N": "1"}})
    ddb.put_item(TableName="ranged", Item={"pk": {"S": "a"}, "sk": {"S": "1"}, "n": {"N": "1"}})


def _state(ddb: Any) -> dict[str, Any]:
    def items(table: str) -> list[Any]:
        return sorted(ddb.scan(TableName=table)["Items"], key=lambda i: str(sorted(i.items())))

    streams = make_client("dynamodbstreams")
    arn = ddb.describe_table(TableName="plain")["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(
        StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    records = streams.get_records(ShardIterator=iterator)["Records"]
    return {
        "plain": items("plain"),
        "ranged": items("ranged"),
        "stream": [(r["eventName"], r["dynamodb"]["SequenceNumber"]) for r in records],
    }


def _writes() -> list[dict[str, Any]]:
    """A put of a new item, an update of an existing one, a delete, an update that creates an
    item in the table with a sort key, and a put over an existing one there."""
    one = {":one": {"N": "1"}}
    return [
        {"Put": {"TableName": "plain", "Item": {"pk": {"S": "new"}}}},
        {
            "Update": {
                "TableName": "plain",
                "Key": {"pk": {"S": "kept"}},
                "UpdateExpression": "SET n = n + :one",
                "ExpressionAttributeValues": one,
            }
        },
        {"Delete": {"TableName": "plain", "Key": {"pk": {"S": "doomed"}}}},
        {
            "Update": {
                "TableName": "ranged",
                "Key": {"pk": {"S": "a"}, "sk": {"S": "2"}},
                "UpdateExpression": "SET n = :one",
                "ExpressionAttributeValues": one,
            }
        },
        {"Put": {"TableName": "ranged", "Item": {"pk": {"S": "a"}, "sk": {"S": "1"}}}},
    ]


@pytest.fixture
def no_table_copies(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's rollback copy of a table, deep-copied, fails the test."""
    from moto.dynamodb.models.table import Table

    def copied(self: object, memo: object) -> None:
        raise AssertionError("a table was deep-copied")

    monkeypatch.setattr(Table, "__deepcopy__", copied, raising=False)


@pytest.mark.parametrize(
    "failing",
    [
        # the last action's condition fails: TransactionCanceledException
        {
            "ConditionCheck": {
                "TableName": "ranged",
                "Key": {"pk": {"S": "a"}, "sk": {"S": "1"}},
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        },
        # the last action cannot be applied (a number added to a string): moto's validation
        {
            "Update": {
                "TableName": "ranged",
                "Key": {"pk": {"S": "b"}, "sk": {"S": "1"}},
                "UpdateExpression": "SET n = :s + :one",
                "ExpressionAttributeValues": {":s": {"S": "x"}, ":one": {"N": "1"}},
            }
        },
    ],
    ids=["condition", "validation"],
)
def test_a_failed_transaction_leaves_items_and_stream_as_they_were(
    aws_env: str, no_table_copies: None, failing: dict[str, Any]
) -> None:
    ddb = make_client("dynamodb")
    _tables(ddb)
    before = _state(ddb)
    with pytest.raises(ClientError):
        ddb.transact_write_items(TransactItems=[*_writes(), failing])
    assert _state(ddb) == before
    # the same writes then succeed, and all of them are kept, with one record each
    ddb.transact_write_items(TransactItems=_writes())
    after = _state(ddb)
    assert {"pk": {"S": "new"}} in after["plain"]
    assert {"pk": {"S": "kept"}, "n": {"N": "2"}} in after["plain"]
    assert all(item["pk"] != {"S": "doomed"} for item in after["plain"])
    assert sorted(after["ranged"], key=lambda item: item["sk"]["S"]) == [
        {"pk": {"S": "a"}, "sk": {"S": "1"}},
        {"pk": {"S": "a"}, "sk": {"S": "2"}, "n": {"N": "1"}},
    ]
    assert [name for name, _ in after["stream"][len(before["stream"]) :]] == [
        "INSERT",
        "MODIFY",
        "REMOVE",
    ]


def test_a_failed_transaction_naming_its_table_by_arn_is_undone_too(
    aws_env: str, no_table_copies: None
) -> None:
    # TransactWriteItems takes a table's name or its ARN (moto copied only tables named)
    ddb = make_client("dynamodb")
    _tables(ddb)
    arn = ddb.describe_table(TableName="plain")["Table"]["TableArn"]
    before = _state(ddb)
    writes = [{"Put": {"TableName": arn, "Item": {"pk": {"S": "by-arn"}}}}]
    failing = {
        "ConditionCheck": {
            "TableName": arn,
            "Key": {"pk": {"S": "kept"}},
            "ConditionExpression": "attribute_not_exists(pk)",
        }
    }
    with pytest.raises(ClientError):
        ddb.transact_write_items(TransactItems=[*writes, failing])
    assert _state(ddb) == before
