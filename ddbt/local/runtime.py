"""The local runtime: discovers event source mappings and runs a poller per mapping: a
``MappingPoller`` per DynamoDB stream mapping, a ``QueuePoller`` per SQS mapping (such as the
DLQ archiver's), both invoking the functions in the same worker processes.

Works the same against the local endpoint (``endpoint_url``) and a real account
(``endpoint_url=None``: normal credential chain; then only the mappings named with
``only_mappings`` are polled, and disabled ones too, since the usual setup is to disable the
cloud mapping and let the laptop take over; or an ad-hoc mapping from ``static``).
"""

from __future__ import annotations

import functools
import json
import os
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ddbt.local.destinations import DestinationSender
from ddbt.local.engine import InvokeResult
from ddbt.local.functions import FunctionRegistry
from ddbt.local.model import FunctionSpec, MappingSettings
from ddbt.local.polling import PollerOptions, ShardProgress
from ddbt.local.queue_poller import QueuePoller
from ddbt.local.report import Report
from ddbt.local.shard_checkpoints import ShardCheckpointFile, ShardCheckpoints
from ddbt.local.stream_poller import MappingPoller
from handlers.filters import FilterError

__all__ = ["Runtime", "RuntimeConfig"]


def _progress(poller: MappingPoller | QueuePoller) -> Sequence[tuple[str, ShardProgress]]:
    """A poller's shards (a queue poller: its one queue), as ``status``/``caught_up`` read
    them."""
    return list(poller.shards.items())


@dataclass
class RuntimeConfig:
    endpoint_url: str | None
    regions: list[str]
    state_dir: Path
    options: PollerOptions = field(default_factory=PollerOptions)
    discover_interval: float = 1.0
    only_mappings: set[str] = field(default_factory=set)  # UUIDs or function names
    include_disabled: bool = False
    code_overrides: dict[str, Path] = field(default_factory=dict)
    static: list[tuple[MappingSettings, FunctionSpec]] = field(default_factory=list)
    durable: bool = True
    status_file: Path | None = None


