"""The minimal patches that make moto's server usable as a stream source for our pollers.

moto 5.2 (verified against 5.2.1) handles DynamoDB streams and Lambda like this:

* ``StreamShard.add`` appends the record and then, for every mapping ever attached to the table
  (even disabled or deleted ones), invokes the function through Docker with *all* accumulated
  records and clears the shard when the call returns. Without Docker that call fails; after the
  function is deleted it raises and PutItem answers HTTP 500; GetRecords never sees anything.
  -> ``add`` only appends (patch 1). Delivery is the pollers' job.
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
* S3 bucket policies are evaluated without their ``Condition`` blocks, so the usual TLS-only
  statement (``Deny *`` when ``aws:SecureTransport`` is ``false``) denies every PutObject. The
  local endpoint stands in for AWS's TLS endpoints: such statements are left out of the
  evaluation (patch 6). Other conditions are still ignored by moto (see README limits).

Nothing else of moto changes. ``apply()`` is idempotent.
"""

from __future__ import annotations

import random
import threading
import time
from typing import Any
from urllib.parse import quote

__all__ = ["CODE_PATH", "apply", "code_location"]

CODE_PATH = "/_ddbt/code"
_state: dict[str, Any] = {"applied": False, "base_url": "http://127.0.0.1:5000"}


def code_location(account_id: str, region: str, function_name: str, qualifier: str | None) -> str:
    url = f"{_state['base_url']}{CODE_PATH}/{account_id}/{region}/{quote(function_name)}"
    return f"{url}?Qualifier={quote(qualifier)}" if qualifier else url


def apply(base_url: str | None = None) -> None:
    """Patch moto in this process; ``base_url`` is where this server is reachable."""
    if base_url:
        _state["base_url"] = base_url.rstrip("/")
    if _state["applied"]:
        return
    _state["applied"] = True
    _patch_stream_shard()
    _patch_lambda()
    _patch_s3_policy()


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
            self.items.append(
                table_module.StreamRecord(self.table, view_type, event_name, old, new, seq)
            )

    shard_cls.__init__ = __init__  # type: ignore[method-assign]
    shard_cls.add = add  # type: ignore[method-assign]


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
        config = original_get_configuration(self, *args, **kw)
        if not hasattr(self, "_ddbt_logging_config"):
            self._ddbt_logging_config = _logging_config(self, None)
        config["LoggingConfig"] = dict(self._ddbt_logging_config)
        return config  # type: ignore[no-any-return]

    def update_configuration(self: Any, updates: dict[str, Any]) -> dict[str, Any]:
        if "LoggingConfig" in updates:
            self._ddbt_logging_config = _logging_config(self, updates["LoggingConfig"])
        return original_update_configuration(self, updates)  # type: ignore[no-any-return]

    def get_code(self: Any) -> dict[str, Any]:
        response = original_get_code(self)
        if self.package_type == "Zip":
            qualifier = None if str(self.version) == "$LATEST" else str(self.version)
            response["Code"] = {
                "RepositoryType": "S3",
                "Location": code_location(
                    self.account_id, self.region, self.function_name, qualifier
                ),
            }
        return response  # type: ignore[no-any-return]

    fn_cls.__init__ = __init__  # type: ignore[method-assign]
    fn_cls.get_configuration = get_configuration  # type: ignore[method-assign]
    fn_cls.update_configuration = update_configuration  # type: ignore[method-assign]
    fn_cls.get_code = get_code  # type: ignore[method-assign]

    esm_cls = models.EventSourceMapping
    original_esm_init = esm_cls.__init__

    def esm_init(self: Any, spec: dict[str, Any]) -> None:
        original_esm_init(self, spec)
        # moto computes mktime(utcnow().timetuple()): off by the UTC offset outside UTC. The
        # pollers use LastModified to place LATEST, so it must be a true epoch.
        self.last_modified = time.time()

    esm_cls.__init__ = esm_init  # type: ignore[method-assign]

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

    backend_cls.update_event_source_mapping = update_event_source_mapping  # type: ignore[method-assign]


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

    bucket_cls.get_permission = get_permission  # type: ignore[method-assign]
