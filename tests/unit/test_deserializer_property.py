"""Property tests of the attribute-value codec's decoders and the record model (hypothesis).

1. On every value boto3 can serialise, ``codec.deserialize`` of the Lambda event form equals
   boto3's ``TypeDeserializer`` on the wire form, down to each number's exact digits and
   exponent, and ``codec.to_json`` is exactly the JSON view of that value.
2. On DynamoDB's whole number range (including values boto3 cannot handle: 38 digits near
   1E-130, and numbers written out with trailing zeros as DynamoDB sends them) both decoders
   keep the exact value.
3. Garbage: whatever JSON-ish input reaches the decoders, ``parse_event`` or a record's
   accessors, the only errors are the documented ones (``MalformedValue``/``RecordError``/
   ``NotAStreamEvent``), the fast paths agree with the careful walk, and ``to_json`` agrees
   with ``deserialize`` whenever the value is accepted.
"""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import DYNAMODB_CONTEXT, Binary, TypeDeserializer, TypeSerializer
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from handlers import codec
from handlers.codec import (
    MalformedValue,
    RecordError,
    deserialize,
    deserialize_image,
    image_to_json,
    to_json,
)
from handlers.stream import NotAStreamEvent, parse_event, sequence_problem
from tests import factories
from tests.factories import _event_form

SERIALIZER = TypeSerializer()
DESERIALIZER = TypeDeserializer()
FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# -- comparing exactly ------------------------------------------------------------------


def strict(value: Any) -> Any:
    """A form where equal means identical: numbers by their exact text (digits and exponent),
    booleans apart from numbers, Binary and bytes alike, sets as frozensets."""
    if isinstance(value, bool):
        return ("BOOL", value)
    if isinstance(value, Decimal):
        return ("N", str(value))
    if isinstance(value, Binary):
        return ("B", bytes(value.value))
    if isinstance(value, (bytes, bytearray)):
        return ("B", bytes(value))
    if isinstance(value, dict):
        return ("M", tuple((k, strict(v)) for k, v in value.items()))
    if isinstance(value, list):
        return ("L", tuple(strict(v) for v in value))
    if isinstance(value, (set, frozenset)):
        return ("SET", frozenset(strict(v) for v in value))
    return value


def _raw(member: Any) -> Any:
    return bytes(member.value) if isinstance(member, Binary) else member


def json_view(value: Any) -> Any:
    """The JSON ``to_json`` must write for a decoded value, as json.loads(Decimal) reads it:
    numbers exact, bytes as base64, sets as sorted lists (NS numerically, BS by bytes)."""
    if isinstance(value, dict):
        return {k: json_view(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_view(v) for v in value]
    if isinstance(value, (Binary, bytes, bytearray)):
        return base64.b64encode(_raw(value)).decode()
    if isinstance(value, (set, frozenset)):
        return [json_view(m) for m in sorted(value, key=_raw)]
    return value


def loads(text: str) -> Any:
    return json.loads(text, parse_float=Decimal, parse_int=Decimal)


# -- generating DynamoDB values ------------------------------------------------------------


@st.composite
def dynamodb_numbers(draw: st.DrawFn) -> Decimal:
    """Any number DynamoDB stores: up to 38 significant digits, magnitude 1E-130 to
    9.99...E+125, and zero."""
    if draw(st.integers(0, 20)) == 0:
        return Decimal(0)
    digits = draw(st.integers(1, 38))
    coefficient = draw(st.integers(10 ** (digits - 1), 10**digits - 1))
    adjusted = draw(st.integers(-130, 125))
    sign = draw(st.integers(0, 1))
    return Decimal((sign, tuple(map(int, str(coefficient))), adjusted - digits + 1))


EDGE_NUMBERS = [
    Decimal("9.9999999999999999999999999999999999999E+125"),
    Decimal("-9.9999999999999999999999999999999999999E+125"),
    Decimal("1E-130"),
    Decimal("-1E-130"),
    Decimal("12345678901234567890123456789012345678"),
    Decimal("0.12345678901234567890123456789012345678"),
    Decimal("1.2345678901234567890123456789012345678E-130"),  # boto3 raises Underflow
    Decimal("1E+100"),
]


def _boto3_accepts(number: Decimal) -> bool:
    try:
        DYNAMODB_CONTEXT.create_decimal(number)
    except ArithmeticError:
        return False
    return True


all_numbers = st.one_of(dynamodb_numbers(), st.sampled_from(EDGE_NUMBERS))
boto3_numbers = st.one_of(
    all_numbers.filter(_boto3_accepts),
    st.integers(-(10**38) + 1, 10**38 - 1),
)
scalars = st.one_of(st.text(), boto3_numbers, st.binary(), st.booleans(), st.none())
sets = st.one_of(
    st.sets(st.text(), min_size=1, max_size=6),
    st.sets(boto3_numbers, min_size=1, max_size=6),
    st.sets(st.binary(), min_size=1, max_size=6),
)
python_values = st.recursive(
    st.one_of(scalars, sets),
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(st.text(max_size=12), children, max_size=5),
    ),
    max_leaves=25,
)


