"""The region and the boto3 clients of the ``ddbt`` commands, resolved as the AWS CLI does.

Region, first found: ``--region``, ``AWS_REGION``, ``AWS_DEFAULT_REGION``, then the ``region``
of the profile in the shared config file (``AWS_PROFILE``, ``AWS_CONFIG_FILE``). botocore on
its own reads only the last two, so a shell that exports just ``AWS_REGION`` (as ``make up``
prints, and as the AWS SDKs other than Python read) left boto3 without a region.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = [
    "ENDPOINT_HELP",
    "REGION_HELP",
    "client",
    "export_region",
    "local_env",
    "region",
    "require_region",
    "session",
]

REGION_HELP = (
    "AWS region (default: $AWS_REGION, else $AWS_DEFAULT_REGION, else your profile's region)"
)
ENDPOINT_HELP = "another endpoint, e.g. the local cloud's (default: $AWS_ENDPOINT_URL, else AWS)"


def region(explicit: str | None = None) -> str | None:
    """The region a command uses (None when nothing names one)."""
    if explicit:
        return explicit
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        if os.environ.get(name):
            return os.environ[name]
    import botocore.session

    found = botocore.session.Session().get_config_variable("region")  # the profile's
    return str(found) if found else None


def require_region(explicit: str | None = None) -> str:
    """``region`` or botocore's ``NoRegionError`` (which ``ddbt`` reports in one line)."""
    found = region(explicit)
    if not found:
        from botocore.exceptions import NoRegionError

        raise NoRegionError()
    return found


_loader: list[Any] = []  # botocore's data loader, shared by every session of this process


def session() -> Any:
    """A new boto3 session: it sees the environment as it is now (boto3's default session
    keeps the credentials and profile it first found). Every session of the process shares
    one botocore data loader, so each service's model and the endpoint rules are parsed once
    (a client from a session of its own: about 70 ms of CPU, 10 ms with the loader shared)."""
    import boto3
    import botocore.session

    core = botocore.session.Session()
    if _loader:
        core.register_component("data_loader", _loader[0])
    else:
        _loader.append(core.get_component("data_loader"))
    return boto3.session.Session(botocore_session=core)


def client(service: str, region_name: str | None = None, endpoint_url: str | None = None) -> Any:
    """A boto3 client from a new ``session`` in ``region_name`` or the resolved region;
    ``endpoint_url`` (else ``AWS_ENDPOINT_URL``, which boto3 reads itself) for the local
    cloud."""
    return session().client(
        service, region_name=require_region(region_name), endpoint_url=endpoint_url or None
    )


def local_env(endpoint: str, region: str, *, isolated: bool = True) -> dict[str, str]:
    """The environment that points the AWS CLI, the SDKs and Terraform's AWS provider at a
    local endpoint (the local cloud) in ``region``, with fake credentials; ``isolated``: and
    away from the user's config and credentials files (a profile there must not win)."""
    env = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
    }
    if isolated:
        env.update(AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    return env


def export_region(name: str) -> None:
    """Processors run in-process build their clients from the environment, as in Lambda,
    where both variables are set."""
    os.environ["AWS_REGION"] = os.environ["AWS_DEFAULT_REGION"] = name
