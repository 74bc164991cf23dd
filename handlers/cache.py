"""Cache: a Valkey/Redis cache kept in step with the table, last writer wins on the server.

One cache entry per source item, a hash at the key::

    <CACHE_KEY_PREFIX><table name>:<the item's key as JSON>

``CACHE_KEY_PREFIX`` defaults to ``ddbt:``; the table name is the stream's (DynamoDB's
alphabet has no ``:``, so the first ``:`` after the prefix ends it); the key is a JSON
object of the key attributes, names sorted, no spaces, non-ASCII text as is, numbers in plain
decimal form without exponent or trailing zeros (``1E+2`` and ``100.0`` are ``100``), binary
values as base64 text: ``ddbt:orders:{"customer":"c-1","order":42}``. Fields of the hash:

* ``value``: the item as JSON with exact numbers (the ETL line's image encoding:
  ``stream.image_to_json``), or only the attributes ``CACHE_ATTRIBUTES`` names; readers use
  ``HGET <key> value`` (nil: not cached, or deleted);
* ``_ddbt_version``, ``_ddbt_order``: the change's stamp, the view's (``handlers.versioned``:
  the item's ``CACHE_VERSION_ATTRIBUTE`` or the change time, and the change's place in the
  stream);
* ``_ddbt_rank``: the version as text whose byte order is the numbers' order (``rank``), which
  the script compares (Lua's numbers are doubles: 38-digit versions do not fit);
* ``_ddbt_deleted``: ``1`` on a tombstone (no ``value``).

Every write is one call of a Lua script (``SCRIPT``, run by ``EVALSHA`` with a ``SCRIPT
LOAD`` on ``NOSCRIPT``), which the server runs atomically: it compares the stored stamp with
the change's and writes only when the change is newer, as the view's conditional write does
(an entry without ``_ddbt_order`` loses to a change of the same version). ``INSERT`` and
``MODIFY`` replace the entry (with ``PEXPIRE`` when ``CACHE_TTL_SECONDS`` is set); ``REMOVE``
replaces it by a tombstone that lives ``TOMBSTONE_SECONDS``, so that a late change of the
deleted item cannot bring it back. A ``REMOVE`` in version-attribute mode whose record has no
old version tombstones the entry at the version it holds (the view's ``remove_at_current``,
here inside the script: no extra round trip).

A batch is planned (each record checked, poison values named by path, up to the first
record that cannot be planned), coalesced per entry (``versioned.coalesce``: the newest write
of each key alone, at the place of its first record), and sent pipelined: one round trip per
``GROUP`` writes. A server error for a write, a connection lost or a time budget run out is
reported at the lowest record not known to be applied (every record before it was); the
writes are idempotent, so Lambda's redelivery from there repeats nothing wrong. The client
retries a lost connection a few times within ``CONNECT_TIMEOUT``s (``Retry``); after that the
batch is reported.

Configuration (read and checked once per cold start): ``CACHE_ENDPOINT`` (``host:port``),
``CACHE_TLS`` (``true``, the default, or ``false``), ``CACHE_AUTH_SECRET_ARN`` (a Secrets
Manager secret holding the AUTH token, or JSON with ``password`` and optionally ``username``;
read once per runtime, on the first batch), ``CACHE_KEY_PREFIX``, ``CACHE_ATTRIBUTES``,
``CACHE_TTL_SECONDS``, ``CACHE_VERSION_ATTRIBUTE``.

Only this module imports the client library (redis-py, vendored into the zip at build time by
``scripts/package.py``), and only when a processor is built.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

from handlers import aws, retry
from handlers.batch import Batch, Failure, Outcome, run_batch
from handlers.codec import RecordError, deserialize, image_to_json, json_number
from handlers.coldstart import checkpoint_store, once
from handlers.config import ConfigError, env_int, env_list, env_optional, env_required
from handlers.stream import EventName, StreamRecord
from handlers.versioned import (
    TOMBSTONE_SECONDS,
    Ordering,
    Stamp,
    change_order,
    coalesce,
)

__all__ = [
    "DEFAULT_PREFIX",
    "FIELDS",
    "GROUP",
    "SCRIPT",
    "SCRIPT_SHA",
    "CacheProcessor",
    "CacheWrite",
    "Connector",
    "Endpoint",
    "build",
    "cache_key",
    "handler",
    "parse_endpoint",
    "processor",
    "rank",
]

DEFAULT_PREFIX = "ddbt:"
# Writes per pipeline (one round trip). 500 EVALSHA of ~1 KB items is ~0.5 MB on the wire.
GROUP = 500
CONNECT_TIMEOUT = 3.0  # seconds to connect; also each reply's bound (socket timeout: 5 s)
MAX_TTL_SECONDS = 10 * 365 * 86_400
_MAX_PREFIX_BYTES = 256
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
FIELDS = ("value", "_ddbt_version", "_ddbt_order", "_ddbt_rank", "_ddbt_deleted")

# KEYS[1]: the entry. ARGV: op ('set', 'del': tombstone, 'cur': tombstone at the stored
# version), rank, order, version, value, expiry in ms (0: none). Returns 1 when written.
# Strings are compared byte by byte (Lua's '<' on strings follows the server's locale).
SCRIPT = """\
local function cmp(a, b)
  if a == b then return 0 end
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then
      if x < y then return -1 end
      return 1
    end
  end
  if #a < #b then return -1 end
  return 1