def wire_and_event(value: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """boto3's wire form (bytes as Binary) and the Lambda event form (bytes as base64)."""
    wire = SERIALIZER.serialize(value)
    return wire, _event_form(wire)


# -- 1. equal to boto3 ----------------------------------------------------------------------


@FAST
@given(python_values)
@example({"s": "", "n": Decimal("-0.5"), "b": b"", "bs": {b"\x00", b"\xff"}, "ns": {1, 2}})
@example([None, True, False, "Zoë 🎉", Decimal("9.9999999999999999999999999999999999999E+125")])
def test_deserialize_equals_boto3(value: Any) -> None:
    wire, event_form = wire_and_event(value)
    expected = DESERIALIZER.deserialize(wire)
    got = deserialize(event_form)
    assert got == expected  # Binary compares equal to bytes
    assert strict(got) == strict(expected)  # and every number has boto3's digits and exponent


@FAST
@given(python_values)
def test_to_json_is_the_json_view(value: Any) -> None:
    wire, event_form = wire_and_event(value)
    expected = json_view(DESERIALIZER.deserialize(wire))
    assert strict(loads(to_json(event_form))) == strict(expected)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.text(min_size=1, max_size=12), python_values, max_size=6))
def test_images_equal_boto3(item: dict[str, Any]) -> None:
    image = {name: wire_and_event(v)[1] for name, v in item.items()}
    expected = {name: DESERIALIZER.deserialize(SERIALIZER.serialize(v)) for name, v in item.items()}
    decoded = deserialize_image(image)
    assert strict(decoded) == strict(expected)
    assert list(decoded) == list(image)
    text = image_to_json(image)
    assert strict(loads(text)) == strict(json_view(expected))
    assert list(json.loads(text)) == list(image)  # attribute order kept


def test_sets_are_sorted_in_json() -> None:
    assert to_json({"NS": ["10", "9", "-1.5", "1E+2"]}) == "[-1.5,9,10,1E+2]"
    assert to_json({"SS": ["b", "B", "a"]}) == '["B","a","b"]'
    one, two = base64.b64encode(b"\x01").decode(), base64.b64encode(b"\x00\xff").decode()
    assert to_json({"BS": [one, two]}) == f'["{two}","{one}"]'


# -- 2. DynamoDB's whole number range ------------------------------------------------------


@FAST
@given(all_numbers, st.booleans())
@example(Decimal("1.2345678901234567890123456789012345678E-130"), False)
@example(Decimal("1E+100"), True)
@example(Decimal("9.9999999999999999999999999999999999999E+125"), True)
def test_every_dynamodb_number_is_exact(number: Decimal, plain: bool) -> None:
    # DynamoDB writes numbers out in plain notation (1E+100 as a 1 and 100 zeros)
    text = format(number, "f") if plain else str(number)
    decoded = deserialize({"N": text})
    assert decoded == number
    assert len(decoded.as_tuple().digits) <= 38  # boto3 can serialise it back
    assert loads(to_json({"N": text})) == number
    assert loads(to_json({"NS": [text]})) == [number]


@given(dynamodb_numbers())
def test_numbers_just_outside_the_range_fail(number: Decimal) -> None:
    if not number:
        return
    sign, digits, _ = number.as_tuple()
    for exponent in (126 - len(digits) + 1, -131 - len(digits) + 1):
        outside = Decimal((sign, digits, exponent))
        for decode in (deserialize, to_json):
            try:
                decode({"N": str(outside)})
            except MalformedValue as exc:
                assert "outside DynamoDB's number range" in str(exc)
            else:
                raise AssertionError(f"{outside} was accepted")


# -- 3. garbage -------------------------------------------------------------------------------

TAGS = ["S", "N", "B", "SS", "NS", "BS", "M", "L", "BOOL", "NULL", "X", "s", ""]
json_leaves = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12))
json_any = st.recursive(
    json_leaves,
    lambda c: st.one_of(
        st.lists(c, max_size=4), st.dictionaries(st.text(max_size=8), c, max_size=4)
    ),
    max_leaves=12,
)
number_ish = st.one_of(
    st.text(alphabet="0123456789.eE+-_ ", max_size=14),
    st.sampled_from(["NaN", "-Infinity", "sNaN", "١٢", "²", "1e", "0" * 45, "9" * 40]),
)
base64_ish = st.text(alphabet="QUJDRA==+/é\n", max_size=12)
payloads = st.one_of(
    json_leaves,
    number_ish,
    base64_ish,
    st.lists(st.one_of(number_ish, base64_ish, json_leaves), max_size=4),
)
typed_garbage = st.recursive(
    st.builds(lambda tag, value: {tag: value}, st.sampled_from(TAGS), payloads),
    lambda c: st.one_of(
        st.builds(lambda m: {"M": m}, st.dictionaries(st.text(max_size=5), c, max_size=3)),
        st.builds(lambda items: {"L": items}, st.lists(c, max_size=3)),
        st.dictionaries(st.sampled_from(TAGS), st.one_of(c, payloads), min_size=1, max_size=2),
    ),
    max_leaves=15,
)
garbage = st.one_of(json_any, typed_garbage)
images = st.one_of(json_any, st.dictionaries(st.text(max_size=6), garbage, max_size=4))


