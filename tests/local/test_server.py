"""The local endpoint process (``python -m ddbt.local.server``): its request log and its
request routing (moto_patches patch 10); the patches that keep moto's answers at a lower
cost (11, 14 and 15)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests


def _serve(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen[bytes], str, Path]:
    endpoint, log = tmp_path / "endpoint", tmp_path / "stderr.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "ddbt.local.server", "--endpoint-file", str(endpoint), *extra],
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )
    deadline = time.monotonic() + 60
    while not endpoint.exists():
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)
    return proc, endpoint.read_text().strip(), log


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    proc.wait(timeout=30)


def test_requests_are_logged_only_with_access_log(tmp_path: Path) -> None:
    for extra, logged in (((), False), (("--access-log",), True)):
        run = tmp_path / ("on" if logged else "off")
        run.mkdir()
        proc, url, log = _serve(run, *extra)
        try:
            assert requests.get(f"{url}/_ddbt/health", timeout=10).text == "ok"
        finally:
            _stop(proc)
        assert ("GET /_ddbt/health" in log.read_text()) is logged


def test_requests_of_every_service_reach_their_backend(tmp_path: Path) -> None:
    # patch 10 keeps the backend found for a host: requests told apart by their signing
    # service (query protocol, JSON targets, REST paths) still reach the right backend
    proc, url, _ = _serve(tmp_path)
    kw = {
        "endpoint_url": url,
        "region_name": "eu-west-1",
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
    }
    try:
        for _ in range(2):  # the second round is answered from the kept lookups
            assert boto3.client("sqs", **kw).list_queues().get("QueueUrls", []) == []
            assert boto3.client("sns", **kw).list_topics()["Topics"] == []
            assert boto3.client("dynamodb", **kw).list_tables()["TableNames"] == []
            assert boto3.client("s3", **kw).list_buckets()["Buckets"] == []
            assert boto3.client("events", **kw).list_event_buses()["EventBuses"][0]["Name"] == (
                "default"
            )
            assert boto3.client("lambda", **kw).list_functions()["Functions"] == []
    finally:
        _stop(proc)


def test_the_backend_lookup_patch_applies_once() -> None:
    # apply() is idempotent, and so is patch 10 called on its own (the tests' in-process
    # moto): a second call must not wrap the kept lookup again
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    from ddbt.local.moto_patches import patch_backend_lookup

    patch_backend_lookup()
    kept = DomainDispatcherApplication.get_backend_for_host
    patch_backend_lookup()
    assert DomainDispatcherApplication.get_backend_for_host is kept


def test_the_dynamodb_isolation_patch_applies_once() -> None:
    # patch 8 on its own (the tests' in-process moto has it too): a second call must not wrap
    # the locked operations again (each wrap would take the lock and count instances once more)
    from moto.dynamodb.models import DynamoDBBackend

    from ddbt.local.moto_patches import patch_dynamodb_isolation

    patch_dynamodb_isolation()
    kept = {name: getattr(DynamoDBBackend, name) for name in ("get_item", "transact_write_items")}
    patch_dynamodb_isolation()
    assert {name: getattr(DynamoDBBackend, name) for name in kept} == kept


def test_receiving_checks_retention_without_counting_the_queue(
    aws_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # patch 11: ReceiveMessage no longer builds every queue attribute (two of which scan the
    # queue) per message it returns; the retention period still decides (the same answers)
    from moto.sqs.models import Queue

    from tests.conftest import make_client

    sqs = make_client("sqs")
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="kept")

    def counted(self: object) -> int:
        raise AssertionError("the queue was counted to receive a message")

    monkeypatch.setattr(Queue, "approximate_number_of_messages", property(counted))
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in got] == ["kept"]


def test_an_action_is_found_as_moto_finds_it() -> None:
    # patch 14: the request's action is looked up on the handler class, not found in the list
    # of all its functions, for the same verdict on any name
    from moto.core import responses, utils
    from moto.dynamodb.responses import DynamoHandler
    from moto.sqs.responses import SQSResponse

    from ddbt.local.moto_patches import patch_action_lookup

    patch_action_lookup()
    assert responses.method_names_from_class is not utils.method_names_from_class
    for cls in (DynamoHandler, SQSResponse, responses.BaseResponse):
        listed = utils.method_names_from_class(cls)  # moto's own, which utils keeps
        asked = responses.method_names_from_class(cls)
        names = {*dir(cls), "", "no_such_action", "__init__", "region", "__class__"}
        assert {name for name in names if name in asked} == {n for n in names if n in listed}
        assert "put_item" in asked or "send_message" in asked or cls is responses.BaseResponse


def test_the_action_lookup_patch_applies_once() -> None:
    from moto.core import responses

    from ddbt.local.moto_patches import patch_action_lookup

    patch_action_lookup()
    kept = responses.method_names_from_class
    patch_action_lookup()
    assert responses.method_names_from_class is kept


def test_sending_counts_the_queue_without_asking_each_message(
    aws_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # patch 15: SendMessage and GetQueueAttributes count the queue at one instant instead of
    # asking every message whether it is visible and delayed (each reading the clock)
    from moto.sqs.models import Message

    from tests.conftest import make_client

    sqs = make_client("sqs")
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    for body in ("a", "b"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=60)
    (taken,) = sqs.receive_message(QueueUrl=url, VisibilityTimeout=60)["Messages"]

    def asked(self: object) -> bool:
        raise AssertionError("a message was asked whether it is visible or delayed")

    monkeypatch.setattr(Message, "visible", property(asked))
    monkeypatch.setattr(Message, "delayed", property(asked))
    sqs.send_message(QueueUrl=url, MessageBody="c")
    got = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    # the same counts moto's per-message questions give: b and c available, "later" delayed,
    # the received message in flight
    assert taken["Body"] == "a"
    assert (
        got["ApproximateNumberOfMessages"],
        got["ApproximateNumberOfMessagesDelayed"],
        got["ApproximateNumberOfMessagesNotVisible"],
    ) == ("2", "1", "1")


def test_the_queue_count_patch_applies_once() -> None:
    from moto.sqs.models import Queue

    from ddbt.local.moto_patches import patch_sqs_counts

    patch_sqs_counts()
    kept = Queue.approximate_number_of_messages
    patch_sqs_counts()
    assert Queue.approximate_number_of_messages is kept


def test_the_endpoints_send_reads_content_based_deduplication_as_moto_does(
    aws_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # patch 9 (the local endpoint's Queue.add_message) reads the queue's setting without
    # building its attributes (patch 15's reason) and must read it as moto does: stored as a
    # bool, written "true" by the attributes. Two messages without a deduplication id on a
    # content-based FIFO queue (as a move to a dead-letter queue adds them): moto keeps one.
    from moto.sqs.models import Message, Queue, sqs_backends

    from ddbt.local import moto_patches
    from tests.conftest import make_client

    make_client("sqs").create_queue(
        QueueName="d.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"}
    )
    queue = sqs_backends["123456789012"]["us-east-1"].queues["d.fifo"]
    motos = Queue.add_message
    monkeypatch.setattr(Queue, "add_message", motos)  # moto's again after the test
    moto_patches._patch_sqs_send()
    assert Queue.add_message is not motos

    def kept(add: Any) -> int:
        queue._messages.clear()
        for n, body in enumerate(("one", "two")):
            message = Message(f"m{n}", body)
            message.mark_sent()
            add(queue, message)
        return len(queue._messages)

    assert kept(Queue.add_message) == kept(motos) == 1
