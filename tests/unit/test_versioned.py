"""The ordering value and typed-image helpers of handlers/versioned.py (no AWS)."""

from __future__ import annotations

import base64
import random
from decimal import Decimal
from typing import Any

import pytest

from handlers.batch import Failure
from handlers.codec import MalformedValue, RecordError
from handlers.stream import parse_event
from handlers.versioned import (
    Ordering,
    change_order,
    change_version,
    classify,
    loops_back,
    maybe_global_replica,
    region_of,
    same_key,
    target_arn,
    to_wire,
)
from tests import factories as f


def one(rec: dict[str, object]) -> object:
    (record,) = parse_event(f.event([rec]))
    return record


def version(created: int, seq: int) -> Decimal:
    rec = f.record("INSERT", {"pk": "a"}, seq=seq, created=created)
    text = change_version(one(rec))  # type: ignore[arg-type]
    assert len(text.lstrip("-")) <= 38  # DynamoDB's precision
    return Decimal(text)


def test_change_version_orders_by_time_then_sequence_number() -> None:
    # GIVEN pairs (time, sequence number) of every realistic length, in random order
    rng = random.Random(8)
    pairs = {
        (t, rng.randrange(10 ** (d - 1), 10**d))
        for t in (1_767_225_600, 1_767_225_601, 1_900_000_000)
        for d in range(21, 27)
        for _ in range(20)
    }
    ordered = sorted(pairs)
    # THEN the encoded values sort exactly as (time, sequence number) does: no ties
    values = [version(t, s) for t, s in ordered]
    assert values == sorted(values) and len(set(values)) == len(values)


def test_long_sequence_numbers_stay_monotonic_in_the_version() -> None:
    t = 1_767_225_600
    a = 4421584500000000017450439091  # 28 digits (the documented example)
    assert version(t, a) < version(t, a + 100)  # differ within the first 26 digits
    assert version(t, a) == version(t, a + 1)  # the version alone ties: _ddbt_order decides
    assert version(t, 10**27) > version(t, 10**26 - 1)  # length first
    assert version(t, 10**39) < version(t + 1, 10**20)  # time first
    assert version(t, 9 * 10**40) > version(t, 10**39)  # backfill's 41 digits


def order(created: int, seq: int) -> str:
    rec = f.record("INSERT", {"pk": "a"}, seq=seq, created=created)
    return change_order(one(rec))  # type: ignore[arg-type]


def test_change_order_sorts_as_the_stream_at_every_sequence_number_length() -> None:
    # GIVEN (time, sequence number) pairs of every length the Streams API allows (21 to 40
    # digits, botocore's dynamodbstreams model) and backfill's 41, many in one second and
    # agreeing on their first 26 digits or more
    rng = random.Random(20)
    pairs = set()
    for t in (0, 1_767_225_600, 1_767_225_601, 9_999_999_999):
        for digits in range(21, 42):
            base = rng.randrange(10 ** (digits - 1), 10**digits - 10**6)
            pairs.update((t, base + rng.randrange(10**6)) for _ in range(5))
            pairs.update({(t, base), (t, base + 1)})
    ordered = sorted(pairs)
    # THEN the texts sort (as DynamoDB compares S values: by their bytes) exactly as the
    # pairs do, with no ties
    texts = [order(t, s) for t, s in ordered]
    assert texts == sorted(texts, key=lambda x: x.encode()) and len(set(texts)) == len(texts)
    assert {len(x) for x in texts} == {10 + 2 + d for d in range(21, 42)}


def test_the_documented_sample_events_stamps_are_ordered() -> None:
    """The Lambda guide's INSERT, MODIFY, REMOVE of one item in one second (28-digit
    sequence numbers that differ in the last digit): one version, three orders."""
    t = 1_428_537_600
    seqs = [
        4421584500000000017450439091,
        4421584500000000017450439092,
        4421584500000000017450439093,
    ]
    assert len({version(t, s) for s in seqs}) == 1
    assert [order(t, s) for s in seqs] == sorted(order(t, s) for s in seqs)
    assert len({order(t, s) for s in seqs}) == 3


def test_change_version_rejects_bad_time_and_sequence() -> None:
    rec = f.record("INSERT", {"pk": "a"})
    rec["dynamodb"]["ApproximateCreationDateTime"] = "yesterday"
    with pytest.raises(RecordError, match="ApproximateCreationDateTime"):
        change_version(one(rec))  # type: ignore[arg-type]
    rec = f.record("INSERT", {"pk": "a"})
    rec["dynamodb"]["SequenceNumber"] = "12ab"
    with pytest.raises(RecordError, match="SequenceNumber"):
        change_version(one(rec))  # type: ignore[arg-type]


