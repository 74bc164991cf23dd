"""The materialized-view processor against moto: view types, moves between view keys,
late and repeated deliveries, shard rollover, partial failures and bad input.

The view is "applications by candidate": the source table's key is ``application_id``, the
view table's key is ``candidate_id`` (hash) + ``application_id`` (range).
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer

from handlers import aws, view
from handlers.batch import Batch, BatchFailed, Budget, Failure
from handlers.stream import parse_event
from tests import factories as f
from tests.conftest import make_client
from tests.lambda_sim import crash_after_call, deliver
from tests.reliability.faults import InFlight, Outage, first
from tests.reliability.faults import item as item_writes

VIEW = "apps_by_candidate"
T0 = 1_767_225_600
_des = TypeDeserializer()


pytestmark = pytest.mark.usefixtures("fast_retries")


def create_view_table(name: str, hash_key: str, range_key: str = "", region: str = "") -> Any:
    ddb = make_client("dynamodb") if not region else _client_in(region)
    keys = [{"AttributeName": hash_key, "KeyType": "HASH"}]
    attrs = [{"AttributeName": hash_key, "AttributeType": "S"}]
    if range_key:
        keys.append({"AttributeName": range_key, "KeyType": "RANGE"})
        attrs.append({"AttributeName": range_key, "AttributeType": "S"})
    ddb.create_table(
        TableName=name, KeySchema=keys, AttributeDefinitions=attrs, BillingMode="PAY_PER_REQUEST"
    )
    return ddb


def use_view(monkeypatch: pytest.MonkeyPatch, name: str, partition_key: str) -> None:
    """Switch the handler to view table ``name`` keyed by ``partition_key`` only (created)."""
    create_view_table(name, partition_key)
    monkeypatch.setenv("VIEW_TABLE", name)
    monkeypatch.setenv("VIEW_PARTITION_KEY", partition_key)
    monkeypatch.delenv("VIEW_SORT_KEY")


def _client_in(region: str) -> Any:
    import os

    import boto3

    return boto3.client("dynamodb", region_name=region, endpoint_url=os.environ["AWS_ENDPOINT_URL"])


def scan(ddb: Any, table: str) -> list[dict[str, Any]]:
    items = []
    for page in ddb.get_paginator("scan").paginate(TableName=table):
        items.extend({k: _des.deserialize(v) for k, v in i.items()} for i in page["Items"])
    return items


def live(ddb: Any, table: str, keys: tuple[str, ...]) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Items that are not tombstones, without metadata, by key."""
    out = {}
    for item in scan(ddb, table):
        if item.get("_ddbt_deleted"):
            stamp = {"_ddbt_version", "_ddbt_order", "_ddbt_deleted", "_ddbt_expires"}
            assert set(item) - {"_ddbt_origin"} == {*keys, *stamp}  # origin: the replicator's
            continue
        assert "_ddbt_version" in item and "_ddbt_order" in item and "_ddbt_expires" not in item
        out[tuple(item[k] for k in keys)] = {
            k: v for k, v in item.items() if not k.startswith("_ddbt_")
        }
    return out


def tombstones(ddb: Any, table: str, keys: tuple[str, ...]) -> set[tuple[Any, ...]]:
    return {tuple(i[k] for k in keys) for i in scan(ddb, table) if i.get("_ddbt_deleted")}


