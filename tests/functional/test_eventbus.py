"""Event-bus processor against moto EventBridge, read back through a rule with an SQS target.

moto delivers each accepted PutEvents entry to the targets of the bus's matching rules, so
the queue holds exactly the events the bus received (the EventBridge envelope: ``source``,
``detail-type``, ``resources``, ``detail``, ...). moto accepts every entry; per-entry
failures are injected with botocore hooks on the real (moto-backed) client: the entry is
taken out of the request before it is sent (so it is not published) and put back into the
parsed response as the failed result EventBridge would return at its index.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from handlers import aws, eventbus, retry
from handlers.batch import Batch, BatchFailed, Budget, Failure, run_batch
from handlers.checkpoint import CheckpointStore
from handlers.config import ConfigError
from handlers.eventbus import MAX_REQUEST_BYTES, entry_size
from handlers.stream import parse_event
from tests import factories as f
from tests.conftest import create_table, make_client
from tests.factories import BIG, HAS_NEW, HAS_OLD, KEYS, NEW, NEW_JSON, OLD, OLD_JSON
from tests.lambda_sim import crash_after_call, deliver
from tests.reliability.faults import InFlight

BUS = "changes"
TABLE_ARN = f.STREAM_ARN.partition("/stream/")[0]
DETAIL_ORDER = [*f.CHANGE_FIELDS, "newImage", "oldImage", "imagesOmitted"]


class Bus:
    """A custom bus whose rule sends every event to an SQS queue; PutEvents calls recorded
    (the entries each call carried, after any injected removal)."""

    def __init__(self) -> None:
        self.events = aws.client("events")  # the handler's own client: budget-aware retries
        self.sqs = make_client("sqs")
        self.arn = self.events.create_event_bus(Name=BUS)["EventBusArn"]
        self.queue = self.sqs.create_queue(QueueName="bus-subscriber")["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.queue, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self.events.put_rule(
            Name="all-changes",
            EventBusName=BUS,
            EventPattern=json.dumps({"detail-type": list(eventbus.DETAIL_TYPES.values())}),
        )
        self.events.put_targets(
            Rule="all-changes", EventBusName=BUS, Targets=[{"Id": "queue", "Arn": queue_arn}]
        )
        self.calls: list[list[dict[str, Any]]] = []
        self.accepted: Counter[str] = Counter()  # detail.eventID of each accepted entry
        self.events.meta.events.register("provide-client-params.events.PutEvents", self._count)
        self.events.meta.events.register_last("after-call.events.PutEvents", self._accepted)

    def _count(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        self.calls.append(list(params["Entries"]))
        context["bus_entries"] = self.calls[-1]  # this call's, whatever others run meanwhile

    def _accepted(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        # EventBridge answers entries in request order: an EventId means accepted.
        sent = context.get("bus_entries") or []
        for entry, result in zip(sent, parsed.get("Entries") or (), strict=False):
            if result.get("EventId"):
                self.accepted[json.loads(entry["Detail"])["eventID"]] += 1

    def in_order(self) -> list[list[dict[str, Any]]]:
        """The calls by the place of their first record (they are made concurrently)."""
        return sorted(self.calls, key=lambda c: int(json.loads(c[0]["Detail"])["sequenceNumber"]))

    def received(self) -> list[dict[str, Any]]:
        """Every event delivered to the queue (drained), as EventBridge envelopes."""
        out: list[dict[str, Any]] = []
        while True:
            got = self.sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            if not got:
                return out
            out.extend(json.loads(m["Body"], parse_float=Decimal) for m in got)
            self.sqs.delete_message_batch(
                QueueUrl=self.queue,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)
                ],
            )

    def details(self) -> list[dict[str, Any]]:
        return [e["detail"] for e in self.received()]

    def fail_entries(self, plan: Callable[[int, int], str | None]) -> None:
        """Inject per-entry failures: ``plan(call number, index in call)`` returns an error
        code for entries to fail (they are not published), None to let moto take them. Calls
        are numbered as they are made: use with EVENTBUS_PUBLISH_CONCURRENCY=1."""
        state: dict[str, Any] = {"call": 0, "failed": {}}

        def before(params: dict[str, Any], **_: Any) -> None:
            state["call"] += 1
            entries = params["Entries"]
            failed = {}
            for i in range(len(entries)):
                code = plan(state["call"], i)
                if code:
                    failed[i] = code
            state["failed"] = failed
            state["total"] = len(entries)
            kept = [e for i, e in enumerate(entries) if i not in failed]
            params["Entries"] = kept or entries[:1]  # valid request; never sent (nothing_left)

        def after(parsed: dict[str, Any], **_: Any) -> None:
            failed = state["failed"]
            if not failed or "Entries" not in parsed:
                return
            accepted = iter(parsed["Entries"])
            parsed["Entries"] = [
                {"ErrorCode": failed[i], "ErrorMessage": "injected"}
                if i in failed
                else next(accepted)
                for i in range(state["total"])
            ]
            parsed["FailedEntryCount"] = len(failed)

        def nothing_left(request: Any, **_: Any) -> Any:
            # Every entry of the call fails: nothing is sent to moto (a request without
            # entries is invalid); the answer is EventBridge's, with no entry accepted.
            if state["failed"] and len(state["failed"]) == state["total"]:
                body = json.dumps({"FailedEntryCount": state["total"], "Entries": []})
                return AWSResponse(request.url, 200, {}, _Raw(body.encode()))
            return None

        # provide-client-params (the recording hook) runs before before-parameter-build, so
        # the recorded call holds every entry the processor sent.
        self.events.meta.events.register("before-parameter-build.events.PutEvents", before)
        self.events.meta.events.register("before-send.events.PutEvents", nothing_left)
        self.events.meta.events.register("after-call.events.PutEvents", after)


def configure(monkeypatch: pytest.MonkeyPatch, bus: str = BUS) -> None:
    monkeypatch.setenv("EVENTBUS_NAME", bus)
    for name in (
        "EVENTBUS_EVENTS",
        "EVENTBUS_SOURCE",
        "EVENTBUS_REDACT",
        "EVENTBUS_PUBLISH_CONCURRENCY",
        "CHECKPOINT_TABLE",
    ):
        monkeypatch.delenv(name, raising=False)


# Calls one after another, so a test can name the Nth call (the contract is the same at any
# setting; concurrency has its own tests).
ONE_AT_A_TIME = {"EVENTBUS_NAME": BUS, "EVENTBUS_PUBLISH_CONCURRENCY": "1"}


@pytest.fixture
def bus(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Bus]:
    configure(monkeypatch)
    retry.set_policy(retry.Policy(base=0.001, cap=0.01))
    yield Bus()
    retry.set_policy(retry.POLICY)


def run(records: list[dict[str, Any]], remaining_ms: int = 60_000) -> dict[str, Any]:
    return eventbus.handler(f.event(records), f.Context(remaining_ms))


def inserts(n: int, start: int = f.BASE_SEQ, **extra: Any) -> list[dict[str, Any]]:
    return f.sequential(
        [f.record("INSERT", {"job_id": str(i)}, {"v": i, **extra}) for i in range(n)], start
    )


# ----------------------------------------------------------------------------------------
# Content: each view type x each event name, as received through the bus
# ----------------------------------------------------------------------------------------


# The images as the bus carries them: the 38-digit score is beyond int64, so it is marked.
BUS_NEW = {**NEW_JSON, "score": {"$number": str(BIG)}}
BUS_OLD = {**OLD_JSON, "score": {"$number": str(BIG)}}


def test_each_view_type_and_event_name_arrives_on_the_bus(bus: Bus) -> None:
    # GIVEN one change of each kind under each view type (12 records, one batch)
    combos = [(v, e) for v in f.VIEW_TYPES for e in f.EVENT_NAMES]
    records = f.sequential(
        [f.record(e, KEYS, NEW, OLD, view_type=v, created=1_767_229_261) for v, e in combos]
    )

    # WHEN the handler runs
    assert run(records) == {"batchItemFailures": []}

    # THEN the rule's queue received one event per change, with the documented envelope
    assert [len(c) for c in bus.in_order()] == [10, 2]
    got = {e["detail"]["sequenceNumber"]: e for e in bus.received()}
    assert sorted(got) == sorted(f.seqs(records))
    for (view_type, event_name), rec in zip(combos, records, strict=True):
        event = got[rec["dynamodb"]["SequenceNumber"]]
        assert event["source"] == f"dynamodb-triggers.{f.TABLE}"
        assert event["detail-type"] == f"DynamoDB {event_name}"
        assert event["resources"] == [TABLE_ARN]
        detail = event["detail"]
        assert list(detail) == DETAIL_ORDER
        new_image = BUS_NEW if event_name != "REMOVE" and view_type in HAS_NEW else None
        old_image = BUS_OLD if event_name != "INSERT" and view_type in HAS_OLD else None
        assert detail == {
            **f.change_fields(rec),
            "newImage": new_image,
            "oldImage": old_image,
            "imagesOmitted": False,
        }, (view_type, event_name)
    # Time is the change time; every entry goes to the configured bus
    for call in bus.calls:
        for entry in call:
            assert entry["EventBusName"] == BUS
            assert int(entry["Time"].timestamp()) == 1_767_229_261


def test_detail_numbers_are_exact_and_ttl_deletions_flagged(bus: Bus) -> None:
    rec = f.record("REMOVE", KEYS, old=OLD, ttl=True)
    assert run([rec]) == {"batchItemFailures": []}
    (call,) = bus.calls
    # a 38-digit integer is beyond PutEvents' int64 limit: its exact digits, marked
    assert f'"score":{{"$number":"{BIG}"}}' in call[0]["Detail"]
    (detail,) = bus.details()
    assert detail["ttlExpired"] is True and detail["oldImage"]["score"] == {"$number": str(BIG)}


# ----------------------------------------------------------------------------------------
# EVENTBUS_EVENTS, EVENTBUS_SOURCE, EVENTBUS_REDACT, bus ARN
# ----------------------------------------------------------------------------------------


def test_events_source_and_bus_arn(bus: Bus, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTBUS_NAME", bus.arn)
    monkeypatch.setenv("EVENTBUS_EVENTS", "MODIFY,REMOVE")
    monkeypatch.setenv("EVENTBUS_SOURCE", "hiring.applications")
    records = f.sequential(
        [
            f.record("INSERT", KEYS, NEW),
            f.record("MODIFY", KEYS, NEW, OLD),
            f.record("MODIFY", KEYS, {"n": 1}, {"n": 1}),  # nothing changed: no event
            f.record("REMOVE", KEYS, old=OLD),
        ]
    )
    assert run(records) == {"batchItemFailures": []}
    events = bus.received()
    assert [e["detail"]["sequenceNumber"] for e in events] == [
        f.seqs(records)[1],
        f.seqs(records)[3],
    ]
    assert {e["source"] for e in events} == {"hiring.applications"}
    assert [entry["EventBusName"] for entry in bus.calls[0]] == [bus.arn, bus.arn]


def test_the_documented_rule_pattern_selects_status_changes(bus: Bus) -> None:
    # GIVEN the example rule of docs/eventbus.md, routed to its own queue
    queue = bus.sqs.create_queue(QueueName="interviews")["QueueUrl"]
    queue_arn = bus.sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    pattern = {
        "source": [f"dynamodb-triggers.{f.TABLE}"],
        "detail-type": ["DynamoDB MODIFY"],
        "detail": {"changedAttributes": {"status": {"new": ["INTERVIEW"]}}},
    }
    bus.events.put_rule(Name="interviews", EventBusName=BUS, EventPattern=json.dumps(pattern))
    bus.events.put_targets(
        Rule="interviews", EventBusName=BUS, Targets=[{"Id": "q", "Arn": queue_arn}]
    )
    records = f.sequential(
        [
            f.record("INSERT", KEYS, {"status": "INTERVIEW"}),
            f.record("MODIFY", KEYS, {"status": "INTERVIEW"}, {"status": "APPLIED"}),
            f.record("MODIFY", KEYS, {"status": "OFFER"}, {"status": "INTERVIEW"}),
            f.record("MODIFY", KEYS, {"status": "INTERVIEW", "n": 2}, {"status": "INTERVIEW"}),
        ]
    )
    assert run(records) == {"batchItemFailures": []}
    (message,) = bus.sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    assert json.loads(message["Body"])["detail"]["sequenceNumber"] == f.seqs(records)[1]


def test_redacted_values_reach_neither_events_nor_logs(
    bus: Bus, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EVENTBUS_REDACT", "ssn,email")
    records = f.secret_changes()
    # A failing entry too, so the failure path logs as well
    bus.fail_entries(lambda call, i: "AccessDeniedException" if i == 2 else None)

    response = run(records)

    assert f.reported(response) == f.seqs(records)[2:]
    assert "SECRET" not in json.dumps(bus.calls, default=str)
    events = bus.received()
    assert "SECRET" not in json.dumps(events, default=str)
    assert "SECRET" not in capsys.readouterr().out
    insert, modify = (e["detail"] for e in events)
    assert insert["keys"] == {"job_id": "job-9"}
    assert insert["newImage"] == {"job_id": "job-9", "status": "B"}
    assert modify["changedAttributes"] == {
        "ssn": {"redacted": True},
        "status": {"old": "A", "new": "B"},
    }
    assert modify["oldImage"] == {"job_id": "job-9", "status": "A"}


# ----------------------------------------------------------------------------------------
# Batching and size limits
# ----------------------------------------------------------------------------------------


def test_at_most_ten_entries_per_call(bus: Bus) -> None:
    records = inserts(25)
    assert run(records) == {"batchItemFailures": []}
    assert [len(c) for c in bus.in_order()] == [10, 10, 5]
    assert sorted(d["sequenceNumber"] for d in bus.details()) == f.seqs(records)


def test_at_most_256_kib_per_call(bus: Bus) -> None:
    # Each entry ~100 KB: two fit in a call, three do not.
    records = inserts(7, doc="d" * 100_000)
    assert run(records) == {"batchItemFailures": []}
    assert [len(c) for c in bus.in_order()] == [2, 2, 2, 1]
    for call in bus.calls:
        assert sum(entry_size(e) for e in call) <= MAX_REQUEST_BYTES
    details = bus.details()
    assert len(details) == 7 and not any(d["imagesOmitted"] for d in details)


def test_large_item_is_sent_without_images(bus: Bus) -> None:
    big = "x" * 200_000
    records = f.sequential(
        [
            # each image alone fits, both together do not: degraded, never dropped
            f.record("MODIFY", KEYS, {"doc": big + "y", "status": "B"}, {"doc": big}),
            f.record("INSERT", KEYS, {"doc": big * 2}),
            f.record("INSERT", {"job_id": "small"}, {"status": "A"}),
        ]
    )
    assert run(records) == {"batchItemFailures": []}
    modify, insert, small = sorted(bus.details(), key=lambda d: d["sequenceNumber"])
    assert modify["imagesOmitted"] is True
    assert modify["newImage"] is None and modify["oldImage"] is None
    assert modify["changedAttributes"] == {"doc": {"omitted": True}, "status": {"omitted": True}}
    assert list(modify) == DETAIL_ORDER
    assert insert["imagesOmitted"] is True and insert["keys"] == KEYS
    assert small["imagesOmitted"] is False and small["newImage"]["status"] == "A"
    for call in bus.calls:
        assert sum(entry_size(e) for e in call) <= MAX_REQUEST_BYTES


# ----------------------------------------------------------------------------------------
# Per-entry failures
# ----------------------------------------------------------------------------------------


def test_throttled_entries_are_retried_alone(bus: Bus, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTBUS_PUBLISH_CONCURRENCY", "1")
    # GIVEN entries 3 and 7 of the first call throttled once
    bus.fail_entries(lambda call, i: "ThrottlingException" if call == 1 and i in (3, 7) else None)
    records = inserts(12)

    # WHEN the handler runs
    assert run(records) == {"batchItemFailures": []}

    # THEN only the two failed entries were sent again; every record arrived exactly once
    assert [len(c) for c in bus.calls] == [10, 2, 2]
    assert [json.loads(e["Detail"])["sequenceNumber"] for e in bus.calls[1]] == [
        f.seqs(records)[3],
        f.seqs(records)[7],
    ]
    assert Counter(d["sequenceNumber"] for d in bus.details()) == Counter(f.seqs(records))


def test_entry_failing_for_good_reports_it_and_later_records(
    bus: Bus, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVENTBUS_PUBLISH_CONCURRENCY", "1")
    # GIVEN entry 3 always throttled (the retries give up within the attempts bound)
    bus.fail_entries(lambda call, i: "InternalFailure" if i == 3 or call > 1 else None)
    records = inserts(25)

    response = run(records)

    # THEN record 3 and every later record are reported; no later call was made
    assert f.reported(response) == f.seqs(records)[3:]
    assert [len(c) for c in bus.calls] == [10] + [1] * (retry.POLICY.attempts - 1)
    published = sorted(d["sequenceNumber"] for d in bus.details())
    # entries after the failed one in the same call were accepted (documented duplicates)
    assert published == [s for i, s in enumerate(f.seqs(records)[:10]) if i != 3]


def test_mixed_failures_retry_only_before_the_permanent_one(bus: Bus) -> None:
    # Entry 2 throttled once, entry 5 not authorized: 2 is retried, 5 is not
    bus.fail_entries(
        lambda call, i: (
            {2: "ThrottlingException", 5: "NotAuthorizedForSourceException"}.get(i)
            if call == 1
            else None
        )
    )
    parsed = parse_event(f.event(inserts(10)))
    proc = eventbus.build({"EVENTBUS_NAME": BUS})
    outcome = proc.process(parsed, Batch(parsed, f.STREAM_ARN, Budget(f.Context())))
    assert (outcome.done, outcome.failure) == (5, Failure.TRANSIENT)
    assert "NotAuthorizedForSourceException" in outcome.reason
    assert [len(c) for c in bus.calls] == [10, 1]
    published = sorted(d["sequenceNumber"] for d in bus.details())
    assert published == [r.sequence_number for i, r in enumerate(parsed) if i != 5]


def test_malformed_detail_on_the_first_record_raises(bus: Bus) -> None:
    bus.fail_entries(lambda call, i: "MalformedDetail" if i == 0 else None)
    with pytest.raises(BatchFailed, match=r"eventbus.*MalformedDetail"):
        run(inserts(3))


def test_missing_bus_is_transient_with_a_clear_reason(
    bus: Bus, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVENTBUS_NAME", "no-such-bus")
    records = inserts(3)
    # A whole-call failure of the first record is reported (no raise: nothing to bisect)
    assert f.reported(run(records)) == f.seqs(records)
    assert bus.received() == []
    proc = eventbus.build({"EVENTBUS_NAME": "no-such-bus"})
    parsed = parse_event(f.event(records))
    outcome = proc.process(parsed, Batch(parsed, f.STREAM_ARN, Budget(f.Context())))
    assert (outcome.done, outcome.failure) == (0, Failure.TRANSIENT)
    assert "PutEvents failed (ResourceNotFoundException)" in outcome.reason


def test_server_errors_are_retried_then_transient(bus: Bus) -> None:
    # Every PutEvents request answered with HTTP 500 before it reaches moto
    sent: list[int] = []

    def outage(request: Any, **_: Any) -> AWSResponse:
        sent.append(1)
        body = b'{"__type":"InternalException","message":"injected outage"}'
        return AWSResponse(
            request.url, 500, {"Content-Type": "application/x-amz-json-1.1"}, _Raw(body)
        )

    bus.events.meta.events.register("before-send.events.PutEvents", outage)
    records = inserts(3)
    assert f.reported(run(records)) == f.seqs(records)
    assert len(sent) == retry.POLICY.attempts  # botocore-level retries within the budget
    assert bus.received() == []


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Any:
        yield self.body

    def read(self, *_: Any) -> bytes:
        body, self.body = self.body, b""
        return body


def test_budget_running_out_between_calls(bus: Bus) -> None:
    now = [0.0]
    bus.events.meta.events.register(
        "provide-client-params.events.PutEvents", lambda **_: now.__setitem__(0, 100.0)
    )
    budget = Budget(f.Context(60_000), clock=lambda: now[0])
    parsed = parse_event(f.event(inserts(15)))
    proc = eventbus.build(ONE_AT_A_TIME)
    outcome = proc.process(parsed, Batch(parsed, f.STREAM_ARN, budget))
    assert (outcome.done, outcome.failure) == (10, Failure.TIME)
    assert len(bus.calls) == 1 and len(bus.received()) == 10


# ----------------------------------------------------------------------------------------
# Concurrent calls
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("setting", "most"), [("", 5), ("2", 2), ("1", 1)])
def test_calls_overlap_up_to_the_setting(
    bus: Bus, monkeypatch: pytest.MonkeyPatch, setting: str, most: int
) -> None:
    """50 events, 5 calls: in flight at once as many as EVENTBUS_PUBLISH_CONCURRENCY
    allows (default 10, botocore's connection pool), every event accepted once."""
    monkeypatch.setenv("EVENTBUS_PUBLISH_CONCURRENCY", setting)
    records = inserts(50)
    with InFlight(bus.events, "PutEvents", meet=most) as flight:
        assert run(records) == {"batchItemFailures": []}
    assert (flight.most, flight.attempts) == (most, 5)
    assert sorted(d["sequenceNumber"] for d in bus.details()) == f.seqs(records)


class LateFailure:
    """The bus's client, except that the event of record ``fail`` is rejected for good
    (left out of the request, answered with an error code), and that answer comes back
    only once the call carrying record ``after`` has returned (at most 10 s later)."""

    def __init__(self, real: Any, fail: str, after: str) -> None:
        self.real, self.fail, self.after = real, fail, after
        self.returned = threading.Event()
        self.made: list[list[str]] = []

    def put_events(self, Entries: list[Any]) -> Any:
        found = [json.loads(e["Detail"])["sequenceNumber"] for e in Entries]
        self.made.append(found)
        if self.fail not in found:
            try:
                return self.real.put_events(Entries=Entries)
            finally:
                if self.after in found:
                    self.returned.set()
        kept = [e for e, s in zip(Entries, found, strict=True) if s != self.fail]
        response = self.real.put_events(Entries=kept)
        self.returned.wait(10)
        accepted = iter(response["Entries"])
        response["Entries"] = [
            {"ErrorCode": "NotAuthorizedForSourceException", "ErrorMessage": "injected"}
            if s == self.fail
            else next(accepted)
            for s in found
        ]
        response["FailedEntryCount"] = 1
        return response


def test_a_failed_call_in_the_middle_while_later_calls_succeed(bus: Bus) -> None:
    """Three calls in flight; the second one's entry for record 13 fails for good, and
    its answer comes back only after the third call succeeded. Reported: record 13 and
    every later one (everything before it was accepted); the third call's events were
    accepted too (the documented duplicates of a redelivery)."""
    records = inserts(25)
    client = LateFailure(bus.events, fail=f.seqs(records)[13], after=f.seqs(records)[20])
    aws.set_client("events", client)
    assert f.reported(run(records)) == f.seqs(records)[13:]
    assert sorted(c[0] for c in client.made) == [f.seqs(records)[i] for i in (0, 10, 20)]
    published = sorted(d["sequenceNumber"] for d in bus.details())
    assert published == [s for i, s in enumerate(f.seqs(records)) if i != 13]


# ----------------------------------------------------------------------------------------
# Bad input
# ----------------------------------------------------------------------------------------


def test_poison_records(bus: Bus) -> None:
    bad_value = f.record("INSERT", KEYS, NEW)
    bad_value["dynamodb"]["NewImage"]["score"] = {"N": "not-a-number"}
    records = f.sequential(
        [f.record("INSERT", KEYS, NEW), f.record("INSERT", KEYS, NEW), bad_value]
    )
    response = run(records)
    assert f.reported(response) == f.seqs(records)[2:]
    assert sorted(d["sequenceNumber"] for d in bus.details()) == f.seqs(records)[:2]

    bad_name = f.record("INSERT", KEYS, NEW)
    bad_name["eventName"] = "UPSERT"
    with pytest.raises(BatchFailed, match="eventName"):
        run(f.sequential([bad_name, f.record("INSERT", KEYS, NEW)]))
    bad_time = f.record("INSERT", KEYS, NEW)
    bad_time["dynamodb"]["ApproximateCreationDateTime"] = "yesterday"
    with pytest.raises(BatchFailed, match="ApproximateCreationDateTime"):
        run([bad_time])
    not_a_table = f.record("INSERT", KEYS, NEW, stream_arn="arn:aws:kinesis:us-east-1:1:stream/x")
    with pytest.raises(BatchFailed, match="eventSourceARN"):
        run([not_a_table])
    assert len(bus.calls) == 1


@pytest.mark.parametrize(
    ("env", "variable", "expects"),
    [
        ({}, "EVENTBUS_NAME", "name or ARN of the EventBridge event bus"),
        ({"EVENTBUS_NAME": "bad name!"}, "EVENTBUS_NAME", "event bus name"),
        (
            {"EVENTBUS_NAME": "arn:aws:events:eu-west-1:123456789012:event-bus/b"},
            "EVENTBUS_NAME",
            "function's region",
        ),
        ({"EVENTBUS_NAME": "b", "EVENTBUS_EVENTS": "UPSERT"}, "EVENTBUS_EVENTS", "INSERT,MODIFY"),
        ({"EVENTBUS_NAME": "b", "EVENTBUS_SOURCE": "aws.dynamodb"}, "EVENTBUS_SOURCE", "aws."),
        ({"EVENTBUS_NAME": "b", "EVENTBUS_REDACT": "a,a"}, "EVENTBUS_REDACT", "twice"),
    ],
)
def test_config_errors_name_the_variable(
    aws_env: str, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], variable: str, expects: str
) -> None:
    configure(monkeypatch)
    monkeypatch.delenv("EVENTBUS_NAME")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=variable) as info:
        run([f.record("INSERT", KEYS, NEW)])
    assert expects in str(info.value)


