"""Bad input the existing corpus (tests/unit/test_bad_input.py) does not cover, through the
whole pipeline with Lambda's delivery: hostile attribute names, truncated records, images
missing for the view type. Each case asserts the exact outcome and the accounting."""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest

from handlers import pipeline
from tests import factories as f
from tests.e2e.scenario import drain
from tests.lambda_sim import deliver
from tests.pipeline_stack import notifications

HOSTILE = ["a.b", "a/b", "..", "../../x", "/", "%2F..", "Ω ü", "🙂", "x\\y", "."]


def objects(s3: Any) -> dict[str, list[dict[str, Any]]]:
    out = {}
    for obj in s3.list_objects_v2(Bucket="etl-bucket").get("Contents", []):
        body = s3.get_object(Bucket="etl-bucket", Key=obj["Key"])["Body"].read()
        out[obj["Key"]] = [json.loads(x) for x in gzip.decompress(body).decode().splitlines()]
    return out


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_attribute_names_stay_data(sinks: dict[str, Any], name: str) -> None:
    # GIVEN key and image attributes named like paths, traversal or unicode
    recs = f.sequential(
        [
            f.record("INSERT", {name: "k1"}, {"job_id": "J1", name + "2": "v"}),
            f.record("MODIFY", {name: "k1"}, {"job_id": "J1", name + "2": "w"}, {"job_id": "J1"}),
        ]
    )
    out = deliver(pipeline.handler, recs)
    assert out.dlq == [] and len(out.invocations) == 1
    # THEN the S3 keys stay under the ETL prefix, in the table's partition, and the names
    # are JSON data in the lines, exactly as written
    found = objects(sinks["s3"])
    assert len(found) == 1
    ((key, lines),) = found.items()
    assert key.startswith("changes/table=applications/dt=2026-01-01/hour=00/")
    assert "/../" not in key and "//" not in key and key.count("/") == 4
    assert [line["keys"] for line in lines] == [{name: "k1"}, {name: "k1"}]
    assert lines[1]["newImage"][name + "2"] == "w" and lines[1]["oldImage"] == {
        "job_id": "J1",
        name: "k1",
    }
    assert sum(notifications(sinks["sqs"], sinks["queue"]).values()) == 2


def test_truncated_records_fail_alone(sinks: dict[str, Any]) -> None:
    # GIVEN records cut short: the dynamodb block ends after SequenceNumber / after Keys
    recs = f.sequential([f.record("INSERT", {"application_id": f"a{i}"}) for i in range(6)])
    cut_keys = recs[1]["dynamodb"]
    recs[1]["dynamodb"] = {"SequenceNumber": cut_keys["SequenceNumber"]}
    recs[4] = {k: v for k, v in recs[4].items() if k not in ("eventName", "eventSource")}
    out = deliver(pipeline.handler, recs, max_retries=1)
    # THEN exactly those two end in failure records, alone; the rest are delivered once
    bad = [recs[1]["dynamodb"]["SequenceNumber"], recs[4]["dynamodb"]["SequenceNumber"]]
    assert sorted(out.dlq) == [[bad[0]], [bad[1]]]
    lines = [x["sequenceNumber"] for v in objects(sinks["s3"]).values() for x in v]
    assert sorted(lines) == sorted(
        r["dynamodb"]["SequenceNumber"] for i, r in enumerate(recs) if i not in (1, 4)
    )


def test_images_missing_for_the_view_type_are_delivered_as_they_are(
    sinks: dict[str, Any],
) -> None:
    # GIVEN NEW_AND_OLD_IMAGES records that lack an image the view type promises
    recs = f.sequential(
        [
            f.record("MODIFY", {"application_id": "a"}, {"job_id": "J1", "s": "B"}, {"s": "A"}),
            f.record("INSERT", {"application_id": "b"}, {"job_id": "J1"}),
            f.record("REMOVE", {"application_id": "c"}, old={"job_id": "J1"}),
        ]
    )
    del recs[0]["dynamodb"]["OldImage"]
    del recs[1]["dynamodb"]["NewImage"]
    del recs[2]["dynamodb"]["OldImage"]
    out = deliver(pipeline.handler, recs)
    # THEN nothing fails: ETL writes the lines without the missing image, and notification
    # sends the change with changedAttributes null (never dropped)
    assert out.dlq == [] and len(out.invocations) == 1
    ((lines),) = objects(sinks["s3"]).values()
    assert ["oldImage" in x for x in lines] == [False, False, False]
    assert ["newImage" in x for x in lines] == [True, False, False]
    msgs = drain(sinks["sqs"], sinks["queue"])
    by_name = {m["eventName"]: m for m in msgs}
    assert by_name["MODIFY"]["changedAttributes"] is None
    assert by_name["INSERT"]["newImage"] is None and by_name["REMOVE"]["oldImage"] is None
