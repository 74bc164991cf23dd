"""Sinks cases against our code: each error code's outcome (``handlers.errors``) checked
against the service models and run through the publishers and writers with botocore's
Stubber (responses validated against the same models); EventBridge's number, size and depth
limits; a target that is a replica of the source's global table.

Moto cannot produce throttling or KMS errors, so the Stubber stands in for the services here;
every stubbed response and error is shaped as the case (and the model) says AWS sends it.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.exceptions import ClientError
from botocore.stub import ANY, Stubber

from handlers import aws, errors, eventbus, notification, replicate, retry, versioned
from handlers.batch import Batch, BatchFailed, Budget, Failure, Outcome, run_batch
from handlers.stream import parse_event
from tests import factories as f
from tests.conformance.corpus import Case, cases
from tests.conftest import offline_aws

SERVICES = {"sns": "sns", "events": "events", "s3": "s3", "dynamodb": "dynamodb"}
ERRORS = [
    c
    for c in cases("sinks")
    if "error" in c.data and c["expect"].get("verdict") not in (None, "applied")
]
TOPIC = "arn:aws:sns:us-east-1:123456789012:changes"
_model_cache: dict[str, Any] = {}


def model(service: str) -> Any:
    if service not in _model_cache:
        session = botocore.session.get_session()
        _model_cache[service] = session.get_service_model(SERVICES[service])
    return _model_cache[service]


def per_entry(case: Case) -> bool:
    """Codes a batch call reports per entry: every SNS PublishBatch code (``Failed[].Code``)
    and EventBridge's documented ``PutEventsResultEntry.ErrorCode`` values."""
    return case["service"] == "sns" or bool(case["error"].get("per_entry"))


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch, fast_retries: None) -> Iterator[None]:
    """Fake credentials and no endpoint (the Stubber answers); short retries."""
    offline_aws(monkeypatch)
    yield
    aws.reset_clients()


def _ids(selected: list[Case]) -> list[str]:
    return [c.name for c in selected]


# -- the table against the models ------------------------------------------------------------


@pytest.mark.parametrize("case", ERRORS, ids=_ids(ERRORS))
def test_each_code_has_the_cases_outcome(case: Case) -> None:
    assert errors.verdict(case["service"], case["error"]["code"]).value == case["expect"]["verdict"]


MODELLED = [c for c in cases("sinks") if c.get("error", {}).get("shape")]


@pytest.mark.parametrize("case", MODELLED, ids=_ids(MODELLED))
def test_the_cases_error_facts_are_the_service_models(case: Case) -> None:
    shape = model(case["service"]).shape_for(case["error"]["shape"])
    assert shape.metadata.get("exception"), case.name
    wire = shape.metadata.get("error") or {}
    assert wire.get("code", shape.name) == case["error"]["code"]
    if "httpStatusCode" in wire:
        assert wire["httpStatusCode"] == case["error"]["http_status"]
    if case["service"] == "sns":
        assert bool(wire.get("senderFault")) == case["error"]["sender_fault"]


@pytest.mark.parametrize(
    ("service", "operation"),
    [
        ("sns", "PublishBatch"),
        ("events", "PutEvents"),
        ("s3", "PutObject"),
        ("dynamodb", "PutItem"),
    ],
)
def test_every_error_the_model_gives_our_operations_has_a_case(
    service: str, operation: str
) -> None:
    op = model(service).operation_model(operation)
    modelled = {(s.metadata.get("error") or {}).get("code", s.name) for s in op.error_shapes}
    if service == "events":
        # the per-entry codes are listed in PutEventsResultEntry.ErrorCode's documentation
        doc = model("events").shape_for("PutEventsResultEntry").members["ErrorCode"].documentation
        modelled |= set(re.findall(r"<code>\s*(?:<a [^>]*>)?\s*(\w+)\s*(?:</a>)?\s*</code>", doc))
    covered = {c["error"]["code"] for c in cases("sinks", service=service) if "error" in c.data}
    assert modelled <= covered, modelled - covered


# -- SNS and EventBridge: per-entry results ---------------------------------------------------


