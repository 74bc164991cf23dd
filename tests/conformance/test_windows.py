"""Tumbling-window invocations of the corpus against the analytics handler (on moto) and the
local runtime's window events.

A case holds one ``event`` or a sequence under ``events``; in a sequence, ``state`` is
``"fresh"`` (``{}``, as Lambda starts or continues a window) or ``"returned"`` (what our
handler answered to the previous invocation)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from ddbt.local.engine import Window
from handlers.analytics import AnalyticsProcessor, AnalyticsSettings
from handlers.batch import run_batch
from handlers.checkpoint import CheckpointStore
from tests import factories as f
from tests.conformance.corpus import Case, params
from tests.conftest import create_table, make_client
from tests.pipeline_stack import aggregates


@pytest.fixture
def handler(aws_env: str) -> Any:
    create_table("aggregates")
    create_table("checkpoints")
    client = make_client("dynamodb")
    proc = AnalyticsProcessor(AnalyticsSettings("aggregates", ()), lambda: client, "fn")
    store = CheckpointStore("checkpoints", "fn", lambda: client)
    return lambda event: run_batch(event, f.Context(), [proc], store)


def _events(case: Case) -> list[dict[str, Any]]:
    return list(case["events"]) if "events" in case.data else [case["event"]]


@params("windows")
def test_analytics_counts_each_window_exactly(case: Case, handler: Any) -> None:
    returned: dict[str, Any] = {}
    for event in _events(case):
        event = dict(event)
        if event["state"] == "fresh":
            event["state"] = {}
        elif event["state"] == "returned":
            event["state"] = returned
        response = handler(event)
        assert "state" in response and response["batchItemFailures"] == []
        returned = response["state"]
    if "response_has_state" in case["expect"]:
        assert ("state" in response) is case["expect"]["response_has_state"]
    assert aggregates(make_client("dynamodb")) == case["expect"]["aggregates"]


@params("windows")
def test_the_local_runtime_spells_window_times_as_aws(case: Case) -> None:
    window = _events(case)[0]["window"]
    start, end = (
        datetime.fromisoformat(window[k].replace("Z", "+00:00")).timestamp()
        for k in ("start", "end")
    )
    fields = Window(start, end).fields("shardId-1", "arn")
    assert fields["window"] == window
    assert set(fields) == set(_events(case)[0]) - {"Records"}