end
local key = KEYS[1]
local op, rank, order, version = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local ms = tonumber(ARGV[6])
local old = redis.call('HMGET', key, '_ddbt_rank', '_ddbt_order', '_ddbt_version', '_ddbt_deleted')
if op == 'cur' then
  if not old[1] or old[4] then return 0 end
  rank, version = old[1], old[3]
end
if old[1] then
  local c = cmp(old[1], rank)
  if c > 0 then return 0 end
  if c == 0 and old[2] and cmp(old[2], order) >= 0 then return 0 end
end
redis.call('DEL', key)
if op == 'set' then
  redis.call('HSET', key, 'value', ARGV[5], '_ddbt_version', version, '_ddbt_order', order,
    '_ddbt_rank', rank)
else
  redis.call('HSET', key, '_ddbt_deleted', '1', '_ddbt_version', version, '_ddbt_order',
    order, '_ddbt_rank', rank)
end
if ms > 0 then redis.call('PEXPIRE', key, ms) end
return 1
"""
SCRIPT_SHA = hashlib.sha1(SCRIPT.encode()).hexdigest()
_NINES = str.maketrans("0123456789", "9876543210")


# --------------------------------------------------------------------------------------
# Keys and ordering values
# --------------------------------------------------------------------------------------


def _digits(value: Decimal) -> tuple[int, str, int]:
    """(sign, significant digits without trailing zeros, exponent of the last digit)."""
    sign, digits, exponent = value.as_tuple()
    text = "".join(map(str, digits)).lstrip("0")
    assert isinstance(exponent, int)
    stripped = text.rstrip("0")
    return sign, stripped, exponent + len(text) - len(stripped)


def rank(version: str) -> str:
    """Text whose byte order is the order of the numbers (N text): ``1`` for zero, ``2`` +
    exponent + digits for a positive number, ``0`` + complemented exponent + complemented
    digits + ``~`` for a negative one. No context rounding: 38-digit versions stay exact.
    RecordError for a number beyond DynamoDB's range."""
    try:
        value = Decimal(version)
    except InvalidOperation:
        raise RecordError(f"ordering value {version!r:.40} is not a number") from None
    if not value.is_finite():
        raise RecordError(f"ordering value {version!r:.40} is not a finite number")
    sign, digits, exponent = _digits(value)
    if not digits:
        return "1"
    adjusted = exponent + len(digits) - 1
    if not -500 <= adjusted <= 499:
        raise RecordError(f"ordering value {version!r:.40} is outside DynamoDB's number range")
    if not sign:
        return f"2{adjusted + 500:03d}{digits}"
    return f"0{499 - adjusted:03d}{digits.translate(_NINES)}~"