def test_version_attribute_must_be_a_valid_number() -> None:
    ordering = Ordering("rev", "VIEW_VERSION_ATTRIBUTE")
    record = one(f.record("INSERT", {"pk": "a"}, {"rev": 3}))
    assert ordering.of_image(record, {"rev": {"N": "3"}}, "NewImage").version == "3"  # type: ignore[arg-type]
    with pytest.raises(RecordError, match=r"NewImage has no numeric attribute 'rev'.*VIEW_VER"):
        ordering.of_image(record, {}, "NewImage")  # type: ignore[arg-type]
    with pytest.raises(RecordError, match=r"NewImage\.rev .*must be a number"):
        ordering.of_image(record, {"rev": {"S": "3"}}, "NewImage")  # type: ignore[arg-type]
    with pytest.raises(MalformedValue, match=r"NewImage\.rev"):
        ordering.of_image(record, {"rev": {"N": "three"}}, "NewImage")  # type: ignore[arg-type]


def test_to_wire_decodes_binary_and_copies_only_then() -> None:
    plain = {"pk": {"S": "a"}, "n": {"N": "1"}, "m": {"M": {"l": {"L": [{"S": "x"}]}}}}
    assert to_wire(plain, "NewImage") is plain  # nothing to convert: no copy
    blob = base64.b64encode(b"\x00\xff").decode()
    image = {"pk": {"S": "a"}, "b": {"B": blob}, "m": {"M": {"l": {"L": [{"BS": [blob]}]}}}}
    wire = to_wire(image, "NewImage")
    assert wire == {
        "pk": {"S": "a"},
        "b": {"B": b"\x00\xff"},
        "m": {"M": {"l": {"L": [{"BS": [b"\x00\xff"]}]}}},
    }
    assert image["b"] == {"B": blob}  # the event is not modified
    with pytest.raises(MalformedValue, match=r"NewImage\.b: B is not valid base64"):
        to_wire({"b": {"B": "not base64!"}}, "NewImage")
    with pytest.raises(MalformedValue, match=r"NewImage\.x: unknown type tag"):
        to_wire({"x": {"Q": "1"}}, "NewImage")


def test_same_key_compares_numbers_as_numbers() -> None:
    assert same_key({"k": {"N": "1"}}, {"k": {"N": "1.0"}}, "Keys")
    assert not same_key({"k": {"N": "1"}}, {"k": {"N": "2"}}, "Keys")
    assert not same_key({"k": {"S": "1"}}, {"k": {"N": "1"}}, "Keys")


def test_region_of_and_classify() -> None:
    assert region_of("arn:aws:dynamodb:us-west-2:123456789012:table/r") == "us-west-2"
    assert region_of("replica") == ""
    from botocore.exceptions import ClientError, ParamValidationError

    def err(code: str) -> ClientError:
        return ClientError({"Error": {"Code": code, "Message": "m"}}, "PutItem")

    assert classify(err("ValidationException"), "w")[0] is Failure.POISON
    assert classify(ParamValidationError(report="bad"), "w")[0] is Failure.POISON
    assert classify(err("ProvisionedThroughputExceededException"), "w")[0] is Failure.TRANSIENT
    assert classify(err("ResourceNotFoundException"), "w")[0] is Failure.TRANSIENT


def test_loops_back_names_a_target_that_is_the_source_table(monkeypatch: Any) -> None:
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    arn = f.STREAM_ARN  # table "applications" in us-east-1
    assert "stream's own table (applications in us-east-1)" in loops_back(arn, "applications", "")
    table_arn = "arn:aws:dynamodb:us-east-1:123456789012:table/applications"
    assert loops_back(arn, table_arn, "us-east-1")
    assert loops_back(arn, "applications", "us-west-2") == ""  # same name, another region
    assert loops_back(arn, "applications-replica", "") == ""
    other_account = "arn:aws:dynamodb:us-east-1:210987654321:table/applications"
    assert loops_back(arn, other_account, "") == ""


def test_a_version_attribute_of_the_wrong_type_is_named_without_its_value() -> None:
    from handlers.versioned import Ordering

    ordering = Ordering("version", "VIEW_VERSION_ATTRIBUTE")
    with pytest.raises(RecordError) as caught:
        ordering.version_in({"version": {"S": "s3cr3t-token"}}, "NewImage")
    assert str(caught.value) == (
        "NewImage.version (named by VIEW_VERSION_ATTRIBUTE) must be a number (N), "
        "got a value with 1 type tag ('S')"
    )


def test_targets_named_like_the_source_in_another_region_may_be_its_global_replicas(
    monkeypatch: Any,
) -> None:
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    arn = f.STREAM_ARN  # table "applications" in us-east-1, account 123456789012
    west = "arn:aws:dynamodb:us-west-2:123456789012:table/applications"
    assert target_arn(arn, "applications", "us-west-2") == west
    assert target_arn(arn, west, "") == west
    assert maybe_global_replica(arn, "applications", "us-west-2") == "us-east-1"
    assert maybe_global_replica(arn, west, "") == "us-east-1"
    other_account = "arn:aws:dynamodb:eu-west-1:210987654321:table/applications"
    assert maybe_global_replica(arn, other_account, "") == "us-east-1"  # multi-account
    assert maybe_global_replica(arn, "applications", "") == ""  # the same table: loops_back
    assert maybe_global_replica(arn, "applications-copy", "us-west-2") == ""
    assert maybe_global_replica("not-an-arn", "applications", "us-west-2") == ""
