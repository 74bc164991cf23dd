"""On-failure destinations of stream mappings: SQS, SNS (metadata only) and S3 (plus records).

Delivery to the destination is retried a few times; if it still fails the message is written
to ``<state_dir>/undeliverable.jsonl`` and the observer (the runtime's report) says the
records are lost (AWS drops them and emits a DestinationDeliveryFailures metric).
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ddbt.local.engine import DiscardedBatch

__all__ = ["DestinationSender"]


class DestinationSender:
    def __init__(
        self,
        client: Callable[[str, str], Any],
        *,
        undeliverable: Path | None = None,
        log: Callable[[str], None] = print,
        attempts: int = 3,
        observer: Any = None,
    ) -> None:
        self.client = client  # (service, region) -> boto3 client
        self.undeliverable = undeliverable
        self.log = log
        self.attempts = attempts
        self.observer = observer  # destination_failed(mapping, failure, error)

    def __call__(self, failure: DiscardedBatch) -> None:
        arn = failure.settings.destination_arn
        if not arn:
            return  # no destination: the records are skipped (AWS logs nothing either)
        message = failure.message()
        error: Exception | None = None
        for attempt in range(self.attempts):
            try:
                self._send(arn, message, failure)
                return
            except Exception as exc:  # retried, then recorded
                error = exc
                time.sleep(0.2 * (attempt + 1))
        if self.observer is not None:
            self.observer.destination_failed(failure.settings.uuid, failure, str(error))
        else:
            self.log(f"on-failure destination {arn} failed: {error}")
        if self.undeliverable is not None:
            self.undeliverable.parent.mkdir(parents=True, exist_ok=True)
            with self.undeliverable.open("a") as out:
                out.write(json.dumps({"destination": arn, "message": message}) + "\n")

    def _send(self, arn: str, message: dict[str, Any], failure: DiscardedBatch) -> None:
        parts = arn.split(":")
        service, region, account, resource = parts[2], parts[3], parts[4], parts[5]
        if service == "sqs":
            sqs = self.client("sqs", region)
            url = sqs.get_queue_url(QueueName=resource, QueueOwnerAWSAccountId=account)["QueueUrl"]
            sqs.send_message(QueueUrl=url, MessageBody=json.dumps(message))
        elif service == "sns":
            self.client("sns", region).publish(TopicArn=arn, Message=json.dumps(message))
        elif service == "s3":
            bucket = resource
            body = dict(message)
            body["payload"] = {"Records": [r.event for r in failure.records]}
            now = dt.datetime.fromtimestamp(failure.at, dt.UTC)
            key = (
                f"aws/lambda/{failure.settings.uuid}/{failure.shard_id}/"
                f"{now:%Y/%m/%d}/{now:%Y-%m-%dT%H.%M.%S}-{uuid.uuid4()}"
            )
            self.client("s3", region).put_object(
                Bucket=bucket, Key=key, Body=json.dumps(body).encode()
            )
        else:
            raise ValueError(f"unsupported on-failure destination {arn}")
