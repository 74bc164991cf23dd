"""The conformance corpus: what AWS is documented or recorded to send and do, kept as data.

Each file under ``cases/<kind>/`` is one public source and the cases taken from it::

    {
      "source": {"url": "https://...", "title": "...", "kind": "aws-docs"},
      "cases": [
        {"id": "ttl-delete", "facts": ["..."], ...the kind's own fields...}
      ]
    }

``source.kind`` says how the facts were established: ``aws-docs`` (an AWS documentation page or
API reference), ``server-docs`` (the documentation of a server the project talks to: Valkey,
Redis), ``aws-recorded`` (a public test suite whose snapshots were recorded against
AWS, such as LocalStack's ``*.snapshot.json``), ``aws-sample`` (a sample event published by
AWS or Powertools), or ``service-model`` (botocore's service model, which AWS generates). A
case may carry its own ``source`` where it differs from the file's, and ``see_also``: further
public sources (same three fields) for facts it combines. ``facts`` states in words what the
case pins down; the kind's fields are described in README.md beside this file.

Tests load the cases with :func:`cases` and parametrize over them; the ids are the file's
stem and the case's id.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import botocore.session

__all__ = ["KINDS", "SOURCE_KINDS", "Case", "cases", "get_records_parsed", "params"]

ROOT = Path(__file__).resolve().parent / "cases"
KINDS = (
    "records",
    "windows",
    "destinations",
    "filters",
    "responses",
    "sinks",
    "delivery",
    "metrics",
    "cache",
)
SOURCE_KINDS = ("aws-docs", "aws-recorded", "aws-sample", "service-model", "server-docs")


@dataclass(frozen=True)
class Case:
    kind: str
    file: str
    id: str
    source: dict[str, str]
    facts: tuple[str, ...]
    data: dict[str, Any]
    see_also: tuple[dict[str, str], ...] = ()

    @property
    def name(self) -> str:
        return f"{self.file}:{self.id}"

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)


def _load(path: Path, kind: str) -> Iterator[Case]:
    document = json.loads(path.read_text())
    for raw in document["cases"]:
        data = dict(raw)
        yield Case(
            kind=kind,
            file=path.stem,
            id=data.pop("id"),
            source=data.pop("source", document["source"]),
            facts=tuple(data.pop("facts")),
            see_also=tuple(data.pop("see_also", ())),
            data=data,
        )


@cache
def _all() -> tuple[Case, ...]:
    found: list[Case] = []
    for kind in KINDS:
        for path in sorted((ROOT / kind).glob("*.json")):
            found.extend(_load(path, kind))
    return tuple(found)


def cases(kind: str, has: str | None = None, **where: Any) -> list[Case]:
    """The cases of ``kind`` whose fields equal ``where`` (for example ``target="sqs"``) and,
    with ``has``, that hold that field."""
    if kind not in KINDS:
        raise ValueError(f"unknown corpus kind {kind!r}; one of {', '.join(KINDS)}")
    return [
        c
        for c in _all()
        if c.kind == kind
        and (has is None or has in c.data)
        and all(c.get(k) == v for k, v in where.items())
    ]


def params(kind: str, has: str | None = None, **where: Any) -> Any:
    """``pytest.mark.parametrize`` arguments: ``("case", [...cases...], ids=[...])``."""
    import pytest

    selected = cases(kind, has, **where)
    return pytest.mark.parametrize("case", selected, ids=[c.name for c in selected])


@cache
def _parser() -> Any:
    from botocore.parsers import create_parser

    session = botocore.session.get_session()
    model = session.get_service_model("dynamodbstreams")
    return model, create_parser(model.metadata["protocol"])


def get_records_parsed(wire: dict[str, Any]) -> dict[str, Any]:
    """A GetRecords HTTP response body (the JSON AWS sends) as boto3 hands it to a caller:
    parsed by botocore's own parser with the service model (datetimes, bytes, the
    ``{"PrincipalId", "Type"}`` identity), not a hand-built imitation of that output."""
    model, parser = _parser()
    shape = model.operation_model("GetRecords").output_shape
    body = json.dumps(wire).encode()
    response = {"status_code": 200, "headers": {}, "body": body}
    parsed: dict[str, Any] = parser.parse(response, shape)
    parsed.pop("ResponseMetadata", None)
    return parsed


def all_cases() -> tuple[Case, ...]:
    return _all()