def _outcome(function: Any, value: Any) -> tuple[str, Any]:
    try:
        return "ok", function(value)
    except MalformedValue as exc:
        return "error", str(exc)


@settings(max_examples=300, deadline=None)
@given(garbage)
@example({"N": "١٢"})
@example({"B": "QR=="})  # non-canonical padding bits: same bytes as QQ==
@example({"M": {"a": {"NS": ["1", "1.0"]}}})
def test_garbage_values_fail_only_with_malformed_value(value: Any) -> None:
    decoded = _outcome(deserialize, value)
    written = _outcome(to_json, value)
    careful = _outcome(lambda v: codec._checked(v, "value", 1), value)
    # the fast path never accepts what the careful walk rejects (or the other way round)
    assert decoded[0] == careful[0]
    assert written[0] == decoded[0]
    if decoded[0] == "ok":
        assert strict(decoded[1]) == strict(careful[1])
        assert strict(loads(written[1])) == strict(json_view(decoded[1]))
    else:
        assert written[1] == decoded[1] == careful[1]
        assert decoded[1].startswith("value")  # names where the problem is


@settings(max_examples=300, deadline=None)
@given(images)
def test_garbage_images_fail_only_with_malformed_value(image: Any) -> None:
    decoded = _outcome(deserialize_image, image)
    written = _outcome(image_to_json, image)
    assert written[0] == decoded[0]
    if decoded[0] == "ok":
        assert strict(loads(written[1])) == strict(json_view(decoded[1]))
    else:
        assert written[1] == decoded[1]
        assert decoded[1].startswith("image")


record_blocks = st.one_of(
    json_any,
    st.fixed_dictionaries(
        {},
        optional={
            "Keys": images,
            "NewImage": images,
            "OldImage": images,
            "SequenceNumber": st.one_of(
                st.text(alphabet="0123456789²٣ a", max_size=25), json_leaves
            ),
            "ApproximateCreationDateTime": st.one_of(
                json_leaves, st.integers(-(10**20), 10**20), st.floats()
            ),
            "StreamViewType": st.one_of(
                st.sampled_from(["KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES"]),
                json_any,
            ),
            "SizeBytes": json_leaves,
        },
    ),
)
records = st.one_of(
    json_any,
    st.fixed_dictionaries(
        {},
        optional={
            "eventID": json_leaves,
            "eventName": st.one_of(st.sampled_from(["INSERT", "MODIFY", "REMOVE"]), json_any),
            "eventSource": st.sampled_from(["aws:dynamodb", "aws:dynamodb", "aws:sqs", None]),
            "eventSourceARN": st.one_of(
                st.sampled_from(
                    [
                        "arn:aws:dynamodb:us-east-1:1:table/t/stream/2026",
                        "arn:aws:dynamodb:us-east-1:1:table/u/stream/2026",
                    ]
                ),
                json_leaves,
            ),
            "userIdentity": st.one_of(
                st.just({"type": "Service", "principalId": "dynamodb.amazonaws.com"}), json_any
            ),
            "dynamodb": record_blocks,
        },
    ),
)
valid_records = st.builds(
    lambda name, view, item, seq: factories.record(
        name, {"pk": "k"}, item, item, view_type=view, seq=seq
    ),
    st.sampled_from(factories.EVENT_NAMES),
    st.sampled_from(factories.VIEW_TYPES),
    st.dictionaries(st.text(min_size=1, max_size=6), python_values, max_size=3),
    st.integers(1, 10**40),
)
events = st.one_of(
    json_any,
    st.fixed_dictionaries(
        {"Records": st.lists(st.one_of(valid_records, records, records), max_size=4)}
    ),
    st.fixed_dictionaries({"Records": json_any}),
)
ACCESSORS = (
    "event_id", "sequence_number", "seq", "event_name", "view_type", "table_name",
    "stream_label", "creation_time", "creation_iso", "size_bytes", "ttl_expired", "raw_keys",
    "raw_new_image", "raw_old_image", "keys", "new_image", "old_image", "image",
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(events)
@example({"Records": [{"eventSource": "aws:dynamodb", "dynamodb": {"SequenceNumber": "1²"}}]})
@example(
    {
        "Records": [
            {
                "eventSource": "aws:dynamodb",
                "dynamodb": {"ApproximateCreationDateTime": float("nan")},
            }
        ]
    }
)
def test_garbage_events_raise_only_documented_errors(event: Any) -> None:
    try:
        parsed = parse_event(event)
    except NotAStreamEvent as exc:
        assert str(exc)
        return
    for record in parsed:
        repr(record)
        try:
            record.check()
        except RecordError as exc:
            assert str(exc)
        for name in ACCESSORS:
            try:
                getattr(record, name)
            except RecordError as exc:  # MalformedValue is a RecordError
                assert str(exc)
    problem = sequence_problem(parsed)
    if not problem:
        assert [r.seq for r in parsed] == [int(r.sequence_number) for r in parsed]