def _records(n: int = 3) -> list[Any]:
    recs = f.sequential([f.record("INSERT", {"job_id": f"j{i}"}, {"v": i}) for i in range(n)])
    return parse_event(f.event(recs))


def _batch(records: list[Any]) -> Batch:
    return Batch(records=records, stream_arn=f.STREAM_ARN, budget=Budget(f.Context()))


def _sns_failed(case: Case, entry_id: str) -> dict[str, Any]:
    return {
        "Id": entry_id,
        "Code": case["error"]["code"],
        "Message": "as SNS says it",
        "SenderFault": case["error"].get("sender_fault", False),
    }


def _publish(case: Case, records: list[Any]) -> tuple[Outcome, Stubber]:
    """Three records; SNS answers entry 1 with the case's code, then (on a resend) accepts."""
    client = boto3.client("sns", region_name="us-east-1")
    stubber = Stubber(client)
    stubber.add_response(
        "publish_batch",
        {
            "Successful": [{"Id": "0", "MessageId": "m0"}, {"Id": "2", "MessageId": "m2"}],
            "Failed": [_sns_failed(case, "1")],
        },
    )
    stubber.add_response("publish_batch", {"Successful": [{"Id": "1", "MessageId": "m1"}]})
    stubber.activate()
    processor = notification.NotificationProcessor(TOPIC, lambda: client)
    return processor.process(records, _batch(records)), stubber


def _put_events(case: Case, records: list[Any]) -> tuple[Outcome, Stubber]:
    client = boto3.client("events", region_name="us-east-1")
    stubber = Stubber(client)
    failed = {"ErrorCode": case["error"]["code"], "ErrorMessage": "as EventBridge says it"}
    stubber.add_response(
        "put_events",
        {"FailedEntryCount": 1, "Entries": [{"EventId": "e0"}, failed, {"EventId": "e2"}]},
    )
    stubber.add_response("put_events", {"FailedEntryCount": 0, "Entries": [{"EventId": "e1"}]})
    stubber.activate()
    processor = eventbus.EventBusProcessor("changes", lambda: client)
    return processor.process(records, _batch(records)), stubber


ENTRY_CASES = [c for c in ERRORS if per_entry(c)]


@pytest.mark.parametrize("case", ENTRY_CASES, ids=_ids(ENTRY_CASES))
def test_a_failed_entry_is_retried_reported_or_poison_by_its_code(case: Case) -> None:
    records = _records()
    send = _publish if case["service"] == "sns" else _put_events
    outcome, stubber = send(case, records)
    verdict = case["expect"]["verdict"]
    if verdict == "retry":
        # sent again alone, accepted: every record done, nothing published twice
        stubber.assert_no_pending_responses()
        assert outcome == Outcome(3)
    else:
        kind = Failure.POISON if verdict == "poison" else Failure.TRANSIENT
        assert (outcome.done, outcome.failure) == (1, kind), outcome.reason
        assert case["error"]["code"] in outcome.reason


def test_a_retryable_entry_that_keeps_failing_is_reported_after_the_retries() -> None:
    (case,) = [c for c in ERRORS if c.name == "botocore-sns-model:publish-batch-KMSThrottling"]
    client = boto3.client("sns", region_name="us-east-1")
    stubber = Stubber(client)
    stubber.add_response(
        "publish_batch",
        {"Successful": [{"Id": "0", "MessageId": "m0"}], "Failed": [_sns_failed(case, "1")]},
    )
    for _ in range(2):  # Policy(attempts=3): two resends, alone
        stubber.add_response(
            "publish_batch", {"Successful": [], "Failed": [_sns_failed(case, "1")]}
        )
    stubber.activate()
    records = _records(2)
    outcome = notification.NotificationProcessor(TOPIC, lambda: client).process(
        records, _batch(records)
    )
    stubber.assert_no_pending_responses()
    assert (outcome.done, outcome.failure) == (1, Failure.TRANSIENT)
    assert "KMSThrottling" in outcome.reason and "after 3 attempts" in outcome.reason