def _plain(value: object) -> str:
    """A key number's canonical JSON: plain decimal, no exponent or trailing zeros."""
    sign, digits, exponent = _digits(Decimal(json_number(value)))
    if not digits:
        return "0"
    if exponent >= 0:
        text = digits + "0" * exponent
    elif len(digits) > -exponent:
        text = f"{digits[:exponent]}.{digits[exponent:]}"
    else:
        text = "0." + "0" * (-exponent - len(digits)) + digits
    return "-" + text if sign else text


def cache_key(prefix: str, table: str, keys: Mapping[str, Any]) -> str:
    """The entry's key: ``prefix``, the table name, ``:``, the item's key as JSON (names
    sorted, canonical numbers). Raises ``MalformedValue`` naming a bad key value's path."""
    for name, av in keys.items():
        deserialize(av, f"Keys.{name}")
    ordered = {name: keys[name] for name in sorted(keys)}
    return f"{prefix}{table}:{image_to_json(ordered, 'Keys', _plain)}"


class CacheWrite(NamedTuple):
    """One write a change makes: ``value`` (JSON text) with ``stamp``, or a tombstone when
    ``value`` is None; a ``stamp`` of None tombstones at the stored version, at stream place
    ``order``. ``key`` is the item's typed key (``versioned.coalesce`` groups by it)."""

    key: dict[str, Any]
    name: str  # the cache key
    stamp: Stamp | None
    value: str | None = None
    order: str = ""


# --------------------------------------------------------------------------------------
# The connection
# --------------------------------------------------------------------------------------


class Endpoint(NamedTuple):
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_endpoint(raw: str, name: str = "CACHE_ENDPOINT") -> Endpoint:
    """``host:port`` (``[v6 address]:port`` for IPv6); ConfigError naming ``name``."""
    expects = (
        "expected host:port, such as my-cache-abc123.serverless.use1.cache.amazonaws.com:6379 "
        "or 127.0.0.1:6379 ([address]:port for IPv6)"
    )
    host, sep, port = raw.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ConfigError(f"environment variable {name}={raw!r:.80}: {expects}")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ConfigError(f"environment variable {name}={raw!r:.80}: {expects}")
    if _CONTROL.search(host) or any(c in host for c in " /@"):
        raise ConfigError(f"environment variable {name}={raw!r:.80}: {expects}")
    return Endpoint(host, int(port))


def _secret_region(arn: str) -> str:
    parts = arn.split(":", 6)
    if len(parts) != 7 or parts[0] != "arn" or parts[2] != "secretsmanager" or parts[5] != "secret":
        raise ConfigError(
            f"environment variable CACHE_AUTH_SECRET_ARN={arn!r:.120}: expected a Secrets "
            "Manager secret ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME)"
        )
    return parts[3]


def _credentials(secret: str) -> tuple[str | None, str]:
    """(username, password) from a secret: the AUTH token itself, or JSON with
    ``password`` (or ``token``) and optionally ``username``."""
    text = secret.strip()
    if text.startswith("{"):
        try:
            found = json.loads(text)
        except ValueError:
            found = None
        if isinstance(found, dict):
            password = found.get("password", found.get("token"))
            username = found.get("username") or None
            if isinstance(password, str) and password and isinstance(username, (str, type(None))):
                return username, password
        raise ValueError(
            "the secret is JSON but has no string 'password' (or 'token'): expected the AUTH "
            'token itself, or {"username": ..., "password": ...}'
        )
    if not text:
        raise ValueError("the secret is empty: expected the AUTH token")
    return None, text


