"""Analytics against moto DynamoDB: counts, transitions, and exactly-once under every
redelivery pattern Lambda produces (replayed with tests.lambda_sim)."""

from __future__ import annotations

import json
import random
from collections import Counter
from typing import Any

import pytest
from botocore.exceptions import ClientError

from handlers import analytics
from handlers.analytics import AnalyticsProcessor, AnalyticsSettings
from handlers.batch import BatchFailed, Failure, Outcome, run_batch
from handlers.checkpoint import CheckpointStore
from handlers.config import ConfigError
from tests import factories as f
from tests.conftest import create_table, make_client
from tests.lambda_sim import Crash, crash_after_call, deliver, fail_call
from tests.pipeline_stack import aggregates

STATUSES = ["APPLIED", "SCREEN", "INTERVIEW", "OFFER", "REJECTED"]


@pytest.fixture
def tables(aws_env: str) -> Any:
    create_table("aggregates")
    create_table("checkpoints")
    return make_client("dynamodb")


def make_handler(client: Any, group_by: tuple[str, ...] = ("job_id",), own_store: bool = False):
    proc = AnalyticsProcessor(AnalyticsSettings("aggregates", group_by), lambda: client, "fn")
    store = proc.own_store if own_store else CheckpointStore("checkpoints", "fn", lambda: client)
    return lambda event, context: run_batch(event, context, [proc], store)


def changes(n: int, jobs: int = 3, seed: int = 7) -> tuple[list[dict[str, Any]], dict]:
    """n stream records of job applications and the aggregates expected from them,
    computed from the generator's own bookkeeping (not from the records)."""
    rng = random.Random(seed)
    live: dict[str, tuple[str, str]] = {}
    records = []
    expected: dict[str, Counter[str]] = {}
    t = 1_767_225_600
    for i in range(n):
        t += rng.randint(0, 40)
        choice = rng.random()
        if not live or choice < 0.4:
            app, job, status = f"a{i}", f"J{rng.randrange(jobs)}", "APPLIED"
            live[app] = (job, status)
            records.append(
                f.record(
                    "INSERT",
                    {"application_id": app},
                    new={"job_id": job, "status": status},
                    created=t,
                )
            )
            expected.setdefault(f'applications|job_id="{job}"', Counter())["INSERT"] += 1
        elif choice < 0.85:
            app = rng.choice(sorted(live))
            job, old = live[app]
            new = rng.choice([s for s in STATUSES if s != old])
            live[app] = (job, new)
            records.append(
                f.record(
                    "MODIFY",
                    {"application_id": app},
                    new={"job_id": job, "status": new},
                    old={"job_id": job, "status": old},
                    created=t,
                )
            )
            expected.setdefault(f'applications|job_id="{job}"', Counter())["MODIFY"] += 1
        else:
            app = rng.choice(sorted(live))
            job, old = live.pop(app)
            records.append(
                f.record(
                    "REMOVE", {"application_id": app}, old={"job_id": job, "status": old}, created=t
                )
            )
            expected.setdefault(f'applications|job_id="{job}"', Counter())["REMOVE"] += 1
    return f.sequential(records), {k: dict(v) for k, v in expected.items()}


# --------------------------------------------------------------------------------------
# Content
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("view_type", f.VIEW_TYPES)
@pytest.mark.parametrize("event_name", f.EVENT_NAMES)
def test_counts_each_view_type_and_event(tables: Any, view_type: str, event_name: str) -> None:
    rec = f.record(
        event_name,
        {"application_id": "a1"},
        new={"job_id": "J1", "status": "SCREEN"},
        old={"job_id": "J1", "status": "APPLIED"},
        view_type=view_type,
    )
    handler = make_handler(tables, ("job_id", "status"))
    assert handler(f.event([rec]), f.Context()) == {"batchItemFailures": []}
    image_kind = "new" if event_name != "REMOVE" else "old"
    has_image = view_type == "NEW_AND_OLD_IMAGES" or (
        view_type == "NEW_IMAGE" if image_kind == "new" else view_type == "OLD_IMAGE"
    )
    status = ("SCREEN" if image_kind == "new" else "APPLIED") if has_image else None
    key = (
        ('applications|job_id="J1"|status="' + status + '"')
        if has_image
        else "applications|job_id=null|status=null"
    )
    expected = {event_name: 1}
    if event_name == "MODIFY" and view_type == "NEW_AND_OLD_IMAGES":
        expected["status: APPLIED -> SCREEN"] = 1
    assert aggregates(tables) == {key: expected}