RECORDED = [c for c in cases("sinks", operation="PutEvents") if "response" in c.data]


@pytest.mark.parametrize("case", RECORDED, ids=_ids(RECORDED))
def test_a_recorded_put_events_answer_is_classified(case: Case) -> None:
    client = boto3.client("events", region_name="us-east-1")
    stubber = Stubber(client)
    stubber.add_response("put_events", case["response"])
    stubber.activate()
    records = _records(1)
    outcome = eventbus.EventBusProcessor("changes", lambda: client).process(
        records, _batch(records)
    )
    assert outcome.failure is Failure(case["expect"]["verdict"]), outcome


# -- whole calls ------------------------------------------------------------------------------

CALL_CASES = [c for c in ERRORS if c["service"] != "events" or not c["error"].get("per_entry")]


def _status(case: Case) -> int:
    return int(case["error"].get("http_status", 400))


@pytest.mark.parametrize("case", CALL_CASES, ids=_ids(CALL_CASES))
def test_a_failed_call_is_retried_by_its_code(case: Case) -> None:
    """handlers.retry retries the call when (and only when) the code is RETRY or the status
    is 5xx; botocore's parser gives it the code as the service sends it."""
    status = _status(case)
    http = type("Http", (), {"status_code": status})()
    parsed = {"Error": {"Code": case["error"]["code"], "Message": "m"}}
    retried = retry.is_retryable((http, parsed), None)
    assert retried == (case["expect"]["verdict"] == "retry" or status >= 500)


def _stubbed_call(service: str, method: str, case: Case) -> Any:
    client = boto3.client(service, region_name="us-east-1")
    stubber = Stubber(client)
    stubber.add_client_error(
        method, service_error_code=case["error"]["code"], http_status_code=_status(case)
    )
    stubber.activate()
    return client


SNS_CALLS = [c for c in CALL_CASES if c["service"] == "sns"]


@pytest.mark.parametrize("case", SNS_CALLS, ids=_ids(SNS_CALLS))
def test_a_failed_publish_batch_call_is_transient(case: Case) -> None:
    client = _stubbed_call("sns", "publish_batch", case)
    records = _records(2)
    outcome = notification.NotificationProcessor(TOPIC, lambda: client).process(
        records, _batch(records)
    )
    assert (outcome.done, outcome.failure) == (0, Failure.TRANSIENT)  # it names no entry
    assert case["error"]["code"] in outcome.reason


S3_CALLS = [c for c in CALL_CASES if c["service"] == "s3"]


@pytest.mark.parametrize("case", S3_CALLS, ids=_ids(S3_CALLS))
def test_a_failed_put_object_is_transient(case: Case) -> None:
    from handlers import etl

    client = _stubbed_call("s3", "put_object", case)
    records = _records(2)
    outcome = etl.EtlProcessor("bucket", "changes/", lambda: client).process(
        records, _batch(records)
    )
    assert (outcome.done, outcome.failure) == (0, Failure.TRANSIENT)
    assert case["error"]["code"] in outcome.reason


def test_an_existing_object_is_replaced_after_the_create_only_write_is_refused() -> None:
    from handlers import etl

    (case,) = cases("sinks", has="answer", operation="PutObject")
    client = boto3.client("s3", region_name="us-east-1")
    stubber = Stubber(client)
    written = {
        "Bucket": "bucket",
        "Key": ANY,
        "Body": ANY,
        "ContentType": ANY,
        "Metadata": ANY,
    }
    answer = case["answer"]
    stubber.add_client_error(
        "put_object",
        service_error_code=answer["code"],
        http_status_code=answer["http_status"],
        expected_params={**written, **case["request"]},
    )
    stubber.add_response("put_object", {}, expected_params=written)  # the replacement
    stubber.activate()
    records = _records(2)
    outcome = etl.EtlProcessor("bucket", "changes/", lambda: client).process(
        records, _batch(records)
    )
    stubber.assert_no_pending_responses()
    assert case["expect"]["outcome"] == "replaced" and outcome == Outcome(2)


