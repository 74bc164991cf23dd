"""Filter criteria: the EventBridge pattern subset Lambda applies to stream records."""

from __future__ import annotations

import json
from typing import Any

import pytest

from handlers.filters import FilterError, compile_filters, matches


def rec(name: str = "MODIFY", **new: dict[str, Any]) -> dict[str, Any]:
    return {
        "eventName": name,
        "eventSource": "aws:dynamodb",
        "dynamodb": {
            "ApproximateCreationDateTime": 1_700_000_000,
            "NewImage": new,
            "Keys": {"pk": {"S": "a"}},
        },
    }


def ddb(image: dict[str, Any]) -> dict[str, Any]:
    return {"dynamodb": {"NewImage": image}}


CASES = [
    # exact values, OR within a list, typed attribute values
    (ddb({"status": {"S": ["OFFER"]}}), rec(status={"S": "OFFER"}), True),
    (ddb({"status": {"S": ["OFFER", "REJECTED"]}}), rec(status={"S": "REJECTED"}), True),
    (ddb({"status": {"S": ["OFFER"]}}), rec(status={"S": "SCREEN"}), False),
    # untyped pattern does not match typed values (as on AWS)
    (ddb({"status": ["OFFER"]}), rec(status={"S": "OFFER"}), False),
    # eventName works
    ({"eventName": ["INSERT", "REMOVE"]}, rec("INSERT"), True),
    ({"eventName": ["INSERT", "REMOVE"]}, rec("MODIFY"), False),
    # prefix
    (ddb({"job": {"S": [{"prefix": "job-b"}]}}), rec(job={"S": "job-backend"}), True),
    (ddb({"job": {"S": [{"prefix": "job-b"}]}}), rec(job={"S": "job-data"}), False),
    # anything-but: value, list, prefix; a missing field does not match
    (ddb({"status": {"S": [{"anything-but": "APPLIED"}]}}), rec(status={"S": "OFFER"}), True),
    (
        ddb({"status": {"S": [{"anything-but": ["APPLIED", "OFFER"]}]}}),
        rec(status={"S": "OFFER"}),
        False,
    ),
    (
        ddb({"status": {"S": [{"anything-but": {"prefix": "REJ"}}]}}),
        rec(status={"S": "REJECTED"}),
        False,
    ),
    (ddb({"status": {"S": [{"anything-but": "APPLIED"}]}}), rec(), False),
    # numeric: N values are strings, so numeric never matches them; the timestamp is a number
    (ddb({"score": {"N": [{"numeric": [">", 5]}]}}), rec(score={"N": "7"}), False),
    (
        {
            "dynamodb": {
                "ApproximateCreationDateTime": [
                    {"numeric": [">=", 1_600_000_000, "<", 1_800_000_000]}
                ]
            }
        },
        rec(),
        True,
    ),
    ({"dynamodb": {"ApproximateCreationDateTime": [{"numeric": ["=", 5]}]}}, rec(), False),
    # exists on leaves
    (ddb({"email": {"S": [{"exists": True}]}}), rec(email={"S": "x@y"}), True),
    (ddb({"email": {"S": [{"exists": True}]}}), rec(), False),
    (ddb({"email": {"S": [{"exists": False}]}}), rec(), True),
    (ddb({"email": {"S": [{"exists": False}]}}), rec(email={"S": "x@y"}), False),
    # null and empty string
    (ddb({"note": {"S": [""]}}), rec(note={"S": ""}), True),
    (ddb({"note": {"S": [""]}}), rec(note={"S": "x"}), False),
    (
        {"dynamodb": {"NewImage": {"note": [None]}}},
        {"dynamodb": {"NewImage": {"note": None}}},
        True,
    ),
    ({"dynamodb": {"NewImage": {"note": [None]}}}, rec(), False),
    # arrays in the event: any element
    (ddb({"tags": {"SS": ["urgent"]}}), rec(tags={"SS": ["a", "urgent"]}), True),
    # several fields are ANDed
    (
        {"eventName": ["MODIFY"], **ddb({"status": {"S": ["OFFER"]}})},
        rec("INSERT", status={"S": "OFFER"}),
        False,
    ),
]


@pytest.mark.parametrize(("pattern", "record", "expected"), CASES)
def test_pattern(pattern: dict[str, Any], record: dict[str, Any], expected: bool) -> None:
    assert matches(pattern, record) is expected


def test_filters_are_ored_and_empty_criteria_match_everything() -> None:
    m = compile_filters(
        {
            "Filters": [
                {"Pattern": json.dumps({"eventName": ["INSERT"]})},
                {"Pattern": json.dumps(ddb({"status": {"S": ["OFFER"]}}))},
            ]
        }
    )
    assert m(rec("INSERT")) and m(rec(status={"S": "OFFER"}))
    assert not m(rec(status={"S": "SCREEN"}))
    assert compile_filters(None)(rec()) and compile_filters({"Filters": []})(rec())


@pytest.mark.parametrize(
    "bad",
    [
        "not json",
        "[]",
        json.dumps({"eventName": "INSERT"}),
        json.dumps({"eventName": [{"numeric": [">", "5"]}]}),
        json.dumps({"eventName": [{"bogus": 1}]}),
        json.dumps({"eventName": []}),
        "{" + " " * 4100 + "}",
    ],
)
def test_invalid_patterns_are_rejected(bad: str) -> None:
    with pytest.raises(FilterError):
        compile_filters({"Filters": [{"Pattern": bad}]})
