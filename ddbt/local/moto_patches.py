"""The minimal patches that make moto's server usable as a stream source for our pollers.

moto 5.2 (verified against 5.2.1) handles DynamoDB streams and Lambda like this:

* ``StreamShard.add`` appends the record and then, for every mapping ever attached to the table
  (even disabled or deleted ones), invokes the function through Docker with *all* accumulated
  records and clears the shard when the call returns. Without Docker that call fails; after the
  function is deleted it raises and PutItem answers HTTP 500; GetRecords never sees anything.
  -> ``add`` only appends (patch 1). Delivery is the pollers' job. Records say
  ``eventVersion`` "1.1", as a live stream's do (moto: "1.0").
* Every table's shard is ``shardId-00000001541626099285-f35f62ef`` and sequence numbers start at
  1100000000017454423009 for all of them. -> each shard gets its own id and its own starting
  sequence number (patch 2), so a poller that mixes shards up fails loudly, as on AWS.
* GetFunction's ``Code.Location`` points at a made-up S3 host. -> it points at this server's side
  channel ``/_ddbt/code/<account>/<region>/<function>[?Qualifier=]``, which serves the zip bytes
  moto received in CreateFunction/UpdateFunctionCode (patch 3; the route lives in server.py).
* ``LoggingConfig`` is dropped, so ``terraform plan`` after apply always shows a change. ->
  stored and returned with AWS's defaults (patch 4).
* UpdateEventSourceMapping ignores ``FunctionResponseTypes`` and ``TumblingWindowInSeconds``,
  and a mapping's ``LastModified`` is off by the local UTC offset. -> applied / a true epoch
  (patch 5).
* Invoke runs functions in Docker (without it: a canned "Simple Lambda happy path OK"). ->
  Invoke runs the function's deployed zip (handler, environment, timeout, memory as
  reported) in a worker process of ``ddbt.local.functions`` (the same execution environments the
  local runtime uses), and answers like Lambda: the handler's JSON result; a function error as
  ``X-Amz-Function-Error: Unhandled`` with ``{errorMessage, errorType, requestId,
  stackTrace}``; ``LogResult`` (last 4 KB of the invocation's log) with ``LogType=Tail``;
  ``Event`` runs in the background (202); ``DryRun`` only validates (204) (patch 7).
* S3 bucket policies are evaluated without their ``Condition`` blocks, so the usual TLS-only
  statement (``Deny *`` when ``aws:SecureTransport`` is ``false``) denies every PutObject. The
  local endpoint stands in for AWS's TLS endpoints: such statements are left out of the
  evaluation (patch 6). Other conditions are still ignored by moto (see docs/local.md, "What it
  does not reproduce").
* TransactWriteItems copies every table it touches, applies its actions one by one and, when
  one fails, puts the copies back: a write that another request thread (the server is
  threaded) made to such a table meanwhile is undone, and a reader can see half a
  transaction. -> DynamoDB item reads and writes run one at a time, and a failed transaction
  is undone from a journal of the items it wrote instead of copies of its tables (patch 8; the
  tests' in-process moto has it too: ``patch_dynamodb_isolation``).
* SendMessage to a queue with an SQS event source mapping receives the message at once and
  invokes the function inside the SendMessage call, one message per invocation: a successful
  call deletes it whatever ``batchItemFailures`` says, a failed one is retried only by the
  next SendMessage, and a function error becomes a SendMessage error (so a sender that
  retries, such as an on-failure destination, queues copies). On AWS, SendMessage never
  depends on a consumer. -> SendMessage only queues the message (patch 9); the local
  runtime's ``QueuePoller`` runs SQS mappings the way Lambda's SQS event source does.
* The server finds the backend of every request anew, under one lock all request threads
  share: it lists moto's package directory (a ``stat`` per entry) and tries the URL patterns
  of every service. In the soak that was a tenth of the endpoint's CPU. -> the answer for a
  host is kept (patch 10): it depends on the host string alone.
* ReceiveMessage checks each message it returns against the queue's retention period by
  building every queue attribute, and two of them count the queue's messages: a receive cost
  the queue's length ten times, and draining a queue the square of it. -> the check reads the
  retention period alone (patch 11; the same answer).
* UpdateItem and each Update of a TransactWriteItems parse the UpdateExpression text twice
  (the request's check, then the backend's), and each validation walks the tree ten times,
  asking for every node which of the walk's node classes it is (isinstance against abstract
  classes, and the list of classes built again per node): in the analytics tests, whose
  transactions update counters, that was two fifths of the CPU. -> a text's tree is parsed
  once and kept (moto only reads it: its validator works on a copy, made from the tree's
  pickle, five times faster than ``deepcopy``), and each walk finds a node class's step once
  (patch 12; the same trees, walked in the same order).
* Every answer of DynamoDB and DynamoDB Streams is written by moto's model-driven serializer,
  which finds every member of every item, image and attribute value through a chain of alias
  lookups: 0.7 CPU-s per 1,000 stream records, the largest part of the endpoint's CPU when
  the local runtime polls a busy stream, and a tenth of the CPU of the tests' item
  operations. -> a converter built once per operation from the same model writes the same
  JSON from the backend's result, which is plain dicts with the model's member names (patch
  13; anything else, such as an error, keeps moto's serializer; an empty attribute name,
  which DynamoDB refuses and moto accepts, comes out under its name instead of breaking the
  answer).
* Each request finds its action among the handler class's methods by listing all of them
  (``inspect.getmembers``, a few hundred per class). -> the action's name is looked up on the
  class (patch 14: the same test, whether the class has a function of that name).
* SendMessage reads one setting through the queue's whole attribute list, in which three
  counts scan the queue and read the clock twice per message: sending to a queue that
  nothing drains (an SNS subscription's, in the tests) cost the square of its length. -> the
  counts read the clock once per scan (patch 15: the same counts at one instant), and the
  local endpoint's SendMessage (patch 9) reads the setting alone.

Nothing else of moto changes. ``apply()`` is idempotent.
"""