DYNAMODB_CALLS = [c for c in CALL_CASES if c["service"] == "dynamodb"]


@pytest.mark.parametrize("case", DYNAMODB_CALLS, ids=_ids(DYNAMODB_CALLS))
def test_a_failed_put_item_is_poison_only_for_the_items_own_fault(case: Case) -> None:
    client = _stubbed_call("dynamodb", "put_item", case)
    writer = versioned.Versioned("replica", lambda: client)
    with pytest.raises(ClientError) as caught:
        writer.put({"pk": {"S": "a"}}, versioned.Stamp("1", "1"))
    kind, reason = versioned.classify(caught.value, "writing")
    expected = Failure.POISON if case["expect"]["verdict"] == "poison" else Failure.TRANSIENT
    assert kind is expected and case["error"]["code"] in reason


def test_a_failed_condition_is_an_answer() -> None:
    (case,) = [c for c in cases("sinks") if c["expect"].get("verdict") == "applied"]
    client = _stubbed_call("dynamodb", "put_item", case)
    writer = versioned.Versioned("replica", lambda: client)
    assert writer.put({"pk": {"S": "a"}}, versioned.Stamp("1", "1")) is False


# -- EventBridge: numbers, size, depth --------------------------------------------------------


def _case(file: str, case_id: str) -> Case:
    (found,) = [c for c in cases("sinks") if c.file == file and c.id == case_id]
    return found


def _check_int64(detail: str, low: int, high: int) -> None:
    """Fail unless every JSON integer of ``detail`` is within [low, high]: what the
    PutEvents reference accepts."""

    def integer(text: str) -> int:
        value = int(text)
        assert low <= value <= high, f"JSON integer {text} is outside int64"
        return value

    json.loads(detail, parse_int=integer)


def _bus_detail(image: dict[str, Any], numbers: str = "number") -> str:
    processor = eventbus.EventBusProcessor("changes", lambda: None, numbers=numbers)
    (record,) = parse_event(f.event([f.record("INSERT", {"pk": "p"}, image)]))
    built = processor.entry(record)
    assert built is not None
    return str(built[0]["Detail"])


def test_numbers_on_the_bus_stay_within_int64_and_exact() -> None:
    case = _case("eventbridge-putevents", "detail-integers-are-int64")
    low, high = int(case["expect"]["int64_min"]), int(case["expect"]["int64_max"])
    numbers = case["request"]["numbers"]
    image = {f"n{i}": Decimal(text) for i, text in enumerate(numbers)}
    image["set"] = {Decimal(t) for t in numbers}
    image["nested"] = {"list": [Decimal(t) for t in numbers]}
    detail = _bus_detail(image)
    _check_int64(detail, low, high)
    for text in case["expect"]["as_json_number"]:
        assert f":{text}," in detail or f":{text}}}" in detail, text  # bare and exact
    for text in case["expect"]["marked"]:
        assert f'{{"$number":"{text}"}}' in detail, text
    decoded = json.loads(detail, parse_float=Decimal)["newImage"]
    for i, text in enumerate(numbers):
        value = decoded[f"n{i}"]
        assert (value["$number"] if isinstance(value, dict) else str(value)) == text
    assert len(decoded["set"]) == len(numbers)  # the set's members follow the same rule


def test_numbers_as_strings_on_the_bus() -> None:
    case = _case("eventbridge-putevents", "detail-integers-are-int64")
    numbers = case["request"]["numbers"]
    detail = _bus_detail({f"n{i}": Decimal(t) for i, t in enumerate(numbers)}, "string")
    decoded = json.loads(detail)["newImage"]
    assert [decoded[f"n{i}"] for i in range(len(numbers))] == numbers


def test_sns_keeps_exact_json_numbers() -> None:
    case = _case("eventbridge-putevents", "detail-integers-are-int64")
    numbers = case["request"]["numbers"]
    processor = notification.NotificationProcessor(TOPIC, lambda: None)
    image = {f"n{i}": Decimal(t) for i, t in enumerate(numbers)}
    (record,) = parse_event(f.event([f.record("INSERT", {"pk": "p"}, image)]))
    built = processor.message(record)
    assert built is not None
    decoded = json.loads(built[0]["Message"], parse_float=Decimal, parse_int=Decimal)
    assert [str(decoded["newImage"][f"n{i}"]) for i in range(len(numbers))] == numbers


