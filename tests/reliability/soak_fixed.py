"""The soak's "fixed release" of the pipeline function (``soak_fixed.handler``, added to a
copy of the module's zip by scripts/soak.py): numbers with more than 38 significant digits,
which the soak's poison records carry and the real handlers refuse, are rounded to
DynamoDB's 38 digits; then the real pipeline handler runs. It stands for the code fix a user
deploys before redriving the archived failures. Standard library only (it runs in the
function's worker, beside ``handlers``)."""

from __future__ import annotations

from decimal import Context, Decimal, InvalidOperation
from typing import Any

__all__ = ["fix", "handler"]

_CONTEXT = Context(prec=38)


def fix(value: Any) -> Any:
    """A typed attribute value with every number rounded to 38 significant digits."""
    if not isinstance(value, dict) or len(value) != 1:
        return value
    ((tag, inner),) = value.items()
    if tag == "N" and isinstance(inner, str):
        return {"N": _round(inner)}
    if tag == "NS" and isinstance(inner, list):
        return {"NS": [_round(x) if isinstance(x, str) else x for x in inner]}
    if tag == "M" and isinstance(inner, dict):
        return {"M": {k: fix(v) for k, v in inner.items()}}
    if tag == "L" and isinstance(inner, list):
        return {"L": [fix(v) for v in inner]}
    return value


def _round(text: str) -> str:
    try:
        number = Decimal(text)
    except InvalidOperation:
        return text
    if len(number.as_tuple().digits) <= 38:
        return text
    return str(_CONTEXT.plus(number))


def handler(event: dict[str, Any], context: Any) -> Any:
    for record in event.get("Records") or []:
        images = record.get("dynamodb") or {}
        for part in ("NewImage", "OldImage"):
            if isinstance(images.get(part), dict):
                images[part] = {k: fix(v) for k, v in images[part].items()}
    from handlers.pipeline import handler as pipeline

    return pipeline(event, context)