from __future__ import annotations

import base64
import json
import random
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

__all__ = [
    "CODE_PATH",
    "apply",
    "apply_common",
    "close",
    "code_location",
    "patch_action_lookup",
    "patch_backend_lookup",
    "patch_dynamodb_isolation",
    "patch_json_answers",
    "patch_sqs_counts",
    "patch_sqs_retention_check",
    "patch_update_expressions",
]

CODE_PATH = "/_ddbt/code"
LOG_TAIL_BYTES = 4096  # Lambda's LogResult: the last 4 KB of the invocation's log
_state: dict[str, Any] = {
    "applied": False,
    "base_url": "http://127.0.0.1:5000",
    "state_dir": None,
    "registry": None,
}


def code_location(account_id: str, region: str, function_name: str, qualifier: str | None) -> str:
    url = f"{_state['base_url']}{CODE_PATH}/{account_id}/{region}/{quote(function_name)}"
    return f"{url}?Qualifier={quote(qualifier)}" if qualifier else url


def apply(base_url: str | None = None, state_dir: Path | None = None) -> None:
    """Patch moto in this process; ``base_url`` is where this server is reachable,
    ``state_dir`` where invoked functions keep their unpacked code and logs."""
    if base_url:
        _state["base_url"] = base_url.rstrip("/")
    if state_dir is not None:
        _state["state_dir"] = Path(state_dir)
    if _state["applied"]:
        return
    _state["applied"] = True
    _patch_stream_shard()
    _patch_lambda()
    _patch_invoke()
    _patch_s3_policy()
    _patch_sqs_send()
    apply_common()


def apply_common() -> None:
    """The patches the tests' in-process moto has too (patches 8 and 10 to 15): they need
    none of this server's settings and keep moto's answers, or make DynamoDB's writes atomic
    as on AWS. Each applies once per process, whoever calls it first."""
    patch_dynamodb_isolation()
    patch_backend_lookup()
    patch_sqs_retention_check()
    patch_update_expressions()
    patch_json_answers()
    patch_action_lookup()
    patch_sqs_counts()


def close() -> None:
    """Stop the warm workers of invoked functions."""
    registry = _state.get("registry")
    if registry is not None:
        registry.close()


_SHARD_LOCK = threading.Lock()


def _patch_stream_shard() -> None:
    from moto.dynamodb.models import table as table_module

    shard_cls = table_module.StreamShard
    original_init = shard_cls.__init__

    def __init__(self: Any, account_id: str, table: Any) -> None:
        original_init(self, account_id, table)
        # Patch 2: AWS shard ids look like shardId-<20 digits>-<8 hex>; sequence numbers are
        # 21+ digit decimal strings, unique per shard. Millisecond time + random keeps shards of
        # different tables (and of a re-enabled stream) apart.
        now_ms = int(time.time() * 1000)
        self.id = f"shardId-{now_ms:020d}-{random.getrandbits(32):08x}"
        self.starting_sequence_number = now_ms * 10**9 + random.randrange(10**8) * 10

    def add(self: Any, old: Any, new: Any) -> None:
        # Patch 1: moto's add() minus the synchronous Lambda invocation and the drain.
        view_type = self.table.stream_specification["StreamViewType"]
        if old is None:
            event_name = "INSERT"
        elif new is None:
            event_name = "REMOVE"
        else:
            event_name = "MODIFY"
        # The endpoint serves requests in threads: numbering and appending must be one step,
        # or two concurrent writes get the same sequence number.
        with _SHARD_LOCK:
            seq = len(self.items) + self.starting_sequence_number
            record = table_module.StreamRecord(self.table, view_type, event_name, old, new, seq)
            # What a live stream says (moto: "1.0"); Lambda passes it on unchanged.
            record.record["eventVersion"] = "1.1"
            self.items.append(record)

    shard_cls.__init__ = __init__
    shard_cls.add = add


