"""The replicator cannot loop (issue 20): two replicators A to B and B to A, a chain A to B to
C, tombstones expiring in a replica, and a target that is a replica of the source's global
table.

"Each global table produces an independent stream based on all its writes, regardless of the
origination point" (DynamoDB developer guide, global tables and streams): whatever a processor
writes into a table whose changes come back to it is a new change of its source. Stream
records are built here from the tables' real contents on moto, as DynamoDB Streams would show
the writes (``NEW_AND_OLD_IMAGES``: the item before and after); moto has no global tables, so
``DescribeTable`` of a replica answers through botocore's Stubber, shaped by the service model.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import TypeDeserializer
from botocore.stub import Stubber

from handlers import aws, replicate, retry
from handlers.batch import Batch, BatchFailed, Budget, Failure, run_batch
from handlers.stream import parse_event
from tests import factories as f
from tests.conftest import make_client

ACCOUNT = "123456789012"
LABEL = "2026-01-01T00:00:00.000"
T0 = 1_767_225_600
_des = TypeDeserializer()
_seq = itertools.count(f.BASE_SEQ, 100)


def arn(table: str, region: str = "us-east-1") -> str:
    return f"arn:aws:dynamodb:{region}:{ACCOUNT}:table/{table}"


def stream(table: str) -> str:
    return f"{arn(table)}/stream/{LABEL}"


@pytest.fixture
def tables(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    retry.set_policy(retry.Policy(attempts=2, base=0.001, cap=0.002, reserve=0.0))
    ddb = make_client("dynamodb")
    for name in ("tbl-a", "tbl-b", "tbl-c"):
        ddb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    yield ddb
    retry.set_policy(retry.POLICY)


def item(table: str, pk: str) -> dict[str, Any] | None:
    found = make_client("dynamodb").get_item(TableName=table, Key={"pk": {"S": pk}}).get("Item")
    return None if found is None else {k: _des.deserialize(v) for k, v in found.items()}


def change(table: str, before: dict[str, Any] | None, after: dict[str, Any] | None) -> Any:
    """The stream record of ``table`` for a write that turned ``before`` into ``after``."""
    name = "INSERT" if before is None else ("REMOVE" if after is None else "MODIFY")
    image = after if after is not None else before
    assert image is not None
    keys = {"pk": image["pk"]}
    rest = dict(after or {}), dict(before or {})
    return f.record(
        name, keys, rest[0], rest[1], seq=next(_seq), created=T0, stream_arn=stream(table)
    )


def deliver(processor: Any, *records: dict[str, Any]) -> dict[str, Any]:
    return run_batch(f.event(records), f.Context(), [processor], None)


def replicator(target: str, **env: str) -> Any:
    return replicate.build({"REPLICA_TABLE": target, **env})


def app_write(table: str, pk: str, **attrs: Any) -> dict[str, Any]:
    """The application writes ``attrs`` into the item (an UpdateItem: other attributes,
    metadata included, stay); returns the stream record of the write."""
    before = item(table, pk)
    after = {**(before or {"pk": pk}), **attrs}
    make_client("dynamodb").put_item(
        TableName=table, Item=boto3.dynamodb.types.TypeSerializer().serialize(after)["M"]
    )
    return change(table, before, after)


def applied(processor: Any, record: dict[str, Any], target: str, pk: str) -> dict[str, Any] | None:
    """Deliver ``record``; the stream record of what that wrote into ``target`` (None: nothing)."""
    before = item(target, pk)
    assert deliver(processor, record) == {"batchItemFailures": []}
    after = item(target, pk)
    return None if after == before else change(target, before, after)


def test_two_replicators_a_to_b_and_b_to_a_stop_at_the_first_echo(tables: Any) -> None:
    a_to_b, b_to_a = replicator("tbl-b"), replicator("tbl-a")
    # the application writes x in A; the replicator copies it into B
    in_b = applied(a_to_b, app_write("tbl-a", "x", status="NEW"), "tbl-b", "x")
    assert in_b is not None and item("tbl-b", "x")["_ddbt_origin"] == arn("tbl-a")  # type: ignore[index]
    # B's stream carries that copy: it is A's change coming back, not written into A again
    assert applied(b_to_a, in_b, "tbl-a", "x") is None
    assert item("tbl-a", "x") == {"pk": "x", "status": "NEW"}
    # the application updates the copy in B (the stamp stays): that change goes to A ...
    in_a = applied(b_to_a, app_write("tbl-b", "x", status="SHIPPED"), "tbl-a", "x")
    assert in_a is not None and item("tbl-a", "x")["status"] == "SHIPPED"  # type: ignore[index]
    # ... and A's stream carrying it does not send it back to B
    assert applied(a_to_b, in_a, "tbl-b", "x") is None
    # the application updates x in A again: it reaches B once more, and stops there
    again = applied(a_to_b, app_write("tbl-a", "x", status="DONE"), "tbl-b", "x")
    assert again is not None and item("tbl-b", "x")["status"] == "DONE"  # type: ignore[index]
    assert applied(b_to_a, again, "tbl-a", "x") is None


def test_an_expiring_tombstone_is_not_replicated(tables: Any) -> None:
    a_to_b, b_to_a = replicator("tbl-b"), replicator("tbl-a")
    applied(a_to_b, app_write("tbl-a", "x", status="NEW"), "tbl-b", "x")
    before = item("tbl-a", "x")
    make_client("dynamodb").delete_item(TableName="tbl-a", Key={"pk": {"S": "x"}})
    tombstoned = applied(a_to_b, change("tbl-a", before, None), "tbl-b", "x")
    assert tombstoned is not None and item("tbl-b", "x")["_ddbt_deleted"] is True  # type: ignore[index]
    assert applied(b_to_a, tombstoned, "tbl-a", "x") is None  # the tombstone write is an echo
    # two days later TTL removes B's tombstone: not an application's delete, nothing to do
    tomb = item("tbl-b", "x")
    make_client("dynamodb").delete_item(TableName="tbl-b", Key={"pk": {"S": "x"}})
    expiry = change("tbl-b", tomb, None)
    expiry["userIdentity"] = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
    assert applied(b_to_a, expiry, "tbl-a", "x") is None
    assert item("tbl-a", "x") is None


def test_a_chain_a_to_b_to_c_carries_origin_and_tombstones(tables: Any) -> None:
    a_to_b, b_to_c, c_to_a = replicator("tbl-b"), replicator("tbl-c"), replicator("tbl-a")
    in_b = applied(a_to_b, app_write("tbl-a", "x", status="NEW"), "tbl-b", "x")
    assert in_b is not None
    in_c = applied(b_to_c, in_b, "tbl-c", "x")  # B's writes are replicated on to C
    assert in_c is not None and item("tbl-c", "x")["_ddbt_origin"] == arn("tbl-a")  # type: ignore[index]
    assert item("tbl-c", "x")["status"] == "NEW"  # type: ignore[index]
    assert applied(c_to_a, in_c, "tbl-a", "x") is None  # a ring back to A stops there
    # a delete in A arrives in C as a tombstone, not as an item holding only its key
    before = item("tbl-a", "x")
    make_client("dynamodb").delete_item(TableName="tbl-a", Key={"pk": {"S": "x"}})
    tomb_b = applied(a_to_b, change("tbl-a", before, None), "tbl-b", "x")
    assert tomb_b is not None
    assert applied(b_to_c, tomb_b, "tbl-c", "x") is not None
    assert item("tbl-c", "x")["_ddbt_deleted"] is True  # type: ignore[index]


def test_a_stamped_modify_without_old_image_toward_its_origin_is_poison(tables: Any) -> None:
    a_to_b, b_to_a = replicator("tbl-b"), replicator("tbl-a")
    in_b = applied(a_to_b, app_write("tbl-a", "x", status="NEW"), "tbl-b", "x")
    assert in_b is not None
    ambiguous = app_write("tbl-b", "x", status="SHIPPED")
    block = ambiguous["dynamodb"]
    block.pop("OldImage")
    block["StreamViewType"] = "NEW_IMAGE"
    with pytest.raises(BatchFailed, match="use NEW_AND_OLD_IMAGES on tables replicators write"):
        deliver(b_to_a, ambiguous)
    assert item("tbl-a", "x") == {"pk": "x", "status": "NEW"}


# -- a target that is a replica of the source's global table ----------------------------------


def _stubbed(region: str, table: str, replicas: list[str] | None, error: str = "") -> Stubber:
    client = boto3.client("dynamodb", region_name=region)
    stubber = Stubber(client)
    if error:
        stubber.add_client_error("describe_table", service_error_code=error, http_status_code=400)
    else:
        description: dict[str, Any] = {"TableName": table, "TableArn": arn(table, region)}
        if replicas is not None:
            description["Replicas"] = [
                {"RegionName": r, "ReplicaStatus": "ACTIVE"} for r in replicas
            ]
        stubber.add_response(
            "describe_table", {"Table": description}, {"TableName": arn(table, region)}
        )
    aws.set_client("dynamodb", client, region)
    stubber.activate()
    return stubber


@pytest.fixture
def west(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    yield
    aws.reset_clients()


def test_a_replica_of_the_sources_global_table_is_refused(west: None) -> None:
    stubber = _stubbed("us-west-2", "tbl-a", ["us-east-1", "eu-west-1"])
    processor = replicator(arn("tbl-a", "us-west-2"))
    record = f.record("INSERT", {"pk": "x"}, {"status": "NEW"}, stream_arn=stream("tbl-a"))
    with pytest.raises(BatchFailed, match="is a replica of the stream's own global table"):
        deliver(processor, record)
    stubber.assert_no_pending_responses()  # asked once; no PutItem was made
    with pytest.raises(BatchFailed, match="tbl-a in us-east-1 replicates to it"):
        deliver(processor, record)  # the answer is kept for the life of the runtime


def test_a_table_of_the_same_name_that_is_no_replica_is_written(west: None) -> None:
    stubber = _stubbed("us-west-2", "tbl-a", None)  # not a global table
    stubber.add_response("put_item", {})
    processor = replicator(arn("tbl-a", "us-west-2"))
    record = f.record("INSERT", {"pk": "x"}, {"status": "NEW"}, stream_arn=stream("tbl-a"))
    assert deliver(processor, record) == {"batchItemFailures": []}
    stubber.assert_no_pending_responses()


def test_describe_table_refused_is_transient_and_names_the_permission(west: None) -> None:
    _stubbed("us-west-2", "tbl-a", None, error="AccessDeniedException")
    processor = replicator(arn("tbl-a", "us-west-2"))
    record = f.record("INSERT", {"pk": "x"}, {"status": "NEW"}, stream_arn=stream("tbl-a"))
    records = parse_event(f.event([record]))
    batch = Batch(records=records, stream_arn=stream("tbl-a"), budget=Budget(f.Context()))
    outcome = processor.process(records, batch)
    assert (outcome.done, outcome.failure) == (0, Failure.TRANSIENT)
    assert "DescribeTable" in outcome.reason and "AccessDeniedException" in outcome.reason
    assert "needs dynamodb:DescribeTable" in outcome.reason


def test_other_names_are_never_described(west: None) -> None:
    """A target of another name cannot be a replica of the source: no DescribeTable."""
    client = boto3.client("dynamodb", region_name="us-west-2")
    stubber = Stubber(client)
    stubber.add_response("put_item", {})
    aws.set_client("dynamodb", client, "us-west-2")
    stubber.activate()
    processor = replicator(arn("tbl-a-copy", "us-west-2"))
    record = f.record("INSERT", {"pk": "x"}, {"status": "NEW"}, stream_arn=stream("tbl-a"))
    assert deliver(processor, record) == {"batchItemFailures": []}
    stubber.assert_no_pending_responses()


def test_a_view_table_that_is_a_replica_of_the_source_is_refused(west: None) -> None:
    from handlers import view

    stubber = _stubbed("eu-west-1", "tbl-a", ["us-east-1"])
    processor = view.build({"VIEW_TABLE": arn("tbl-a", "eu-west-1"), "VIEW_PARTITION_KEY": "pk"})
    record = f.record("INSERT", {"pk": "x"}, {"status": "NEW"}, stream_arn=stream("tbl-a"))
    with pytest.raises(BatchFailed, match=r"VIEW_TABLE: the target table .* is a replica"):
        deliver(processor, record)
    stubber.assert_no_pending_responses()


def test_a_replica_named_by_its_arn_in_a_multi_account_global_table_is_refused(
    west: None,
) -> None:
    client = boto3.client("dynamodb", region_name="us-west-2")
    stubber = Stubber(client)
    other = "arn:aws:dynamodb:us-west-2:210987654321:table/tbl-a"
    stubber.add_response(
        "describe_table",
        {
            "Table": {
                "TableName": "tbl-a",
                "TableArn": other,
                "Replicas": [{"RegionName": "us-east-1", "ReplicaArn": arn("tbl-a")}],
            }
        },
    )
    aws.set_client("dynamodb", client, "us-west-2")
    stubber.activate()
    processor = replicator(other)
    record = f.record("INSERT", {"pk": "x"}, {"status": "NEW"}, stream_arn=stream("tbl-a"))
    with pytest.raises(BatchFailed, match="is a replica of the stream's own global table"):
        deliver(processor, record)
