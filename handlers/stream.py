"""Stream toolkit: typed, read-only DynamoDB stream records and fast attribute decoding.

Two decoders share one validation: ``deserialize`` turns a typed attribute value into plain
Python exactly as boto3's ``TypeDeserializer`` does (``N`` as an exact ``Decimal``, ``B`` as
``bytes``, sets as ``set``), and ``to_json`` writes the same value as JSON text without going
through Python objects (numbers kept digit for digit, bytes as base64, sets as sorted lists).
Both raise ``MalformedValue`` naming what is wrong; a record that carries one fails alone.
Messages name the attribute path, the type tag and the problem, never the value itself (any
value may be a secret, whatever a processor's redact list says): a bad value is described by
its Python type and size only (``_kind``), so no processor can log or publish one by quoting
the reason.

Speed: each decoder has a fast path that builds no attribute paths and checks only what it
must; when it fails for any reason, a second, careful walk (``_checked``) finds the first
problem and raises ``MalformedValue`` with its path (or, should the fast path ever reject a
valid value, returns the right result). Errors are rare, so their cost does not matter.

Numbers differ from boto3 in two deliberate ways, both where boto3 raises on a number that
DynamoDB itself stores and sends: numbers whose text has more than 38 digits only because of
trailing zeros (DynamoDB writes ``1E+100`` as a 1 and 100 zeros; boto3 issue 2500, fixed the
same way in Powertools) decode to the normalised value, and numbers of 38 digits near the
lower end of the range (``1.2345678901234567890123456789012345678E-130``) decode exactly.
"""

from __future__ import annotations

import re
import reprlib
from binascii import a2b_base64, b2a_base64
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import (
    MAX_EMAX,
    MAX_PREC,
    MIN_EMIN,
    Clamped,
    Context,
    Decimal,
    Inexact,
    InvalidOperation,
    Overflow,
    Rounded,
    Subnormal,
    Underflow,
)
from enum import StrEnum
from itertools import islice
from json.encoder import encode_basestring as _quote  # C; non-ASCII kept as is
from typing import Any

__all__ = [
    "MAX_DEPTH",
    "EventName",
    "MalformedValue",
    "NotAStreamEvent",
    "NumberJson",
    "RecordError",
    "StreamRecord",
    "ViewType",
    "describe_value",
    "deserialize",
    "deserialize_image",
    "image_to_json",
    "json_number",
    "parse_event",
    "to_json",
]

# boto3.dynamodb.types.DYNAMODB_CONTEXT, for reference (decoding uses _EXACT below).
DYNAMODB_CONTEXT = Context(
    Emin=-128,
    Emax=126,
    prec=38,
    traps=[Clamped, Overflow, Inexact, Rounded, Underflow],
)
# DynamoDB's own number range: 38 significant digits, magnitude 1E-130 to 9.99..E+125. Any
# signal (syntax, rounding, overflow, a subnormal result) raises, so a value that comes back
# is exactly the number the text spells.
_EXACT = Context(
    Emin=-130,
    Emax=125,
    prec=38,
    traps=[Clamped, Overflow, Inexact, Rounded, Underflow, Subnormal, InvalidOperation],
)
# Unlimited: only for numbers _EXACT rejected (to tell trailing zeros from a real problem).
_UNLIMITED = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN, traps=[InvalidOperation])
_create_decimal = _EXACT.create_decimal

# Levels of nesting, counting the item as the first (DynamoDB's documented limit of 32): an
# attribute value may hold 31 maps or lists inside each other. Observed on AWS: an item with
# 31 nested maps is accepted, 32 are rejected ("Nesting Levels have exceeded supported limits").
MAX_DEPTH = 32
# A JSON number; without exponent and at most 38 characters it is also within DynamoDB's range.
_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?\Z").match
_SHORT_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?\Z").match


class _ShortRepr(reprlib.Repr):
    """reprlib's bounded repr, keeping a dict's own key order (reprlib sorts keys)."""

    def repr_dict(self, x: dict[Any, Any], level: int) -> str:
        if not x:
            return "{}"
        if level <= 0:
            return "{...}"
        pieces = [
            f"{self.repr1(k, level - 1)}: {self.repr1(v, level - 1)}"
            for k, v in islice(x.items(), self.maxdict)
        ]
        if len(x) > self.maxdict:
            pieces.append("...")
        return "{" + ", ".join(pieces) + "}"


