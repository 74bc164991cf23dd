"""End-to-end: examples/complete applied with pytest-terraform to the local endpoint, the
pollers running in this process, the real handlers in worker processes.

The endpoint runs as its own process (``python -m ddbt.local.server``); Terraform reaches it through
``AWS_ENDPOINT_URL`` and fake credentials set for the whole session (restored at the end), and
installs the AWS provider from the local mirror when ``scripts/tf-cli-config.sh`` finds one.
Skipped when ``terraform`` is not installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from pytest_terraform import tf

from ddbt.local.polling import PollerOptions
from ddbt.local.report import Report
from ddbt.local.runtime import Runtime, RuntimeConfig
from tests.conftest import local_endpoint_process

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"  # examples/complete's default


def use_examples_dir() -> None:
    """pytest-terraform looks for modules next to the tests unless told otherwise; ours are the
    repository's examples (an explicit --tf-mod-dir / terraform-mod-dir still wins). Called
    when the fixture is created: the plugin sets this value at configure time."""
    if not tf.LazyModuleDir.value:
        tf.LazyModuleDir.value = str(ROOT / "examples")


class LocalCloud:
    def __init__(self, endpoint: str, runtime: Runtime, env: dict[str, str]) -> None:
        self.endpoint = endpoint
        self.runtime = runtime
        self.env = env
        self._saved: dict[str, str] | None = None
        kw = {
            "endpoint_url": endpoint,
            "region_name": REGION,
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
        }
        self.clients = {
            s: boto3.client(s, **kw) for s in ("dynamodb", "s3", "sqs", "sns", "lambda", "iam")
        }

    def __getattr__(self, name: str) -> Any:
        return self.clients[name]

    def client(self, service: str, region: str | None = None) -> Any:
        """A client of the endpoint (``region``: another one than the stack's)."""
        if region is None or region == REGION:
            return self.clients.get(service) or self._client(service, REGION)
        return self._client(service, region)

    def _client(self, service: str, region: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def use_env(self) -> None:
        """Point Terraform (a subprocess of pytest-terraform) at the endpoint. Only while
        Terraform runs: other tests of the session must not inherit these variables."""
        if self._saved is None:
            self._saved = dict(os.environ)
        os.environ.update(self.env)
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
            os.environ.pop(name, None)

    def restore_env(self) -> None:
        if self._saved is not None:
            os.environ.clear()
            os.environ.update(self._saved)
            self._saved = None

    def settle(self, timeout: float = 120) -> None:
        assert self.runtime.wait_caught_up(timeout), self.runtime.report.summary()


@pytest.fixture(scope="session")
def local_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    if shutil.which("terraform") is None:
        pytest.skip("terraform is not installed")
    state = tmp_path_factory.mktemp("ddbt")
    with local_endpoint_process(state) as endpoint:
        yield from _local_cloud(state, endpoint)


def _local_cloud(state: Path, endpoint: str) -> Iterator[LocalCloud]:
    env = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    config = subprocess.run(
        ["bash", str(ROOT / "scripts" / "tf-cli-config.sh"), str(state / "terraformrc")],
        capture_output=True,
        text=True,
    )
    if config.returncode == 0 and config.stdout.strip():
        env["TF_CLI_CONFIG_FILE"] = config.stdout.strip()
    runtime = Runtime(
        RuntimeConfig(
            endpoint_url=endpoint,
            regions=[REGION],
            state_dir=state / "runtime",
            options=PollerOptions(
                poll_interval=0.1, retry_delay=0.1, max_retry_delay=0.5, shard_refresh=1.0
            ),
            discover_interval=0.5,
        ),
        Report(out=None),
    )
    runtime.start()
    cloud = LocalCloud(endpoint, runtime, env)
    try:
        yield cloud
    finally:
        runtime.close()
        cloud.restore_env()
