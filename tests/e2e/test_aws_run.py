"""The code of ``make e2e-aws`` (tests/e2e/aws.py) run against the local endpoint: it applies
its own stack (examples/complete plus the recorder), drives the changes, checks every
processor, records the event shapes in the corpus format and destroys the stack. Only the
endpoint differs from a run on a real account."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ddbt.engine import Window
from handlers.archiver import batch_info, on_failure_message
from handlers.getrecords import lambda_records
from tests.conformance.corpus import KINDS, SOURCE_KINDS, get_records_parsed
from tests.e2e.aws import Options, execute
from tests.e2e.conftest import REGION, LocalCloud

# One worker: the tests share the local cloud (the endpoint process and the pollers).
pytestmark = pytest.mark.xdist_group("e2e")


def test_the_aws_run_on_the_local_endpoint(local_cloud: LocalCloud, tmp_path: Path) -> None:
    out = tmp_path / "corpus"
    docs = execute(
        Options(
            prefix="e2e-local",
            region=REGION,
            endpoint_url=local_cloud.endpoint,
            env=local_cloud.env,
            timeout=180,
            out=out,
        )
    )
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
    # the stack is gone again
    tables = local_cloud.dynamodb.list_tables()["TableNames"]
    assert not [t for t in tables if t.startswith("ex-e2e-local-")]