class Connector:
    """The client of the cache, made on first use and kept for the life of the runtime: the
    AUTH secret is read then (once), and a failure is not kept (the next batch tries again)."""

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        tls: bool = True,
        secret_arn: str = "",
        secrets: Callable[[], Any] | None = None,
    ) -> None:
        import redis  # the client library, at cold start (only this processor loads it)

        self._redis = redis
        self.endpoint = endpoint
        self.tls = tls
        self.secret_arn = secret_arn
        region = _secret_region(secret_arn) if secret_arn else ""
        self._secrets = secrets or (lambda: aws.client("secretsmanager", region))
        self._client: Any = None

    def __call__(self) -> Any:
        if self._client is None:
            self._client = self._make()
        return self._client

    def _make(self) -> Any:
        from redis.backoff import ExponentialBackoff
        from redis.retry import Retry

        username, password = None, None
        if self.secret_arn:
            found = self._secrets().get_secret_value(SecretId=self.secret_arn)
            username, password = _credentials(str(found.get("SecretString") or ""))
        redis = self._redis
        return redis.Redis(
            host=self.endpoint.host,
            port=self.endpoint.port,
            username=username,
            password=password,
            ssl=self.tls,
            ssl_cert_reqs="required",
            socket_connect_timeout=CONNECT_TIMEOUT,
            socket_timeout=5.0,
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 2),
            retry_on_error=[redis.ConnectionError, redis.TimeoutError],
            health_check_interval=0,
            protocol=2,
        )

    def reset(self) -> None:
        """Drop the client (its connections): the next call makes a new one."""
        if self._client is not None:
            self._client.close()
        self._client = None


# --------------------------------------------------------------------------------------
# The processor
# --------------------------------------------------------------------------------------