def _entry_of_size(size: int) -> tuple[dict[str, Any], int]:
    processor = eventbus.EventBusProcessor("changes", lambda: None)

    def build(pad: int) -> tuple[dict[str, Any], int]:
        raw = f.record("INSERT", {"pk": "p"}, {"pad": "x" * pad}, seq=f.BASE_SEQ)
        (record,) = parse_event(f.event([raw]))
        built = processor.entry(record)
        assert built is not None
        return built

    _, base = build(0)
    entry, got = build(size - base)
    return entry, got


def test_an_entry_of_256_kb_is_sent_without_images() -> None:
    case = _case("eventbridge-putevents", "entry-size-less-than-256kb")
    largest = case["expect"]["max_entry_bytes"]
    assert eventbus.MAX_REQUEST_BYTES == largest
    entry, size = _entry_of_size(largest)
    assert size == largest == eventbus.entry_size(entry)
    assert '"imagesOmitted":false' in entry["Detail"]  # the largest accepted: sent whole
    entry, size = _entry_of_size(largest + 1)  # 262,144 bytes: not "less than 256KB"
    assert '"imagesOmitted":true' in entry["Detail"] and size < largest


def test_details_stay_far_below_eventbridges_nesting_limit() -> None:
    case = _case("eventbridge-putevents", "nesting-depth")
    deep: Any = Decimal(1)
    for _ in range(case["request"]["dynamodb_max_depth"] - 1):
        deep = {"m": deep}
    detail = _bus_detail({"deep": deep})
    depth = max_depth = 0
    for char in detail:  # brackets inside strings do not occur in this detail
        depth += {"{": 1, "[": 1, "}": -1, "]": -1}.get(char, 0)
        max_depth = max(max_depth, depth)
    assert max_depth < case["expect"]["max_detail_depth_below"]


# -- global tables ----------------------------------------------------------------------------

GLOBAL = [c for c in cases("sinks", operation="DescribeTable")]


@pytest.mark.parametrize("case", GLOBAL, ids=_ids(GLOBAL))
def test_a_replica_of_the_sources_global_table_is_refused(case: Case) -> None:
    region = versioned.region_of(case["target"])
    client = boto3.client("dynamodb", region_name=region)
    stubber = Stubber(client)
    stubber.add_response("describe_table", case["response"], {"TableName": case["target"]})
    stubber.activate()
    aws.set_client("dynamodb", client, region)
    processor = replicate.build({"REPLICA_TABLE": case["target"]})
    record = f.record("INSERT", {"pk": "x"}, {"v": 1}, stream_arn=case["stream_arn"])
    with pytest.raises(BatchFailed, match="is a replica of the stream's own global table"):
        run_batch(f.event([record]), f.Context(), [processor], None)
    assert case["expect"]["refused"] is True
    stubber.assert_no_pending_responses()


def test_order_texts_compare_as_dynamodb_compares_strings() -> None:
    case = _case("botocore-dynamodb-model", "condition-comparisons")
    texts = case["request"]["ordered_strings"]
    assert sorted(texts, key=lambda t: t.encode()) == texts
    for text in texts:  # each is a stamp: 10 digits of time, 2 of length, the number
        assert len(text) == 12 + int(text[10:12]) and text.isascii() and text.isdigit()


# -- idempotency tokens: which calls a retry can repeat ----------------------------------------

TOKENS = [c for c in cases("sinks") if "idempotency_token" in c["expect"]]


@pytest.mark.parametrize("case", TOKENS, ids=_ids(TOKENS))
def test_which_calls_carry_an_idempotency_token(case: Case) -> None:
    """The publishers' calls carry none (a call sent again after its answer was lost
    publishes twice: tests/reliability/test_network_faults.py), the analytics commit does."""
    shape = model(case["service"]).operation_model(case["operation"]).input_shape
    tokens = [n for n, s in shape.members.items() if s.metadata.get("idempotencyToken")]
    want = case["expect"]["idempotency_token"]
    assert tokens == ([want] if want else [])


