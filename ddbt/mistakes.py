"""Ordinary mistakes as one line for the user: what is wrong and what to do.

``ddbt``'s entry point (``ddbt.cli.main``) is the one place that turns these exceptions into
a line on stderr and exit status 2; anything else is a bug and keeps its traceback.
``DDBT_DEBUG=1`` shows the traceback of these too.
"""

from __future__ import annotations

import os

__all__ = ["explain"]

_NOT_FOUND = frozenset(
    {
        "ResourceNotFoundException",
        "AWS.SimpleQueueService.NonExistentQueue",
        "QueueDoesNotExist",
        "NoSuchBucket",
        "NoSuchKey",
        "NotFoundException",
    }
)
_REFUSED = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "ExpiredTokenException",
    }
)
_LOCAL_HINT = 'for the local cloud: eval "$(ddbt local env)"'


def _where(region: str | None) -> str:
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    parts = [f"region {region}" if region else "", f"endpoint {endpoint}" if endpoint else ""]
    return ", ".join(p for p in parts if p)


def explain(exc: BaseException, region: str | None = None) -> str | None:
    """The line for an ordinary mistake (None: not one, let it raise). ``region`` is the one
    the command resolved, named when something was not found there."""
    from botocore import exceptions as bc

    if isinstance(exc, bc.NoRegionError):
        return (
            "no AWS region: pass --region, or set AWS_REGION (or a region in your AWS "
            f"profile); {_LOCAL_HINT}"
        )
    if isinstance(exc, (bc.NoCredentialsError, bc.PartialCredentialsError)):
        return (
            "no AWS credentials: set AWS_PROFILE (aws configure, aws sso login) or "
            f"AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; {_LOCAL_HINT}"
        )
    if isinstance(exc, bc.ProfileNotFound):
        return f"{exc}: check AWS_PROFILE and your AWS config file (aws configure list-profiles)"
    if isinstance(exc, bc.EndpointConnectionError):
        url = exc.kwargs.get("endpoint_url", "")
        if os.environ.get("AWS_ENDPOINT_URL"):
            return (
                f"cannot reach {url}: is the local cloud running (ddbt local status)? "
                "Unset AWS_ENDPOINT_URL to use AWS"
            )
        return f"cannot reach {url}: check the network and the region"
    if isinstance(exc, bc.ParamValidationError):
        return "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    if isinstance(exc, bc.ClientError):
        error = exc.response.get("Error", {})
        code, message = str(error.get("Code", "")), str(error.get("Message", "")).rstrip(".")
        operation = exc.operation_name
        where = _where(region)
        if code in _NOT_FOUND:
            return (
                f"{message} ({operation}{', ' + where if where else ''}): check the name, "
                "the region (--region, AWS_REGION) and the account"
            )
        if code in _REFUSED:
            return (
                f"{operation} was refused ({code}: {message}): check your credentials "
                "(AWS_PROFILE, aws sso login) and their permissions"
            )
        return f"{operation} failed ({code}): {message}"
    if isinstance(exc, bc.BotoCoreError):
        return str(exc)
    if isinstance(exc, OSError) and exc.filename:
        return f"{exc.filename}: {exc.strerror or exc}"
    if isinstance(exc, ValueError):
        return str(exc)
    return None
