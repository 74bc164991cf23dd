"""moto_patches patch 12: an UpdateExpression text is parsed once and kept, the validator's copy
of a kept tree comes from its pickle, and the validator's walks find each node class's step
once. The answers stay moto's: the same values, the same validation errors, whatever text was
used before (the kept tree is never changed)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import create_table, make_client


def _update(ddb: Any, expression: str, values: dict[str, Any] | None = None, **kw: Any) -> Any:
    args: dict[str, Any] = {"UpdateExpression": expression, "ReturnValues": "ALL_NEW", **kw}
    if values:
        args["ExpressionAttributeValues"] = values
    return ddb.update_item(TableName="t", Key={"pk": {"S": "a"}}, **args)["Attributes"]


def test_a_text_is_parsed_once_and_its_walks_ask_no_class_list_per_node(
    aws_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.dynamodb.parsing import expressions
    from moto.dynamodb.parsing.ast_nodes import DepthFirstTraverser

    create_table("t")
    ddb = make_client("dynamodb")
    tokenized: list[str] = []
    tokenize = expressions.ExpressionTokenizer.make_list

    def counted(text: str) -> Any:
        tokenized.append(text)
        return tokenize(text)

    def per_node(self: object) -> Any:
        raise AssertionError("the walk built its class list for a node")

    monkeypatch.setattr(expressions.ExpressionTokenizer, "make_list", staticmethod(counted))
    monkeypatch.setattr(DepthFirstTraverser, "nodes_to_be_processed", per_node)
    name = f"n{uuid.uuid4().hex}"  # a text no other test parsed in this process
    expression = f"SET {name} = if_not_exists({name}, :zero) + :one"
    values = {":zero": {"N": "0"}, ":one": {"N": "1"}}
    for _ in range(3):
        got = _update(ddb, expression, values)
    # moto parses the text twice per request (the request's check, then the backend's)
    assert tokenized == [expression]
    assert got[name] == {"N": "3"}


@pytest.mark.parametrize(
    ("expression", "values", "names", "expected"),
    [
        (
            "SET c = if_not_exists(c, :z) + :d",
            {":z": {"N": "0"}, ":d": {"N": "5"}},
            None,
            {"c": {"N": "15"}},
        ),
        (
            "SET l = list_append(if_not_exists(l, :e), :x)",
            {":e": {"L": []}, ":x": {"L": [{"S": "v"}]}},
            None,
            {"l": {"L": [{"S": "v"}, {"S": "v"}]}},
        ),
        ("ADD s :s", {":s": {"SS": ["a", "b"]}}, None, {"s": {"SS": ["a", "b"]}}),
        (
            "SET m.#k = :v REMOVE gone",
            {":v": {"S": "x"}},
            {"#k": "inner"},
            {"m": {"M": {"inner": {"S": "x"}}}},
        ),
    ],
)
def test_a_kept_tree_gives_each_request_its_own_values(
    aws_env: str,
    expression: str,
    values: dict[str, Any],
    names: dict[str, str] | None,
    expected: dict[str, Any],
) -> None:
    # each text twice: the second request must see its own values, not the first one's
    create_table("t")
    ddb = make_client("dynamodb")
    ddb.put_item(TableName="t", Item={"pk": {"S": "a"}, "m": {"M": {}}, "gone": {"S": "g"}})
    extra = {"ExpressionAttributeNames": names} if names else {}
    _update(ddb, expression, values, **extra)
    if ":d" in values:
        values = {**values, ":d": {"N": "10"}}
    got = _update(ddb, expression, values, **extra)
    for attribute, value in expected.items():
        assert got[attribute] == value
    assert "gone" not in got or "REMOVE" not in expression


@pytest.mark.parametrize(
    ("expression", "values", "message"),
    [
        ("SET a = :v, a = :w", {":v": {"S": "1"}, ":w": {"S": "2"}}, "Two document paths overlap"),
        ("SET pk = :v", {":v": {"S": "b"}}, "This attribute is part of the key"),
        (
            "SET n = n + :v",
            {":v": {"S": "x"}},
            "Incorrect operand type for operator or function",
        ),
        (
            "SET x = absent + :v",
            {":v": {"N": "1"}},
            "The provided expression refers to an attribute that does not exist",
        ),
    ],
)
def test_a_kept_tree_still_fails_validation_every_time(
    aws_env: str, expression: str, values: dict[str, Any], message: str
) -> None:
    create_table("t")
    ddb = make_client("dynamodb")
    ddb.put_item(TableName="t", Item={"pk": {"S": "a"}, "n": {"N": "1"}})
    for _ in range(2):
        with pytest.raises(ClientError) as failed:
            _update(ddb, expression, values)
        assert failed.value.response["Error"]["Code"] == "ValidationException"
        assert message in failed.value.response["Error"]["Message"]