def _patch_lambda() -> None:
    from moto.awslambda import models

    fn_cls = models.LambdaFunction
    original_init = fn_cls.__init__
    original_get_configuration = fn_cls.get_configuration
    original_update_configuration = fn_cls.update_configuration
    original_get_code = fn_cls.get_code

    def __init__(self: Any, account_id: str, spec: dict[str, Any], *args: Any, **kw: Any) -> None:
        original_init(self, account_id, spec, *args, **kw)
        self._ddbt_logging_config = _logging_config(self, spec.get("LoggingConfig"))

    def get_configuration(self: Any, *args: Any, **kw: Any) -> dict[str, Any]:
        config: dict[str, Any] = original_get_configuration(self, *args, **kw)
        if not hasattr(self, "_ddbt_logging_config"):
            self._ddbt_logging_config = _logging_config(self, None)
        config["LoggingConfig"] = dict(self._ddbt_logging_config)
        return config

    def update_configuration(self: Any, config_updates: dict[str, Any]) -> dict[str, Any]:
        if "LoggingConfig" in config_updates:
            self._ddbt_logging_config = _logging_config(self, config_updates["LoggingConfig"])
        updated: dict[str, Any] = original_update_configuration(self, config_updates)
        return updated

    def get_code(self: Any) -> dict[str, Any]:
        response: dict[str, Any] = original_get_code(self)
        if self.package_type == "Zip":
            qualifier = None if str(self.version) == "$LATEST" else str(self.version)
            response["Code"] = {
                "RepositoryType": "S3",
                "Location": code_location(
                    self.account_id, self.region, self.function_name, qualifier
                ),
            }
        return response

    fn_cls.__init__ = __init__
    fn_cls.get_configuration = get_configuration
    fn_cls.update_configuration = update_configuration
    fn_cls.get_code = get_code

    esm_cls = models.EventSourceMapping
    original_esm_init = esm_cls.__init__

    def esm_init(self: Any, spec: dict[str, Any]) -> None:
        original_esm_init(self, spec)
        # moto computes mktime(utcnow().timetuple()): off by the UTC offset outside UTC. The
        # pollers use LastModified to place LATEST, so it must be a true epoch.
        self.last_modified = time.time()

    esm_cls.__init__ = esm_init

    backend_cls = models.LambdaBackend
    original_update_esm = backend_cls.update_event_source_mapping

    def update_event_source_mapping(self: Any, uuid: str, spec: dict[str, Any]) -> Any:
        esm = original_update_esm(self, uuid, spec)
        if esm is not None:
            if "FunctionResponseTypes" in spec:
                esm.function_response_types = spec["FunctionResponseTypes"]
            if "TumblingWindowInSeconds" in spec:
                esm.tumbling_window = spec["TumblingWindowInSeconds"]
            esm.last_modified = time.time()
        return esm

    backend_cls.update_event_source_mapping = update_event_source_mapping


