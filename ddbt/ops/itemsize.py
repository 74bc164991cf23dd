"""The size of an item as DynamoDB counts it, for a stream record's ``SizeBytes``.

From the DynamoDB developer guide ("Item sizes and formats"): an attribute is the UTF-8 bytes
of its name plus its value; a string is its UTF-8 bytes, a number about one byte per two
significant digits plus one (leading and trailing zeros trimmed), a binary its raw bytes,
null and Boolean one byte, a list or map 3 bytes plus one byte per element besides the
elements themselves. Sets are counted as the sum of their elements (the guide gives no
overhead for them). A record's ``SizeBytes`` is the size of its ``Keys`` plus that of each
image it carries: this reproduces the Lambda developer guide's example event exactly
(26, 59 and 38 bytes; ``tests/conformance/cases/records/lambda-dynamodb-example.json``).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = ["item_size", "value_size"]


def _number(text: str) -> int:
    try:
        value = Decimal(text)
    except InvalidOperation:
        return len(text.encode()) + 1
    digits = 0 if value.is_zero() else len(value.normalize().as_tuple().digits)
    return (digits + 1) // 2 + 1


def _binary(value: Any) -> int:
    if isinstance(value, str):  # the Lambda event form: base64 text
        return len(base64.b64decode(value))
    return len(bytes(getattr(value, "value", value)))


def value_size(av: Mapping[str, Any]) -> int:
    """The size of one typed value (event form: B as base64 text, or wire form: bytes)."""
    ((tag, value),) = av.items()
    if tag == "S":
        return len(str(value).encode())
    if tag == "N":
        return _number(str(value))
    if tag == "B":
        return _binary(value)
    if tag in ("BOOL", "NULL"):
        return 1
    if tag == "SS":
        return sum(len(str(v).encode()) for v in value)
    if tag == "NS":
        return sum(_number(str(v)) for v in value)
    if tag == "BS":
        return sum(_binary(v) for v in value)
    if tag == "L":
        return 3 + sum(value_size(v) + 1 for v in value)
    if tag == "M":
        return 3 + sum(len(k.encode()) + value_size(v) + 1 for k, v in value.items())
    raise ValueError(f"unknown DynamoDB type {tag!r}")


def item_size(item: Mapping[str, Mapping[str, Any]]) -> int:
    """The size of an item (or of a record's Keys): its attributes' names and values."""
    return sum(len(name.encode()) + value_size(av) for name, av in item.items())
