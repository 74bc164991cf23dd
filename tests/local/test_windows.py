"""Tumbling windows end to end: the local runtime ends windows early when their state passes
the limit (lowered here, 1 MB by default) and the deployed analytics handler counts every
record once, under either reading of the early-ended invocation's flags."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.local.conftest import Cloud, wait_for


def _items(cloud: Cloud) -> list[dict[str, Any]]:
    return list(cloud.ddb.scan(TableName="aggregates", ConsistentRead=True)["Items"])


def _inserts(items: list[dict[str, Any]]) -> int:
    return sum(int(i["INSERT"]["N"]) for i in items if "|window=" in i["pk"]["S"] and "INSERT" in i)


@pytest.mark.parametrize("marks_final", [False, True], ids=["early-not-final", "early-final"])
def test_windows_ended_early_are_counted_exactly(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch, marks_final: bool
) -> None:
    cloud.use(monkeypatch)
    stream = cloud.table()
    cloud.analytics_function("agg")
    cloud.mapping(
        stream,
        function="agg",
        BatchSize=2,
        TumblingWindowInSeconds=2,
        FunctionResponseTypes=["ReportBatchItemFailures"],
    )
    for i in range(7):
        cloud.put(f"k{i}", status="NEW")
    rt = cloud.runtime(window_state_limit=64, early_end_marks_final=marks_final)

    def closed() -> bool:
        items = _items(cloud)
        return _inserts(items) >= 7 and any(i["pk"]["S"].endswith("#closed") for i in items)

    wait_for(closed, 60)
    assert rt.wait_caught_up(30)
    items = _items(cloud)
    assert _inserts(items) == 7
    windows = {i["pk"]["S"].split("|window=")[1] for i in items if "|window=" in i["pk"]["S"]}
    commits = [
        i["pk"]["S"] for i in items if "#window#" in i["pk"]["S"] and i["pk"]["S"].endswith("#0")
    ]
    # AWS's spelling of a window start: whole seconds, no milliseconds
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", w) for w in windows), windows
    assert len(commits) > len(windows)  # windows ended early: several commits per window
