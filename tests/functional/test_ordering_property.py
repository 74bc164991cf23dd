"""Property tests (hypothesis) of the view's and the replicator's ordering against moto.

A history is a run of changes (INSERT, MODIFY, REMOVE) of a few items in one shard: sequence
numbers strictly increasing, of any length the Streams API allows (21 to 40 digits,
botocore's dynamodbstreams model), often agreeing in all but their last digits, and many
changes in the same second (``ApproximateCreationDateTime`` has one-second resolution). It
is delivered as Lambda would: in order, in batches of any size, and then parts of it again,
late and out of order (retries, redrives, replays). Whatever the delivery, the view and the
replica end as applying the changes one at a time in stream order ends, in both ordering
modes (change time, and a version attribute the application does not always increase).
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handlers import coldstart, replicate, view
from tests import factories as f
from tests.conftest import make_client
from tests.functional.test_view import scan

T0 = 1_767_225_600
TARGET = "ordered"
KEY = "application_id"
SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
_example = itertools.count()


@pytest.fixture
def target(aws_env: str, fast_retries: None, monkeypatch: pytest.MonkeyPatch) -> Any:
    ddb = make_client("dynamodb")
    ddb.create_table(
        TableName=TARGET,
        KeySchema=[{"AttributeName": KEY, "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": KEY, "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    monkeypatch.setenv("REPLICA_TABLE", TARGET)
    monkeypatch.setenv("VIEW_TABLE", TARGET)
    monkeypatch.setenv("VIEW_PARTITION_KEY", KEY)
    for name in ("CHECKPOINT_TABLE", "VIEW_SORT_KEY", "VIEW_ATTRIBUTES", "REPLICA_REGION"):
        monkeypatch.delenv(name, raising=False)
    return ddb


@st.composite
def sequence_numbers(draw: st.DrawFn, count: int) -> list[int]:
    """``count`` strictly increasing sequence numbers of 21 to 40 digits: small steps, so
    neighbours agree in all but their last digits, and now and then a longer number."""
    digits = draw(st.integers(21, 40))
    seq = draw(st.integers(10 ** (digits - 1), 10**digits - 10**4))
    out = []
    for _ in range(count):
        out.append(seq)
        longer = draw(st.integers(0, 9)) == 0 and digits < 40
        if longer:
            digits = draw(st.integers(digits + 1, 40))
            seq = draw(st.integers(10 ** (digits - 1), 10 ** (digits - 1) + 10**3))
        else:
            seq += draw(st.integers(1, 9))
    return out


@st.composite
def histories(draw: st.DrawFn) -> dict[str, Any]:
    """Changes of up to three items, the stream's records and the expected end state."""
    n = draw(st.integers(1, 12))
    seqs = draw(sequence_numbers(n))
    prefix = f"x{next(_example)}-"
    items = [f"{prefix}{i}" for i in range(draw(st.integers(1, 3)))]
    state: dict[str, dict[str, Any]] = {}  # the source table, one change at a time
    revs = dict.fromkeys(items, 1)
    created = T0
    records = []
    for step, seq in enumerate(seqs):
        created += draw(st.sampled_from([0, 0, 0, 1]))  # mostly the same second
        key = draw(st.sampled_from(items))
        before = state.get(key)
        remove = before is not None and draw(st.booleans())
        revs[key] += draw(st.sampled_from([0, 1]))  # the application may keep its version
        if remove:
            assert before is not None
            records.append(f.record("REMOVE", {KEY: key}, old=before, seq=seq, created=created))
            del state[key]
            continue
        after = {"step": step, "rev": revs[key]}
        name = "MODIFY" if before is not None else "INSERT"
        records.append(f.record(name, {KEY: key}, after, before, seq=seq, created=created))
        state[key] = after
    return {
        "items": items,
        "records": records,
        "expected": {k: {KEY: k, **v} for k, v in state.items()},
    }


@st.composite
def deliveries(draw: st.DrawFn, records: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Every record in order in batches of any size, then some records again, late."""
    batches, start = [], 0
    while start < len(records):
        size = draw(st.integers(1, len(records) - start))
        batches.append(records[start : start + size])
        start += size
    again = draw(st.lists(st.sampled_from(records), max_size=len(records)))
    batches.extend([r] for r in again)
    return batches


def _run(
    ddb: Any, processor: str, history: dict[str, Any], batches: list[list[dict[str, Any]]]
) -> None:
    handler = replicate.handler if processor == "replicate" else view.handler
    for batch in batches:
        coldstart.reset()
        assert handler(f.event(batch), f.Context()) == {"batchItemFailures": []}
    found = {
        i[KEY]: {k: v for k, v in i.items() if not k.startswith("_ddbt_")}
        for i in scan(ddb, TARGET)
        if i[KEY] in history["items"] and not i.get("_ddbt_deleted")
    }
    assert found == history["expected"]


@pytest.mark.parametrize("mode", ["change time", "version attribute"])
@pytest.mark.parametrize("processor", ["replicate", "view"])
@SETTINGS
@given(data=st.data())
def test_any_delivery_ends_in_the_stream_order_state(
    target: Any, monkeypatch: pytest.MonkeyPatch, processor: str, mode: str, data: st.DataObject
) -> None:
    variable = (
        "REPLICATE_VERSION_ATTRIBUTE" if processor == "replicate" else "VIEW_VERSION_ATTRIBUTE"
    )
    if mode == "version attribute":
        monkeypatch.setenv(variable, "rev")
    else:
        monkeypatch.delenv(variable, raising=False)
    history = data.draw(histories())
    _run(target, processor, history, data.draw(deliveries(history["records"])))