_REPR = _ShortRepr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother = 3, 120, 120


class EventName(StrEnum):
    INSERT = "INSERT"
    MODIFY = "MODIFY"
    REMOVE = "REMOVE"


class ViewType(StrEnum):
    KEYS_ONLY = "KEYS_ONLY"
    NEW_IMAGE = "NEW_IMAGE"
    OLD_IMAGE = "OLD_IMAGE"
    NEW_AND_OLD_IMAGES = "NEW_AND_OLD_IMAGES"


class NotAStreamEvent(ValueError):
    """The event is not a Lambda DynamoDB stream event at all."""


class RecordError(ValueError):
    """One record cannot be processed; it fails alone (a poison record)."""


class MalformedValue(RecordError):
    """A typed attribute value that DynamoDB would never produce."""


def _show(value: object, limit: int) -> str:
    """A short repr for messages, safe for huge or deeply nested garbage. Only for record
    metadata and type tags: attribute values are described with ``_kind``."""
    return _REPR.repr(value)[:limit]


def _count(n: int, unit: str) -> str:
    return f"{n} {unit}" if n == 1 else f"{n} {unit}s"


def _kind(value: object) -> str:
    """What a bad attribute value is, without its content: type, and size for containers
    and text (``str of 5 characters``, ``list of 2 items``, ``dict of 1 key``)."""
    if value is None:
        return "None"
    if isinstance(value, str):
        return f"str of {_count(len(value), 'character')}"
    if isinstance(value, (list, tuple)):
        return f"{type(value).__name__} of {_count(len(value), 'item')}"
    if isinstance(value, Mapping):
        return f"{type(value).__name__} of {_count(len(value), 'key')}"
    return type(value).__name__


def _tags(av: Mapping[Any, Any]) -> str:
    """The type tags (keys) of a malformed attribute value: names, not values."""
    if not av:
        return "no type tag"
    shown = ", ".join(_show(k, 20) for k in islice(av, 4))
    return f"{_count(len(av), 'type tag')} ({shown}{', ...' if len(av) > 4 else ''})"


def describe_value(av: object) -> str:
    """An attribute value for an error message, without its content (a value may be a
    secret): its type tags when it is a typed value, otherwise its type and size."""
    if isinstance(av, Mapping):
        return f"a value with {_tags(av)}"
    return f"a {_kind(av)}"


class _Invalid(Exception):
    """Raised by the fast paths; the careful walk then says what and where."""


# --------------------------------------------------------------------------------------
# Scalars (shared by both decoders)
# --------------------------------------------------------------------------------------


def _number(value: object) -> Decimal:
    """An ``N`` value as an exact Decimal; ``_Invalid`` unless DynamoDB could have sent it."""
    if type(value) is str and value.isascii():  # Decimal also reads non-ASCII digits
        try:
            number = _create_decimal(value)
        except ArithmeticError:
            return _long_number(value)
        if number.is_finite():  # NaN and Infinity convert without a signal
            return number
    raise _Invalid


def _long_number(value: str) -> Decimal:
    # More than 38 digits (valid when the extra ones are trailing zeros) or out of range.
    try:
        number = _UNLIMITED.create_decimal(value).normalize(_UNLIMITED)
    except ArithmeticError:
        raise _Invalid from None
    if not number.is_finite():
        raise _Invalid
    if number and (len(number.as_tuple().digits) > 38 or not -130 <= number.adjusted() <= 125):
        raise _Invalid
    return number


def _number_problem(value: object) -> str:
    if type(value) is not str:
        return f"N must be a string, got {type(value).__name__}"
    try:
        syntax_ok = value.isascii() and _UNLIMITED.create_decimal(value).is_finite()
    except ArithmeticError:
        syntax_ok = False
    if not syntax_ok:
        return f"N must be a decimal number string, got a {_kind(value)} that is not one"
    return (
        f"N (a {_kind(value)}) is outside DynamoDB's number range "
        "(38 significant digits, magnitude 1E-130 to 9.99E+125)"
    )