class CacheProcessor:
    """Applies each batch's changes to the cache: planned, coalesced per entry, pipelined."""

    name = "cache"

    def __init__(
        self,
        client: Callable[[], Any],
        *,
        prefix: str = DEFAULT_PREFIX,
        attributes: Sequence[str] = (),
        ordering: Ordering | None = None,
        ttl_seconds: int = 0,
        tombstone_seconds: int = TOMBSTONE_SECONDS,
        group: int = GROUP,
        where: str = "the cache",
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.attributes = tuple(attributes)
        self.ordering = ordering or Ordering()
        self.ttl_ms = ttl_seconds * 1000
        self.tombstone_ms = tombstone_seconds * 1000
        self.group = group
        self.where = where

    def writes(self, record: StreamRecord) -> list[CacheWrite]:
        """The write one change makes. RecordError (naming the path of a bad value) for a
        change that cannot be applied."""
        keys = record.raw_keys
        name = cache_key(self.prefix, record.table_name, keys)
        if record.event_name is EventName.REMOVE:
            old = record.raw_old_image
            if old is None:
                if self.ordering.attribute:
                    return [CacheWrite(keys, name, None, order=change_order(record))]
                return [CacheWrite(keys, name, self.ordering.of_image(record, keys, "Keys"))]
            stamp = self.ordering.of_remove(record, old)
            if stamp is None:
                return [CacheWrite(keys, name, None, order=change_order(record))]
            return [CacheWrite(keys, name, stamp)]
        new = record.raw_new_image
        if new is None:
            raise RecordError(
                f"{record.event_name.value} without NewImage (stream view type "
                f"{record.view_type or 'unknown'}): the cache needs NEW_IMAGE or "
                "NEW_AND_OLD_IMAGES"
            )
        stamp = self.ordering.of_image(record, new, "NewImage")
        if self.attributes:
            picked = {a: new[a] for a in self.attributes if a in new}
            value = image_to_json(picked, "NewImage")
        else:
            value = image_to_json(new, "NewImage")
        return [CacheWrite(keys, name, stamp, value)]

    def _args(self, write: CacheWrite) -> tuple[Any, ...]:
        if write.stamp is None:
            return ("cur", "", write.order, "", "", self.tombstone_ms)
        stamp = write.stamp
        if write.value is None:
            return ("del", rank(stamp.version), stamp.order, stamp.version, "", self.tombstone_ms)
        return ("set", rank(stamp.version), stamp.order, stamp.version, write.value, self.ttl_ms)

    @retry.budgeted
    def process(self, records: Sequence[StreamRecord], batch: Batch) -> Outcome:
        planned: list[tuple[int, CacheWrite]] = []
        stop = Outcome(len(records))
        for position, record in enumerate(records):
            try:
                record.check()
                changes = self.writes(record)
                for change in changes:
                    if change.stamp is not None:
                        rank(change.stamp.version)  # a version beyond DynamoDB's range
            except RecordError as bad:
                stop = Outcome(position, Failure.POISON, str(bad))
                break
            planned.extend((position, change) for change in changes)
        steps = coalesce(planned)
        for start in range(0, len(steps), self.group):
            group = steps[start : start + self.group]
            if batch.budget.expired():
                return Outcome(group[0][0], Failure.TIME, "time budget ran out before the write")
            failed = self._send(group)
            if failed is not None:
                return failed
        return stop

    def _send(self, group: Sequence[tuple[int, Any, CacheWrite]]) -> Outcome | None:
        """One round trip (two when the server lost the script): None when every write was
        applied (or found newer data), else the outcome at the lowest failed one."""
        import redis
        from redis.exceptions import NoScriptError

        try:
            client = self.client()
        except Exception as exc:  # the secret, the client library: reported, retried later
            return Outcome(
                group[0][0],
                Failure.TRANSIENT,
                f"cache: cannot make the client of {self.where} ({type(exc).__name__}): {exc}",
            )
        try:
            results = self._pipeline(client, group)
            missing = [i for i, r in enumerate(results) if isinstance(r, NoScriptError)]
            if missing:
                client.script_load(SCRIPT)
                again = self._pipeline(client, [group[i] for i in missing])
                for i, result in zip(missing, again, strict=True):
                    results[i] = result
        except (redis.RedisError, OSError) as exc:
            return Outcome(
                group[0][0],
                Failure.TRANSIENT,
                f"cache: {self.where} failed ({type(exc).__name__}): {exc}",
            )
        for (position, _, write), result in zip(group, results, strict=True):
            if isinstance(result, Exception):
                return Outcome(
                    position,
                    Failure.TRANSIENT,
                    f"cache: writing {write.name!r:.200} to {self.where} failed "
                    f"({type(result).__name__}): {result}",
                )
        return None

    def _pipeline(self, client: Any, group: Sequence[tuple[int, Any, CacheWrite]]) -> list[Any]:
        pipe = client.pipeline(transaction=False)
        for _, _, write in group:
            pipe.execute_command("EVALSHA", SCRIPT_SHA, 1, write.name, *self._args(write))
        return list(pipe.execute(raise_on_error=False))


def _tls(env: Mapping[str, str]) -> bool:
    raw = env_optional(env, "CACHE_TLS", "true").lower()
    if raw not in ("true", "false"):
        raise ConfigError(
            f"environment variable CACHE_TLS={raw!r:.40}: expected true (the default: "
            "ElastiCache Serverless accepts TLS connections only) or false"
        )
    return raw == "true"


def _prefix(env: Mapping[str, str]) -> str:
    raw = env.get("CACHE_KEY_PREFIX")
    prefix = DEFAULT_PREFIX if raw is None else raw
    if _CONTROL.search(prefix) or len(prefix.encode()) > _MAX_PREFIX_BYTES:
        raise ConfigError(
            f"environment variable CACHE_KEY_PREFIX={prefix!r:.80}: expected at most "
            f"{_MAX_PREFIX_BYTES} bytes without control characters (default {DEFAULT_PREFIX!r})"
        )
    return prefix


def build(env: Mapping[str, str]) -> CacheProcessor:
    """The processor configured by ``CACHE_*`` variables (raises ``ConfigError``)."""
    endpoint = parse_endpoint(
        env_required(env, "CACHE_ENDPOINT", "the cache's host:port (Valkey or Redis OSS)")
    )
    tls = _tls(env)
    secret_arn = env_optional(env, "CACHE_AUTH_SECRET_ARN")
    connector = Connector(endpoint, tls=tls, secret_arn=secret_arn)
    return CacheProcessor(
        connector,
        prefix=_prefix(env),
        attributes=env_list(env, "CACHE_ATTRIBUTES"),
        ordering=Ordering(env_optional(env, "CACHE_VERSION_ATTRIBUTE"), "CACHE_VERSION_ATTRIBUTE"),
        ttl_seconds=env_int(env, "CACHE_TTL_SECONDS", 0, 0, MAX_TTL_SECONDS),
        where=f"the cache at {endpoint}",
    )


def processor() -> CacheProcessor:
    """The processor configured from the environment (once per cold start)."""
    return once("cache", build)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point: ``handlers.cache.handler``."""
    return run_batch(event, context, [processor()], checkpoint_store())
