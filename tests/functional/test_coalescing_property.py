"""Property tests (hypothesis) of coalescing against moto: a batch applied by the view or the
replicator (its writes coalesced per target item, ``versioned.apply_batch``) leaves the target
table exactly as applying its changes one at a time leaves it, and fails at the same record.

A history is a run of changes of a few source items in one shard: items created, moved
between view keys (the view key is an attribute the changes rewrite, or drop: a sparse
view), deleted and created again; change times mostly in one second, now and then a second
later or earlier; in version-attribute mode a version that does not always grow and is
sometimes missing (a REMOVE then tombstones the item at the version it holds: the one write
that reads the table). Some examples carry images stamped by a replicator (its writes coming
back, along a chain, or a tombstone), a ``NEW_IMAGE`` stream, a poison record in the middle.
Part of the history is applied first, one change at a time, so the batch meets stored items.

Both runs use one table (emptied in between), the same configuration and a fixed clock, and
every attribute is compared, the stamp (``_ddbt_version``, ``_ddbt_order``), ``_ddbt_origin``
and tombstones included.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handlers.batch import Batch, Budget, Failure, Outcome, Processor
from handlers.replicate import ReplicateProcessor
from handlers.stream import parse_event
from handlers.versioned import DELETED, ORDER, ORIGIN, VERSION, Ordering, Versioned
from handlers.view import ViewProcessor
from tests import factories as f
from tests.conftest import make_client
from tests.functional.test_view import scan

T0 = 1_767_225_600
CLOCK = 1_767_300_000.0  # tombstones' _ddbt_expires is read from the clock: fixed
TARGET = "coalesced"
KEY = "application_id"
SLOT = "slot"
SOURCE = f.STREAM_ARN.partition("/stream/")[0]
OTHER = f"arn:aws:dynamodb:{f.REGION}:{f.ACCOUNT}:table/elsewhere"
TARGET_ARN = f"arn:aws:dynamodb:{f.REGION}:{f.ACCOUNT}:table/{TARGET}"
SETTINGS = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# (processor, the target table's key, its attribute types)
SHAPES = {
    "view": ((SLOT, KEY), "S"),  # one view item per source item, moved between slots
    "shared view": ((SLOT,), "S"),  # source items share a view item per slot
    "replicate": ((KEY,), "S"),
}
_example = itertools.count()


@pytest.fixture
def target(aws_env: str, fast_retries: None) -> Any:
    return make_client("dynamodb")


def _create(ddb: Any, key: tuple[str, ...]) -> None:
    ddb.create_table(
        TableName=TARGET,
        KeySchema=[
            {"AttributeName": name, "KeyType": kind}
            for name, kind in zip(key, ("HASH", "RANGE"), strict=False)
        ],
        AttributeDefinitions=[{"AttributeName": name, "AttributeType": "S"} for name in key],
        BillingMode="PAY_PER_REQUEST",
    )


def _stamp(draw: st.DrawFn, step: int) -> dict[str, Any]:
    """A replicator's stamp in an image: its write coming back, or along a chain."""
    return {
        VERSION: draw(st.integers(1, 9)),
        ORDER: f"{T0:010d}02{step:02d}",
        ORIGIN: draw(st.sampled_from([SOURCE, OTHER, TARGET_ARN])),
    }


