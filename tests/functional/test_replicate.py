"""The replicator against moto: view types, every attribute type, a replica in another
region, last writer wins (change time and version attribute), partial failures, replays
after crashes and bad input."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import pytest

from handlers import aws, replicate
from handlers.batch import BatchFailed, Failure
from handlers.config import ConfigError
from handlers.stream import parse_event
from tests import factories as f
from tests.functional.test_view import _batch, _client_in, live, scan, tombstones
from tests.lambda_sim import crash_after_call, deliver
from tests.reliability.faults import InFlight, Outage, first, item

pytestmark = pytest.mark.usefixtures("fast_retries")

REPLICA = "replica"
KEY = ("application_id",)
T0 = 1_767_225_600


@pytest.fixture
def west(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The replica table in us-west-2 (the function runs in us-east-1), named by ARN."""
    ddb = _client_in("us-west-2")
    arn = ddb.create_table(
        TableName=REPLICA,
        KeySchema=[{"AttributeName": "application_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "application_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )["TableDescription"]["TableArn"]
    assert ":us-west-2:" in arn
    monkeypatch.setenv("REPLICA_TABLE", arn)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    for name in ("REPLICA_REGION", "REPLICATE_VERSION_ATTRIBUTE", "CHECKPOINT_TABLE"):
        monkeypatch.delenv(name, raising=False)
    return ddb


def rec(name: str, app: str, new: Any = None, old: Any = None, **kw: Any) -> dict[str, Any]:
    return f.record(name, {"application_id": app}, new, old, **kw)


def run(records: list[dict[str, Any]]) -> list[str]:
    response = replicate.handler(f.event(records), f.Context())
    return [x["itemIdentifier"] for x in response["batchItemFailures"]]


def test_every_attribute_type_is_copied_exactly_to_another_region(west: Any) -> None:
    image = {
        "s": "Zoë",
        "n": Decimal("123456789012345678901234567890.12345678"),
        "b": b"\x00\xffbinary",
        "ss": {"a", "b"},
        "ns": {Decimal(1), Decimal("2.5")},
        "bs": {b"\x01", b"\x02"},
        "m": {"nested": [b"\x03", {"deep": None}, True]},
        "l": [],
        "null": None,
        "bool": False,
    }
    assert run([rec("INSERT", "a1", image, created=T0)]) == []
    (item,) = scan(west, REPLICA)
    version = item.pop("_ddbt_version")
    order = item.pop("_ddbt_order")
    assert item.pop("_ddbt_origin") == f.STREAM_ARN.partition("/stream/")[0]
    assert item == {"application_id": "a1", **image}
    assert version > Decimal(T0) * 10**28
    assert order.startswith(f"{T0}28")  # the change time, then the sequence number's length
    # and nothing went to the function's own region
    assert "replica" not in aws.client("dynamodb").list_tables()["TableNames"]


def test_replica_region_overrides_a_plain_table_name(west: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("REPLICA_TABLE", REPLICA)
    monkeypatch.setenv("REPLICA_REGION", "us-west-2")
    assert run([rec("INSERT", "a1", {"x": 1})]) == []
    assert live(west, REPLICA, KEY) == {("a1",): {"application_id": "a1", "x": 1}}


@pytest.mark.parametrize("view_type", ["NEW_IMAGE", "NEW_AND_OLD_IMAGES"])
def test_new_image_view_types_replicate_insert_modify_remove(west: Any, view_type: str) -> None:
    kw = {"view_type": view_type}
    recs = f.sequential(
        [
            rec("INSERT", "a1", {"status": "NEW"}, created=T0, **kw),
            rec("INSERT", "a2", {"status": "NEW"}, created=T0, **kw),
            rec("MODIFY", "a1", {"status": "SEEN"}, {"status": "NEW"}, created=T0, **kw),
            rec("REMOVE", "a2", old={"status": "NEW"}, created=T0 + 1, **kw),
        ]
    )
    assert run(recs) == []
    assert live(west, REPLICA, KEY) == {("a1",): {"application_id": "a1", "status": "SEEN"}}
    assert tombstones(west, REPLICA, KEY) == {("a2",)}


@pytest.mark.parametrize("view_type", ["KEYS_ONLY", "OLD_IMAGE"])
def test_keys_only_and_old_image_cannot_replicate_writes(west: Any, view_type: str) -> None:
    insert = rec("INSERT", "a1", {"x": 1}, view_type=view_type)
    modify = rec("MODIFY", "a1", {"x": 2}, {"x": 1}, view_type=view_type)
    remove = rec("REMOVE", "a1", old={"x": 2}, view_type=view_type)
    with pytest.raises(
        BatchFailed, match=f"INSERT without NewImage \\(stream view type {view_type}"
    ):
        run([insert])
    records = parse_event(f.event([modify]))
    outcome = replicate.processor().process(records, _batch())
    assert outcome.failure is Failure.POISON
    assert f"MODIFY without NewImage (stream view type {view_type})" in outcome.reason
    assert "replication needs NEW_IMAGE or NEW_AND_OLD_IMAGES" in outcome.reason
    assert run([remove]) == []  # a REMOVE needs only Keys
    assert tombstones(west, REPLICA, KEY) == {("a1",)}


def test_late_changes_never_overwrite_newer_data_by_change_time(west: Any) -> None:
    v1 = rec("INSERT", "a1", {"s": "v1"}, created=T0)
    v2 = rec("MODIFY", "a1", {"s": "v2"}, {"s": "v1"}, created=T0)  # same second, later seq
    gone = rec("REMOVE", "a1", old={"s": "v2"}, created=T0 + 1)
    assert run([v2]) == [] and run([v1]) == []
    assert live(west, REPLICA, KEY)[("a1",)]["s"] == "v2"
    assert run([gone]) == [] and run([v1]) == [] and run([v2]) == []
    assert live(west, REPLICA, KEY) == {} and tombstones(west, REPLICA, KEY) == {("a1",)}


def test_items_stamped_before_the_order_attribute_are_compared_correctly(west: Any) -> None:
    """Replica items written by the previous code hold ``_ddbt_version`` alone (same
    encoding). An incoming change with a greater version applies, one with a smaller
    version does not, and one whose version ties (the old code's blind spot: sequence
    numbers that agree in their first 26 digits) applies, as the later change it is."""
    from handlers.stream import parse_event as parse
    from handlers.versioned import change_version

    seq = 44215845000000000174504390910  # 29 digits
    stored = rec("INSERT", "a1", {"s": "stored"}, created=T0 + 5, seq=seq)
    (record,) = parse(f.event([stored]))
    old_version = change_version(record)

    def put_old_form() -> None:
        west.put_item(
            TableName=REPLICA,
            Item={
                "application_id": {"S": "a1"},
                "s": {"S": "stored"},
                "_ddbt_version": {"N": old_version},
            },
        )

    put_old_form()
    assert run([rec("MODIFY", "a1", {"s": "older"}, created=T0 + 4, seq=seq + 10**5)]) == []
    (item,) = scan(west, REPLICA)
    assert item["s"] == "stored" and "_ddbt_order" not in item  # older: not applied
    assert run([rec("MODIFY", "a1", {"s": "tie"}, created=T0 + 5, seq=seq + 1)]) == []
    (item,) = scan(west, REPLICA)
    assert item["s"] == "tie" and item["_ddbt_version"] == int(old_version)
    assert item["_ddbt_order"] == f"{T0 + 5}29{seq + 1}"  # now stamped in the new form
    put_old_form()
    assert run([rec("REMOVE", "a1", old={"s": "stored"}, created=T0 + 6, seq=seq + 2)]) == []
    assert live(west, REPLICA, KEY) == {}  # a newer change: applied


def test_version_attribute_orders_changes(west: Any, monkeypatch: Any) -> None:
    """Versions decide, not times: a change with a later time but an older version loses."""
    monkeypatch.setenv("REPLICATE_VERSION_ATTRIBUTE", "rev")
    new = rec("MODIFY", "a1", {"rev": 7, "s": "new"}, {"rev": 6}, created=T0)
    old = rec("MODIFY", "a1", {"rev": 6, "s": "old"}, {"rev": 5}, created=T0 + 60)
    assert run([new]) == [] and run([old]) == []
    assert live(west, REPLICA, KEY)[("a1",)] == {"application_id": "a1", "rev": 7, "s": "new"}
    # a REMOVE of version 7 beats version 7; the re-created item (version 8) beats both
    assert run([rec("REMOVE", "a1", old={"rev": 7})]) == [] and run([new]) == []
    assert live(west, REPLICA, KEY) == {}
    assert run([rec("INSERT", "a1", {"rev": 8})]) == []
    assert run([rec("REMOVE", "a1", old={"rev": 7})]) == []
    assert live(west, REPLICA, KEY) == {("a1",): {"application_id": "a1", "rev": 8}}
    # an image without the version attribute cannot be ordered: poison, named
    with pytest.raises(BatchFailed, match="NewImage has no numeric attribute 'rev'"):
        run([rec("INSERT", "a2", {"s": "x"})])


def test_throttled_replica_reports_from_the_failed_record(west: Any) -> None:

    recs = f.sequential([rec("INSERT", f"a{i}", {"i": i}, created=T0) for i in range(4)])
    outage = Outage(
        aws.client("dynamodb", "us-west-2"),
        "PutItem",
        first(3),
        "ThrottlingException",
        400,
        only=item("application_id", "a1"),
    )
    try:
        assert run(recs) == [r["dynamodb"]["SequenceNumber"] for r in recs[1:]]
        applied = set(live(west, REPLICA, KEY))  # a2, a3 maybe: lanes (redelivered anyway)
        assert outage.failed == 3 and ("a0",) in applied and ("a1",) not in applied
        outage.on = False
        assert run(recs[1:]) == []  # the redelivery from the reported record
    finally:
        outage.on = False
    assert set(live(west, REPLICA, KEY)) == {(f"a{i}",) for i in range(4)}


def test_a_coalesced_write_failing_is_reported_at_its_items_first_change(west: Any) -> None:
    """a1 changes at records 1 and 3; its one (coalesced) write keeps failing: the failure
    is reported from record 1, the first change that write covers, with record 0 applied;
    the redelivery from there completes."""
    recs = f.sequential(
        [
            rec("INSERT", "a0", {"i": 0}),
            rec("INSERT", "a1", {"i": 1}),
            rec("INSERT", "a2", {"i": 2}),
            rec("MODIFY", "a1", {"i": 3}, {"i": 1}),
            rec("INSERT", "a3", {"i": 4}),
        ]
    )
    client = aws.client("dynamodb", "us-west-2")
    outage = Outage(
        client, "PutItem", first(3), "ThrottlingException", 400, only=item("application_id", "a1")
    )
    try:
        assert run(recs) == [r["dynamodb"]["SequenceNumber"] for r in recs[1:]]
        assert outage.failed == 3 and ("a0",) in set(live(west, REPLICA, KEY))
        assert run(recs[1:]) == []
    finally:
        outage.on = False
    assert live(west, REPLICA, KEY)[("a1",)] == {"application_id": "a1", "i": 3}


def test_an_item_dynamodb_refuses_is_found_change_by_change(west: Any) -> None:
    """a1's newest change (record 3) is above DynamoDB's 400 KB: its coalesced write is
    refused (ValidationException), so the batch is applied again from a1's first change one
    change at a time per item: record 1 is applied, record 3 is the poison record reported,
    with every record before it applied."""
    recs = f.sequential(
        [
            rec("INSERT", "a0", {"i": 0}),
            rec("INSERT", "a1", {"i": 1}),
            rec("INSERT", "a2", {"i": 2}),
            rec("MODIFY", "a1", {"i": 3, "doc": "x" * 420_000}, {"i": 1}),
            rec("INSERT", "a3", {"i": 4}),
        ]
    )
    outcome = replicate.processor().process(parse_event(f.event(recs)), _batch())
    assert (outcome.done, outcome.failure) == (3, Failure.POISON)
    assert "ValidationException" in outcome.reason
    found = live(west, REPLICA, KEY)
    assert {k: v["i"] for k, v in found.items() if k != ("a3",)} == {
        ("a0",): 0,
        ("a1",): 1,
        ("a2",): 2,
    }


def workload(n: int, seed: int) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    rng = random.Random(seed)
    state: dict[str, dict[str, Any]] = {}
    records = []
    for i in range(n):
        app = f"a{rng.randrange(6)}"
        created = T0 + i // 4  # several changes per second: the sequence number decides
        if app not in state:
            state[app] = {"application_id": app, "v": i}
            records.append(rec("INSERT", app, {"v": i}, created=created))
        elif rng.random() < 0.25:
            old = state.pop(app)
            records.append(rec("REMOVE", app, old={"v": old["v"]}, created=created))
        else:
            old_v = state[app]["v"]
            state[app] = {"application_id": app, "v": i}
            records.append(rec("MODIFY", app, {"v": i}, {"v": old_v}, created=created))
    return f.sequential(records), state


@pytest.mark.parametrize("crash_on", [3, 8])
def test_replay_after_a_crash_ends_in_the_source_state(west: Any, crash_on: int) -> None:
    # a batch of 20 changes of 6 items is at most 6 writes (coalesced): 8 is in the second

    recs, state = workload(50, seed=crash_on)
    client = aws.client("dynamodb", "us-west-2")
    aws.set_client("dynamodb", crash_after_call(client, "put_item", [crash_on]), "us-west-2")
    try:
        result = deliver(replicate.handler, recs, batch_size=20)
    finally:
        aws.set_client("dynamodb", client, "us-west-2")
    assert result.dlq == [] and len(result.invocations) > 3
    expected = {(k,): {"application_id": k, "v": v["v"]} for k, v in state.items()}
    assert live(west, REPLICA, KEY) == expected


def test_bad_input_is_poison_with_a_clear_reason(west: Any) -> None:
    proc = replicate.processor()
    wrong_key = rec("INSERT", "a1", {"x": 1})
    wrong_key["dynamodb"]["Keys"] = {"application_id": {"N": "1"}}
    wrong_key["dynamodb"]["NewImage"]["application_id"] = {"N": "1"}
    bad_set = rec("INSERT", "a2", {"x": 1})
    bad_set["dynamodb"]["NewImage"]["tags"] = {"SS": []}
    bad_binary = rec("INSERT", "a3", {"x": 1})
    bad_binary["dynamodb"]["NewImage"]["m"] = {"M": {"b": {"B": "??"}}}
    for bad, expected in (
        (wrong_key, "ValidationException"),
        (bad_set, "NewImage.tags: SS is empty"),
        (bad_binary, "NewImage.m.b: B is not valid base64"),
    ):
        outcome = proc.process(parse_event(f.event([bad])), _batch())
        assert (outcome.done, outcome.failure) == (0, Failure.POISON)
        assert expected in outcome.reason, outcome.reason
    assert scan(west, REPLICA) == []


def test_replicating_into_the_source_table_itself_is_refused(west: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("REPLICA_TABLE", f.TABLE)  # the stream's own table, same region
    with pytest.raises(BatchFailed, match="REPLICA_TABLE: the target table 'applications' is"):
        run([rec("INSERT", "a1", {"x": 1})])


def test_configuration_errors_name_the_variable() -> None:
    with pytest.raises(ConfigError, match="REPLICA_TABLE is required"):
        replicate.build({})
    with pytest.raises(ConfigError, match="REPLICA_REGION"):
        replicate.build({"REPLICA_TABLE": "r", "REPLICA_REGION": "west"})
    for bad in ("0", "51", "many"):
        with pytest.raises(ConfigError, match=r"REPLICATE_WRITE_CONCURRENCY is .*from 1 to 50"):
            replicate.build({"REPLICA_TABLE": "r", "REPLICATE_WRITE_CONCURRENCY": bad})


@pytest.mark.parametrize(("setting", "most"), [("", 20), ("3", 3), ("1", 1)])
def test_items_are_replicated_concurrently_each_once_per_batch(
    west: Any, monkeypatch: Any, setting: str, most: int
) -> None:
    monkeypatch.setenv("REPLICATE_WRITE_CONCURRENCY", setting)
    # 24 items, each inserted, modified twice and, for every third, removed: one batch
    changes = [rec("INSERT", f"a{i}", {"n": 0}) for i in range(24)]
    changes += [rec("MODIFY", f"a{i}", {"n": n}, {"n": n - 1}) for n in (1, 2) for i in range(24)]
    changes += [rec("REMOVE", f"a{i}", old={"n": 2}) for i in range(0, 24, 3)]
    run([])  # builds the processor: its client is the one to watch
    with InFlight(aws.client("dynamodb", "us-west-2"), "PutItem", meet=most) as flight:
        assert run(f.sequential(changes)) == []
    assert flight.most == most
    # 80 changes of 24 items, coalesced: one write per item, the newest change's
    assert flight.attempts == 24
    assert live(west, REPLICA, KEY) == {
        (f"a{i}",): {"application_id": f"a{i}", "n": 2} for i in range(24) if i % 3
    }
    assert tombstones(west, REPLICA, KEY) == {(f"a{i}",) for i in range(0, 24, 3)}


def test_view_and_replicate_in_one_pipeline(west: Any, monkeypatch: Any) -> None:
    """Both processors behind one stream reader, with a crash in the middle of a batch: the
    redelivery leaves the replica equal to the source and the view equal to its model."""
    from handlers import pipeline
    from tests.conftest import create_table
    from tests.functional.test_view import KEYS as VIEW_KEYS
    from tests.functional.test_view import VIEW, create_view_table
    from tests.functional.test_view import workload as view_workload

    create_table("checkpoints")
    view_ddb = create_view_table(VIEW, "candidate_id", "application_id")
    for name, value in {
        "PROCESSORS": "view,replicate",
        "CHECKPOINT_TABLE": "checkpoints",
        "VIEW_TABLE": VIEW,
        "VIEW_PARTITION_KEY": "candidate_id",
        "VIEW_SORT_KEY": "application_id",
        "AWS_LAMBDA_FUNCTION_NAME": "pipeline-fn",
    }.items():
        monkeypatch.setenv(name, value)
    recs, expected = view_workload(30, seed=5)

    client = aws.client("dynamodb", "us-west-2")
    aws.set_client("dynamodb", crash_after_call(client, "put_item", [5]), "us-west-2")
    try:
        result = deliver(pipeline.handler, recs, batch_size=30)
    finally:
        aws.set_client("dynamodb", client, "us-west-2")
    assert result.dlq == [] and len(result.invocations) > 1
    assert {k: v["status"] for k, v in live(view_ddb, VIEW, VIEW_KEYS).items()} == expected
    replica = {k[0]: v["status"] for k, v in live(west, REPLICA, KEY).items()}
    assert replica == {app: status for (_, app), status in expected.items()}


def test_bad_input_corpus(west: Any) -> None:
    """Every value of tests/events/bad_input.json: a bad one is a POISON record with the
    toolkit's exact message (checked before any write: moto accepts some values DynamoDB
    rejects), a good one is copied and reads back as the toolkit decodes it."""
    import json
    from pathlib import Path

    from handlers.codec import deserialize

    corpus = json.loads((Path(__file__).parents[1] / "events" / "bad_input.json").read_text())
    proc = replicate.processor()
    good = {}
    for i, case in enumerate(corpus["values"]):
        record = rec("INSERT", f"v{i}", {"x": 1}, seq=f.BASE_SEQ + i)
        record["dynamodb"]["NewImage"]["value"] = case["value"]
        outcome = proc.process(parse_event(f.event([record])), _batch())
        if "error" in case:
            assert (outcome.done, outcome.failure) == (0, Failure.POISON), case["case"]
            assert outcome.reason == case["error"], case["case"]
        else:
            assert (outcome.done, outcome.failure) == (1, None), (case["case"], outcome.reason)
            good[f"v{i}"] = deserialize(case["value"])
    # read back raw and decode with the toolkit (boto3's decoder rejects valid numbers near
    # 1E-130, boto3 issue 2500)
    from handlers.getrecords import attribute_value

    items = {i["application_id"]["S"]: i for i in west.scan(TableName=REPLICA)["Items"]}
    assert set(items) == set(good) and len(good) >= 10
    for key, value in good.items():
        assert deserialize(attribute_value(items[key]["value"])) == value, key
