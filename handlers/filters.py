"""Event filtering as Lambda applies it to stream records (EventBridge pattern matching).

The one matcher of the project: the local runtime's pollers drop records with it, and
everything that reads a failed range back from the stream (the archiver, ``ddbt redrive``,
``ddbt replay``) applies the mapping's filters with it, so a record Lambda skipped is never
re-run. It ships in the Lambda zip (the archiver uses it), so it needs the standard library
only.

A mapping's ``FilterCriteria.Filters`` is a list of JSON pattern strings; a record is delivered
when it matches at least one of them. Patterns are matched against the record exactly as the
function would receive it (``eventName``, ``dynamodb.NewImage.<attr>.<type>``, ...).

Supported (what Lambda documents for streams): exact values (a list is an OR), ``null``, empty
string, ``prefix``, ``anything-but`` (value, list, or ``{"prefix": ...}``), ``numeric`` (``=``,
``<``, ``<=``, ``>``, ``>=``, ranges), ``exists`` (leaf values only, as recorded against
AWS: ``{"exists": true}`` does not match an object such as ``{"S": "x"}``, and
``{"exists": false}`` does).
Unsettled on Lambda (valid in EventBridge; we accept them with EventBridge's meaning and say so
in docs/local.md): ``suffix``, ``equals-ignore-case``, ``wildcard``, ``$or``.

Typed DynamoDB values stay typed: ``{"dynamodb": {"NewImage": {"status": {"S": ["OFFER"]}}}}``
matches, ``{"dynamodb": {"NewImage": {"status": ["OFFER"]}}}`` does not; ``N`` values are
strings, so ``numeric`` never matches them (as on AWS).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["FilterError", "Matcher", "compile_filters", "mapping_patterns", "matches"]

_MISSING = object()
_NUMERIC_OPS = {"=", "<", "<=", ">", ">="}


class FilterError(ValueError):
    """A pattern Lambda would reject when the mapping is created."""


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _validate(pattern: Any, path: str = "") -> None:
    if not isinstance(pattern, dict):
        raise FilterError(f"pattern{path or ''} must be a JSON object")
    for key, value in pattern.items():
        where = f"{path}.{key}" if path else key
        if key == "$or":
            if not isinstance(value, list) or len(value) < 2:
                raise FilterError(f"{where}: $or needs a list of at least two patterns")
            for sub in value:
                _validate(sub, where)
        elif isinstance(value, dict):
            _validate(value, where)
        elif isinstance(value, list):
            if not value:
                raise FilterError(f"{where}: empty list of values")
            for matcher in value:
                _validate_matcher(matcher, where)
        else:
            raise FilterError(f"{where}: leaf values must be in a list, got {value!r}")


def _validate_matcher(matcher: Any, where: str) -> None:
    if matcher is None or isinstance(matcher, str | bool) or _is_number(matcher):
        return
    if not isinstance(matcher, dict) or len(matcher) != 1:
        raise FilterError(f"{where}: unsupported matcher {matcher!r}")
    ((op, arg),) = matcher.items()
    if op in ("prefix", "suffix", "equals-ignore-case", "wildcard"):
        if not isinstance(arg, str):
            raise FilterError(f"{where}: {op} needs a string")
    elif op == "exists":
        if not isinstance(arg, bool):
            raise FilterError(f"{where}: exists needs true or false")
    elif op == "anything-but":
        if isinstance(arg, dict):
            if set(arg) != {"prefix"} or not isinstance(arg["prefix"], str):
                raise FilterError(f"{where}: anything-but object supports only prefix")
        elif isinstance(arg, list):
            if not all(isinstance(a, str) or _is_number(a) for a in arg):
                raise FilterError(f"{where}: anything-but list needs strings or numbers")
        elif not (isinstance(arg, str) or _is_number(arg)):
            raise FilterError(f"{where}: anything-but needs a value, a list or a prefix")
    elif op == "numeric":
        if not isinstance(arg, list) or not arg or len(arg) % 2:
            raise FilterError(f"{where}: numeric needs operator/value pairs")
        for i in range(0, len(arg), 2):
            if arg[i] not in _NUMERIC_OPS or not _is_number(arg[i + 1]):
                raise FilterError(f"{where}: bad numeric comparison {arg[i : i + 2]!r}")
    else:
        raise FilterError(f"{where}: unsupported operator {op!r}")


def _leaf_matches(matcher: Any, value: Any) -> bool:
    """One matcher against one present leaf value (``_MISSING`` when absent)."""
    if isinstance(matcher, dict):
        ((op, arg),) = matcher.items()
        if op == "exists":
            # Leaves only: an object (a typed value such as {"S": "x"}) counts as absent.
            leaf = value is not _MISSING and not isinstance(value, dict)
            return leaf if arg else not leaf
        if value is _MISSING or isinstance(value, dict):
            return False
        if op == "prefix":
            return isinstance(value, str) and value.startswith(arg)
        if op == "suffix":
            return isinstance(value, str) and value.endswith(arg)
        if op == "equals-ignore-case":
            return isinstance(value, str) and value.lower() == arg.lower()
        if op == "wildcard":
            regex = "".join(".*" if c == "*" else re.escape(c) for c in arg)
            return isinstance(value, str) and re.fullmatch(regex, value, re.S) is not None
        if op == "anything-but":
            if isinstance(arg, dict):
                return isinstance(value, str) and not value.startswith(arg["prefix"])
            values = arg if isinstance(arg, list) else [arg]
            return not any(_equal(v, value) for v in values)
        if op == "numeric":
            if not _is_number(value):
                return False
            for i in range(0, len(arg), 2):
                op2, bound = arg[i], arg[i + 1]
                ok = {
                    "=": value == bound,
                    "<": value < bound,
                    "<=": value <= bound,
                    ">": value > bound,
                    ">=": value >= bound,
                }[op2]
                if not ok:
                    return False
            return True
        return False
    if value is _MISSING:
        return False
    return _equal(matcher, value)


def _equal(expected: Any, value: Any) -> bool:
    if expected is None or value is None:
        return expected is None and value is None
    if isinstance(expected, bool) or isinstance(value, bool):
        return isinstance(expected, bool) and isinstance(value, bool) and expected == value
    if _is_number(expected) and _is_number(value):
        return float(expected) == float(value)
    return type(expected) is type(value) and expected == value


def _match(pattern: dict[str, Any], event: Any) -> bool:
    for key, sub in pattern.items():
        if key == "$or":
            if not any(_match(alt, event) for alt in sub):
                return False
            continue
        value = event.get(key, _MISSING) if isinstance(event, dict) else _MISSING
        if isinstance(sub, dict):
            if not _match(sub, value if isinstance(value, dict) else {}):
                return False
            continue
        candidates = value if isinstance(value, list) else [value]
        if isinstance(value, list) and not value:
            candidates = [_MISSING]
        if not any(_leaf_matches(m, c) for m in sub for c in candidates):
            return False
    return True


class Matcher:
    """Compiled ``FilterCriteria``: ``matcher(record)`` is True when the record is delivered."""

    def __init__(self, patterns: Sequence[dict[str, Any]]) -> None:
        self.patterns = list(patterns)

    def __call__(self, record: dict[str, Any]) -> bool:
        return not self.patterns or any(_match(p, record) for p in self.patterns)


def mapping_patterns(mapping: Mapping[str, Any]) -> list[str]:
    """The filter patterns of an event source mapping as GetEventSourceMapping or
    ListEventSourceMappings return it ([] without filters). FilterError when AWS returned
    ``FilterCriteriaError`` instead (criteria encrypted with a key the caller cannot use)."""
    problem = mapping.get("FilterCriteriaError")
    if problem:
        detail = problem.get("Message") or problem.get("ErrorCode") or problem
        raise FilterError(f"the mapping's filter criteria cannot be read: {detail}")
    criteria = mapping.get("FilterCriteria") or {}
    return [str(f.get("Pattern", "")) for f in criteria.get("Filters") or []]


def compile_filters(criteria: Mapping[str, Any] | None) -> Matcher:
    """``FilterCriteria`` as the Lambda API returns it -> a Matcher (FilterError if invalid)."""
    patterns = []
    for entry in (criteria or {}).get("Filters") or []:
        text = entry.get("Pattern", "")
        if len(text) > 4096:
            raise FilterError("a filter pattern is limited to 4,096 characters")
        try:
            pattern = json.loads(text)
        except ValueError as exc:
            raise FilterError(f"filter pattern is not valid JSON: {exc}") from exc
        _validate(pattern)
        patterns.append(pattern)
    return Matcher(patterns)


def matches(pattern: dict[str, Any], record: dict[str, Any]) -> bool:
    """One pattern (already parsed) against one record."""
    _validate(pattern)
    return _match(pattern, record)