def _json_number(value: object) -> str:
    """JSON text of an ``N`` value: its own digits when they already form a JSON number."""
    if type(value) is str and len(value) <= 38:
        # At most 38 digits and no exponent: always within DynamoDB's range.
        if value.isdigit() and value.isascii() and (value[0] != "0" or len(value) == 1):
            return value  # the common case, an integer: cheaper than the regex
        if _SHORT_JSON_NUMBER(value):
            return value
    number = _number(value)
    text: str = value  # type: ignore[assignment]  # _number checked it is a str
    return text if _JSON_NUMBER(text) else str(number)


def _binary(value: object) -> bytes:
    if type(value) is str:
        return a2b_base64(value, strict_mode=True)  # binascii.Error (a ValueError) if bad
    raise _Invalid


def _base64_json(raw: bytes) -> str:
    # Canonical base64 (the input may pad with non-zero bits and still decode the same).
    return '"' + b2a_base64(raw, newline=False).decode("ascii") + '"'


# --------------------------------------------------------------------------------------
# Decoding to Python (boto3 TypeDeserializer semantics): fast path
# --------------------------------------------------------------------------------------


def _value(av: Any, depth: int) -> Any:
    ((tag, value),) = av.items()  # not exactly one tag: ValueError
    if tag == "S" and type(value) is str:
        return value
    if tag == "N":
        return _number(value)
    return _DECODERS[tag](value, depth)  # unknown tag (or S not a str): KeyError


def _map(value: Any, depth: int) -> dict[Any, Any]:
    if type(value) is not dict or depth >= MAX_DEPTH:
        raise _Invalid
    return _attributes(value, depth + 1)


def _attributes(image: Any, depth: int) -> dict[Any, Any]:
    # The hot loop: S and N (most values) decoded inline, without a call per value.
    out: dict[Any, Any] = {}
    for name, av in image.items():
        ((tag, value),) = av.items()
        if tag == "S" and type(value) is str:
            out[name] = value
        elif tag == "N":
            out[name] = _number(value)
        else:
            out[name] = _DECODERS[tag](value, depth)  # unknown tag: KeyError
    return out


def _list(value: Any, depth: int) -> list[Any]:
    if type(value) is not list or depth >= MAX_DEPTH:
        raise _Invalid
    depth += 1
    return [_value(v, depth) for v in value]


def _bool(value: Any, depth: int) -> bool:
    if type(value) is bool:
        return value
    raise _Invalid


def _null(value: Any, depth: int) -> None:
    if value is not True:
        raise _Invalid


def _b(value: Any, depth: int) -> bytes:
    return _binary(value)


def _ss(value: Any, depth: int) -> set[str]:
    if type(value) is list and value:
        for member in value:
            if type(member) is not str:
                raise _Invalid
        return set(value)
    raise _Invalid


def _ns(value: Any, depth: int) -> set[Decimal]:
    if type(value) is list and value:
        return {_number(m) for m in value}
    raise _Invalid


def _bs(value: Any, depth: int) -> set[bytes]:
    if type(value) is list and value:
        return {_binary(m) for m in value}
    raise _Invalid


_DECODERS: dict[str, Callable[[Any, int], Any]] = {
    "M": _map,
    "L": _list,
    "BOOL": _bool,
    "NULL": _null,
    "B": _b,
    "SS": _ss,
    "NS": _ns,
    "BS": _bs,
}


# --------------------------------------------------------------------------------------
# The careful walk: same rules, with paths, for error messages
# --------------------------------------------------------------------------------------


