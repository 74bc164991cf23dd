"""The sample event ``ddbt generate-event`` prints when no item is given.

Like ``sam local generate-event``, it prints a sample when given nothing: the example event
of the Lambda developer guide ("Using AWS Lambda with Amazon DynamoDB"), where item ``Id``
101 of the table ``ExampleTableWithStream`` is inserted with ``Message`` "New item!", changed
to "This item has changed", then removed, all in one second. One record of it is
printed, in the requested view type: with ``NEW_AND_OLD_IMAGES`` it equals the guide's record
field for field (``tests/conformance/cases/records/lambda-dynamodb-example.json``); other view
types drop the images they do not carry (and their bytes from ``SizeBytes``).
"""

from __future__ import annotations

from typing import Any

from ddbt.ops.records import generate_event

__all__ = ["SAMPLE_TABLE", "sample_event"]

SAMPLE_TABLE = "ExampleTableWithStream"
_LABEL = "2015-06-27T00:48:05.899"
_CREATED = 1428537600
_NEW = {"Message": {"S": "New item!"}, "Id": {"N": "101"}}
_CHANGED = {"Message": {"S": "This item has changed"}, "Id": {"N": "101"}}
# event name -> (item after the change, or before it for REMOVE; item before a MODIFY;
#                sequence number; eventID) as the guide's example has them
_CHANGES: dict[str, tuple[dict[str, Any], dict[str, Any] | None, str, str]] = {
    "INSERT": (_NEW, None, "4421584500000000017450439091", "c4ca4238a0b923820dcc509a6f75849b"),
    "MODIFY": (
        _CHANGED,
        _NEW,
        "4421584500000000017450439092",
        "c81e728d9d4c2f636f067f89cc14862c",
    ),
    "REMOVE": (
        _CHANGED,
        None,
        "4421584500000000017450439093",
        "eccbc87e4b5ce2fe28308fd9f2a7baf3",
    ),
}


def sample_event(
    view_type: str,
    event_name: str,
    *,
    table: str | None = None,
    region: str | None = None,
    ttl: bool = False,
) -> dict[str, Any]:
    """The guide's example record for ``event_name`` in ``view_type`` (``table`` and
    ``region`` replace the example's; ``ttl`` makes the REMOVE one by TTL)."""
    if event_name not in _CHANGES:
        raise ValueError("event name must be INSERT, MODIFY or REMOVE")
    item, old, sequence_number, event_id = _CHANGES[event_name]
    event = generate_event(
        item=item,
        key_names=["Id"],
        event_name=event_name,
        view_type=view_type,
        old_item=old,
        table=table or SAMPLE_TABLE,
        region=region or "us-east-1",
        sequence_number=sequence_number,
        created=_CREATED,
        ttl=ttl,
        stream_label=_LABEL,
    )
    event["Records"][0]["eventID"] = event_id
    return event
