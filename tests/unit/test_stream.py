"""parse_event and StreamRecord on realistic events (tests/events/*.json): every field for each
view type and event name, the TTL marker, creation time in UTC, the table name from the ARN,
non-stream events, and records that fail alone."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from handlers.batch import run_batch
from handlers.codec import MalformedValue, RecordError
from handlers.stream import (
    EventName,
    NotAStreamEvent,
    StreamRecord,
    ViewType,
    parse_event,
    sequence_numbers,
    sequence_problem,
)
from tests import factories

EVENTS = Path(__file__).parent.parent / "events"
ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/applications/stream/2026-01-01T00:00:00.000"
JAN_1 = datetime(2026, 1, 1, tzinfo=UTC)
KEYS = {"application_id": "app-1001", "job_id": "job-77"}


def load(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))  # type: ignore[no-any-return]


# -- the NEW_AND_OLD_IMAGES event: every field ------------------------------------------------


def test_insert_record_fields() -> None:
    insert = parse_event(load("dynamoStreamEvent.json"))[0]
    insert.check()
    assert insert.index == 0
    assert insert.event_id == "4b1a2d1c7e0f4b4e9f3c0e5a1d2b3c4d"
    assert insert.event_name is EventName.INSERT
    assert insert.sequence_number == "4421584500000000017450439091"
    assert insert.seq == 4421584500000000017450439091
    assert insert.view_type is ViewType.NEW_AND_OLD_IMAGES
    assert insert.stream_arn == ARN
    assert insert.table_name == "applications"
    assert insert.stream_label == "2026-01-01T00:00:00.000"
    assert insert.creation_time == JAN_1
    assert insert.creation_time.tzinfo is UTC
    assert insert.creation_iso == "2026-01-01T00:00:00Z"
    assert insert.size_bytes > 0
    assert insert.ttl_expired is False
    assert insert.keys == KEYS
    assert insert.old_image is None
    assert insert.raw_old_image is None
    assert insert.image is insert.new_image


def test_images_decode_every_type() -> None:
    new = parse_event(load("dynamoStreamEvent.json"))[0].new_image
    assert new == {
        "application_id": "app-1001",
        "job_id": "job-77",
        "status": "APPLIED",
        "candidate": "Zoë Åström-Núñez",
        "score": Decimal("87.5"),
        "salary": Decimal("12345678901234567890123456789012345678"),
        "avatar": bytes(range(0, 256, 17)),
        "skills": {"aws", "dynamodb", "python"},
        "ratings": {Decimal("4"), Decimal("4.5"), Decimal("10")},
        "fingerprints": {b"\x00\x01", b"\xff\xfe\xfd"},
        "address": {
            "city": "Lisbon",
            "geo": {"lat": Decimal("38.7223"), "lon": Decimal("-9.1393")},
        },
        "history": ["APPLIED", Decimal("1767225600"), True],
        "remote": False,
        "referrer": None,
        "notes": "",
        "profile.url": "https://example.com/zoë",
    }
    assert type(new["avatar"]) is bytes
    assert str(new["salary"]) == "12345678901234567890123456789012345678"


def test_modify_record_has_both_images() -> None:
    modify = parse_event(load("dynamoStreamEvent.json"))[1]
    modify.check()
    assert modify.event_name is EventName.MODIFY
    assert modify.creation_time == datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC)
    assert modify.old_image is not None and modify.new_image is not None
    assert (modify.old_image["status"], modify.new_image["status"]) == ("APPLIED", "INTERVIEW")
    assert (modify.old_image["score"], modify.new_image["score"]) == (Decimal("87.5"), 91)
    assert modify.image is modify.new_image


def test_remove_record_has_the_old_image() -> None:
    remove = parse_event(load("dynamoStreamEvent.json"))[2]
    remove.check()
    assert remove.event_name is EventName.REMOVE
    assert remove.keys == {"application_id": "app-0999", "job_id": "job-12"}
    assert remove.new_image is None
    assert remove.old_image == {**remove.keys, "status": "REJECTED"}
    assert remove.image is remove.old_image
    assert remove.ttl_expired is False  # deleted by a user, not by TTL
    assert remove.creation_iso == "2026-01-01T00:59:59Z"


def test_records_keep_delivery_order() -> None:
    records = parse_event(load("dynamoStreamEvent.json"))
    assert [r.index for r in records] == [0, 1, 2]
    assert [r.seq for r in records] == sorted(r.seq for r in records)
    assert sequence_problem(records) == ""


def test_images_are_decoded_once() -> None:
    record = parse_event(load("dynamoStreamEvent.json"))[1]
    assert record.new_image is record.new_image
    assert record.old_image is record.old_image
    assert record.keys is record.keys


# -- each view type x event name --------------------------------------------------------------

VIEW_FILES = {
    "KEYS_ONLY": "dynamoStreamKeysOnlyEvent.json",
    "NEW_IMAGE": "dynamoStreamNewImageEvent.json",
    "OLD_IMAGE": "dynamoStreamOldImageEvent.json",
    "NEW_AND_OLD_IMAGES": "dynamoStreamEvent.json",
}
# which images each (view type, event name) carries, as DynamoDB sends them
CARRIES = {
    ("KEYS_ONLY", "INSERT"): (False, False),
    ("KEYS_ONLY", "MODIFY"): (False, False),
    ("KEYS_ONLY", "REMOVE"): (False, False),
    ("NEW_IMAGE", "INSERT"): (True, False),
    ("NEW_IMAGE", "MODIFY"): (True, False),
    ("NEW_IMAGE", "REMOVE"): (False, False),
    ("OLD_IMAGE", "INSERT"): (False, False),
    ("OLD_IMAGE", "MODIFY"): (False, True),
    ("OLD_IMAGE", "REMOVE"): (False, True),
    ("NEW_AND_OLD_IMAGES", "INSERT"): (True, False),
    ("NEW_AND_OLD_IMAGES", "MODIFY"): (True, True),
    ("NEW_AND_OLD_IMAGES", "REMOVE"): (False, True),
}


@pytest.mark.parametrize(("view", "name"), sorted(CARRIES))
def test_view_type_and_event_name(view: str, name: str) -> None:
    [record] = [r for r in parse_event(load(VIEW_FILES[view])) if r.raw["eventName"] == name]
    record.check()  # a missing image is never a record error
    has_new, has_old = CARRIES[(view, name)]
    assert record.view_type is ViewType(view)
    assert record.event_name is EventName(name)
    assert record.keys  # always there
    assert (record.new_image is not None) is has_new
    assert (record.old_image is not None) is has_old
    assert (record.raw_new_image is not None) is has_new
    assert (record.raw_old_image is not None) is has_old
    expected_image = record.old_image if name == "REMOVE" else record.new_image
    assert record.image is expected_image
    for image in (record.new_image, record.old_image):
        if image is not None:
            assert {k: image[k] for k in record.keys} == record.keys


def test_factory_records_match_the_files() -> None:
    # the factories used by every other test produce the same shapes as the sample events
    for (view, name), (has_new, has_old) in CARRIES.items():
        record = parse_event(factories.event([factories.record(name, view_type=view)]))[0]
        assert (record.new_image is not None, record.old_image is not None) == (has_new, has_old)


# -- TTL -----------------------------------------------------------------------------------------


def test_ttl_deletion_is_marked() -> None:
    [record] = parse_event(load("dynamoStreamTtlEvent.json"))
    record.check()
    assert record.ttl_expired is True
    assert record.event_name is EventName.REMOVE
    assert record.old_image is not None and record.old_image["expires_at"] == 1767225600


@pytest.mark.parametrize(
    "identity",
    [
        {"type": "Service", "principalId": "lambda.amazonaws.com"},
        {"type": "User", "principalId": "dynamodb.amazonaws.com"},
        "dynamodb.amazonaws.com",
        None,
    ],
)
def test_other_identities_are_not_ttl(identity: Any) -> None:
    event = load("dynamoStreamTtlEvent.json")
    event["Records"][0]["userIdentity"] = identity
    assert parse_event(event)[0].ttl_expired is False


# -- creation time ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1767225600, JAN_1),
        (1693997155.0, datetime(2023, 9, 6, 10, 45, 55, tzinfo=UTC)),  # Powertools sample
        (1767225600.999, JAN_1),  # Lambda rounds down to the second; so do we
        (Decimal("1767225600"), JAN_1),
    ],
)
def test_creation_time_is_utc(value: Any, expected: datetime) -> None:
    record = parse_event(factories.event([factories.record(created=value)]))[0]
    assert record.creation_time == expected
    assert record.creation_time.utcoffset() is not None
    assert record.creation_iso == expected.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize("value", ["1767225600", True, None, float("nan"), float("inf"), 10**30])
def test_bad_creation_time_is_a_record_error(value: Any) -> None:
    rec = factories.record()
    rec["dynamodb"]["ApproximateCreationDateTime"] = value
    record = parse_event(factories.event([rec]))[0]
    with pytest.raises(RecordError, match="ApproximateCreationDateTime"):
        record.creation_time  # noqa: B018


# -- table name and stream label -------------------------------------------------------------


@pytest.mark.parametrize(
    ("arn", "table", "label"),
    [
        (ARN, "applications", "2026-01-01T00:00:00.000"),
        (
            "arn:aws-cn:dynamodb:cn-north-1:123456789012:table/my.table-v2_x/stream/2025-12-31T23:59:59.999",
            "my.table-v2_x",
            "2025-12-31T23:59:59.999",
        ),
        ("arn:aws:dynamodb:us-east-1:123456789012:table/t", "t", ""),
        ("eventsource_arn", "", ""),
    ],
)
def test_table_name_and_label_from_the_arn(arn: str, table: str, label: str) -> None:
    record = parse_event(factories.event([factories.record(stream_arn=arn)]))[0]
    assert (record.table_name, record.stream_label) == (table, label)


def test_records_without_an_arn_share_the_batch_arn() -> None:
    # raw GetRecords output (a local poller) carries no eventSourceARN at all
    event = load("dynamoStreamEvent.json")
    for rec in event["Records"]:
        del rec["eventSourceARN"]
    records = parse_event(event)
    for record in records:
        record.check()
        assert record.stream_arn == ""
        assert record.table_name == ""


# -- not a stream event --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (None, "expected a DynamoDB stream event (object), got NoneType"),
        ([], "expected a DynamoDB stream event (object), got list"),
        ("Records", "expected a DynamoDB stream event (object), got str"),
        ({}, "expected a DynamoDB stream event with a 'Records' list; got keys: none"),
        (
            {"Records": {"eventSource": "aws:dynamodb"}},
            "expected a DynamoDB stream event: 'Records' must be a list, got dict",
        ),
        (
            load("apiGatewayProxyEvent.json"),
            "expected a DynamoDB stream event with a 'Records' list; got keys: body, headers, "
            "httpMethod, isBase64Encoded, path, pathParameters, queryStringParameters, "
            "requestContext, resource",
        ),
        (load("sqsEvent.json"), "no record has eventSource 'aws:dynamodb' (found: aws:sqs)"),
        (
            {"Records": [{"eventSource": "aws:kinesis"}, "x"]},
            "no record has eventSource 'aws:dynamodb' (found: None, aws:kinesis)",
        ),
    ],
    ids=["None", "list", "str", "empty", "Records-object", "api-gateway", "sqs", "kinesis"],
)
def test_not_a_stream_event(event: Any, message: str) -> None:
    with pytest.raises(NotAStreamEvent) as caught:
        parse_event(event)
    assert str(caught.value) == message


def test_not_a_stream_event_is_raised_by_the_engine() -> None:
    with pytest.raises(NotAStreamEvent):
        run_batch(load("sqsEvent.json"), factories.Context(), [], None)


def test_empty_records() -> None:
    assert parse_event({"Records": []}) == []
    assert sequence_problem([]) == ""
    assert run_batch({"Records": []}, factories.Context(), [], None) == {"batchItemFailures": []}


# -- records that fail alone ----------------------------------------------------------------------


def three_with(change: Any) -> list[StreamRecord]:
    event = load("dynamoStreamEvent.json")
    change(event["Records"][1])
    return parse_event(event)


def assert_alone(records: list[StreamRecord], message: str) -> None:
    records[0].check()
    records[2].check()
    assert records[0].new_image is not None and records[2].old_image is not None
    with pytest.raises(RecordError) as caught:
        records[1].check()
    assert str(caught.value) == message


def test_record_from_another_table_fails_alone() -> None:
    other = ARN.replace("table/applications", "table/jobs")
    records = three_with(lambda r: r.update(eventSourceARN=other))
    assert_alone(records, f"record comes from another stream ('{other}') than the batch ({ARN})")
    assert records[1].stream_arn == ARN  # the batch's stream, not its own


def test_record_from_another_stream_of_the_same_table_fails_alone() -> None:
    other = ARN.replace("2026-01-01T00:00:00.000", "2025-06-01T00:00:00.000")
    records = three_with(lambda r: r.update(eventSourceARN=other))
    assert_alone(records, f"record comes from another stream ('{other}') than the batch ({ARN})")


def test_wrong_event_source_fails_alone() -> None:
    records = three_with(lambda r: r.update(eventSource="aws:kinesis"))
    assert_alone(records, "eventSource must be 'aws:dynamodb', got 'aws:kinesis'")


def test_missing_dynamodb_block_fails_alone() -> None:
    records = three_with(lambda r: r.pop("dynamodb"))
    assert_alone(records, "the 'dynamodb' block is missing")
    assert records[1].sequence_number == ""
    with pytest.raises(RecordError, match=r"dynamodb\.Keys is missing"):
        records[1].keys  # noqa: B018
    # ... and such a record cannot be reported by sequence number
    assert sequence_problem(records) == (
        "record 1 (eventID 5c2b3e2d8f1a5c5fa04d1f6b2e3c4d5e) has no valid "
        "dynamodb.SequenceNumber (''), so it cannot be reported as a batch item failure"
    )


def test_bad_event_name_fails_alone() -> None:
    records = three_with(lambda r: r.update(eventName="modify"))
    assert_alone(records, "eventName must be INSERT, MODIFY or REMOVE, got 'modify'")
    with pytest.raises(RecordError):
        records[1].image  # noqa: B018


def test_missing_keys_fail_alone() -> None:
    records = three_with(lambda r: r["dynamodb"].pop("Keys"))
    assert_alone(records, "dynamodb.Keys is missing or not an attribute map")


def test_a_malformed_image_fails_only_where_it_is_used() -> None:
    records = three_with(lambda r: r["dynamodb"]["NewImage"].update(score={"N": "8 7"}))
    record = records[1]
    record.check()  # the record itself is fine
    assert record.keys == KEYS
    assert record.old_image is not None
    with pytest.raises(MalformedValue) as caught:
        record.new_image  # noqa: B018
    assert str(caught.value) == (
        "NewImage.score: N must be a decimal number string, "
        "got a str of 3 characters that is not one"
    )
    with pytest.raises(MalformedValue):
        record.image  # noqa: B018


def test_bad_view_type_is_a_record_error() -> None:
    records = three_with(lambda r: r["dynamodb"].update(StreamViewType="EVERYTHING"))
    with pytest.raises(RecordError, match="EVERYTHING"):
        records[1].view_type  # noqa: B018
    assert three_with(lambda r: r["dynamodb"].pop("StreamViewType"))[1].view_type is None


# -- sequence numbers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, "''"),
        ("", "''"),
        (4421584600000000017450439127, "''"),
        ("4421584600000000017450439127x", "'4421584600000000017450439127x'"),
        ("44215846000000000174504391²", "'44215846000000000174504391²'"),
        ("٤٤٢١", "'٤٤٢١'"),
        ("1_000", "'1_000'"),  # int() accepts these four
        ("+12", "'+12'"),
        ("-12", "'-12'"),
        (" 12", "' 12'"),
    ],
)
def test_sequence_problem_names_the_record(value: Any, shown: str) -> None:
    """The problem names the record; the batch's one-pass parse (``sequence_numbers``) fails as the
    record's ``seq`` does, and gives the same integers for a good batch."""
    good = three_with(lambda rec: None)
    assert sequence_numbers(good) == [r.seq for r in good]
    assert sequence_numbers([]) == []

    def change(rec: dict[str, Any]) -> None:
        if value is None:
            del rec["dynamodb"]["SequenceNumber"]
        else:
            rec["dynamodb"]["SequenceNumber"] = value

    records = three_with(change)
    assert sequence_problem(records) == (
        f"record 1 (eventID 5c2b3e2d8f1a5c5fa04d1f6b2e3c4d5e) has no valid "
        f"dynamodb.SequenceNumber ({shown}), so it cannot be reported as a batch item failure"
    )
    with pytest.raises(RecordError, match="SequenceNumber") as expected:
        records[1].seq  # noqa: B018
    with pytest.raises(RecordError) as got:
        sequence_numbers(records)
    assert str(got.value) == str(expected.value)
    records[1].check()  # the record's content is fine; only reporting it is impossible