def test_group_by_key_attribute_works_with_keys_only(tables: Any) -> None:
    rec = f.record("MODIFY", {"application_id": "a1"}, view_type="KEYS_ONLY")
    make_handler(tables, ("application_id",))(f.event([rec]), f.Context())
    assert aggregates(tables) == {'applications|application_id="a1"': {"MODIFY": 1}}


def test_per_table_aggregate_and_stored_group_values(tables: Any) -> None:
    recs, _ = changes(20)
    make_handler(tables, ())(f.event(recs), f.Context())
    agg = aggregates(tables)
    assert list(agg) == ["applications"]
    assert sum(agg["applications"].values()) == 20
    one = f.record("INSERT", {"application_id": "x"}, new={"job_id": "J9"}, seq=1)
    make_handler(tables, ("job_id",))(f.event([one]), f.Context())
    item = tables.get_item(TableName="aggregates", Key={"pk": {"S": 'applications|job_id="J9"'}})[
        "Item"
    ]
    assert item["table"] == {"S": "applications"}
    assert item["group"]["M"]["job_id"] == {"S": "J9"}


def test_one_write_per_aggregate_key_per_batch(tables: Any) -> None:
    recs, _ = changes(300, jobs=5)
    calls: list[str] = []
    actions: list[dict[str, Any]] = []
    tables.meta.events.register(
        "before-call.dynamodb.*", lambda model, **_: calls.append(model.name)
    )
    tables.meta.events.register(
        "provide-client-params.dynamodb.TransactWriteItems",
        lambda params, **_: actions.extend(params["TransactItems"]),
    )
    make_handler(tables)(f.event(recs[:100]), f.Context())
    assert calls == ["GetItem", "TransactWriteItems"]  # the checkpoint read, one commit
    written = [
        a["Update"]["Key"]["pk"]["S"] for a in actions if a["Update"]["TableName"] == "aggregates"
    ]
    assert sorted(written) == sorted(aggregates(tables))  # each key exactly once
    assert len(written) == 5


def test_config_errors_name_the_variable() -> None:
    with pytest.raises(ConfigError, match="AGGREGATES_TABLE"):
        analytics.build({})
    with pytest.raises(ConfigError, match="ANALYTICS_GROUP_BY"):
        analytics.build({"AGGREGATES_TABLE": "t", "ANALYTICS_GROUP_BY": "a,b,a"})


