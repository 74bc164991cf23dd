"""Environment configuration: read once per cold start, validated, with errors that name the
variable and what it expects."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = [
    "MAX_CONCURRENCY",
    "ConfigError",
    "env_concurrency",
    "env_int",
    "env_list",
    "env_optional",
    "env_required",
]

# The most calls a processor setting (``*_CONCURRENCY``) lets one invocation make at once.
# Each is a thread waiting on a connection of its client's pool (sized to the settings:
# ``handlers.aws.reserve``); beyond a few dozen a function waits on its sinks' throttling.
MAX_CONCURRENCY = 50


class ConfigError(RuntimeError):
    """A missing or malformed environment variable."""


def env_required(env: Mapping[str, str], name: str, expects: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"environment variable {name} is required: {expects}")
    return value


def env_optional(env: Mapping[str, str], name: str, default: str = "") -> str:
    return env.get(name, default).strip()


def env_int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    """A whole number from ``low`` to ``high``; ``default`` when unset or blank."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise ConfigError(
            f"environment variable {name} is {raw!r:.40}: expected a whole number from "
            f"{low} to {high}"
        )
    return value


def env_concurrency(env: Mapping[str, str], name: str, default: int) -> int:
    """Calls a processor makes at once: a whole number from 1 (one at a time) to
    ``MAX_CONCURRENCY``; ``default`` when unset or blank."""
    return env_int(env, name, default, 1, MAX_CONCURRENCY)


def env_list(
    env: Mapping[str, str],
    name: str,
    *,
    allowed: Iterable[str] | None = None,
    default: tuple[str, ...] = (),
) -> tuple[str, ...]:
    """A comma-separated list; blanks ignored, order kept, duplicates rejected."""
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    items = tuple(part.strip() for part in raw.split(",") if part.strip())
    allowed_set = None if allowed is None else tuple(allowed)
    if allowed_set is not None:
        bad = [item for item in items if item not in allowed_set]
        if bad:
            raise ConfigError(
                f"environment variable {name} has {', '.join(map(repr, bad))}: "
                f"expected a comma-separated subset of {','.join(allowed_set)}"
            )
    if len(set(items)) != len(items):
        raise ConfigError(f"environment variable {name} lists an entry twice: {raw!r}")
    return items
