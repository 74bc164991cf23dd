"""End-to-end: examples/complete applied to the local endpoint once, for the e2e module (its
only user), the pollers running in this process, the real handlers in worker processes.

The stack (tests/e2e/test_complete.py) is the one ``make e2e-aws`` applies on a real account
(examples/complete plus a recorder, tests/e2e/aws_stack), prepared by that command's code
(tests/e2e/aws.py) and applied and destroyed by pytest-terraform with the real Terraform CLI;
every e2e test shares it (one xdist worker). The endpoint runs as its own process
(``python -m ddbt.local.server``); Terraform reaches it through ``AWS_ENDPOINT_URL`` and fake
credentials, set only while it runs (``terraform_env``), and installs the AWS provider from
the local mirror when ``scripts/tf-cli-config.sh`` finds one. The destroy right after the
module's last test is checked (``check_destroyed``): nothing of the stack is left. Module
scope, not session: the endpoint and the pollers (polling the stack's mappings every 0.1 s)
stop then, instead of running beside the rest of the worker's tests, and the destroy counts
as that module's teardown. Skipped when ``terraform`` is not installed.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from ddbt.aws import local_env
from ddbt.local.polling import PollerOptions
from ddbt.local.report import Report
from ddbt.local.runtime import Runtime, RuntimeConfig
from tests.conftest import endpoint_client, local_endpoint_process

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"  # examples/complete's default
PREFIX = "e2e-local"  # the stack's names: ex-e2e-local-...


class LocalCloud:
    def __init__(self, endpoint: str, runtime: Runtime, env: dict[str, str]) -> None:
        self.endpoint = endpoint
        self.runtime = runtime
        self.env = env
        self.clients = {
            s: endpoint_client(endpoint, s, REGION)
            for s in ("dynamodb", "s3", "sqs", "sns", "lambda", "iam")
        }

    def __getattr__(self, name: str) -> Any:
        return self.clients[name]

    def client(self, service: str, region: str | None = None) -> Any:
        """A client of the endpoint (``region``: another one than the stack's)."""
        if region is None or region == REGION:
            return self.clients.get(service) or endpoint_client(self.endpoint, service, REGION)
        return endpoint_client(self.endpoint, service, region)

    def settle(self, timeout: float = 120) -> None:
        assert self.runtime.wait_caught_up(timeout), self.runtime.report.summary()


@pytest.fixture(scope="module")
def local_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    if shutil.which("terraform") is None:
        pytest.skip("terraform is not installed")
    state = tmp_path_factory.mktemp("ddbt")
    with local_endpoint_process(state) as endpoint:
        yield from _local_cloud(state, endpoint)


def _local_cloud(state: Path, endpoint: str) -> Iterator[LocalCloud]:
    env = local_env(endpoint, REGION)
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


@contextmanager
def terraform_env(cloud: LocalCloud, variables: Mapping[str, str]) -> Iterator[None]:
    """Point Terraform (a subprocess of pytest-terraform, which gives it this process's
    environment) at the endpoint, with the stack's input ``variables`` (``TF_VAR_<name>``),
    only for the block: other tests must not inherit them."""
    with pytest.MonkeyPatch.context() as mp:
        for name, value in cloud.env.items():
            mp.setenv(name, value)
        for name, value in variables.items():
            mp.setenv(f"TF_VAR_{name}", value)
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
            mp.delenv(name, raising=False)
        yield


def check_destroyed(cloud: LocalCloud, out: dict[str, Any]) -> None:
    """Nothing of the stack is left after ``terraform destroy``."""
    name = f"ex-{PREFIX}"
    for table in (out["table_name"], out["analytics_table_name"], out["checkpoint_table_name"]):
        with pytest.raises(ClientError, match="ResourceNotFoundException"):
            cloud.dynamodb.describe_table(TableName=table)
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        cloud.dynamodb.describe_table(TableName=out["view_table_name"])
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        replica = out["replica_table_arn"]
        cloud.client("dynamodb", replica.split(":")[3]).describe_table(
            TableName=replica.rsplit("/", 1)[-1]
        )
    tables = cloud.dynamodb.list_tables()["TableNames"]
    assert [t for t in tables if t.startswith(name)] == []
    functions = cloud.clients["lambda"].list_functions()["Functions"]
    assert [f["FunctionName"] for f in functions if f["FunctionName"].startswith(name)] == []
    assert cloud.clients["lambda"].list_event_source_mappings()["EventSourceMappings"] == []
    buckets = cloud.s3.list_buckets()["Buckets"]
    assert [b["Name"] for b in buckets if b["Name"].startswith(name)] == []
    assert cloud.sqs.list_queues(QueueNamePrefix=name).get("QueueUrls", []) == []
    buses = cloud.client("events").list_event_buses()["EventBuses"]
    assert [b["Name"] for b in buses if b["Name"].startswith(name)] == []
    assert [d["Name"] for d in cloud.client("glue").get_databases()["DatabaseList"]] == []
