"""The cache's Lua script decides as the view's conditional write does (``versioned._NEWER``:
the stored stamp older than the change's, compared as the pair (version as a number, order by
its bytes); an entry without ``_ddbt_order``, the old form, loses to the same version), on a
real server, for the ordering values the view uses: change-time versions at every sequence
number length, version attributes (negative, fractional, 38 digits)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handlers import cache as processor
from handlers.stream import parse_event
from handlers.versioned import Stamp, change_order, change_version
from tests import factories as f
from tests.unit.test_cache_config import numbers

KEY = 'ddbt:script:{"pk":"x"}'


def _change_time_stamp(created: int, seq: int) -> Stamp:
    (record,) = parse_event(f.event([f.record("INSERT", {"pk": "x"}, seq=seq, created=created)]))
    return Stamp(change_version(record), change_order(record))


change_time = st.builds(
    _change_time_stamp,
    st.integers(min_value=0, max_value=10**10 - 1),
    st.integers(min_value=10**20, max_value=10**41 - 1),
)
attribute = st.builds(
    lambda n, order: Stamp(str(n), order),
    numbers,
    st.sampled_from(
        ["176722560028" + "1" * 28, "176722560028" + "2" * 28, "176722560141" + "9" * 41]
    ),
)
stamps = st.one_of(change_time, attribute)


def _newer(stored: Stamp | None, incoming: Stamp, stored_has_order: bool) -> bool:
    """The view's condition, in Python (DynamoDB compares N as numbers, S by bytes)."""
    if stored is None:
        return True
    a, b = Decimal(stored.version), Decimal(incoming.version)
    if a != b:
        return a < b
    return not stored_has_order or stored.order.encode() < incoming.order.encode()


def _set(client: Any, stamp: Stamp, value: str) -> int:
    return int(
        client.evalsha(
            processor.SCRIPT_SHA,
            1,
            KEY,
            "set",
            processor.rank(stamp.version),
            stamp.order,
            stamp.version,
            value,
            0,
        )
    )


@settings(
    max_examples=300,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(stored=stamps, incoming=stamps, old_form=st.booleans())
def test_the_script_decides_as_the_views_condition(
    cache: Any, stored: Stamp, incoming: Stamp, old_form: bool
) -> None:
    cache.delete(KEY)
    cache.script_load(processor.SCRIPT)
    _set(cache, stored, "stored")
    if old_form:
        cache.hdel(KEY, "_ddbt_order")  # written before _ddbt_order existed
    applied = _set(cache, incoming, "incoming")
    assert bool(applied) == _newer(stored, incoming, not old_form)
    assert cache.hget(KEY, "value") == ("incoming" if applied else "stored")