def test_runs_inside_the_pipeline_entry_point(bus: Bus, monkeypatch: pytest.MonkeyPatch) -> None:
    from handlers import pipeline

    create_table("checkpoints")
    monkeypatch.setenv("PROCESSORS", "eventbus")
    monkeypatch.setenv("CHECKPOINT_TABLE", "checkpoints")
    records = inserts(3)
    assert pipeline.handler(f.event(records), f.Context()) == {"batchItemFailures": []}
    assert sorted(d["sequenceNumber"] for d in bus.details()) == f.seqs(records)


# ----------------------------------------------------------------------------------------
# Redelivery with the checkpoint (tests/lambda_sim.py replays Lambda's rules)
# ----------------------------------------------------------------------------------------


class FailOnceAt:
    """A later processor of a pipeline that fails (transiently) once at one record."""

    name = "other"

    def __init__(self, seq: str) -> None:
        self.seq, self.times = seq, 1

    def process(self, records: Any, batch: Any) -> Any:
        from handlers.batch import Outcome

        for i, r in enumerate(records):
            if r.sequence_number == self.seq and self.times:
                self.times -= 1
                return Outcome(i, Failure.TRANSIENT, "injected")
        return Outcome(len(records))


@pytest.fixture
def store(bus: Bus) -> CheckpointStore:
    create_table("checkpoints")
    client = make_client("dynamodb")
    return CheckpointStore("checkpoints", "fn", lambda: client)