# -- SNS FIFO: calls in flight at once --------------------------------------------------------


class _FifoTopic:
    """A thread-safe PublishBatch answering as the SNS model shapes it (``Successful`` with
    ``Id``, ``MessageId`` and, on a FIFO topic, ``SequenceNumber``; ``Failed`` for the entries
    of the call numbered ``failing``), noting the groups in flight. The first two calls wait
    for each other (at most 10 s), so overlapping calls of other groups is observed."""

    def __init__(self, group_of: dict[str, str], failing: int | None = None) -> None:
        self.group_of = group_of  # MessageGroupId -> item
        self.failing = failing
        self.meet = threading.Barrier(2, timeout=10)
        self.made: list[int] = []
        self.clashes = 0
        self._busy: set[str] = set()
        self._lock = threading.Lock()

    def publish_batch(self, TopicArn: str, PublishBatchRequestEntries: list[Any]) -> Any:
        entries = PublishBatchRequestEntries
        call = int(entries[0]["Id"]) // 10
        groups = {self.group_of[e["MessageGroupId"]] for e in entries}
        with self._lock:
            self.made.append(call)
            self.clashes += bool(groups & self._busy)
            self._busy |= groups
        try:
            if call in (0, 1):
                self.meet.wait()
            if call == self.failing:
                failed = [
                    {"Id": e["Id"], "Code": "KMSAccessDenied", "SenderFault": True} for e in entries
                ]
                return {"Successful": [], "Failed": failed}
            return {
                "Successful": [
                    {"Id": e["Id"], "MessageId": f"m-{e['Id']}", "SequenceNumber": "1" * 20}
                    for e in entries
                ],
                "Failed": [],
            }
        finally:
            with self._lock:
                self._busy -= groups


def _fifo_run(case: Case) -> tuple[_FifoTopic, Outcome]:
    """Records whose calls carry the case's groups (10 entries a call, the rest of each
    call items of their own), published to the case's FIFO topic by our processor."""
    raw = []
    for n, groups in enumerate(case["request"]["groups_per_call"]):
        items = [*groups, *(f"own-{n}-{i}" for i in range(10 - len(groups)))]
        raw += [f.record("INSERT", {"job_id": item}, {"v": 1}) for item in items]
    records = parse_event(f.event(f.sequential(raw)))
    group_of = {
        notification.NotificationProcessor._group_id(r): str(r.keys["job_id"]) for r in records
    }
    topic = _FifoTopic(group_of, case["request"].get("failing_call"))
    processor = notification.NotificationProcessor(case["request"]["TopicArn"], lambda: topic)
    outcome = processor.process(records, Batch(records, f.STREAM_ARN, Budget(f.Context())))
    return topic, outcome


def test_fifo_calls_of_one_group_never_overlap() -> None:
    case = _case("sns-publishbatch-fifo-order", "fifo-batch-in-entry-order")
    topic, outcome = _fifo_run(case)
    assert outcome.failure is None and sorted(topic.made) == [0, 1, 2, 3]
    assert (topic.clashes > 0) is case["expect"]["calls_of_one_group_overlap"]
    assert topic.made.index(0) < topic.made.index(2)  # item 'a': first call first
    # calls 0 and 1 met while both in flight: calls of other groups overlap
    assert case["expect"]["calls_of_other_groups_overlap"] and not topic.meet.broken


def test_fifo_a_failed_call_stops_the_later_calls_of_its_groups() -> None:
    case = _case("sns-publishbatch-fifo-order", "fifo-groups-ordered-independently")
    topic, outcome = _fifo_run(case)
    assert (outcome.done, outcome.failure) == (0, Failure.TRANSIENT)
    for call in case["expect"]["calls_never_made"]:
        assert call not in topic.made
    assert topic.clashes == 0
