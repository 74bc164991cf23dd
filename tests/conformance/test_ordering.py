"""Records cases that fix how an item's changes are ordered (``expect.final_item``): the view
and the replicator, fed the case's records against moto, end where applying the changes one
at a time in stream order ends, however the records are delivered (one batch, one record per
batch, everything again in reverse)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer

from handlers import replicate, view
from handlers.stream import parse_event
from tests import factories as f
from tests.conformance.corpus import Case, cases
from tests.conftest import make_client

ORDERED = [c for c in cases("records") if "final_item" in c.get("expect", {})]
_des = TypeDeserializer()
TARGET = "ordering_target"


def _key_schema(case: Case) -> tuple[str, str]:
    ((name, av),) = case["lambda_records"][0]["dynamodb"]["Keys"].items()
    ((tag, _),) = av.items()
    return name, tag


def _deliveries(records: list[dict[str, Any]]) -> dict[str, list[list[dict[str, Any]]]]:
    return {
        "one batch": [records],
        "one record per batch": [[r] for r in records],
        "again in reverse": [records, *[[r] for r in reversed(records)]],
    }


def _live(table: str, key: str) -> dict[Any, dict[str, Any]]:
    items = make_client("dynamodb").scan(TableName=table)["Items"]
    out = {}
    for raw in items:
        item = {k: _des.deserialize(v) for k, v in raw.items()}
        if not item.get("_ddbt_deleted"):
            out[item[key]] = {k: v for k, v in item.items() if not k.startswith("_ddbt_")}
    return out


@pytest.mark.parametrize("case", ORDERED, ids=[c.name for c in ORDERED])
def test_the_stream_order_is_the_order_of_the_stamps(case: Case) -> None:
    from handlers.versioned import change_order

    records = parse_event({"Records": case["lambda_records"]})
    names = [r.event_name.value for r in sorted(records, key=change_order)]
    assert names == case["expect"]["order"]


@pytest.mark.parametrize("processor", ["replicate", "view"])
@pytest.mark.parametrize("case", ORDERED, ids=[c.name for c in ORDERED])
def test_view_and_replica_end_as_the_stream_does(
    case: Case, processor: str, aws_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    key, tag = _key_schema(case)
    ddb = make_client("dynamodb")
    handler: Callable[[dict[str, Any], Any], dict[str, Any]]
    if processor == "replicate":
        monkeypatch.setenv("REPLICA_TABLE", TARGET)
        handler = replicate.handler
    else:
        monkeypatch.setenv("VIEW_TABLE", TARGET)
        monkeypatch.setenv("VIEW_PARTITION_KEY", key)
        handler = view.handler
    region = case["lambda_records"][0]["awsRegion"]
    monkeypatch.setenv("AWS_REGION", region)
    expected = case["expect"]["final_item"]
    for label, batches in _deliveries(case["lambda_records"]).items():
        ddb.create_table(
            TableName=TARGET,
            KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": key, "AttributeType": tag}],
            BillingMode="PAY_PER_REQUEST",
        )
        for batch in batches:
            response = handler({"Records": copy.deepcopy(batch)}, f.Context())
            assert response == {"batchItemFailures": []}, label
        live = _live(TARGET, key)
        assert list(live.values()) == ([] if expected is None else [expected]), label
        ddb.delete_table(TableName=TARGET)


LENGTHS = [c for c in cases("records") if "sequence_number_digits" in c.get("expect", {})]


@pytest.mark.parametrize("case", LENGTHS, ids=[c.name for c in LENGTHS])
def test_sequence_number_lengths_are_the_service_models(case: Case) -> None:
    import botocore.session

    model = botocore.session.get_session().get_service_model("dynamodbstreams")
    shape = model.shape_for("SequenceNumber").metadata
    assert [shape["min"], shape["max"]] == case["expect"]["sequence_number_digits"]
    lengths = {len(r["dynamodb"]["SequenceNumber"]) for r in case["lambda_records"]}
    assert lengths == set(case["expect"]["sequence_number_digits"])


@pytest.mark.parametrize("case", ORDERED, ids=[c.name for c in ORDERED])
def test_the_cache_ends_as_the_stream_does(
    case: Case, cache_server: Any, cache: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same AWS-published records through the cache's script on a real server: the
    entry ends holding the last change in stream order, whatever the delivery."""
    import json

    from handlers import cache as cache_processor
    from handlers import coldstart

    monkeypatch.setenv("CACHE_ENDPOINT", cache_server.endpoint)
    monkeypatch.setenv("CACHE_TLS", "false")
    expected = case["expect"]["final_item"]
    for label, batches in _deliveries(case["lambda_records"]).items():
        cache.flushall()
        coldstart.reset()
        for batch in batches:
            response = cache_processor.handler({"Records": copy.deepcopy(batch)}, f.Context())
            assert response == {"batchItemFailures": []}, label
        values = [cache.hget(name, "value") for name in cache.keys("ddbt:*")]
        live = [json.loads(v) for v in values if v is not None]
        wanted = [] if expected is None else [expected]
        assert live == wanted, label
