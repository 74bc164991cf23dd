"""The attribute-value codec: DynamoDB's typed attribute values (``{"N": "1"}``, ``{"M": ...}``)
decoded to Python or written as JSON text, fast.

The record model (``handlers.stream``: ``StreamRecord``, ``parse_event``) uses it to decode a
record's keys and images, as Powertools keeps its ``TypeDeserializer`` apart from its
``DynamoDBRecord`` data class; the processors use ``to_json``/``image_to_json`` directly.

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
from collections.abc import Callable, Mapping
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
from itertools import islice
from json.encoder import encode_basestring as _quote  # C; non-ASCII kept as is
from typing import Any

__all__ = [
    "MAX_DEPTH",
    "MalformedValue",
    "NumberJson",
    "RecordError",
    "describe_value",
    "deserialize",
    "deserialize_image",
    "image_to_json",
    "json_number",
    "short_repr",
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


class RecordError(ValueError):
    """One record cannot be processed; it fails alone (a poison record)."""


class MalformedValue(RecordError):
    """A typed attribute value that DynamoDB would never produce."""


def short_repr(value: object, limit: int) -> str:
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
    shown = ", ".join(short_repr(k, 20) for k in islice(av, 4))
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
    raise MalformedValue(f"{path}: unknown type tag {short_repr(tag, 40)}")


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