@st.composite
def histories(draw: st.DrawFn, shape: str, versioned: bool) -> dict[str, Any]:
    """The records of a history (its ``prior`` part and its ``batch``), as Lambda delivers
    them, and the stream's view type."""
    n = draw(st.integers(2, 16))
    view_type = draw(st.sampled_from(["NEW_AND_OLD_IMAGES", "NEW_AND_OLD_IMAGES", "NEW_IMAGE"]))
    stamped = shape == "replicate" and draw(st.booleans())
    prefix = f"x{next(_example)}-"
    items = [f"{prefix}{i}" for i in range(draw(st.integers(1, 3)))]
    state: dict[str, dict[str, Any]] = {}
    created = T0
    records = []
    for step in range(n):
        created += draw(st.sampled_from([0, 0, 0, 1, 1, -1]))
        item = draw(st.sampled_from(items))
        before = state.get(item)
        if before is not None and draw(st.integers(0, 3)) == 0:
            old = dict(before)
            if versioned and draw(st.booleans()):
                old.pop("rev", None)  # tombstoned at the version stored (remove_at_current)
            records.append(
                f.record("REMOVE", {KEY: item}, old=old, view_type=view_type, created=created)
            )
            del state[item]
            continue
        after: dict[str, Any] = {"step": step}
        if draw(st.integers(0, 5)):  # now and then no slot: a sparse view
            after[SLOT] = draw(st.sampled_from(["s0", "s1", "s2"]))
        if versioned and draw(st.integers(0, 5)):  # now and then no version
            previous = (before or {}).get("rev", 1)
            after["rev"] = previous + draw(st.sampled_from([0, 1, 1, -1]))
        if stamped and draw(st.integers(0, 2)) == 0:
            after.update(_stamp(draw, step))
            if draw(st.integers(0, 4)) == 0:
                after[DELETED] = True  # a tombstone replicated along a chain
        name = "INSERT" if before is None else "MODIFY"
        records.append(
            f.record(name, {KEY: item}, after, before, view_type=view_type, created=created)
        )
        state[item] = after
    records = f.sequential(records)
    if draw(st.integers(0, 3)) == 0:  # a poison record in the middle
        at = draw(st.integers(0, len(records) - 1))
        bad = records[at]["dynamodb"]
        image = "NewImage" if "NewImage" in bad else "Keys"
        bad[image]["bad"] = {"N": "not a number"}
        if image == "Keys":
            bad["Keys"] = {KEY: {"N": "not a number"}}
    split = draw(st.integers(0, len(records) - 1))
    return {"prior": records[:split], "batch": records[split:], "items": items}


def _processor(ddb: Any, shape: str, versioned: bool, workers: int) -> Processor:
    writer = Versioned(TARGET, lambda: ddb, clock=lambda: CLOCK)
    if shape == "replicate":
        variable = "REPLICATE_VERSION_ATTRIBUTE"
        return ReplicateProcessor(
            writer, Ordering("rev" if versioned else "", variable), workers=workers
        )
    key, _ = SHAPES[shape]
    return ViewProcessor(
        writer,
        *key,
        ordering=Ordering("rev" if versioned else "", "VIEW_VERSION_ATTRIBUTE"),
        workers=workers,
    )


def _process(processor: Processor, raw: list[dict[str, Any]]) -> Outcome:
    records = parse_event(f.event(raw)) if raw else []
    return processor.process(records, Batch(records, f.STREAM_ARN, Budget(f.Context())))


def _one_at_a_time(processor: Processor, raw: list[dict[str, Any]]) -> Outcome:
    """Each change alone (a batch of one: nothing to coalesce); the first failure stops."""
    for i, record in enumerate(raw):
        outcome = _process(processor, [record])
        if outcome.done != 1:
            return Outcome(i, outcome.failure, outcome.reason)
    return Outcome(len(raw))


def _table(ddb: Any) -> list[dict[str, Any]]:
    return sorted(scan(ddb, TARGET), key=repr)


def _run(ddb: Any, shape: str, versioned: bool, history: dict[str, Any], together: bool) -> Any:
    key, _ = SHAPES[shape]
    _create(ddb, key)
    try:
        prior = _one_at_a_time(_processor(ddb, shape, versioned, 1), history["prior"])
        if prior.done < len(history["prior"]):
            return None  # a poison record before the batch: nothing to compare
        processor = _processor(ddb, shape, versioned, 8)
        if together:
            outcome = _process(processor, history["batch"])
        else:
            outcome = _one_at_a_time(processor, history["batch"])
        return (outcome.done, outcome.failure), _table(ddb)
    finally:
        ddb.delete_table(TableName=TARGET)


@pytest.mark.parametrize("mode", ["change time", "version attribute"])
@pytest.mark.parametrize("shape", sorted(SHAPES))
@SETTINGS
@given(data=st.data())
def test_a_coalesced_batch_ends_as_its_changes_one_at_a_time(
    target: Any, shape: str, mode: str, data: st.DataObject
) -> None:
    versioned = mode == "version attribute"
    history = data.draw(histories(shape, versioned))
    together = _run(target, shape, versioned, history, together=True)
    alone = _run(target, shape, versioned, history, together=False)
    assert together == alone
    if together is not None and together[0][1] is not None:
        assert together[0][1] is Failure.POISON  # only the injected poison record fails