def _logging_config(fn: Any, given: dict[str, Any] | None) -> dict[str, Any]:
    # AWS fills in LogFormat=Text and the default group; JSON format adds the two levels.
    config: dict[str, Any] = {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{fn.function_name}"}
    config.update({k: v for k, v in (given or {}).items() if v is not None})
    if config.get("LogFormat") == "JSON":
        config.setdefault("ApplicationLogLevel", "INFO")
        config.setdefault("SystemLogLevel", "INFO")
    return config


def _insecure_transport_only(statement: Any) -> bool:
    condition = statement.get("Condition") if isinstance(statement, dict) else None
    if not isinstance(condition, dict) or statement.get("Effect") != "Deny":
        return False
    flat = {
        (op, key.lower()): str(value).lower()
        for op, block in condition.items()
        if isinstance(block, dict)
        for key, value in block.items()
    }
    return flat == {("Bool", "aws:securetransport"): "false"} or flat == {
        ("Bool", "aws:securetransport"): "['false']"
    }


def _patch_s3_policy() -> None:
    import json

    from moto.s3 import models

    bucket_cls = models.FakeBucket
    original = bucket_cls.get_permission

    def get_permission(self: Any, action: str, resource: str) -> Any:
        policy = self.policy
        if policy is None:
            return original(self, action, resource)
        try:
            document = json.loads(policy.decode() if isinstance(policy, bytes) else policy)
            statements = document.get("Statement")
            statements = statements if isinstance(statements, list) else [statements]
            kept = [st for st in statements if not _insecure_transport_only(st)]
        except (ValueError, AttributeError):
            return original(self, action, resource)
        if len(kept) == len(statements):
            return original(self, action, resource)
        from moto.iam.access_control import IAMPolicy, PermissionResult

        if not kept:
            return PermissionResult.NEUTRAL
        document["Statement"] = kept
        return IAMPolicy(json.dumps(document)).is_action_permitted(action, resource)

    bucket_cls.get_permission = get_permission


# -- patch 7: Invoke runs the deployed zip -----------------------------------------------------
class _MotoLambda:
    """The ``get_function`` the registry needs, answered by moto's backend in this process
    (the code location points at this server's code route)."""

    def get_function(self, FunctionName: str) -> dict[str, Any]:
        from moto.awslambda.models import lambda_backends

        parts = FunctionName.split(":")
        account, region, name = parts[4], parts[3], parts[6]
        qualifier = parts[7] if len(parts) > 7 else None
        fn = lambda_backends[account][region].get_function(name, qualifier)
        code: dict[str, Any] = fn.get_code()
        return code


_REGISTRY_LOCK = threading.Lock()


def _registry() -> Any:
    from ddbt.local.functions import FunctionRegistry

    with _REGISTRY_LOCK:
        if _state["registry"] is None:
            state_dir = _state["state_dir"] or Path(tempfile.mkdtemp(prefix="ddbt-invoke-"))
            _state["registry"] = FunctionRegistry(
                _MotoLambda(), Path(state_dir), endpoint_url=_state["base_url"]
            )
        return _state["registry"]


def _invoke_error(code: int, error: str, message: str) -> Exception:
    from moto.core.exceptions import JsonRESTError

    exc: Exception = JsonRESTError(error, message)
    exc.code = code  # type: ignore[attr-defined]
    return exc


def _log_segment(path: Path, offset: int, request_id: str) -> str:
    """This invocation's lines of the function's log: START to REPORT (or the timeout line).
    Concurrent invocations of the same function append to the same file; their lines can
    interleave with this one's (the worker frames only its own START/END/REPORT)."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    start = text.find(f"START RequestId: {request_id}")
    if start < 0:
        return ""
    text = text[start:]
    for marker in (f"REPORT RequestId: {request_id}", f"{request_id} Task timed out"):
        end = text.find(marker)
        if end >= 0:
            line_end = text.find("\n", end)
            return text[: line_end + 1] if line_end >= 0 else text
    return text


def _stack_trace(log: str) -> list[str]:
    """The handler's frames, as the Lambda Python runtime reports them (``format_list``
    entries, the runtime's own frames left out), from the error line the worker logs."""
    for line in reversed(log.splitlines()):
        if line.startswith("{") and '"stackTrace"' in line:
            try:
                entries = json.loads(line).get("stackTrace") or []
            except ValueError:
                continue
            return [
                e
                for e in entries
                if isinstance(e, str)
                and e.startswith("  File ")
                and "ddbt/local/worker.py" not in e
            ]
    return []


def _run(fn: Any, event: Any) -> tuple[Any, str, Path, int]:
    """Invoke ``fn`` in a worker: (InvokeResult, request id, log path, log offset)."""
    registry = _registry()
    arn = fn.function_arn
    spec = registry.spec(arn, refresh=True)  # the code and configuration as of now
    if spec is None:
        raise _invoke_error(502, "ServiceException", registry.error(arn) or "cannot run")
    log = registry.state_dir / "logs" / f"{spec.name}.log"
    try:
        offset = log.stat().st_size
    except OSError:
        offset = 0
    result = registry.invoke(arn, event)
    return result, result.request_id, log, offset


def _patch_invoke() -> None:
    from moto.awslambda import models

    def invoke(self: Any, body: Any, request_headers: Any, response_headers: Any) -> bytes:
        kind = request_headers.get("x-amz-invocation-type") or "RequestResponse"
        try:
            event = json.loads(body) if body else {}
        except ValueError:
            raise _invoke_error(
                400, "InvalidRequestContentException", "Could not parse request body into json"
            ) from None
        response_headers["x-amz-executed-version"] = str(self.version)
        if kind == "DryRun":
            return b""  # validation only: the function exists (moto raised otherwise)
        if kind == "Event":
            # Guess, documented: one attempt, no async retries or destinations locally.
            threading.Thread(target=_run, args=(self, event), daemon=True).start()
            return b""
        result, request_id, log, offset = _run(self, event)
        if result.outcome == "not_invoked":
            if result.error_type == "TooManyRequestsException":
                raise _invoke_error(429, "TooManyRequestsException", "Rate Exceeded.")
            raise _invoke_error(
                502, "ServiceException", f"{result.error_type}: {result.error_message}"
            )
        text = _log_segment(log, offset, request_id)
        tail = text.encode("utf-8")[-LOG_TAIL_BYTES:]
        response_headers["x-amz-log-result"] = base64.b64encode(tail).decode()
        if result.outcome == "ok":
            return json.dumps(result.payload).encode()
        response_headers["x-amz-function-error"] = "Unhandled"
        if result.outcome == "timeout":
            # Guess: the shape current runtimes return for a timeout.
            payload: dict[str, Any] = {
                "errorType": "Sandbox.Timedout",
                "errorMessage": f"RequestId: {request_id} Error: {result.error_message}",
            }
        else:
            payload = {
                "errorMessage": result.error_message,
                "errorType": result.error_type,
                "requestId": request_id,
                "stackTrace": _stack_trace(text),
            }
        return json.dumps(payload).encode()

    models.LambdaFunction.invoke = invoke


_DYNAMODB_LOCK = threading.RLock()
_MARK = "_ddbt_patched"  # on the functions a patch put in moto's place


def _mark(function: Any) -> Any:
    """``function``, marked as a patch of ours (``_patched``)."""
    setattr(function, _MARK, True)
    return function


def _patched(function: Any) -> bool:
    """Whether ``function`` is a patch of ours: the patches that the tests' in-process moto
    applies on their own, as well as ``apply()``, check it so that a second call does not
    wrap moto's code twice."""
    return bool(getattr(function, _MARK, False))


def patch_dynamodb_isolation() -> None:
    # Patch 8: one lock around the item operations of the DynamoDB backend. Re-entrant:
    # transact_write_items calls put_item/update_item/delete_item itself (and BatchWriteItem
    # is put_item/delete_item per request). Two costs of moto's rollback copies go too. moto
    # deep-copies every table a transaction names, once per action, to put the copies back if
    # it fails: its cost grew with the tables (and their streams' records), not with the
    # transaction. Instead, a transaction here keeps a journal: a copy of each item as it was
    # before the transaction's write to it, and the length of each touched table's stream;
    # moto's rollback finds its tables unchanged (its "copies" are the tables themselves) and
    # the journal, played backwards, undoes the writes and drops their stream records. The
    # same end state as moto's (whatever the transaction wrote is gone, nothing else is
    # touched), and one on any failure of the call, as on AWS, where moto kept the writes made
    # before some errors. And every object created while an update or a transaction runs stays
    # out of moto's instance tracker (``BaseModel.instances_tracked``, for its dashboard):
    # kept for the life of the server, its memory and time grew with the square of the soak's
    # length (12 GB within minutes).
    import copy
    import functools
    import types

    from moto.core.model_instances import model_data
    from moto.dynamodb import models as dynamodb_models
    from moto.dynamodb.exceptions import ResourceNotFoundException
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    if _patched(DynamoDBBackend.transact_write_items):
        return  # applied already in this process (apply(), a test's in-process moto)
    journal: list[_Journal | None] = [None]  # the running transaction's

    def deepcopy(value: Any, memo: Any = None) -> Any:
        if journal[0] is not None and isinstance(value, Table):
            return value  # moto's rollback copy: the journal undoes the writes instead
        return copy.deepcopy(value, memo)

    dynamodb_models.copy = types.SimpleNamespace(deepcopy=deepcopy, copy=copy.copy)

    def remember(backend: Any, table_name: Any, key: Any) -> None:
        # Before a transaction's write to the item of ``key`` (the item's attributes for a
        # put): a copy of that item as it is, or None. A write moto will refuse (no table, a
        # key attribute missing or malformed) changes nothing and needs no entry.
        held = journal[0]
        if held is None or not isinstance(key, dict):
            return
        try:
            table = backend.get_table(table_name)  # a name or an ARN, as moto takes it
            hash_value = DynamoType(key[table.hash_key_attr])
            range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
        except (ResourceNotFoundException, KeyError, TypeError, AttributeError):
            return
        if range_value is None:
            item = table.items.get(hash_value)
        else:
            item = table.items.get(hash_value, {}).get(range_value)
        held.items.append((table, hash_value, range_value, copy.deepcopy(item)))
        shard = table.stream_shard
        if shard is not None and id(shard) not in held.streams:
            held.streams[id(shard)] = (shard, len(shard.items))

    def wrap(name: str, writes: bool, untracked: bool, journals: bool = False) -> None:
        # writes: a transaction's journal records the item before it; untracked: objects it
        # creates stay out of the tracker; journals: it runs a transaction (the outermost call
        # keeps the journal and undoes it on failure)
        original = getattr(DynamoDBBackend, name)

        def locked(*args: Any, **kwargs: Any) -> Any:
            with _DYNAMODB_LOCK:
                if writes and journal[0] is not None:
                    # backend.put_item(table_name, item_attrs, ...), update_item and
                    # delete_item(table_name, key, ...): how transact_write_items calls them
                    remember(*args[:3])
                if not untracked:
                    return original(*args, **kwargs)
                models: dict[str, Any] = model_data.get("dynamodb", {})
                tracked = [(model, len(model.instances_tracked)) for model in models.values()]
                outer = journals and journal[0] is None
                if outer:
                    journal[0] = _Journal()
                try:
                    return original(*args, **kwargs)
                except BaseException:
                    if outer:
                        journal[0].undo()  # type: ignore[union-attr]
                    raise
                finally:
                    if outer:
                        journal[0] = None
                    for model, count in tracked:
                        del model.instances_tracked[count:]

        setattr(DynamoDBBackend, name, _mark(functools.wraps(original)(locked)))

    wrap("get_item", writes=False, untracked=False)
    wrap("put_item", writes=True, untracked=False)
    wrap("delete_item", writes=True, untracked=False)
    wrap("update_item", writes=True, untracked=True)
    wrap("transact_write_items", writes=False, untracked=True, journals=True)


class _Journal:
    """What a running transaction changed (patch 8): each written item as it was before,
    and each touched stream's length before it."""

    def __init__(self) -> None:
        self.items: list[tuple[Any, Any, Any, Any]] = []  # (table, hash, range or None, item)
        self.streams: dict[int, tuple[Any, int]] = {}  # id(shard) -> (shard, its length)

    def undo(self) -> None:
        for table, hash_value, range_value, item in reversed(self.items):
            if range_value is None:
                slot, key = table.items, hash_value
            else:
                slot, key = table.items[hash_value], range_value
            if item is None:
                slot.pop(key, None)
            else:
                slot[key] = item
        for shard, length in self.streams.values():
            del shard.items[length:]


def _patch_sqs_send() -> None:
    # Patch 9: moto's Queue.add_message minus the event source mapping block (the FIFO
    # deduplication and the append are moto's own code). Delivery to functions is the local
    # runtime's QueuePoller's job.
    from moto.sqs import models

    def add_message(self: Any, message: Any) -> None:
        # The setting as moto reads it, through self.attributes (which writes a bool as
        # "true" or "false"), without building the attributes: they count the queue.
        setting = self.content_based_deduplication
        content_based = (str(setting).lower() if isinstance(setting, bool) else setting) == "true"
        if self.fifo_queue and (content_based or message.deduplication_id):
            for m in self._messages:
                if m.deduplication_id == message.deduplication_id:
                    diff = message.sent_timestamp - m.sent_timestamp
                    if diff / 1000 < models.DEDUPLICATION_TIME_IN_SECONDS:
                        return
        with self._messages_lock:
            self._messages.append(message)
            self._messages_lock.notify_all()

    models.Queue.add_message = add_message


def patch_backend_lookup() -> None:
    # Patch 10: DomainDispatcherApplication.get_backend_for_host is a pure function of the
    # host string (moto's module list and URL patterns do not change while it runs); keep
    # each answer. None (no backend: the caller then infers one from the request) is kept too.
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    original = DomainDispatcherApplication.get_backend_for_host
    if _patched(original):
        return  # applied already in this process (apply(), a test's in-process moto)
    known: dict[str | None, Any] = {}

    def get_backend_for_host(self: Any, host: str | None) -> Any:
        if host not in known:
            known[host] = original(self, host)
        return known[host]

    DomainDispatcherApplication.get_backend_for_host = _mark(get_backend_for_host)


def patch_sqs_retention_check() -> None:
    # Patch 11: SQSBackend.is_message_valid_based_on_retention_period read the period through
    # get_queue_attributes, which builds Queue.attributes whole (ApproximateNumberOfMessages
    # and ...NotVisible scan the queue) for every message ReceiveMessage returns.
    from moto.core.utils import unix_time
    from moto.sqs.models import SQSBackend

    original = SQSBackend.is_message_valid_based_on_retention_period
    if _patched(original):
        return  # applied already in this process (apply(), a test's in-process moto)

    def is_message_valid_based_on_retention_period(
        self: Any, queue_name: str, message: Any
    ) -> bool:
        period = self.get_queue(queue_name).message_retention_period
        return bool(period + message.sent_timestamp / 1000 > unix_time())

    SQSBackend.is_message_valid_based_on_retention_period = _mark(
        is_message_valid_based_on_retention_period
    )


def patch_action_lookup() -> None:
    # Patch 14: BaseResponse.call_action decides whether the handler class implements the
    # request's action by listing every function of the class (method_names_from_class:
    # inspect.getmembers, sorted) for each request. The same test, asked of the one name:
    # whether the class has a function of that name.
    import inspect

    from moto.core import responses

    if _patched(getattr(responses, "method_names_from_class", None)):
        return  # applied already in this process (apply(), a test's in-process moto)

    class Functions:
        """The names of a class's functions, as a container that is asked, not listed."""

        __slots__ = ("_class",)

        def __init__(self, cls: Any) -> None:
            self._class = cls

        def __contains__(self, name: object) -> bool:
            return isinstance(name, str) and inspect.isfunction(getattr(self._class, name, None))

    setattr(responses, "method_names_from_class", _mark(Functions))  # noqa: B010


def patch_sqs_counts() -> None:
    # Patch 15: Queue's ApproximateNumberOfMessages, ...Delayed and ...NotVisible ask each
    # message whether it is visible and whether it is delayed, and each answer reads the
    # clock (unix_time_millis: two datetimes). SendMessage builds the whole attribute list to
    # read one setting, so a send cost three scans of the queue at two clock readings per
    # message. The same counts, with one clock reading per count instead of one per message
    # (microseconds apart).
    from moto.core.utils import unix_time_millis
    from moto.sqs.models import Queue

    if _patched(getattr(Queue.approximate_number_of_messages, "fget", None)):
        return  # applied already in this process (apply(), a test's in-process moto)

    def available(self: Any) -> int:  # moto: len(self.messages): visible and not delayed
        now = unix_time_millis()
        return sum(1 for m in self._messages if now > m.visible_at and not now < m.delayed_until)

    def delayed(self: Any) -> int:
        now = unix_time_millis()
        return sum(1 for m in self._messages if now < m.delayed_until)

    def not_visible(self: Any) -> int:
        now = unix_time_millis()
        return sum(1 for m in self._messages if not now > m.visible_at)

    for name, count in (
        ("approximate_number_of_messages", available),
        ("approximate_number_of_messages_delayed", delayed),
        ("approximate_number_of_messages_not_visible", not_visible),
    ):
        setattr(Queue, name, property(_mark(count)))


def patch_update_expressions() -> None:
    # Patch 12: UpdateExpressionParser.make keeps the tree of each expression text (moto
    # reads it, with find_clauses, and its UpdateExpressionValidator deep-copies it before
    # changing anything; a text that does not parse raises and is not kept), with its
    # pickle: the validator's copy of a kept tree is made from it (the same objects as
    # deepcopy's, a fifth of the time; any other value is deep-copied as before). And
    # DepthFirstTraverser's walk looks up, once per (walk class, node class), which entry of
    # the walk's _processing_map handles the node class (the first whose class it is an
    # instance of, in the map's order, as moto's process() does): every walk of moto 5.2
    # declares a fixed map and overrides neither nodes_to_be_processed nor process (a walk
    # that does keeps moto's own code).
    import copy
    import pickle

    # (moto's parsing modules are not type-checked: mypy sees none of their names)
    from moto.dynamodb.parsing import validators
    from moto.dynamodb.parsing.ast_nodes import DepthFirstTraverser, Node
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    original_make = UpdateExpressionParser.make
    if _patched(original_make):
        return  # applied already in this process (apply(), a test's in-process moto)
    parse = original_make.__func__
    trees: dict[tuple[type, str], Any] = {}
    # id of a tree make() returned -> (the tree, its pickle); the entry holds the tree, so no
    # other object can get its id while the entry lasts (request threads may parse one text
    # at once: each tree gets its entry)
    pickles: dict[int, tuple[Any, bytes]] = {}

    def make(cls: type, expression: str) -> Any:
        key = (cls, expression)
        tree = trees.get(key)
        if tree is None:
            tree = parse(cls, expression)
            if len(trees) >= 4096:  # a bound on the texts kept, should a client vary them
                trees.clear()
                pickles.clear()
            pickles[id(tree)] = (tree, pickle.dumps(tree, pickle.HIGHEST_PROTOCOL))
            trees[key] = tree
        return tree

    def deepcopy(value: Any, memo: Any = None) -> Any:
        kept, blob = pickles.get(id(value), (None, b""))
        return pickle.loads(blob) if kept is value else copy.deepcopy(value, memo)

    UpdateExpressionParser.make = classmethod(_mark(make))
    validators.deepcopy = deepcopy

    original_walk = DepthFirstTraverser.traverse_node_recursively
    not_a_node = object()
    steps: dict[tuple[type, type], Any] = {}  # (walk class, node class) -> map key or None

    def step(walk: Any, node_class: type) -> Any:
        if not issubclass(node_class, Node):
            return not_a_node
        return next((k for k in walk._processing_map() if issubclass(node_class, k)), None)

    def traverse_node_recursively(self: Any, node: Any, child_id: int = -1) -> Any:
        walk = type(self)
        if (
            walk.nodes_to_be_processed is not DepthFirstTraverser.nodes_to_be_processed
            or walk.process is not DepthFirstTraverser.process
        ):
            return original_walk(self, node, child_id)
        key = (walk, type(node))
        try:
            target = steps[key]
        except KeyError:
            target = steps[key] = step(self, type(node))
        if target is not_a_node:
            return node
        parent_node = node.parent
        if node.children is not None:
            for i, child_node in enumerate(node.children):
                self.pre_processing_of_child(node, i)
                self.traverse_node_recursively(child_node, i)
        if target is not None:
            node = self._processing_map()[target](node)
            node.parent = parent_node
            if parent_node:
                parent_node.children[child_id] = node
        return node

    DepthFirstTraverser.traverse_node_recursively = _mark(traverse_node_recursively)


class _NotPlain(Exception):
    """A value the converter of patch 13 does not write itself: moto's serializer does."""


def _json_writer(shape: Any, made: dict[str, Callable[[Any], Any]]) -> Callable[[Any], Any]:
    """A function that turns a value of botocore ``shape`` into what moto's JSON serializer
    writes for it, for values made of plain dicts, lists and scalars: a structure's members
    by their model names (None or absent: left out), a map's keys as they are, blobs in
    base64, timestamps by moto's own timestamp code, numbers as the model's type. Raises
    ``_NotPlain`` for anything else (moto's serializer looks up aliases and attributes)."""
    from moto.core.serialize import TimestampSerializer

    kind = shape.type_name
    if kind == "structure" and not getattr(shape, "is_document_type", False):
        name = shape.name
        if name not in made:  # a recursive shape (AttributeValue) refers to itself
            made[name] = _not_plain
            members = [
                (key, member.serialization.get("name", key), _json_writer(member, made))
                for key, member in shape.members.items()
            ]
            known = frozenset(shape.members)

            def structure(value: Any) -> dict[str, Any]:
                if type(value) is not dict or not value.keys() <= known:
                    raise _NotPlain(name)
                return {
                    out: write(value[key])
                    for key, out, write in members
                    if value.get(key) is not None
                }

            made[name] = structure
        return lambda value: made[name](value)
    if kind == "map":
        write_value = _json_writer(shape.value, made)

        def mapping(value: Any) -> dict[str, Any]:
            if type(value) is not dict:
                raise _NotPlain(shape.name)
            return {key: write_value(item) for key, item in value.items()}

        return mapping
    if kind == "list":
        write_item = _json_writer(shape.member, made)

        def sequence(value: Any) -> list[Any]:
            if type(value) is not list or None in value:
                raise _NotPlain(shape.name)
            return [write_item(item) for item in value]

        return sequence
    if kind == "blob":

        def blob(value: Any) -> str:
            if isinstance(value, str):
                value = value.encode("utf-8")
            if not isinstance(value, bytes | bytearray):
                raise _NotPlain(shape.name)
            return base64.b64encode(value).strip().decode("utf-8")

        return blob
    if kind == "timestamp":
        stamps = TimestampSerializer(TimestampSerializer.TIMESTAMP_FORMAT_UNIX)
        form = shape.serialization.get("timestampFormat", stamps.default_format)
        return lambda value: stamps._convert_timestamp_to_str(value, form)
    if kind in ("integer", "long"):
        return int
    if kind in ("float", "double"):
        return float
    return lambda value: value  # string, boolean, a document


def _not_plain(value: Any) -> Any:
    raise _NotPlain("a shape still being built")


def patch_json_answers() -> None:
    # Patch 13: DynamoDB's and DynamoDB Streams' answers are written from the backend's result
    # by a converter built once per operation from its output shape (_json_writer) instead of
    # moto's ResponseSerializer, which asks a chain of alias providers for every member of
    # every structure (each attribute value of each item, image and record): the same body,
    # status and headers. moto's serializer still answers when the result holds anything but
    # plain dicts, lists and scalars with the model's member names, when a response
    # transformer is registered (none is for these services), with pretty-printed responses,
    # for a request in another content type than the SDKs' (moto chooses the answer's
    # protocol by it), for a paginated result, and for errors. One difference, on input
    # DynamoDB refuses: an empty attribute name (moto accepts one) is written under its name,
    # where moto's serializer writes its value into the map around it (an answer botocore
    # cannot parse).
    from moto.dynamodb.responses import DynamoHandler
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

    for handler, service_name in (
        (DynamoHandler, "dynamodb"),
        (DynamoDBStreamsHandler, "dynamodbstreams"),
    ):
        _answer_with_converters(handler, service_name)


def _answer_with_converters(handler: Any, service_name: str) -> None:
    from botocore.model import OperationNotFoundError
    from moto import settings
    from moto.core.responses import ActionResult
    from moto.core.utils import get_service_model

    original = handler.serialized
    if _patched(original):
        return  # applied already in this process (apply(), a test's in-process moto)
    service = get_service_model(service_name)
    content_type = f"application/x-amz-json-{service.metadata.get('jsonVersion', '1.0')}"
    made: dict[str, Callable[[Any], Any]] = {}  # the service's structures, by shape name
    # operation name -> (status, the converter; None: the operation has no output shape)
    operations: dict[str, tuple[int, Callable[[Any], Any] | None]] = {}

    def operation(name: str) -> tuple[int, Callable[[Any], Any] | None]:
        found = operations.get(name)
        if found is None:
            model = service.operation_model(name)  # OperationNotFoundError: moto's path
            shape = model.output_shape
            status = int(model.http.get("responseCode", 200))
            write = None if shape is None else _json_writer(shape, made)
            found = operations[name] = (status, write)
        return found

    def serialized(self: Any, action_result: Any) -> Any:
        result = action_result.result
        if (
            # moto's own writing of the result (a PaginatedResult pages it first)
            type(action_result).execute_result is not ActionResult.execute_result
            or isinstance(result, Exception)
            or self.RESPONSE_KEY_PATH_TO_TRANSFORMER
            or settings.PRETTIFY_RESPONSES
            or self.headers.get("Content-Type", "") != content_type  # moto picks by it
        ):
            return original(self, action_result)
        try:
            status, write = operation(self._get_action())
            body = json.dumps(write(result) if write else {})
        except (_NotPlain, OperationNotFoundError):
            return original(self, action_result)
        headers = {"Content-Type": content_type}
        headers.update(self.response_headers)
        return status, headers, body

    handler.serialized = _mark(serialized)