def published(bus: Bus) -> Counter[str]:
    """Entries moto accepted, by eventID (the queue is checked against it once)."""
    return bus.accepted


def test_replay_scenarios_publish_each_record_once_except_documented_duplicates(
    bus: Bus, store: CheckpointStore
) -> None:
    records = inserts(40)
    ids = [r["eventID"] for r in records]

    # 1. Another processor of the pipeline fails at record 17: Lambda restarts there, and
    #    the checkpoint makes the publisher skip what it already published.
    proc = eventbus.build(ONE_AT_A_TIME)
    other = FailOnceAt(f.seqs(records)[17])
    deliver(lambda e, c: run_batch(e, c, [proc, other], store), records, batch_size=40)
    assert published(bus) == Counter(ids)
    assert Counter(d["eventID"] for d in bus.details()) == Counter(ids)  # what the bus got

    # 2. The function dies right after its second PutEvents call (no bisect): the whole
    #    batch comes again; only that invocation's accepted entries are sent twice.
    batch2 = inserts(40, start=f.BASE_SEQ + 10_000)
    crashing = crash_after_call(bus.events, "put_events", [2])
    proc2 = eventbus.EventBusProcessor(BUS, lambda: crashing, workers=1)
    deliver(lambda e, c: run_batch(e, c, [proc2], store), batch2, batch_size=40, bisect=False)
    counts = published(bus)
    assert [counts[r["eventID"]] for r in batch2] == [2] * 20 + [1] * 20

    # 3. An entry fails for good once (retries exhausted): Lambda restarts at it; the
    #    entries after it in the same call were accepted and are the documented duplicates.
    batch3 = inserts(25, start=f.BASE_SEQ + 20_000)
    # call 1: entry 3 throttled; calls 2-5 (its retries, one entry each): throttled again
    bus.fail_entries(
        lambda call, i: "ThrottlingException" if (call == 1 and i == 3) or 2 <= call <= 5 else None
    )
    proc3 = eventbus.build(ONE_AT_A_TIME)
    result = deliver(lambda e, c: run_batch(e, c, [proc3], store), batch3, batch_size=25)
    assert result.dlq == []
    counts = published(bus)
    assert [counts[r["eventID"]] for r in batch3] == [1] * 4 + [2] * 6 + [1] * 15
