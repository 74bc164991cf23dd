"""ddbt verify-replica against moto: a source in us-east-1, its replica in us-west-2."""

from __future__ import annotations

import json
import os
from typing import Any

import boto3
import pytest

from ddbt.cli import main

SOURCE_ITEMS = [
    {"pk": {"S": "a"}, "n": {"N": "1.0"}, "tags": {"SS": ["x", "y"]}, "b": {"B": b"\x00"}},
    {"pk": {"S": "b"}, "m": {"M": {"k": {"L": [{"N": "2"}, {"NULL": True}]}}}},
    {"pk": {"S": "c"}, "s": {"S": "same"}},
    {"pk": {"S": "d"}, "s": {"S": "source"}},
    {"pk": {"S": "e"}, "s": {"S": "only in the source"}},
]


def client(region: str) -> Any:
    return boto3.client("dynamodb", region_name=region, endpoint_url=os.environ["AWS_ENDPOINT_URL"])


def table(ddb: Any, name: str, items: list[dict[str, Any]], key: str = "pk") -> None:
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for item in items:
        ddb.put_item(TableName=name, Item=item)


def meta(item: dict[str, Any], version: int = 17672256002200000000000000000000000000) -> Any:
    """``item`` stamped as the replicator writes it (handlers.versioned)."""
    order = {"S": "1767225600221" + "0" * 21}
    return {**item, "_ddbt_version": {"N": str(version)}, "_ddbt_order": order}


def tombstone(pk: str) -> dict[str, Any]:
    return meta({"pk": {"S": pk}, "_ddbt_deleted": {"BOOL": True}, "_ddbt_expires": {"N": "9"}})


@pytest.fixture
def source(aws_env: str) -> Any:
    ddb = client("us-east-1")
    table(ddb, "src", SOURCE_ITEMS)
    return ddb


def verify(capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, dict[str, Any]]:
    code = main(
        ["verify-replica", "--source-table", "src", "--replica-table", "rep", "--json", *extra]
    )
    return code, json.loads(capsys.readouterr().out)