def test_sequence_numbers_of_40_digits() -> None:
    rec = factories.record(seq=10**39 + 7)
    [record] = parse_event(factories.event([rec]))
    assert record.seq == 10**39 + 7
    assert sequence_problem([record]) == ""


def test_powertools_sample_event() -> None:
    # Powertools' own sample (eventVersion 1.0, float creation time, one ARN per record):
    # two ARNs in one batch cannot both be the batch's stream, so the second record fails
    event: dict[str, Any] = {
        "Records": [
            {
                "eventID": "1",
                "eventVersion": "1.0",
                "dynamodb": {
                    "ApproximateCreationDateTime": 1693997155.0,
                    "Keys": {"Id": {"N": "101"}},
                    "NewImage": {"Message": {"S": "New item!"}, "Id": {"N": "101"}},
                    "StreamViewType": "NEW_AND_OLD_IMAGES",
                    "SequenceNumber": "111",
                    "SizeBytes": 26,
                },
                "awsRegion": "us-west-2",
                "eventName": "INSERT",
                "eventSourceARN": "eventsource_arn",
                "eventSource": "aws:dynamodb",
            },
        ]
    }
    second = copy.deepcopy(event["Records"][0])
    second.update(eventID="2", eventName="MODIFY", eventSourceARN="source_arn")
    second["dynamodb"]["SequenceNumber"] = "222"
    event["Records"].append(second)
    first, other = parse_event(event)
    first.check()
    assert first.keys == {"Id": 101}
    assert first.new_image == {"Message": "New item!", "Id": 101}
    assert first.creation_time == datetime(2023, 9, 6, 10, 45, 55, tzinfo=UTC)
    with pytest.raises(RecordError, match="another stream"):
        other.check()