@pytest.fixture
def ddb(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    client = create_view_table(VIEW, "candidate_id", "application_id")
    for name, value in {
        "VIEW_TABLE": VIEW,
        "VIEW_PARTITION_KEY": "candidate_id",
        "VIEW_SORT_KEY": "application_id",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("VIEW_ATTRIBUTES", "VIEW_VERSION_ATTRIBUTE", "CHECKPOINT_TABLE"):
        monkeypatch.delenv(name, raising=False)
    return client


KEYS = ("candidate_id", "application_id")


def rec(name: str, app: str, new: dict[str, Any] | None = None, old: Any = None, **kw: Any) -> Any:
    return f.record(name, {"application_id": app}, new, old, **kw)


def run(records: list[dict[str, Any]]) -> dict[str, Any]:
    return view.handler(f.event(records), f.Context())


# -- view types x event names ----------------------------------------------------------------


def test_new_and_old_images_insert_move_and_remove(ddb: Any) -> None:
    run([rec("INSERT", "a1", {"candidate_id": "c1", "status": "NEW"}, created=T0)])
    assert live(ddb, VIEW, KEYS) == {
        ("c1", "a1"): {"candidate_id": "c1", "application_id": "a1", "status": "NEW"}
    }
    # a MODIFY that moves the application to another candidate
    run(
        [
            rec(
                "MODIFY",
                "a1",
                {"candidate_id": "c2", "status": "NEW"},
                {"candidate_id": "c1", "status": "NEW"},
                created=T0 + 1,
            )
        ]
    )
    assert set(live(ddb, VIEW, KEYS)) == {("c2", "a1")}
    assert tombstones(ddb, VIEW, KEYS) == {("c1", "a1")}
    run([rec("REMOVE", "a1", old={"candidate_id": "c2", "status": "NEW"}, created=T0 + 2)])
    assert live(ddb, VIEW, KEYS) == {}
    assert tombstones(ddb, VIEW, KEYS) == {("c1", "a1"), ("c2", "a1")}
    expires = {int(i["_ddbt_expires"]) for i in scan(ddb, VIEW)}
    assert all(0 < e - f.Decimal(__import__("time").time()) <= 2 * 86400 for e in expires)


def test_new_image_applies_writes_and_rejects_an_unlocatable_remove(ddb: Any) -> None:
    kw = {"view_type": "NEW_IMAGE", "created": T0}
    run([rec("INSERT", "a1", {"candidate_id": "c1"}, **kw)])
    run([rec("MODIFY", "a1", {"candidate_id": "c1", "status": "SEEN"}, **kw)])
    assert live(ddb, VIEW, KEYS)[("c1", "a1")]["status"] == "SEEN"
    # REMOVE carries only Keys (application_id): the view key candidate_id is unknown
    with pytest.raises(BatchFailed, match=r"REMOVE without OldImage \(stream view type NEW_IMAGE"):
        run([rec("REMOVE", "a1", **kw)])
    assert set(live(ddb, VIEW, KEYS)) == {("c1", "a1")}  # nothing silently dropped or deleted


def test_view_keyed_like_the_table_removes_from_keys(ddb: Any, monkeypatch: Any) -> None:
    use_view(monkeypatch, "by_app", "application_id")
    for view_type in ("NEW_IMAGE", "KEYS_ONLY"):
        recs = f.sequential(
            [
                rec("INSERT", "a1", {"x": 1}, view_type="NEW_IMAGE", created=T0),
                rec("REMOVE", "a1", view_type=view_type, created=T0),
            ]
        )
        assert f.reported(run(recs)) == []
        assert live(ddb, "by_app", ("application_id",)) == {}
        assert tombstones(ddb, "by_app", ("application_id",)) == {("a1",)}


@pytest.mark.parametrize("view_type", ["KEYS_ONLY", "OLD_IMAGE"])
@pytest.mark.parametrize("name", ["INSERT", "MODIFY"])
def test_no_new_image_is_a_poison_record_naming_the_view_type(
    ddb: Any, view_type: str, name: str
) -> None:
    good = rec("INSERT", "a0", {"candidate_id": "c0"}, created=T0)
    bad = rec(name, "a1", {"candidate_id": "c1"}, {"candidate_id": "c1"}, view_type=view_type)
    response = run(f.sequential([good, bad]))
    assert f.reported(response) == [f.sequential([good, bad])[1]["dynamodb"]["SequenceNumber"]]
    (record,) = parse_event(f.event([bad]))
    outcome = view.processor().process([record], _batch())
    assert outcome.failure is Failure.POISON
    assert f"{name} without NewImage (stream view type {view_type})" in outcome.reason
    assert "NEW_IMAGE or NEW_AND_OLD_IMAGES" in outcome.reason
    assert set(live(ddb, VIEW, KEYS)) == {("c0", "a0")}


def test_old_image_remove_is_applied(ddb: Any) -> None:
    run([rec("INSERT", "a1", {"candidate_id": "c1"}, created=T0)])
    run([rec("REMOVE", "a1", old={"candidate_id": "c1"}, view_type="OLD_IMAGE", created=T0 + 1)])
    assert tombstones(ddb, VIEW, KEYS) == {("c1", "a1")} and live(ddb, VIEW, KEYS) == {}


def test_projection_and_sparse_view(ddb: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("VIEW_ATTRIBUTES", "status")
    recs = f.sequential(
        [
            rec("INSERT", "a1", {"candidate_id": "c1", "status": "NEW", "cv": "long"}, created=T0),
            rec("INSERT", "a2", {"status": "DRAFT"}, created=T0),  # no candidate: skipped
            rec("REMOVE", "a2", old={"status": "DRAFT"}, created=T0 + 1),  # nothing to clean
            # a1 loses its candidate: its old view item must be cleaned
            rec("MODIFY", "a1", {"status": "X"}, {"candidate_id": "c1"}, created=T0 + 2),
            rec("INSERT", "a3", {"candidate_id": "c3", "status": "NEW", "cv": "x"}, created=T0),
        ]
    )
    assert f.reported(run(recs)) == []
    assert live(ddb, VIEW, KEYS) == {
        ("c3", "a3"): {"candidate_id": "c3", "application_id": "a3", "status": "NEW"}
    }
    assert tombstones(ddb, VIEW, KEYS) == {("c1", "a1")}


# -- ordering: late and repeated deliveries ------------------------------------------------------


@pytest.mark.parametrize("version_attribute", ["", "rev"])
def test_late_redelivery_never_overwrites_newer_data(
    ddb: Any, monkeypatch: Any, version_attribute: str
) -> None:
    if version_attribute:
        monkeypatch.setenv("VIEW_VERSION_ATTRIBUTE", version_attribute)
    v1 = rec("INSERT", "a1", {"candidate_id": "c1", "status": "v1", "rev": 1}, created=T0)
    v2 = rec(
        "MODIFY",
        "a1",
        {"candidate_id": "c1", "status": "v2", "rev": 2},
        {"candidate_id": "c1", "status": "v1", "rev": 1},
        created=T0,  # the same second: the sequence number (or rev) decides
    )
    gone = rec("REMOVE", "a1", old={"candidate_id": "c1", "status": "v2", "rev": 2}, created=T0 + 1)
    again = rec("INSERT", "a1", {"candidate_id": "c1", "status": "v3", "rev": 3}, created=T0 + 2)
    run([v2])
    run([v1])  # late: older
    assert live(ddb, VIEW, KEYS)[("c1", "a1")]["status"] == "v2"
    run([v2])  # repeated: no change
    assert live(ddb, VIEW, KEYS)[("c1", "a1")]["status"] == "v2"
    run([gone])
    run([v1])  # an INSERT older than the REMOVE cannot resurrect the item
    run([v2])
    assert live(ddb, VIEW, KEYS) == {} and tombstones(ddb, VIEW, KEYS) == {("c1", "a1")}
    run([again])  # a newer incarnation wins over the tombstone
    assert live(ddb, VIEW, KEYS)[("c1", "a1")]["status"] == "v3"
    run([gone])  # the old REMOVE, late, does not delete it
    assert live(ddb, VIEW, KEYS)[("c1", "a1")]["status"] == "v3"


def test_version_attribute_remove_without_old_image_tombstones_current(
    ddb: Any, monkeypatch: Any
) -> None:
    use_view(monkeypatch, "by_app", "application_id")
    monkeypatch.setenv("VIEW_VERSION_ATTRIBUTE", "rev")
    kw = {"view_type": "NEW_IMAGE"}
    insert = rec("INSERT", "a1", {"rev": 5}, **kw)
    run([insert])
    remove = rec("REMOVE", "a1", **kw)
    run([remove])
    (item,) = scan(ddb, "by_app")
    assert item["_ddbt_deleted"] is True and item["_ddbt_version"] == 5
    run([insert])  # the deleted version, delivered again late
    assert live(ddb, "by_app", ("application_id",)) == {}
    # the same version written again later in the stream: the stream's order decides
    run([rec("MODIFY", "a1", {"rev": 5, "again": True}, **kw)])
    assert live(ddb, "by_app", ("application_id",)) == {
        ("a1",): {"application_id": "a1", "rev": 5, "again": True}
    }
    run([remove])  # the REMOVE again, late: it is older than the item written after it
    assert set(live(ddb, "by_app", ("application_id",))) == {("a1",)}
    run([rec("INSERT", "a1", {"rev": 6}, **kw)])
    assert live(ddb, "by_app", ("application_id",)) == {("a1",): {"application_id": "a1", "rev": 6}}


def test_shard_rollover_orders_by_change_time_not_sequence_number(ddb: Any) -> None:
    """The item's first changes are in the parent shard, the later ones in the child
    shard, whose sequence numbers here are SMALLER (AWS promises no order across shards).
    Whatever order the shards' records arrive in, the newest change wins."""
    parent = [
        rec("INSERT", "a1", {"candidate_id": "c1", "status": "p1"}, created=T0, seq=9 * 10**24),
        rec(
            "MODIFY",
            "a1",
            {"candidate_id": "c2", "status": "p2"},
            {"candidate_id": "c1", "status": "p1"},
            created=T0 + 5,
            seq=9 * 10**24 + 100,
        ),
    ]
    child = [
        rec(
            "MODIFY",
            "a1",
            {"candidate_id": "c3", "status": "c1"},
            {"candidate_id": "c2", "status": "p2"},
            created=T0 + 9,
            seq=10**21,
        ),
        rec(
            "MODIFY",
            "a1",
            {"candidate_id": "c3", "status": "c2"},
            {"candidate_id": "c3", "status": "c1"},
            created=T0 + 9,
            seq=10**21 + 100,
        ),
    ]
    run(child)
    run(parent)  # the parent's records late (a redrive, a replay)
    assert live(ddb, VIEW, KEYS) == {
        ("c3", "a1"): {"candidate_id": "c3", "application_id": "a1", "status": "c2"}
    }
    assert tombstones(ddb, VIEW, KEYS) == {("c1", "a1"), ("c2", "a1")}


def test_many_source_items_one_view_item_newest_wins(ddb: Any, monkeypatch: Any) -> None:
    """Per-job latest status: every application of a job maps to the job's view item."""
    use_view(monkeypatch, "latest_by_job", "job_id")
    monkeypatch.setenv("VIEW_ATTRIBUTES", "status,application_id")
    a = rec("INSERT", "a1", {"job_id": "J1", "status": "APPLIED"}, created=T0)
    b = rec("INSERT", "a2", {"job_id": "J1", "status": "HIRED"}, created=T0 + 3)
    c = rec("INSERT", "a3", {"job_id": "J1", "status": "REJECTED"}, created=T0 + 1)
    run([b])
    run(f.sequential([a, c]))  # older changes of other applications of J1
    assert live(ddb, "latest_by_job", ("job_id",)) == {
        ("J1",): {"job_id": "J1", "status": "HIRED", "application_id": "a2"}
    }


# -- failures -------------------------------------------------------------------------------


def _batch(seconds: float = 60.0) -> Batch:
    return Batch(records=[], stream_arn=f.STREAM_ARN, budget=Budget(f.Context(int(seconds * 1000))))


def test_throttling_is_transient_and_the_prefix_holds(ddb: Any) -> None:
    client = aws.client("dynamodb")  # the handler's own client: budget-aware retries
    recs = f.sequential(
        [rec("INSERT", f"a{i}", {"candidate_id": "c1"}, created=T0) for i in range(5)]
    )
    # the writes of the third record's item throttled: the first attempt and both retries
    # (lanes write other items meanwhile, in whatever order)
    outage = Outage(
        client,
        "PutItem",
        first(3),
        "ProvisionedThroughputExceededException",
        400,
        only=item_writes("application_id", "a2"),
    )
    response = run(recs)
    assert outage.failed == 3
    assert f.reported(response) == [r["dynamodb"]["SequenceNumber"] for r in recs[2:]]
    applied = set(live(ddb, VIEW, KEYS))  # the prefix; a3, a4 maybe (redelivered anyway)
    assert {("c1", "a0"), ("c1", "a1")} <= applied and ("c1", "a2") not in applied
    records = parse_event(f.event(recs[2:]))
    outage.failing = lambda attempt: True  # the table stays throttled: every attempt fails
    outcome = view.processor().process(records, _batch())
    assert outcome.failure is Failure.TRANSIENT and outcome.done == 0
    assert "ProvisionedThroughputExceededException" in outcome.reason


def test_time_budget_stops_before_the_write(ddb: Any) -> None:
    records = parse_event(f.event([rec("INSERT", "a1", {"candidate_id": "c1"})]))
    outcome = view.processor().process(records, _batch(seconds=0.1))
    assert (outcome.done, outcome.failure) == (0, Failure.TIME)
    assert scan(ddb, VIEW) == []


def test_bad_input_is_poison_with_a_clear_reason(ddb: Any) -> None:
    proc = view.processor()
    cases = {
        # a number the view table's string key cannot hold: DynamoDB's ValidationException
        "ValidationException": rec("INSERT", "a1", {"candidate_id": 7}),
        # described by its type tag, never by its content (the value could be a secret)
        "NewImage.candidate_id is the view key but holds a value with 1 type tag ('L'): a key": rec(
            "INSERT", "a2", {"candidate_id": ["c1"]}
        ),
        "NewImage.score: N must be a decimal number string": _with(
            rec("INSERT", "a3", {"candidate_id": "c1", "score": 1}), "score", {"N": "many"}
        ),
        "NewImage.blob: B is not valid base64": _with(
            rec("INSERT", "a4", {"candidate_id": "c1"}), "blob", {"B": "%%%"}
        ),
        "eventName must be INSERT, MODIFY or REMOVE": {
            **rec("INSERT", "a5", {"candidate_id": "c1"}),
            "eventName": "UPSERT",
        },
    }
    for expected, bad in cases.items():
        records = parse_event(f.event([bad]))
        outcome = proc.process(records, _batch())
        assert (outcome.done, outcome.failure) == (0, Failure.POISON), expected
        assert expected in outcome.reason, outcome.reason
    assert scan(ddb, VIEW) == []


def test_a_bad_move_changes_nothing(ddb: Any) -> None:
    """A MODIFY that moves the item AND carries a malformed value fails before any write:
    the old view item is not tombstoned for a new one that cannot be written."""
    run([rec("INSERT", "a1", {"candidate_id": "c1"}, created=T0)])
    bad = _with(
        rec("MODIFY", "a1", {"candidate_id": "c2"}, {"candidate_id": "c1"}, created=T0 + 1),
        "score",
        {"N": "1e"},
    )
    outcome = view.processor().process(parse_event(f.event([bad])), _batch())
    assert outcome.failure is Failure.POISON and "NewImage.score" in outcome.reason
    assert set(live(ddb, VIEW, KEYS)) == {("c1", "a1")} and tombstones(ddb, VIEW, KEYS) == set()


def _with(record: dict[str, Any], name: str, av: dict[str, Any]) -> dict[str, Any]:
    record["dynamodb"]["NewImage"][name] = av
    return record


def test_configuration_errors_name_the_variable() -> None:
    from handlers.config import ConfigError

    with pytest.raises(ConfigError, match="VIEW_TABLE is required"):
        view.build({"VIEW_PARTITION_KEY": "x"})
    with pytest.raises(ConfigError, match="VIEW_PARTITION_KEY is required"):
        view.build({"VIEW_TABLE": "v"})
    with pytest.raises(ConfigError, match="_ddbt_version is reserved"):
        view.build({"VIEW_TABLE": "v", "VIEW_PARTITION_KEY": "_ddbt_version"})
    for bad in ("0", "51", "eight", "2.5"):
        with pytest.raises(ConfigError, match=r"VIEW_WRITE_CONCURRENCY is .*from 1 to 50"):
            env = {"VIEW_TABLE": "v", "VIEW_PARTITION_KEY": "x", "VIEW_WRITE_CONCURRENCY": bad}
            view.build(env)


# -- lanes: items written concurrently, each item's changes in order -------------------------


@pytest.mark.parametrize(("setting", "most"), [("", 20), ("3", 3), ("1", 1)])
def test_items_are_written_concurrently_each_once_per_batch(
    ddb: Any, monkeypatch: Any, setting: str, most: int
) -> None:
    monkeypatch.setenv("VIEW_WRITE_CONCURRENCY", setting)
    inserts = [rec("INSERT", f"a{i}", {"candidate_id": "c1", "status": "A"}) for i in range(16)]
    # then each item moves to another candidate twice, in the same batch
    moves = [
        rec("MODIFY", f"a{i}", {"candidate_id": c, "status": s}, {"candidate_id": o, "status": p})
        for o, p, c, s in (("c1", "A", "c2", "B"), ("c2", "B", "c3", "C"))
        for i in range(16)
    ]
    with InFlight(aws.client("dynamodb"), "PutItem", meet=most) as flight:
        assert f.reported(run(f.sequential([*inserts, *moves]))) == []
    assert flight.most == most  # 48 view items: as many in flight as the setting allows
    # each view item written once, with its newest change: 48 writes for 80 changes
    assert flight.attempts == 48
    assert live(ddb, VIEW, KEYS) == {
        ("c3", f"a{i}"): {"candidate_id": "c3", "application_id": f"a{i}", "status": "C"}
        for i in range(16)
    }
    assert tombstones(ddb, VIEW, KEYS) == {(c, f"a{i}") for c in ("c1", "c2") for i in range(16)}


def test_a_view_item_shared_by_source_items_is_written_once_with_the_newest_change(
    ddb: Any, monkeypatch: Any
) -> None:
    # the view key (job_id) does not hold the table's key (application_id): source items
    # share a view item; its newest change wins, so that one alone is written
    use_view(monkeypatch, "latest_by_job", "job_id")
    records = [rec("INSERT", f"a{i}", {"job_id": f"J{i % 4}"}, created=T0 + i) for i in range(8)]
    with InFlight(aws.client("dynamodb"), "PutItem", meet=4) as flight:
        assert f.reported(run(f.sequential(records))) == []
    assert (flight.most, flight.attempts) == (4, 4)
    assert {k: v["application_id"] for k, v in live(ddb, "latest_by_job", ("job_id",)).items()} == {
        (f"J{j}",): f"a{j + 4}" for j in range(4)
    }


# -- replay idempotency: the final view equals the model -------------------------------------


def workload(n: int, seed: int = 3) -> tuple[list[dict[str, Any]], dict[tuple[str, str], str]]:
    """n changes of applications moving between candidates (several per second), and the
    view expected after all of them, from the generator's own bookkeeping."""
    rng = random.Random(seed)
    state: dict[str, tuple[str, str]] = {}
    records = []
    for i in range(n):
        created = T0 + i // 3
        app = f"a{rng.randrange(8)}"
        if app not in state:
            state[app] = (f"c{rng.randrange(3)}", f"s{i}")
            records.append(
                rec("INSERT", app, dict(zip(("candidate_id", "status"), state[app], strict=True)))
            )
        elif rng.random() < 0.2:
            old = state.pop(app)
            records.append(
                rec("REMOVE", app, old=dict(zip(("candidate_id", "status"), old, strict=True)))
            )
        else:
            old = state[app]
            state[app] = (rng.choice([old[0], f"c{rng.randrange(3)}"]), f"s{i}")
            records.append(
                rec(
                    "MODIFY",
                    app,
                    dict(zip(("candidate_id", "status"), state[app], strict=True)),
                    dict(zip(("candidate_id", "status"), old, strict=True)),
                )
            )
        records[-1]["dynamodb"]["ApproximateCreationDateTime"] = created
    expected = {(c, app): s for app, (c, s) in state.items()}
    return f.sequential(records), expected


@pytest.mark.parametrize("crash_on", [4, 17])
def test_replay_after_crashes_ends_in_the_expected_view(ddb: Any, crash_on: int) -> None:
    recs, expected = workload(60)
    aws.set_client("dynamodb", crash_after_call(make_client("dynamodb"), "put_item", [crash_on]))
    result = deliver(view.handler, recs, batch_size=25)
    assert result.dlq == [] and len(result.invocations) > 3
    got = {k: v["status"] for k, v in live(ddb, VIEW, KEYS).items()}
    assert got == expected
    # every place an application ever was, and is no longer, holds a tombstone
    ever = {
        (
            r["dynamodb"]["NewImage"]["candidate_id"]["S"],
            r["dynamodb"]["Keys"]["application_id"]["S"],
        )
        for r in recs
        if "NewImage" in r["dynamodb"]
    }
    assert tombstones(ddb, VIEW, KEYS) == ever - set(expected)


def test_redelivering_everything_in_reverse_changes_nothing(ddb: Any) -> None:
    recs, expected = workload(45, seed=11)
    deliver(view.handler, recs, batch_size=20)
    before = sorted(scan(ddb, VIEW), key=lambda i: (i["candidate_id"], i["application_id"]))
    for start in range(len(recs) - 5, -1, -5):  # late batches, newest first
        assert f.reported(run(recs[start : start + 5])) == []
    after = sorted(scan(ddb, VIEW), key=lambda i: (i["candidate_id"], i["application_id"]))
    assert after == before  # not one item rewritten, not even a tombstone's expiry
    assert {k: v["status"] for k, v in live(ddb, VIEW, KEYS).items()} == expected