def test_handler_entry_point_uses_environment(tables: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGGREGATES_TABLE", "aggregates")
    monkeypatch.setenv("ANALYTICS_GROUP_BY", "job_id")
    monkeypatch.delenv("CHECKPOINT_TABLE", raising=False)
    recs, expected = changes(30)
    assert analytics.handler(f.event(recs), f.Context()) == {"batchItemFailures": []}
    # Same batch again: the checkpoint in the aggregates table itself prevents recounting.
    assert analytics.handler(f.event(recs), f.Context()) == {"batchItemFailures": []}
    assert aggregates(tables) == expected


# --------------------------------------------------------------------------------------
# Exactly once under redelivery
# --------------------------------------------------------------------------------------


def test_plain_delivery_counts_exactly(tables: Any) -> None:
    recs, expected = changes(250)
    deliver(make_handler(tables), recs, batch_size=100)
    assert aggregates(tables) == expected


@pytest.mark.parametrize("own_store", [False, True])
def test_same_batch_again_after_crash_after_commit(tables: Any, own_store: bool) -> None:
    recs, expected = changes(60)
    client = crash_after_call(tables, "transact_write_items", [1])
    # No bisect: Lambda retries the same batch whole.
    deliver(make_handler(client, own_store=own_store), recs, batch_size=60, bisect=False)
    assert aggregates(tables) == expected


@pytest.mark.parametrize("split", [lambda n: n // 2, lambda n: (n + 1) // 2])
@pytest.mark.parametrize("size", [59, 60])
def test_bisected_halves_after_crash_after_commit(tables: Any, split: Any, size: int) -> None:
    recs, expected = changes(size)
    client = crash_after_call(tables, "transact_write_items", [1])
    result = deliver(make_handler(client), recs, batch_size=size, split=split)
    assert len(result.invocations) == 3  # the crashed batch, then both halves
    assert aggregates(tables) == expected


def test_restart_at_reported_failure(tables: Any) -> None:
    recs, expected = changes(40)
    bad = dict(recs[25])
    bad["dynamodb"] = dict(bad["dynamodb"], NewImage={"job_id": {"N": "not a number"}})
    recs[25] = bad
    result = deliver(make_handler(tables), recs, batch_size=40, max_retries=2)
    assert result.dlq == [[bad["dynamodb"]["SequenceNumber"]]]
    got = aggregates(tables)
    # Expected minus the poison record's own contribution.
    name = bad["eventName"]
    job_key = next(k for k, v in expected.items() if name in v and k in got and got[k] != v)
    expected[job_key][name] -= 1
    expected = {k: {n: c for n, c in v.items() if c} for k, v in expected.items()}
    assert got == expected


def test_early_stop_before_timeout_then_redelivery(tables: Any) -> None:
    recs, expected = changes(30)
    handler = make_handler(tables)
    with pytest.raises(BatchFailed, match="time budget"):
        handler(f.event(recs), f.Context(remaining_ms=1))
    assert aggregates(tables) == {}
    deliver(handler, recs, batch_size=30)
    assert aggregates(tables) == expected


class FailAt:
    """A second processor of a pipeline that fails (transiently) at one record once."""

    name = "other"

    def __init__(self, seq: str, times: int = 1, failure: Failure = Failure.TRANSIENT) -> None:
        self.seq, self.times, self.failure = seq, times, failure

    def process(self, records: Any, batch: Any) -> Outcome:
        for i, r in enumerate(records):
            if r.sequence_number == self.seq and self.times > 0:
                self.times -= 1
                return Outcome(i, self.failure, "injected")
        return Outcome(len(records))


@pytest.mark.parametrize("position", [0, 17, 39])
@pytest.mark.parametrize("failure", [Failure.TRANSIENT, Failure.POISON])
def test_restart_caused_by_another_processor(tables: Any, position: int, failure: Failure) -> None:
    recs, expected = changes(40)
    proc = AnalyticsProcessor(AnalyticsSettings("aggregates", ("job_id",)), lambda: tables, "fn")
    other = FailAt(recs[position]["dynamodb"]["SequenceNumber"], times=2, failure=failure)
    store = CheckpointStore("checkpoints", "fn", lambda: tables)
    # analytics runs first and counts the whole batch; the other processor fails later on.
    result = deliver(lambda e, c: run_batch(e, c, [proc, other], store), recs, batch_size=40)
    assert result.dlq == []
    assert aggregates(tables) == expected


def test_many_aggregates_use_a_plan_with_one_write_per_key(tables: Any) -> None:
    recs, expected = changes(400, jobs=300)
    calls: list[str] = []
    tables.meta.events.register(
        "provide-client-params.dynamodb.TransactWriteItems",
        lambda params, **_: calls.append(len(params["TransactItems"])),
    )
    deliver(make_handler(tables), recs, batch_size=400)
    assert aggregates(tables) == expected
    keys = len(expected)
    assert keys > 100
    # Aggregate updates: one per key; the rest are plan-group markers and the finalize.
    groups = -(-keys // 99)
    assert len(calls) == groups + 1  # one transaction per group, then the finalize
    assert sum(calls[:-1]) == keys + groups  # each key once, plus one marker per group


@pytest.mark.parametrize("crash_on", [1, 2, 3, 4])
@pytest.mark.parametrize("bisect", [False, True])
def test_crash_in_the_middle_of_a_plan(tables: Any, crash_on: int, bisect: bool) -> None:
    """Calls: UpdateItem(plan) precedes; TransactWriteItems 1..3 = groups, 4 = finalize."""
    recs, expected = changes(400, jobs=250)
    client = crash_after_call(tables, "transact_write_items", [crash_on])
    deliver(make_handler(client), recs, batch_size=400, bisect=bisect)
    assert aggregates(tables) == expected


def test_transient_failure_in_the_middle_of_a_plan(tables: Any) -> None:
    recs, expected = changes(400, jobs=250)
    throttled = ClientError(
        {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}},
        "TransactWriteItems",
    )
    client = fail_call(tables, "transact_write_items", [2], throttled)
    deliver(make_handler(client), recs, batch_size=400)
    assert aggregates(tables) == expected


def test_double_crash_with_nested_bisect_is_still_exact(tables: Any) -> None:
    """A crash after the commit, then a crash of the second half too (another processor of
    the pipeline timing out, say), which Lambda bisects again: the redelivered half wrote
    entries at its own bisect points before anything else, so nothing is counted twice."""
    recs, expected = changes(40)
    client = crash_after_call(tables, "transact_write_items", [1])
    proc = AnalyticsProcessor(AnalyticsSettings("aggregates", ("job_id",)), lambda: client, "fn")
    store = CheckpointStore("checkpoints", "fn", lambda: tables)
    second_half = recs[20]["dynamodb"]["SequenceNumber"]

    class CrashOnSecondHalf:
        name = "other"
        crashed = False

        def process(self, records: Any, batch: Any) -> Outcome:
            if batch.records[0].sequence_number == second_half and not self.crashed:
                self.crashed = True
                raise Crash("timeout in another processor")
            return Outcome(len(records))

    other = CrashOnSecondHalf()
    result = deliver(lambda e, c: run_batch(e, c, [proc, other], store), recs, batch_size=40)
    assert [len(i) for i in result.invocations] == [40, 20, 20, 10, 10]
    assert aggregates(tables) == expected


def test_a_split_elsewhere_than_the_half_counts_once(tables: Any) -> None:
    """AWS does not document where it splits an odd batch; the checkpoint covers restarts
    at the first record and at floor/ceil of half its size. Should Lambda split a batch that
    crashed after its commit anywhere else, the first part (which starts at the batch's
    first record and runs first) writes the entries at every record the commit covered
    before anything else, so the rest is not counted again. Shown with a split at a third
    (until the soak of issue 17, 27 of these 40 records were counted twice)."""
    recs, expected = changes(40)
    client = crash_after_call(tables, "transact_write_items", [1])
    out = deliver(make_handler(client), recs, batch_size=40, split=lambda n: n // 3)
    assert [len(i) for i in out.invocations][:3] == [40, 13, 27]
    assert aggregates(tables) == expected


def test_tumbling_window_state_and_idempotent_final_commit(tables: Any) -> None:
    recs, expected = changes(30)
    handler = make_handler(tables)
    window = {"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T00:05:00Z"}
    base = {
        "window": window,
        "shardId": "shardId-1",
        "eventSourceARN": f.STREAM_ARN,
        "isFinalInvokeForWindow": False,
        "isWindowTerminatedEarly": False,
    }
    r1 = handler({**base, "Records": recs[:15], "state": {}}, f.Context())
    assert r1["batchItemFailures"] == [] and "state" in r1
    assert aggregates(tables) == {}
    final = {**base, "Records": recs[15:], "state": r1["state"], "isFinalInvokeForWindow": True}
    r2 = handler(final, f.Context())
    assert "state" in r2 and r2["batchItemFailures"] == []
    handler(final, f.Context())  # the final invocation retried: no double commit
    got = aggregates(tables)
    assert {k.split("|window=")[0]: v for k, v in got.items()} == expected
    assert all(k.endswith("|window=2026-01-01T00:00:00Z") for k in got)


def test_tumbling_window_final_invocation_without_records_commits(tables: Any) -> None:
    """Lambda's closing invocation of a window may carry no records, only the state: the
    window's aggregates are committed then (once, also when that invocation is retried)."""
    recs, expected = changes(30)
    handler = make_handler(tables)
    base = {
        "window": {"start": "2026-01-01T00:05:00Z", "end": "2026-01-01T00:10:00Z"},
        "shardId": "shardId-1",
        "eventSourceARN": f.STREAM_ARN,
        "isFinalInvokeForWindow": False,
        "isWindowTerminatedEarly": False,
    }
    state: dict[str, Any] = {}
    for part in (recs[:10], recs[10:]):
        state = handler({**base, "Records": part, "state": state}, f.Context())["state"]
    assert aggregates(tables) == {}
    final = {**base, "Records": [], "state": state, "isFinalInvokeForWindow": True}
    for _ in range(2):  # retried: no double commit
        assert handler(final, f.Context())["batchItemFailures"] == []
    got = aggregates(tables)
    assert {k.split("|window=")[0]: v for k, v in got.items()} == expected


# --------------------------------------------------------------------------------------
# Tumbling windows: an early end, and failures whatever Lambda does with the state
# --------------------------------------------------------------------------------------

WINDOW = {"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T00:15:00Z"}


def window_event(
    records: list[dict[str, Any]], state: Any, *, final: bool = False, early: bool = False
) -> dict[str, Any]:
    return {
        "Records": records,
        "window": WINDOW,
        "state": state,
        "shardId": "shardId-1",
        "eventSourceARN": f.STREAM_ARN,
        "isFinalInvokeForWindow": final,
        "isWindowTerminatedEarly": early,
    }


def summed(got: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    """Window aggregates by their plain key (every key must be of the one window)."""
    assert all(k.endswith("|window=2026-01-01T00:00:00Z") for k in got), sorted(got)
    return {k.split("|window=")[0]: v for k, v in got.items()}


@pytest.mark.parametrize("early_is_final", [True, False], ids=["early-marked-final", "not-final"])
def test_a_window_ended_early_counts_exactly_under_either_reading(
    tables: Any, early_is_final: bool
) -> None:
    """Lambda ends a window early (state above 1 MB): that invocation says
    isWindowTerminatedEarly (and, on one reading, isFinalInvokeForWindow too); the next one
    continues the same window with a fresh state; a final one closes it. Each committing
    invocation is also delivered twice (a lost response). Every record counts once."""
    recs, expected = changes(40)
    handler = make_handler(tables)
    ctx = f.Context()
    s1 = handler(window_event(recs[:10], {}), ctx)["state"]
    early = window_event(recs[10:20], s1, final=early_is_final, early=True)
    r2 = handler(early, ctx)
    assert handler(early, ctx) == r2 and not r2["state"].get("analytics")  # committed
    s3 = handler(window_event(recs[20:30], r2["state"]), ctx)["state"]
    final = window_event(recs[30:], s3, final=True)
    assert handler(final, ctx)["batchItemFailures"] == []
    handler(final, ctx)
    assert summed(aggregates(tables)) == expected


def poison(record: dict[str, Any]) -> dict[str, Any]:
    """The record with Keys broken: analytics cannot count it (a poison record)."""
    bad = {**record, "dynamodb": {**record["dynamodb"], "Keys": "not a map"}}
    return bad


@pytest.mark.parametrize("keeps", [True, False], ids=["state-kept", "state-dropped"])
def test_a_partial_failure_loses_no_count_whatever_lambda_does_with_the_state(
    tables: Any, keeps: bool
) -> None:
    """AWS does not say whether Lambda keeps the state returned beside batchItemFailures.
    A poison record in the middle of a window's batch: the next delivery starts after it
    (its retries ran out) with either the returned state or the one Lambda passed before;
    the window's counts are exact either way."""
    recs, expected = changes(30)
    recs[15] = poison(recs[15])
    expected = changes_without(recs, 15)
    handler = make_handler(tables)
    ctx = f.Context()
    s1 = handler(window_event(recs[:10], {}), ctx)["state"]
    r2 = handler(window_event(recs[10:20], s1), ctx)
    assert r2["batchItemFailures"][0] == {"itemIdentifier": recs[15]["dynamodb"]["SequenceNumber"]}
    state = r2["state"] if keeps else s1
    handler(window_event(recs[16:], state, final=True), ctx)
    assert summed(aggregates(tables)) == expected


class FailsOnce:
    """A later processor of the pipeline whose sink is down once, at one record."""

    name = "other"

    def __init__(self, seq: str) -> None:
        self.seq = seq
        self.failed = False

    def process(self, records: Any, batch: Any) -> Outcome:
        for i, r in enumerate(records):
            if r.sequence_number == self.seq and not self.failed:
                self.failed = True
                return Outcome(i, Failure.TRANSIENT, "sink unavailable")
        return Outcome(len(records))


@pytest.mark.parametrize("keeps", [True, False], ids=["state-kept", "state-dropped"])
def test_a_later_processor_failing_loses_no_window_count(tables: Any, keeps: bool) -> None:
    """analytics folded the whole batch before a later processor of the pipeline failed at
    record 14: the batch is reported from there, and the state answered must not depend
    on Lambda's choice either."""
    recs, expected = changes(30)
    proc = AnalyticsProcessor(AnalyticsSettings("aggregates", ("job_id",)), lambda: tables, "fn")
    store = CheckpointStore("checkpoints", "fn", lambda: tables)
    other = FailsOnce(recs[14]["dynamodb"]["SequenceNumber"])
    ctx = f.Context()

    def handler(event: dict[str, Any]) -> dict[str, Any]:
        return run_batch(event, ctx, [proc, other], store)

    s1 = handler(window_event(recs[:10], {}))["state"]
    r2 = handler(window_event(recs[10:20], s1))
    assert r2["batchItemFailures"][0] == {"itemIdentifier": recs[14]["dynamodb"]["SequenceNumber"]}
    state = r2["state"] if keeps else s1
    handler(window_event(recs[14:], state, final=True))
    assert summed(aggregates(tables)) == expected


def changes_without(recs: list[dict[str, Any]], index: int) -> dict[str, dict[str, int]]:
    """The aggregates of ``recs`` without the record at ``index`` (counted from the records:
    the generator's own bookkeeping includes the poisoned one)."""
    out: dict[str, Counter[str]] = {}
    for i, r in enumerate(recs):
        if i == index:
            continue
        image = r["dynamodb"].get("NewImage") or r["dynamodb"]["OldImage"]
        key = f'applications|job_id="{image["job_id"]["S"]}"'
        out.setdefault(key, Counter())[r["eventName"]] += 1
    return {k: dict(v) for k, v in out.items()}


def test_a_window_state_is_committed_before_it_nears_the_state_limit(
    tables: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The state never grows towards Lambda's 1 MB: past STATE_FLUSH_BYTES it is committed
    and a fresh one answered, so no count depends on what Lambda does with a large state."""
    monkeypatch.setattr(analytics, "STATE_FLUSH_BYTES", 200)
    recs, _ = changes(30)
    handler = make_handler(tables, ("application_id",))
    state: Any = {}
    for part in (recs[:10], recs[10:20]):
        state = handler(window_event(part, state), f.Context())["state"]
        assert not state.get("analytics")  # committed at once: it would pass the limit
    handler(window_event(recs[20:], state, final=True), f.Context())
    totals = Counter[str]()
    for counts in summed(aggregates(tables)).values():
        totals.update({k: v for k, v in counts.items() if k in ("INSERT", "MODIFY", "REMOVE")})
    assert sum(totals.values()) == 30


def test_window_keys_use_aws_spelling_of_the_start(tables: Any) -> None:
    """AWS sends 2026-01-01T00:00:00Z; the local runtime used to send ...:00.000Z. Analytics
    keys aggregates with AWS's spelling whichever it gets, so local and production agree."""
    recs, expected = changes(10)
    handler = make_handler(tables)
    event = window_event(recs, {}, final=True)
    event["window"] = {"start": "2026-01-01T00:00:00.000Z", "end": "2026-01-01T00:15:00.000Z"}
    handler(event, f.Context())
    assert summed(aggregates(tables)) == expected


# --------------------------------------------------------------------------------------
# Batches as large as a DynamoDB stream mapping allows
# --------------------------------------------------------------------------------------

ITEM_LIMIT = 400 * 1024  # DynamoDB's item size limit, in bytes


def renumbered(records: list[dict[str, Any]], digits: int, seed: int = 3) -> list[dict[str, Any]]:
    """Records renumbered as one shard with ``digits``-digit sequence numbers (DynamoDB's
    are 21 to 40 digits) that grow by varying gaps (AWS does not document the gap; up to
    about 9e9 here, so a gap takes up to 9 hex digits)."""
    rng = random.Random(seed)
    seq = 10 ** (digits - 1) + rng.randrange(10**6)
    out = []
    for rec in records:
        seq += rng.randint(1, 9) * 10 ** rng.randint(0, 9)
        out.append({**rec, "dynamodb": {**rec["dynamodb"], "SequenceNumber": str(seq)}})
    return out


def item_bytes(value: Any) -> int:
    """An item's size by DynamoDB's rules, approximated: each attribute name plus its value
    (strings and numbers by their text, sets and documents by their members)."""
    if isinstance(value, dict) and len(value) == 1 and next(iter(value)) in ("S", "N", "B"):
        return len(str(next(iter(value.values()))).encode())
    if isinstance(value, dict) and len(value) == 1 and next(iter(value)) in ("SS", "NS", "L"):
        return sum(
            item_bytes(v) if isinstance(v, dict) else len(str(v))
            for v in value.get("SS", value.get("NS", value.get("L", [])))
        )
    if isinstance(value, dict) and len(value) == 1 and next(iter(value)) == "M":
        return item_bytes(value["M"])
    if isinstance(value, dict) and len(value) == 1 and next(iter(value)) in ("BOOL", "NULL"):
        return 1
    return sum(len(name.encode()) + item_bytes(v) for name, v in value.items())


def largest_item(client: Any, table: str) -> int:
    pages = client.get_paginator("scan").paginate(TableName=table, ConsistentRead=True)
    return max((item_bytes(i) for page in pages for i in page["Items"]), default=0)


def test_a_full_size_batch_with_a_plan_counts_once_within_the_item_limit(tables: Any) -> None:
    """A DynamoDB stream mapping's BatchSize goes up to 10,000 and sequence numbers up to
    40 digits: the list of records a commit covers must still fit in the plan and in one
    item (until the compact encoding, a batch of 10,000 with 25-digit sequence numbers
    made a plan over PLAN_BYTES and failed on every retry)."""
    recs, expected = changes(10_000, jobs=300)
    recs = renumbered(recs, digits=25)
    out = deliver(make_handler(tables), recs, batch_size=10_000)
    assert out.dlq == []
    assert aggregates(tables) == expected
    assert largest_item(tables, "checkpoints") < ITEM_LIMIT


class Everything:
    """A processor of the pipeline that applies every record."""

    name = "other"

    def process(self, records: Any, batch: Any) -> Outcome:
        return Outcome(len(records))


def test_progress_past_a_failed_full_size_plan_stays_within_the_item_limit(tables: Any) -> None:
    """Another processor applies a batch of 10,000 while the analytics plan fails part way
    (throttled): the engine records that progress, with the records it covers, in the item
    that also holds the plan. Until the compact encoding, the two lists of 21-digit
    sequence numbers made that item about 470 KB, over DynamoDB's 400 KB (moto refused the
    engine's UpdateItem; the test also measures the item). The redelivery is left out: it
    writes an entry at each of the 10,000 records, too slow for this suite."""
    recs, _ = changes(10_000, jobs=300)
    recs = renumbered(recs, digits=21)
    throttled = ClientError(
        {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}},
        "TransactWriteItems",
    )
    client = fail_call(tables, "transact_write_items", [2], throttled)
    proc = AnalyticsProcessor(AnalyticsSettings("aggregates", ("job_id",)), lambda: client, "fn")
    store = CheckpointStore("checkpoints", "fn", lambda: tables)
    response = run_batch(f.event(recs), f.Context(), [Everything(), proc], store)
    first = recs[0]["dynamodb"]["SequenceNumber"]
    assert response["batchItemFailures"][0] == {"itemIdentifier": first}
    item = store.load_item(f.STREAM_ARN, first)
    assert analytics.PLAN in item  # the plan, and beside it the other processor's progress
    assert store.progress(item) == {"other": int(recs[-1]["dynamodb"]["SequenceNumber"])}
    assert store.covered(item, first) == [r["dynamodb"]["SequenceNumber"] for r in recs[1:]]
    assert largest_item(tables, "checkpoints") < ITEM_LIMIT


def test_a_plan_completed_by_a_quarter_of_its_batch_counts_the_rest_once(tables: Any) -> None:
    """The batch of 400 dies after the plan's first group, its first half after the second;
    the first quarter completes the plan, and Lambda goes on at record 100, which no plan
    point named: until the completion wrote an entry there too (listing the rest of what
    the plan covered), records 100-199 were counted twice."""
    recs, expected = changes(400, jobs=250)
    client = crash_after_call(tables, "transact_write_items", [1, 3])
    out = deliver(make_handler(client), recs, batch_size=400)
    assert [len(i) for i in out.invocations] == [400, 200, 100, 100, 200]
    assert aggregates(tables) == expected


def test_a_plan_stored_by_0_2_0_is_completed_with_its_list(tables: Any) -> None:
    """0.2.0 stored the plan's covered records as a list of decimal sequence numbers; such a
    plan (its item lives two days) is completed, and the entry then lists those records."""
    recs, expected = changes(400, jobs=250)
    client = crash_after_call(tables, "transact_write_items", [1])
    store = CheckpointStore("checkpoints", "fn", lambda: tables)
    first = recs[0]["dynamodb"]["SequenceNumber"]
    later = [r["dynamodb"]["SequenceNumber"] for r in recs[1:]]
    with pytest.raises(Crash):  # the plan is stored, its first group applied
        make_handler(client)(f.event(recs), f.Context())
    item = store.load_item(f.STREAM_ARN, first)
    plan = json.loads(item[analytics.PLAN]["S"])
    plan["covered"] = later  # as 0.2.0 wrote it
    tables.update_item(
        TableName="checkpoints",
        Key=store.key(f.STREAM_ARN, first),
        UpdateExpression="SET #p = :p",
        ExpressionAttributeNames={"#p": analytics.PLAN},
        ExpressionAttributeValues={":p": {"S": json.dumps(plan)}},
    )
    make_handler(tables)(f.event(recs[:200]), f.Context())  # its first half completes it
    assert store.covered(store.load_item(f.STREAM_ARN, first), first) == later
    deliver(make_handler(tables), recs[200:], batch_size=200)
    assert aggregates(tables) == expected


@pytest.mark.parametrize(
    "value",
    [
        {"S": 'say "hé"\n'},
        {"S": ""},
        {"N": "1.50"},
        {"NULL": True},
        {"BOOL": False},
        {"SS": ["b", "a"]},
        {"M": {"S": {"S": "x"}}},
        None,  # missing: null
        {"S": "x", "N": "1"},  # malformed: two types
        {"S": 7},  # malformed: not a string
    ],
)
def test_aggregate_key_text_is_to_json_of_each_group_value(value: Any) -> None:
    """The aggregate key's value texts are exactly ``to_json``'s (the common cases are
    written inline in ``_group``; aggregate keys live in users' tables)."""
    from handlers.codec import MalformedValue, to_json
    from handlers.stream import parse_event

    rec = f.record("INSERT", {"id": "1"}, {"id": "1"})
    image = rec["dynamodb"]["NewImage"]
    if value is not None:
        image["job_id"] = value
    [record] = parse_event(f.event([rec]))
    processor = AnalyticsProcessor(AnalyticsSettings("t", ("job_id",)), lambda: None)
    deltas, done, reason = processor.deltas([record])
    try:
        text = to_json(image.get("job_id", {"NULL": True}), "job_id")
    except MalformedValue as exc:  # the record fails with to_json's own reason
        assert (deltas, done, reason) == ({}, 0, str(exc))
        return
    assert (list(deltas), done, reason) == ([f"{record.table_name}|job_id={text}"], 1, "")
