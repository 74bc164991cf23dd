"""The code of ``make e2e-aws`` (tests/e2e/aws.py) run against the local endpoint: on its stack
(examples/complete plus the recorder, applied once per session by that code, tests/e2e/
conftest.py, and destroyed at the end) it drives the changes, checks every processor and
records the event shapes in the corpus format. Only the endpoint differs from a run on a
real account."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ddbt.engine import Window
from handlers.archiver import batch_info, on_failure_message
from handlers.getrecords import lambda_records
from tests.conformance.corpus import KINDS, SOURCE_KINDS, get_records_parsed
from tests.e2e.aws import Run, exercise, write_corpus
from tests.e2e.conftest import REGION

# One worker: the tests share the local cloud (the endpoint process and the pollers).
pytestmark = pytest.mark.xdist_group("e2e")


def test_the_aws_run_on_the_local_endpoint(e2e_run: Run, tmp_path: Path) -> None:
    out = tmp_path / "corpus"
    docs = write_corpus(exercise(e2e_run).corpus(REGION), out)
    assert sorted(docs) == ["destinations", "records", "windows"]
    for kind, doc in docs.items():
        assert kind in KINDS and json.loads((out / f"{kind}.json").read_text()) == doc
        assert doc["source"]["url"].startswith("https://")
        assert doc["source"]["kind"] in SOURCE_KINDS and doc["cases"]
        assert all(c["id"] and c["facts"] for c in doc["cases"])
    # the recorded shapes read as the corpus tests read them
    (records,) = docs["records"]["cases"]
    parsed = get_records_parsed(records["get_records_wire"])
    assert lambda_records(parsed["Records"], records["stream_arn"]) == records["lambda_records"]
    (failure,) = docs["destinations"]["cases"]
    assert batch_info(on_failure_message(json.dumps(failure["message"])))["batchSize"] >= 1
    assert failure["expect"]["condition"] == "RetryAttemptsExhausted"
    (window,) = docs["windows"]["cases"]
    fields = set(Window(0.0, 0.0).fields("s", "a")) | {"Records"}
    assert set(window["event"]) == fields