def _checked(av: object, path: str, depth: int) -> Any:
    """Decode like ``_value``, raising ``MalformedValue`` that names the first problem."""
    if not isinstance(av, Mapping) or len(av) != 1:
        got = _tags(av) if isinstance(av, Mapping) else _kind(av)
        raise MalformedValue(
            f"{path}: expected an attribute value with exactly one type tag, got {got}"
        )
    ((tag, value),) = av.items()
    if tag == "S":
        if type(value) is not str:
            raise MalformedValue(f"{path}: S must be a string, got {type(value).__name__}")
        return value
    if tag == "N":
        return _checked_number(value, path)
    if tag in ("M", "L"):
        kind = dict if tag == "M" else list
        if type(value) is not kind:
            what = "an object" if tag == "M" else "a list"
            raise MalformedValue(f"{path}: {tag} must be {what}, got {type(value).__name__}")
        if depth >= MAX_DEPTH:
            raise MalformedValue(f"{path}: nested deeper than DynamoDB's {MAX_DEPTH} levels")
        if isinstance(value, dict):
            return {k: _checked(v, f"{path}.{k}", depth + 1) for k, v in value.items()}
        return [_checked(v, f"{path}[{i}]", depth + 1) for i, v in enumerate(value)]
    if tag == "BOOL":
        if type(value) is not bool:
            raise MalformedValue(f"{path}: BOOL must be true or false, got {_kind(value)}")
        return value
    if tag == "NULL":
        if value is not True:
            raise MalformedValue(f"{path}: NULL must be true, got {_kind(value)}")
        return None
    if tag == "B":
        return _checked_binary(value, path)
    if tag in ("SS", "NS", "BS"):
        if type(value) is not list:
            raise MalformedValue(f"{path}: {tag} must be a list, got {type(value).__name__}")
        if not value:
            raise MalformedValue(f"{path}: {tag} is empty (DynamoDB sets hold at least one member)")
        if tag == "NS":
            return {_checked_number(m, f"{path}[{i}]") for i, m in enumerate(value)}
        if tag == "BS":
            return {_checked_binary(m, f"{path}[{i}]") for i, m in enumerate(value)}
        for i, member in enumerate(value):
            if type(member) is not str:
                raise MalformedValue(
                    f"{path}[{i}]: SS members must be strings, got {type(member).__name__}"
                )
        return set(value)
    raise MalformedValue(f"{path}: unknown type tag {_show(tag, 40)}")


def _checked_number(value: object, path: str) -> Decimal:
    try:
        return _number(value)
    except _Invalid:
        raise MalformedValue(f"{path}: {_number_problem(value)}") from None


def _checked_binary(value: object, path: str) -> bytes:
    if type(value) is not str:
        raise MalformedValue(f"{path}: B must be base64 text, got {type(value).__name__}")
    try:
        return _binary(value)
    except ValueError as exc:  # binascii.Error, or non-ASCII text
        raise MalformedValue(
            f"{path}: B is not valid base64 ({exc}), got a {_kind(value)}"
        ) from None


def _checked_image(image: object, path: str) -> dict[Any, Any]:
    if not isinstance(image, Mapping):
        raise MalformedValue(f"{path}: expected an attribute map, got {type(image).__name__}")
    return {k: _checked(v, f"{path}.{k}", 1) for k, v in image.items()}


# --------------------------------------------------------------------------------------
# Public decoders
# --------------------------------------------------------------------------------------


def deserialize(av: object, path: str = "value") -> Any:
    """Decode one typed attribute value (Lambda event form) to plain Python.

    The value is nested as an item attribute is (see ``MAX_DEPTH``); ``path`` names it in
    errors.
    """
    try:
        return _value(av, 1)
    except Exception:  # anything: the careful walk says what and where
        return _checked(av, path, 1)


def deserialize_image(image: object, path: str = "image") -> dict[str, Any]:
    """Decode a typed attribute map (``Keys``, ``NewImage``, ``OldImage``)."""
    try:
        return _attributes(image, 1)
    except Exception:
        return _checked_image(image, path)


# --------------------------------------------------------------------------------------
# Transcoding to JSON text (exact numbers, base64 bytes, sorted sets): fast path
# --------------------------------------------------------------------------------------


NumberJson = Callable[[object], str]
"""How an ``N`` value is written: its text in, JSON text out (``_Invalid`` unless valid)."""


def json_number(value: object) -> str:
    """JSON text of an ``N`` value: the exact number (its own digits when they form a JSON
    number, else its canonical decimal form). Raises ``MalformedValue`` for an invalid one."""
    try:
        return _json_number(value)
    except _Invalid:
        raise MalformedValue(f"value: {_number_problem(value)}") from None


