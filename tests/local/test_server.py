"""The local endpoint process (``python -m ddbt.local.server``): its request log and its
request routing (moto_patches patch 10); the patches that keep moto's answers at a lower
cost (11, 14 and 15); and every patch of the tests' in-process moto applying once."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
import time
from collections.abc import Callable
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


def _what_each_patch_installs() -> dict[str, Callable[[], tuple[Any, ...]]]:
    """What each patch of the tests' in-process moto (moto_patches.apply_common) puts in
    moto's place."""
    from moto.core import responses
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.parsing.ast_nodes import DepthFirstTraverser
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser
    from moto.dynamodb.responses import DynamoHandler
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication
    from moto.sqs.models import Queue, SQSBackend

    return {
        "patch_dynamodb_isolation": lambda: (
            DynamoDBBackend.get_item,
            DynamoDBBackend.transact_write_items,
        ),
        "patch_backend_lookup": lambda: (DomainDispatcherApplication.get_backend_for_host,),
        "patch_sqs_retention_check": lambda: (
            SQSBackend.is_message_valid_based_on_retention_period,
        ),
        "patch_update_expressions": lambda: (
            UpdateExpressionParser.make,
            DepthFirstTraverser.traverse_node_recursively,
        ),
        "patch_json_answers": lambda: (DynamoHandler.serialized, DynamoDBStreamsHandler.serialized),
        "patch_action_lookup": lambda: (responses.method_names_from_class,),
        "patch_sqs_counts": lambda: (
            Queue.approximate_number_of_messages,
            Queue.approximate_number_of_messages_delayed,
            Queue.approximate_number_of_messages_not_visible,
        ),
    }


def _common_patches() -> list[str]:
    """The patches ``moto_patches.apply_common`` calls, in its order (read from its source:
    collecting imports no moto)."""
    from ddbt.local import moto_patches

    source = inspect.getsource(moto_patches.apply_common)
    return re.findall(r"^    (patch_\w+)\(\)$", source, re.M)


def test_every_patch_of_the_tests_moto_is_checked_below() -> None:
    called = _common_patches()
    assert called and sorted(called) == sorted(_what_each_patch_installs())


@pytest.mark.parametrize("name", _common_patches())
def test_each_patch_applies_once(name: str) -> None:
    # apply() and the tests' in-process moto (apply_common) both call them: a second call must
    # not wrap moto's code again (a wrapped lock would be taken twice, a kept answer kept twice)
    from ddbt.local import moto_patches

    patch = getattr(moto_patches, name)
    installed = _what_each_patch_installs()[name]
    patch()
    kept = installed()
    patch()
    assert installed() == kept