def test_equal_tables_ignore_metadata_tombstones_and_number_format(
    source: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    replica = [meta(i) for i in SOURCE_ITEMS]
    replica[0] = meta({**SOURCE_ITEMS[0], "n": {"N": "1"}, "tags": {"SS": ["y", "x"]}})
    table(client("us-west-2"), "rep", [*replica, tombstone("gone")])
    code, report = verify(capsys, "--replica-region", "us-west-2", "--segments", "3")
    assert code == 0 and report["ok"] is True
    assert (report["matching"], report["missing"], report["extra"], report["different"]) == (
        5,
        0,
        0,
        0,
    )
    assert report["replica"]["tombstones"] == 1 and report["source"]["items"] == 5


def test_missing_extra_and_different_items_fail_with_examples(
    source: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    west = client("us-west-2")
    replica = [
        meta(SOURCE_ITEMS[0]),
        meta(SOURCE_ITEMS[1]),
        meta({"pk": {"S": "c"}, "s": {"S": "same"}, "added": {"BOOL": True}}),  # different
        meta({"pk": {"S": "d"}, "s": {"S": "replica"}}),  # different
        tombstone("e"),  # deleted in the replica only: missing
        meta({"pk": {"S": "z1"}}),  # extra
        meta({"pk": {"S": "z2"}}),  # extra
    ]
    table(west, "rep", replica)
    arn = west.describe_table(TableName="rep")["Table"]["TableArn"]
    code = main(["verify-replica", "--source-table", "src", "--replica-table", arn, "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1 and report["ok"] is False
    assert (report["matching"], report["missing"], report["extra"], report["different"]) == (
        2,
        1,
        2,
        2,
    )
    assert report["examples"]["missing"] == [{"pk": "e"}]
    assert sorted(e["pk"] for e in report["examples"]["extra"]) == ["z1", "z2"]
    assert sorted(report["examples"]["different"], key=lambda e: e["key"]["pk"]) == [
        {"key": {"pk": "c"}, "attributes": ["added"]},
        {"key": {"pk": "d"}, "attributes": ["s"]},
    ]
    # --sample bounds the examples, not the counts; the text form says DIFFERENT
    code = main(
        ["verify-replica", "--source-table", "src", "--replica-table", arn, "--sample", "1"]
    )
    text = capsys.readouterr().out
    assert code == 1 and text.count("  extra: ") == 1 and "extra      2" in text
    assert text.rstrip().endswith("DIFFERENT")


def test_other_key_schema_is_an_error(source: Any, capsys: pytest.CaptureFixture[str]) -> None:
    table(client("us-east-1"), "rep", [], key="id")
    assert main(["verify-replica", "--source-table", "src", "--replica-table", "rep"]) == 2
    assert "replica's key (id) differs from the source's (pk)" in capsys.readouterr().err
    # a table that cannot be read: exit 2 with the error on stderr
    assert main(["verify-replica", "--source-table", "src", "--replica-table", "nope"]) == 2
    assert "nope" in capsys.readouterr().err


def test_a_replicated_workload_verifies(
    aws_env: str, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """The replicator's output over a workload, with crashes and redeliveries, verifies
    against a source table holding the workload's final state."""
    from handlers import replicate, retry
    from tests.functional.test_replicate import workload
    from tests.lambda_sim import deliver

    retry.set_policy(retry.Policy(attempts=2, base=0.001, cap=0.001, reserve=0.0))
    try:
        recs, state = workload(40, seed=5)
        src = client("us-east-1")
        table(
            src,
            "src",
            [{"application_id": {"S": k}, "v": {"N": str(v["v"])}} for k, v in state.items()],
            key="application_id",
        )
        table(client("us-west-2"), "rep", [], key="application_id")
        monkeypatch.setenv("REPLICA_TABLE", "rep")
        monkeypatch.setenv("REPLICA_REGION", "us-west-2")
        monkeypatch.delenv("CHECKPOINT_TABLE", raising=False)
        deliver(replicate.handler, recs, batch_size=15)
        capsys.readouterr()
        code, report = verify(capsys, "--replica-region", "us-west-2")
        assert code == 0 and report["matching"] == len(state) > 0
        assert report["replica"]["tombstones"] > 0
    finally:
        retry.set_policy(retry.POLICY)


def test_seed_a_replica_with_backfill_then_verify(
    source: Any, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """The documented way to start a replica of an existing table: ``ddbt backfill`` through
    the replicator (every item as an INSERT), then ``ddbt verify-replica``."""
    west = client("us-west-2")
    table(west, "rep", [])
    arn = west.describe_table(TableName="rep")["Table"]["TableArn"]
    code = main(
        [
            "backfill",
            "src",
            "--processor",
            "replicate",
            "--env",
            f"REPLICA_TABLE={arn}",
            "--view-type",
            "NEW_IMAGE",
            "--segments",
            "1",
            "--checkpoint",
            str(tmp_path / "backfill.json"),
        ]
    )
    assert code == 0, capsys.readouterr()
    capsys.readouterr()
    code, report = verify(capsys, "--replica-region", "us-west-2")
    assert code == 0 and report["matching"] == len(SOURCE_ITEMS)


def _handlers_zip() -> bytes:
    """The handlers package as the module deploys it (handlers/*.py at the zip's root)."""
    from pathlib import Path

    from tests.factories import zip_bytes

    root = Path(__file__).resolve().parents[2]
    return zip_bytes(
        {f"handlers/{p.name}": p.read_bytes() for p in sorted((root / "handlers").glob("*.py"))}
    )


def test_local_runtime_replicates_to_another_region_and_verifies(
    cloud: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """End to end on the local runtime: the replicator (the deployed zip, run by a worker
    process) follows the table's stream into a replica in us-west-2; inserts, updates and
    deletes of the source end equal in the replica."""
    from tests.local.conftest import wait_for

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")

    stream = cloud.table("src")
    west = cloud.client("dynamodb", "us-west-2")
    table(west, "rep", [])
    arn = west.describe_table(TableName="rep")["Table"]["TableArn"]
    role = cloud.iam.create_role(RoleName="rep-role", AssumeRolePolicyDocument="{}")["Role"]
    cloud.lam.create_function(
        FunctionName="replicate",
        Runtime="python3.12",
        Role=role["Arn"],
        Handler="handlers.replicate.handler",
        Code={"ZipFile": _handlers_zip()},
        Timeout=30,
        Environment={"Variables": {"REPLICA_TABLE": arn}},
    )
    cloud.mapping(
        stream, "replicate", BatchSize=4, FunctionResponseTypes=["ReportBatchItemFailures"]
    )
    for i in range(6):
        cloud.put(f"k{i}", table="src", status="NEW")
    cloud.put("k1", table="src", status="SEEN")
    cloud.ddb.delete_item(TableName="src", Key={"pk": {"S": "k2"}})
    rt = cloud.runtime()
    assert rt.wait_caught_up(30)

    def replicated() -> bool:
        items = west.scan(TableName="rep")["Items"]
        return len(items) == 6 and any(i.get("_ddbt_deleted") for i in items)

    wait_for(replicated, 30)
    code = main(
        [
            "verify-replica",
            "--source-table",
            "src",
            "--region",
            "eu-west-1",
            "--replica-table",
            arn,
            "--endpoint-url",
            cloud.endpoint,
            "--json",
        ]
    )
    report = json.loads(capsys.readouterr().out)
    assert code == 0, report
    assert (report["matching"], report["replica"]["tombstones"]) == (5, 1)


def test_numbers_longer_than_38_digits_are_compared_not_fatal(
    source: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """moto stores numbers DynamoDB would reject (42 digits here): verify still compares
    them exactly instead of failing on boto3's 38-digit context."""
    big = {"N": "1" * 42}
    ddb = client("us-east-1")
    ddb.put_item(TableName="src", Item={"pk": {"S": "big"}, "n": big})
    replica = [meta(i) for i in SOURCE_ITEMS] + [meta({"pk": {"S": "big"}, "n": big})]
    table(client("us-east-1"), "rep", replica)
    code, report = verify(capsys)
    assert code == 0 and report["matching"] == 6
    client("us-east-1").put_item(
        TableName="rep", Item=meta({"pk": {"S": "big"}, "n": {"N": "1" * 41 + "2"}})
    )
    code, report = verify(capsys)
    assert code == 1 and report["different"] == 1