class Runtime:
    def __init__(self, config: RuntimeConfig, report: Report | None = None) -> None:
        import boto3
        from botocore.config import Config

        self.config = config
        self.report = report or Report()
        self._session = boto3.Session()
        self._botocore_config = Config(
            retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=30
        )
        self._clients: dict[tuple[str, str], Any] = {}
        self._clients_lock = threading.Lock()
        if config.endpoint_url:
            # The local endpoint accepts anything; never let a user's profile leak in.
            self._creds = {
                "aws_access_key_id": "testing",
                "aws_secret_access_key": "testing",
                "aws_session_token": "testing",
            }
        else:
            self._creds = {}
        self.store: ShardCheckpoints = (
            ShardCheckpointFile(config.state_dir / "checkpoints.json")
            if config.durable
            else ShardCheckpoints()
        )
        region = config.regions[0]
        self.functions = FunctionRegistry(
            self.client("lambda", region),
            config.state_dir,
            endpoint_url=config.endpoint_url,
            credentials=None if config.endpoint_url else self._resolved_credentials,
            code_overrides=config.code_overrides,
        )
        self.functions_by_region = {region: self.functions}
        self.sender = DestinationSender(
            self.client,
            undeliverable=config.state_dir / "undeliverable.jsonl",
            log=self.report.line,
            observer=self.report,
        )
        self.pollers: dict[str, MappingPoller | QueuePoller] = {}
        self.settings: dict[str, MappingSettings] = {}
        self.broken: dict[str, str] = {}
        self.discovered_at = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._static_specs = {m.function_arn: f for m, f in config.static}

    # -- AWS clients ---------------------------------------------------------------------
    def client(self, service: str, region: str) -> Any:
        key = (service, region)
        with self._clients_lock:
            found = self._clients.get(key)
            if found is None:
                found = self._session.client(
                    service,
                    region_name=region,
                    endpoint_url=self.config.endpoint_url,
                    config=self._botocore_config,
                    **self._creds,
                )
                self._clients[key] = found
            return found

    def _resolved_credentials(self) -> dict[str, str]:
        creds = self._session.get_credentials()
        if creds is None:
            return {}
        frozen = creds.get_frozen_credentials()
        out = {"AWS_ACCESS_KEY_ID": frozen.access_key, "AWS_SECRET_ACCESS_KEY": frozen.secret_key}
        if frozen.token:
            out["AWS_SESSION_TOKEN"] = frozen.token
        return out

    def _registry(self, region: str) -> FunctionRegistry:
        if region not in self.functions_by_region:
            self.functions_by_region[region] = FunctionRegistry(
                self.client("lambda", region),
                self.config.state_dir,
                endpoint_url=self.config.endpoint_url,
                credentials=None if self.config.endpoint_url else self._resolved_credentials,
                code_overrides=self.config.code_overrides,
            )
        return self.functions_by_region[region]

    def invoke(self, function_arn: str, event: dict[str, Any]) -> InvokeResult:
        registry = self._registry(function_arn.split(":")[3])
        static = self._static_specs.get(function_arn)
        if static is not None:
            registry.register(static)
        return registry.invoke(function_arn, event)

    # -- discovery -----------------------------------------------------------------------
    def _list_mappings(self) -> Iterable[dict[str, Any]]:
        for region in self.config.regions:
            paginator = self.client("lambda", region).get_paginator("list_event_source_mappings")
            for page in paginator.paginate():
                for item in page.get("EventSourceMappings") or []:
                    arn = item.get("EventSourceArn") or ""
                    if arn.startswith("arn:") and ":dynamodb:" in arn and "/stream/" in arn:
                        yield item
                    elif arn.startswith("arn:") and arn.split(":")[2:3] == ["sqs"]:
                        yield item

    def _wanted(self, item: dict[str, Any]) -> bool:
        only = self.config.only_mappings
        if not only:
            return True
        name = item["FunctionArn"].split(":")[6] if item["FunctionArn"].count(":") >= 6 else ""
        return item["UUID"] in only or name in only or item["FunctionArn"] in only

    def discover(self) -> None:
        """One pass: start, restart or stop pollers to match the mappings."""
        seen: dict[str, MappingSettings] = {}
        if self.config.static:
            seen = {m.uuid: m for m, _ in self.config.static}
        else:
            for item in self._list_mappings():
                if not self._wanted(item):
                    continue
                try:
                    settings = MappingSettings.from_api(item)
                except FilterError as exc:
                    if self.broken.get(item["UUID"]) != str(exc):
                        self.report.line(f"mapping {item['UUID'][:8]} ignored: {exc}")
                    self.broken[item["UUID"]] = str(exc)
                    continue
                if not settings.enabled and not self.config.include_disabled:
                    continue
                seen[settings.uuid] = settings
        for uuid in list(self.pollers):
            current = self.settings[uuid]
            new = seen.get(uuid)
            if new is None or new.delivery_key() != current.delivery_key():
                reason = "deleted or disabled" if new is None else "changed"
                self.report.line(f"mapping {uuid[:8]} {reason}: stopping its pollers")
                self.pollers.pop(uuid).stop()
                self.settings.pop(uuid)
        still = {item_uuid for item_uuid in seen}
        for uuid in list(self.store._data):
            if uuid not in still and not self._exists(uuid):
                self.store.forget(uuid)  # deleted mapping: its checkpoint goes too
        for uuid, settings in seen.items():
            if uuid not in self.pollers:
                self._start(settings)
        self.discovered_at = time.time()

    def _start(self, settings: MappingSettings) -> None:
        """A line naming the new mapping and its settings, then its poller (a queue's or a
        stream's), started and kept."""
        region = settings.stream_arn.split(":")[3]
        invoke = functools.partial(self.invoke, settings.function_arn)
        to = (
            f"{settings.function_arn.split(':', 6)[-1]} (batch {settings.batch_size}, "
            f"window {settings.batching_window:g}s"
        )
        filters = f"filters {len(settings.matcher.patterns)})"
        poller: MappingPoller | QueuePoller
        if settings.source_service == "sqs":
            source = f"queue {settings.stream_arn.split(':')[5]}"
            details = f"report failures {settings.report_item_failures}"
            poller = QueuePoller(
                settings,
                sqs=self.client("sqs", region),
                invoke=invoke,
                options=self.config.options,
                observer=self.report,
                log=self.report.line,
            )
        else:
            source = settings.stream_arn.split("/")[1]
            details = (
                f"{settings.starting_position}, parallel {settings.parallelization_factor}, "
                f"retries {settings.max_retries}, bisect {settings.bisect}"
            )
            poller = MappingPoller(
                settings,
                streams=self.client("dynamodbstreams", region),
                invoke=invoke,
                on_failure=self.sender,
                store=self.store,
                options=self.config.options,
                observer=self.report,
                log=self.report.line,
            )
        self.report.line(f"mapping {settings.uuid[:8]}: {source} -> {to}, {details}, {filters}")
        self.pollers[settings.uuid] = poller
        self.settings[settings.uuid] = settings
        poller.start()

    def _exists(self, uuid: str) -> bool:
        if self.config.static:
            return True
        for region in self.config.regions:
            try:
                self.client("lambda", region).get_event_source_mapping(UUID=uuid)
                return True
            except Exception as exc:
                code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
                if code != "ResourceNotFoundException":
                    return True  # unsure: keep the checkpoint
        return False

    # -- status --------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        mappings = {}
        for uuid, poller in list(self.pollers.items()):
            shards = {
                sid: {"idle": s.idle(), "caught_up_at": s.caught_up_at, "closed": s.closed}
                for sid, s in _progress(poller)
            }
            mappings[uuid] = {
                "function": self.settings[uuid].function_arn,
                "stream": self.settings[uuid].stream_arn,
                "shards": shards,
                "stats": self.report.snapshot(uuid),
            }
        return {
            "pid": os.getpid(),
            "updated": time.time(),
            "discovered_at": self.discovered_at,
            "mappings": mappings,
        }

    def caught_up(self, since: float) -> bool:
        """Every poller read past ``since`` and has nothing buffered or in flight."""
        if self.discovered_at < since:
            return False
        for poller in list(self.pollers.values()):
            if not poller.shards:
                return False
            for _, shard in _progress(poller):
                if not shard.idle() or shard.caught_up_at < since:
                    return False
        return True

    def _write_status(self) -> None:
        path = self.config.status_file
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(self.status(), default=str, indent=1))
        tmp.replace(path)

    # -- main loop -----------------------------------------------------------------------
    def run(self, stop: threading.Event | None = None) -> None:
        stop = stop or self._stop
        while not stop.is_set():
            try:
                self.discover()
            except Exception as exc:
                self.report.line(f"discovery failed: {exc}")
            try:
                self._write_status()
            except OSError:
                pass
            stop.wait(self.config.discover_interval)

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, daemon=True, name="ddbt-discovery")
        thread.start()
        self._thread = thread
        return thread

    def wait_caught_up(self, timeout: float = 60.0, since: float | None = None) -> bool:
        since = time.time() if since is None else since
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.caught_up(since):
                return True
            time.sleep(0.1)
        return False

    def close(self) -> None:
        self._stop.set()
        # Join discovery first: a discovery pass still running could otherwise start a poller
        # after the ones below were stopped, and it would outlive the runtime.
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=30)
        for poller in list(self.pollers.values()):
            poller.stop(timeout=30)
        self.pollers.clear()
        for registry in self.functions_by_region.values():
            registry.close()
        try:
            self._write_status()
        except OSError:
            pass
