"""GetRecords output in the shape Lambda delivers: the one conversion of the project.

Everything that reads records back from a stream itself (the archiver, the local runtime's
pollers, ``ddbt redrive``, ``replay``, ``tail`` and the analytics recompute) turns boto3's
GetRecords output into Lambda's event record here, so a record read back is the record the
function received:

* ``B``/``BS`` values: bytes -> base64 text (also inside ``M`` and ``L``);
* ``ApproximateCreationDateTime``: a datetime -> whole epoch seconds (rounded down);
* ``userIdentity`` (TTL deletions): botocore spells it ``{"PrincipalId", "Type"}`` (the
  service model's ``Identity`` shape), Lambda ``{"principalId", "type"}``; without this a TTL
  deletion read back would look like a user's delete;
* ``awsRegion``: the stream's region (what AWS returns anyway; emulators return a fixed one);
* ``eventSourceARN``: the stream ARN, which Lambda adds and GetRecords does not carry.

Every other field is passed through as GetRecords returns it (``eventVersion`` included).
"""

from __future__ import annotations

from base64 import b64encode
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

__all__ = ["attribute_value", "identity", "lambda_records"]


def _b64(value: Any) -> str:
    if isinstance(value, str):
        return value  # already Lambda's form
    return b64encode(bytes(getattr(value, "value", value))).decode("ascii")


def attribute_value(av: Mapping[str, Any]) -> dict[str, Any]:
    """One typed attribute value (boto3: bytes for ``B``) in the Lambda event form."""
    ((tag, value),) = av.items()
    if tag == "B":
        return {"B": _b64(value)}
    if tag == "BS":
        return {"BS": [_b64(v) for v in value]}
    if tag == "M":
        return {"M": {k: attribute_value(v) for k, v in value.items()}}
    if tag == "L":
        return {"L": [attribute_value(v) for v in value]}
    return {tag: value}


def identity(value: Mapping[str, Any]) -> dict[str, Any]:
    """A record's ``userIdentity`` in Lambda's spelling (``type``, ``principalId``), from
    botocore's (``Type``, ``PrincipalId``) or already Lambda's."""
    out: dict[str, Any] = {}
    for lambda_name, api_name in (("type", "Type"), ("principalId", "PrincipalId")):
        if lambda_name in value:
            out[lambda_name] = value[lambda_name]
        elif api_name in value:
            out[lambda_name] = value[api_name]
    return out


def lambda_records(records: Iterable[Mapping[str, Any]], stream_arn: str) -> list[dict[str, Any]]:
    """GetRecords ``Records`` (as boto3 parses them) -> the records as Lambda delivers them."""
    region = stream_arn.split(":")[3] if stream_arn.count(":") >= 5 else None
    out = []
    for r in records:
        block = dict(r["dynamodb"])
        created = block.get("ApproximateCreationDateTime")
        if isinstance(created, datetime):
            block["ApproximateCreationDateTime"] = int(created.timestamp())
        for name in ("Keys", "NewImage", "OldImage"):
            if name in block:
                block[name] = {k: attribute_value(v) for k, v in block[name].items()}
        rec = {k: v for k, v in r.items() if k not in ("dynamodb", "userIdentity")}
        if region is not None:
            rec["awsRegion"] = region
        rec["dynamodb"] = block
        rec["eventSourceARN"] = stream_arn
        if isinstance(r.get("userIdentity"), Mapping):
            rec["userIdentity"] = identity(r["userIdentity"])
        out.append(rec)
    return out