def _json(av: Any, depth: int, num: NumberJson) -> str:
    ((tag, value),) = av.items()
    if tag == "S":
        return _quote(value)  # TypeError unless a str
    if tag == "N":
        return num(value)
    return _ENCODERS[tag](value, depth, num)


def _map_json(value: Any, depth: int, num: NumberJson) -> str:
    if type(value) is not dict or depth >= MAX_DEPTH:
        raise _Invalid
    return _object_json(value, depth + 1, num)


def _object_json(image: Any, depth: int, num: NumberJson) -> str:
    # The hot loop: S and N (most values) written inline, without a call per value.
    parts = []
    for name, av in image.items():
        ((tag, value),) = av.items()
        if tag == "S":
            parts.append(f"{_quote(name)}:{_quote(value)}")  # TypeError unless both are str
        elif tag == "N":
            parts.append(f"{_quote(name)}:{num(value)}")
        else:
            parts.append(f"{_quote(name)}:{_ENCODERS[tag](value, depth, num)}")
    return "{" + ",".join(parts) + "}"


def _list_json(value: Any, depth: int, num: NumberJson) -> str:
    if type(value) is not list or depth >= MAX_DEPTH:
        raise _Invalid
    depth += 1
    return "[" + ",".join([_json(v, depth, num) for v in value]) + "]"


def _bool_json(value: Any, depth: int, num: NumberJson) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    raise _Invalid


def _null_json(value: Any, depth: int, num: NumberJson) -> str:
    if value is not True:
        raise _Invalid
    return "null"


def _b_json(value: Any, depth: int, num: NumberJson) -> str:
    return _base64_json(_binary(value))


def _ss_json(value: Any, depth: int, num: NumberJson) -> str:
    if type(value) is list and value:
        return "[" + ",".join([_quote(m) for m in sorted(set(value))]) + "]"
    raise _Invalid


def _ns_json(value: Any, depth: int, num: NumberJson) -> str:
    if type(value) is list and value:
        members = sorted({_number(m) for m in value})
        if num is _json_number:
            # Decimal's own text is always a valid JSON number (e.g. 1E+5, 1.5E-7, 100).
            return "[" + ",".join(map(str, members)) + "]"
        return "[" + ",".join([num(str(m)) for m in members]) + "]"
    raise _Invalid


def _bs_json(value: Any, depth: int, num: NumberJson) -> str:
    if type(value) is list and value:
        return "[" + ",".join([_base64_json(b) for b in sorted({_binary(m) for m in value})]) + "]"
    raise _Invalid


_ENCODERS: dict[str, Callable[[Any, int, NumberJson], str]] = {
    "M": _map_json,
    "L": _list_json,
    "BOOL": _bool_json,
    "NULL": _null_json,
    "B": _b_json,
    "SS": _ss_json,
    "NS": _ns_json,
    "BS": _bs_json,
}


def to_json(av: object, path: str = "value", number: NumberJson = _json_number) -> str:
    """JSON text of one typed attribute value (exact numbers, base64 bytes, sorted sets);
    ``number`` writes each ``N`` (default: the exact JSON number)."""
    try:
        return _json(av, 1, number)
    except Exception as exc:
        _checked(av, path, 1)
        raise MalformedValue(f"{path}: cannot be written as JSON ({type(exc).__name__})") from exc


def image_to_json(image: object, path: str = "image", number: NumberJson = _json_number) -> str:
    """JSON text of a typed attribute map, keys in stream order; ``number`` as ``to_json``."""
    try:
        return _object_json(image, 1, number)
    except Exception as exc:
        _checked_image(image, path)
        raise MalformedValue(f"{path}: cannot be written as JSON ({type(exc).__name__})") from exc


# --------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------

_MISSING: Any = object()


_MAP = (dict, Mapping)  # isinstance: dicts (every Lambda event) skip the ABC check
_EVENT_NAMES: dict[object, EventName] = {e.value: e for e in EventName}
_VIEW_TYPES: dict[object, ViewType] = {v.value: v for v in ViewType}


