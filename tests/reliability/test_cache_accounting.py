"""The cache's accounting for the soak (issue 13): after a stream of changes, delivered with
redeliveries, the cache holds exactly what the table's final state implies
(``ddbt.ops.verify_cache.compare_cache``), and the comparison sees every kind of difference."""

from __future__ import annotations

import random
from typing import Any

import pytest

from ddbt.ops.verify_cache import compare_cache
from handlers import cache as processor
from handlers import coldstart
from tests import factories as f
from tests.conftest import make_client
from tests.lambda_sim import deliver

TABLE = "soak_items"
T0 = 1_767_225_600


def test_the_cache_ends_as_the_table_implies(
    aws_env: str, cache_server: Any, cache: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ddb = make_client("dynamodb")
    ddb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    arn = f"arn:aws:dynamodb:us-east-1:{f.ACCOUNT}:table/{TABLE}/stream/2026-01-01T00:00:00.000"
    rng = random.Random(18)
    live: dict[str, dict[str, Any]] = {}
    records = []
    for step in range(120):
        pk = f"item-{rng.randrange(15)}"
        old = live.get(pk)
        if old is not None and rng.random() < 0.25:
            ddb.delete_item(TableName=TABLE, Key={"pk": {"S": pk}})
            records.append(f.record("REMOVE", {"pk": pk}, old=old, stream_arn=arn, created=T0))
            del live[pk]
            continue
        new = {"n": step, "price": f.Decimal(f"{step}.{rng.randrange(100):02d}"), "tags": {"a"}}
        ddb.put_item(TableName=TABLE, Item={"pk": {"S": pk}, **f.typed_image(new)})
        name = "INSERT" if old is None else "MODIFY"
        records.append(f.record(name, {"pk": pk}, new, old, stream_arn=arn, created=T0))
        live[pk] = new
    records = f.sequential(records)
    monkeypatch.setenv("CACHE_ENDPOINT", cache_server.endpoint)
    monkeypatch.setenv("CACHE_TLS", "false")
    coldstart.reset()
    deliver(processor.handler, records, batch_size=16)
    deliver(processor.handler, records[40:90], batch_size=7)  # a redrive of older changes

    items = ddb.scan(TableName=TABLE)["Items"]
    report = compare_cache(items, cache, table=TABLE, key_names=["pk"])
    assert report.ok, report.summary()
    assert report.items == len(live) and report.matching == len(live)
    assert report.tombstones == report.entries - len(live) > 0

    # Every kind of difference is seen.
    first, second = sorted(live)[:2]
    name = processor.cache_key("ddbt:", TABLE, {"pk": {"S": first}})
    cache.hset(name, "value", '{"pk":"tampered"}')
    cache.delete(processor.cache_key("ddbt:", TABLE, {"pk": {"S": second}}))
    cache.hset(processor.cache_key("ddbt:", TABLE, {"pk": {"S": "ghost"}}), "value", "{}")
    report = compare_cache(items, cache, table=TABLE, key_names=["pk"])
    assert not report.ok
    assert (len(report.different), len(report.missing), len(report.extra)) == (1, 1, 1)


def test_the_soak_accounting_wants_a_tombstone_for_each_removed_item(
    cache_server: Any, cache: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import redis

    from tests.reliability import accounting as acc
    from tests.reliability.local_stack import TABLE as SOAK_TABLE

    # GIVEN a kept item and a removed one, applied by the cache processor
    arn = (
        f"arn:aws:dynamodb:us-east-1:{f.ACCOUNT}:table/{SOAK_TABLE}/stream/2026-01-01T00:00:00.000"
    )
    kept, gone = {"status": "APPLIED"}, {"status": "OFFER"}
    records = f.sequential(
        [
            f.record("INSERT", {"pk": "kept"}, kept, stream_arn=arn, created=T0),
            f.record("INSERT", {"pk": "gone"}, gone, stream_arn=arn, created=T0),
            f.record("REMOVE", {"pk": "gone"}, old=gone, stream_arn=arn, created=T0),
        ]
    )
    monkeypatch.setenv("CACHE_ENDPOINT", cache_server.endpoint)
    monkeypatch.setenv("CACHE_TLS", "false")
    coldstart.reset()
    deliver(processor.handler, records, batch_size=3)
    facts = acc.Facts(
        acc.stream_changes(records), [], [{"pk": {"S": "kept"}, **f.typed_image(kept)}]
    )
    entry = acc.PROCESSORS["cache"]

    def figures() -> dict[str, Any]:
        return entry.figures(facts, redis.Redis(port=cache_server.port, decode_responses=True))

    # WHEN the soak's accounting reads the cache, THEN it matches, tombstone included
    got = figures()
    assert (got["matching"], got["tombstones"], got["missing_tombstones"]) == (1, 1, 0)
    assert all(entry.targets(got).values())
    # and without the tombstone (a late INSERT could bring the item back) the target fails
    cache.delete(processor.cache_key("ddbt:", SOAK_TABLE, {"pk": {"S": "gone"}}))
    got = figures()
    assert got["missing_tombstones"] == 1
    assert not any(entry.targets(got).values())
