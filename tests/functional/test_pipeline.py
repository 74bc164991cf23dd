"""The pipeline entry point against moto: three processors over the same batches, and a
failure in one of them that must not repeat the side effects of the others."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from botocore.exceptions import ClientError

from handlers import aws, pipeline
from handlers.config import ConfigError
from tests import factories as f
from tests.functional.test_analytics import changes
from tests.lambda_sim import crash_after_call, deliver
from tests.pipeline_stack import aggregates, etl_lines, notifications


def test_all_three_processors_exactly_once(sinks: dict[str, Any]) -> None:
    recs, expected = changes(120)
    deliver(pipeline.handler, recs, batch_size=50)
    every = Counter(r["dynamodb"]["SequenceNumber"] for r in recs)
    assert etl_lines(sinks["s3"]) == every
    assert notifications(sinks["sqs"], sinks["queue"]) == every
    assert aggregates(sinks["ddb"]) == expected


class ThrottledOnce:
    """The real SNS client, except that the PublishBatch call carrying entry ``entry_id``
    fails whole, once, with SNS's throttling error (after the budget's retries: the
    client here is not the handler's, so botocore does not retry it)."""

    def __init__(self, real: Any, entry_id: str) -> None:
        self.real, self.entry_id, self.failed = real, entry_id, False

    def publish_batch(self, **params: Any) -> Any:
        ids = {e["Id"] for e in params["PublishBatchRequestEntries"]}
        if self.entry_id in ids and not self.failed:
            self.failed = True
            raise ClientError({"Error": {"Code": "Throttled", "Message": "slow"}}, "PublishBatch")
        return self.real.publish_batch(**params)


@pytest.mark.parametrize("first", [0, 20])
def test_notification_outage_does_not_repeat_etl_or_analytics(
    sinks: dict[str, Any], first: int
) -> None:
    """SNS throttles one PublishBatch call (the one starting at record ``first``) while the
    other processors and calls succeed: the pipeline reports from that call's first record;
    the redelivery starts there and ETL and analytics skip what they applied. Messages
    before the failed call are published once; later calls were in flight at once, so their
    messages may be published again by the redelivery (at least once, documented)."""
    recs, expected = changes(50)
    aws.set_client("sns", ThrottledOnce(sinks["sns"], str(first)))
    result = deliver(pipeline.handler, recs, batch_size=50)
    assert len(result.invocations) == 2 and result.dlq == []
    assert result.invocations[1] == [r["dynamodb"]["SequenceNumber"] for r in recs[first:]]
    every = Counter(r["dynamodb"]["SequenceNumber"] for r in recs)
    assert etl_lines(sinks["s3"]) == every
    assert aggregates(sinks["ddb"]) == expected
    sent = notifications(sinks["sqs"], sinks["queue"])
    assert set(sent) == set(every)
    assert all(sent[r["dynamodb"]["SequenceNumber"]] == 1 for r in recs[:first])
    assert max(sent.values()) <= 2


def test_timeout_after_all_writes_repeats_nothing_but_notifications(sinks: dict[str, Any]) -> None:
    """The function dies after its last publish (a timeout): Lambda retries the batch.
    S3 objects are overwritten at the same keys and counts are skipped by the checkpoint;
    notifications are at least once: they are published again (documented)."""
    recs, expected = changes(30)
    aws.set_client("sns", crash_after_call(sinks["sns"], "publish_batch", [3]))
    deliver(pipeline.handler, recs, batch_size=30, bisect=False)
    every = Counter(r["dynamodb"]["SequenceNumber"] for r in recs)
    assert etl_lines(sinks["s3"]) == every
    assert aggregates(sinks["ddb"]) == expected
    assert set(notifications(sinks["sqs"], sinks["queue"])) == set(every)


def test_poison_record_reaches_the_failure_destination_alone(sinks: dict[str, Any]) -> None:
    recs, _ = changes(40)
    bad = recs[10]
    bad["dynamodb"]["Keys"] = {"application_id": {"Q": "unknown tag"}}
    result = deliver(pipeline.handler, recs, batch_size=40, max_retries=1)
    assert result.dlq == [[bad["dynamodb"]["SequenceNumber"]]]
    others = Counter(r["dynamodb"]["SequenceNumber"] for r in recs if r is not bad)
    assert etl_lines(sinks["s3"]) == others
    assert notifications(sinks["sqs"], sinks["queue"]) == others


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"PROCESSORS": ""}, "PROCESSORS is required"),
        ({"PROCESSORS": "etl,search"}, "PROCESSORS has 'search'"),
        ({"CHECKPOINT_TABLE": ""}, "CHECKPOINT_TABLE is required"),
        ({"ETL_BUCKET": ""}, "ETL_BUCKET is required"),
    ],
)
def test_configuration_errors_name_the_variable(
    sinks: dict[str, Any], monkeypatch: Any, change: dict[str, str], message: str
) -> None:
    for k, v in change.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(ConfigError, match=message):
        pipeline.handler(f.event([f.record()]), f.Context())


def test_only_the_processors_named_run(sinks: dict[str, Any], monkeypatch: Any) -> None:
    monkeypatch.setenv("PROCESSORS", "etl")
    monkeypatch.delenv("NOTIFY_TOPIC_ARN")
    monkeypatch.delenv("AGGREGATES_TABLE")
    recs, _ = changes(5)
    assert pipeline.handler(f.event(recs), f.Context()) == {"batchItemFailures": []}
    assert sum(etl_lines(sinks["s3"]).values()) == 5
    assert [p.name for p in pipeline.processors()] == ["etl"]