class StreamRecord:
    """One record of a Lambda DynamoDB stream event: read-only, images decoded lazily.

    Constructing a record never fails: every accessor that meets something malformed raises
    ``RecordError`` naming it, so the failure belongs to this record alone.
    """

    __slots__ = ("_keys", "_new", "_old", "_problem", "dynamodb", "index", "raw", "stream_arn")

    def __init__(self, raw: Mapping[str, Any], index: int, stream_arn: str, problem: str = ""):
        self.raw = raw
        self.index = index
        self.stream_arn = stream_arn
        block = raw.get("dynamodb") if isinstance(raw, _MAP) else None
        self.dynamodb: Mapping[str, Any] = block if isinstance(block, _MAP) else {}
        self._problem = problem
        self._keys: Any = _MISSING
        self._new: Any = _MISSING
        self._old: Any = _MISSING

    def __repr__(self) -> str:
        return f"StreamRecord({self.event_id!r}, seq={self.sequence_number!r})"

    # -- identity ---------------------------------------------------------------------
    @property
    def event_id(self) -> str:
        value = self.raw.get("eventID", "")
        return value if type(value) is str else str(value)

    @property
    def sequence_number(self) -> str:
        """The record's ``SequenceNumber`` ('' only in events that are already rejected)."""
        value = self.dynamodb.get("SequenceNumber")
        return value if isinstance(value, str) else ""

    @property
    def seq(self) -> int:
        """Sequence number as an integer: order within one shard only."""
        value = self.dynamodb.get("SequenceNumber")
        if type(value) is str and value.isdigit() and value.isascii():
            return int(value)  # the common case, without the calls below
        value = self.sequence_number
        if not _is_sequence_number(value):
            raise RecordError(
                f"dynamodb.SequenceNumber must be a decimal string, got {value!r:.60}"
            )
        return int(value)

    def check(self) -> None:
        """Raise ``RecordError`` when the record itself (not its values) is unusable."""
        if self._problem:
            raise RecordError(self._problem)
        try:
            _EVENT_NAMES[self.raw.get("eventName")]
        except (KeyError, TypeError):
            self.event_name  # noqa: B018 - raises RecordError naming it
        if not isinstance(self.dynamodb.get("Keys"), dict):
            raise RecordError("dynamodb.Keys is missing or not an attribute map")

    @property
    def event_name(self) -> EventName:
        name = self.raw.get("eventName")
        try:
            return _EVENT_NAMES[name]
        except (KeyError, TypeError):  # TypeError: unhashable garbage
            raise RecordError(
                f"eventName must be INSERT, MODIFY or REMOVE, got {_show(name, 40)}"
            ) from None

    @property
    def view_type(self) -> ViewType | None:
        value = self.dynamodb.get("StreamViewType")
        if value is None:
            return None
        try:
            return _VIEW_TYPES[value]
        except (KeyError, TypeError):
            raise RecordError(
                f"dynamodb.StreamViewType {_show(value, 40)} is not a view type"
            ) from None

    @property
    def table_name(self) -> str:
        """Table name from the stream ARN (``arn:...:table/NAME/stream/LABEL``)."""
        try:
            return _TABLES[self.stream_arn]
        except KeyError:
            return _table_name(self.stream_arn)

    @property
    def stream_label(self) -> str:
        parts = self.stream_arn.split("/stream/", 1)
        return parts[1] if len(parts) == 2 else ""

    @property
    def creation_time(self) -> datetime:
        value = self.dynamodb.get("ApproximateCreationDateTime")
        if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
            raise RecordError(
                "dynamodb.ApproximateCreationDateTime must be epoch seconds, got "
                + _show(value, 40)
            )
        try:
            return datetime.fromtimestamp(int(value), UTC)
        except (ArithmeticError, OSError, ValueError) as exc:  # NaN, inf, out of range
            raise RecordError(
                f"dynamodb.ApproximateCreationDateTime {_show(value, 40)} {exc}"
            ) from None

    @property
    def creation_iso(self) -> str:
        """``creation_time`` as ``YYYY-MM-DDTHH:MM:SSZ``."""
        value = self.dynamodb.get("ApproximateCreationDateTime")
        if type(value) is int:  # the common case: the minute's text is cached
            minute, second = divmod(value, 60)
            prefix = _MINUTES.get(minute)
            if prefix is not None:
                return f"{prefix}{second:02d}Z"
        # isoformat is several times faster than strftime; whole seconds, so 19 characters
        text = self.creation_time.isoformat()[:19] + "Z"  # raises RecordError if malformed
        if type(value) is int:
            if len(_MINUTES) >= _CACHE_SIZE:
                _MINUTES.clear()
            _MINUTES[value // 60] = text[:17]
        return text

    @property
    def size_bytes(self) -> int:
        value = self.dynamodb.get("SizeBytes", 0)
        return value if isinstance(value, int) else 0

    @property
    def ttl_expired(self) -> bool:
        """True for deletions made by DynamoDB's TTL process."""
        ident = self.raw.get("userIdentity")
        return (
            ident is not None
            and isinstance(ident, _MAP)
            and ident.get("type") == "Service"
            and ident.get("principalId") == "dynamodb.amazonaws.com"
        )

    # -- images -----------------------------------------------------------------------
    @property
    def raw_keys(self) -> dict[str, Any]:
        keys = self.dynamodb.get("Keys")
        if not isinstance(keys, dict):
            raise RecordError("dynamodb.Keys is missing or not an attribute map")
        return keys

    @property
    def raw_new_image(self) -> dict[str, Any] | None:
        image = self.dynamodb.get("NewImage")
        if image is None or type(image) is dict:
            return image
        return self._raw_image("NewImage")

    @property
    def raw_old_image(self) -> dict[str, Any] | None:
        image = self.dynamodb.get("OldImage")
        if image is None or type(image) is dict:
            return image
        return self._raw_image("OldImage")

    def _raw_image(self, name: str) -> dict[str, Any] | None:
        image = self.dynamodb.get(name)
        if image is None:
            return None
        if not isinstance(image, dict):
            raise MalformedValue(f"dynamodb.{name} must be an attribute map")
        return image

    @property
    def keys(self) -> dict[str, Any]:
        if self._keys is _MISSING:
            self._keys = deserialize_image(self.raw_keys, "Keys")
        return self._keys  # type: ignore[no-any-return]

    @property
    def new_image(self) -> dict[str, Any] | None:
        """Decoded ``NewImage``, or None when the view type or event carries none."""
        if self._new is _MISSING:
            raw = self.raw_new_image
            self._new = None if raw is None else deserialize_image(raw, "NewImage")
        return self._new  # type: ignore[no-any-return]

    @property
    def old_image(self) -> dict[str, Any] | None:
        """Decoded ``OldImage``, or None when the view type or event carries none."""
        if self._old is _MISSING:
            raw = self.raw_old_image
            self._old = None if raw is None else deserialize_image(raw, "OldImage")
        return self._old  # type: ignore[no-any-return]

    @property
    def image(self) -> dict[str, Any] | None:
        """The item as it is after the change (new image), or before a REMOVE (old image)."""
        if self.event_name is EventName.REMOVE:
            return self.old_image
        return self.new_image


def _is_sequence_number(value: str) -> bool:
    # isdigit alone accepts "²" and other digits int() refuses.
    return value.isascii() and value.isdigit()


def _table_from_arn(arn: str) -> str:
    # arn:aws:dynamodb:REGION:ACCOUNT:table/NAME/stream/LABEL
    _, _, rest = arn.partition(":table/")
    return rest.split("/", 1)[0]


# Small per-process caches (a Lambda sees few streams; creation times cluster), cleared when full.
_CACHE_SIZE = 1024
_TABLES: dict[str, str] = {}  # stream ARN -> table name
_MINUTES: dict[int, str] = {}  # epoch minute -> "YYYY-MM-DDTHH:MM:"


def _table_name(arn: str) -> str:
    if len(_TABLES) >= _CACHE_SIZE:
        _TABLES.clear()
    name = _TABLES[arn] = _table_from_arn(arn)
    return name


def parse_event(event: object) -> list[StreamRecord]:
    """Records of a Lambda DynamoDB stream event, in delivery order.

    Raises ``NotAStreamEvent`` for anything that is not such an event (no ``Records`` list,
    or records none of which come from DynamoDB). Individual records that are malformed are
    kept and fail when processed (``StreamRecord.check``), so the rest of the batch survives.
    """
    if not isinstance(event, _MAP):
        raise NotAStreamEvent(
            f"expected a DynamoDB stream event (object), got {type(event).__name__}"
        )
    records = event.get("Records")
    if records is not None and not isinstance(records, list):
        raise NotAStreamEvent(
            f"expected a DynamoDB stream event: 'Records' must be a list, got "
            f"{type(records).__name__}"
        )
    if not isinstance(records, list):
        keys = ", ".join(sorted(map(str, event)))[:200]
        raise NotAStreamEvent(
            f"expected a DynamoDB stream event with a 'Records' list; got keys: {keys or 'none'}"
        )
    if not records:
        return []
    fast = _parse_uniform(records)
    if fast is not None:
        return fast
    # The batch's stream: the ARN most records carry (in practice, every record's).
    counts: dict[str, int] = {}
    from_dynamodb = False
    for r in records:
        if isinstance(r, _MAP):
            from_dynamodb = from_dynamodb or r.get("eventSource") == "aws:dynamodb"
            arn = r.get("eventSourceARN")
            if isinstance(arn, str):
                counts[arn] = counts.get(arn, 0) + 1
    if not from_dynamodb:
        sources = {str(r.get("eventSource")) if isinstance(r, _MAP) else "None" for r in records}
        seen = ", ".join(sorted(sources))[:200]
        raise NotAStreamEvent(f"no record has eventSource 'aws:dynamodb' (found: {seen})")
    stream_arn = max(counts, key=counts.__getitem__) if counts else ""  # ties: the first
    out: list[StreamRecord] = []
    for i, raw in enumerate(records):
        problem = ""
        if not isinstance(raw, _MAP):
            raw, problem = {}, f"record {i} is not an object"
        elif raw.get("eventSource") != "aws:dynamodb":
            problem = f"eventSource must be 'aws:dynamodb', got {_show(raw.get('eventSource'), 60)}"
        elif not isinstance(raw.get("dynamodb"), _MAP):
            problem = "the 'dynamodb' block is missing"
        elif raw.get("eventSourceARN", stream_arn) != stream_arn:
            problem = (
                f"record comes from another stream ({_show(raw.get('eventSourceARN'), 120)}) "
                f"than the batch ({stream_arn})"
            )
        out.append(StreamRecord(raw, i, stream_arn, problem))
    return out


def _parse_uniform(records: list[Any]) -> list[StreamRecord] | None:
    """The common case, checked in one pass: every record an object from DynamoDB with the
    same stream ARN and a ``dynamodb`` object. None when any is not (``parse_event`` then
    takes the general path, which gives the same result for such a batch)."""
    first = records[0]
    if type(first) is not dict:
        return None
    arn = first.get("eventSourceARN")
    if type(arn) is not str:
        return None
    new = StreamRecord.__new__
    out: list[StreamRecord] = []
    append = out.append
    for i, raw in enumerate(records):
        if type(raw) is not dict:
            return None
        block = raw.get("dynamodb")
        if (
            type(block) is not dict
            or raw.get("eventSource") != "aws:dynamodb"
            or raw.get("eventSourceARN") != arn
        ):
            return None
        record = new(StreamRecord)
        record.raw = raw
        record.index = i
        record.stream_arn = arn
        record.dynamodb = block
        record._problem = ""
        record._keys = record._new = record._old = _MISSING
        append(record)
    return out


def sequence_problem(records: Sequence[StreamRecord]) -> str:
    """Why the batch cannot be reported per record ('' when every record has a sequence number).

    A partial-failure response names records by sequence number; a record without one
    cannot be reported, so such a batch must fail as a whole (Lambda then bisects it).
    """
    for record in records:
        seq = record.sequence_number
        if not _is_sequence_number(seq):
            return (
                f"record {record.index} (eventID {record.event_id or '?'}) has no valid "
                f"dynamodb.SequenceNumber ({seq!r:.60}), so it cannot be reported as a "
                "batch item failure"
            )
    return ""
