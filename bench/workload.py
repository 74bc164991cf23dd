"""The benchmark workload: a seeded, reproducible stream of job-application changes.

``event(n, view_type)`` returns a Lambda DynamoDB stream event of ``n`` records (one shard, in
order) as Lambda delivers it; ``event_text`` its JSON text (what the runtime parses before any
handler code runs). The same seed always gives the same bytes (``fingerprint``).

Items are about 1.5 KB: strings (some non-ASCII), numbers (a 38-digit integer and a number
with 38 significant digits among them), a string set, lists, nested maps, a boolean and a
NULL. Changes: INSERT (a new application), MODIFY (status moves through APPLIED, SCREEN,
INTERVIEW, OFFER, REJECTED with a history entry, or notes and score edits), REMOVE (a few by
TTL). Creation times cross an hour boundary, so the ETL writes two partitions per batch.
"""

from __future__ import annotations

import hashlib
import json
import random
from decimal import Decimal
from typing import Any

from ddbt.ops.records import lambda_record

__all__ = [
    "AGGREGATES_TABLE",
    "BATCH",
    "BUCKET",
    "EVENT_BUS",
    "GROUP_BY",
    "PREFIX",
    "REPLICA_TABLE",
    "SEED",
    "STREAM_ARN",
    "TABLE",
    "TOPIC_ARN",
    "VIEW_ATTRIBUTES",
    "VIEW_KEY",
    "VIEW_TABLE",
    "VIEW_TYPES",
    "StringSet",
    "event",
    "event_text",
    "fingerprint",
    "item_bytes",
]

SEED = 20260101
BATCH = 1000
REGION = "us-east-1"
ACCOUNT = "123456789012"
TABLE = "job-applications"
STREAM_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{TABLE}/stream/2026-01-01T00:00:00.000"
# The sinks every contender writes to (same names against moto and in the stubs).
BUCKET = "bench-changes"
PREFIX = "changes/"
TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT}:bench-applications"
AGGREGATES_TABLE = "bench-aggregates"
EVENT_BUS = "bench-events"
# The view: applications by job (job_id, application_id), a few attributes projected.
VIEW_TABLE = "bench-applications-by-job"
VIEW_KEY = ("job_id", "application_id")
VIEW_ATTRIBUTES = ("status", "candidate_id", "updated_at")
REPLICA_TABLE = "bench-replica"
GROUP_BY = ("job_id", "status")
VIEW_TYPES = ("NEW_AND_OLD_IMAGES", "KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE")

_BASE_SEQ = 4_421_584_500_000_000_017_450_439_091
_START = 1_767_261_400  # 2026-01-01T09:56:40Z: 1,000 records at 2.5/s cross 10:00:00
_PER_SECOND = 2.5
_JOBS = [f"job-{i:04d}" for i in range(1, 13)]
_NEXT = {"APPLIED": "SCREEN", "SCREEN": "INTERVIEW", "INTERVIEW": "OFFER"}
_FIRST = ["Ana", "José", "Zoë", "Łukasz", "Søren", "Chloé", "Mei", "Omar", "Priya", "Liam"]
_LAST = ["García", "Müller", "Nakamura", "O'Brien", "Novák", "Okafor", "Dubois", "Smith"]
_CITIES = [
    ("Lisbon", "PT", "1100-148"),
    ("München", "DE", "80331"),
    ("Kraków", "PL", "31-008"),
    ("Austin", "US", "78701"),
    ("Osaka", "JP", "530-0001"),
]
_SKILLS = [
    "python", "go", "rust", "terraform", "aws", "dynamodb", "kubernetes", "sql",
    "react", "typescript", "observability", "security", "data-modeling", "spark",
]  # fmt: skip
_WORDS = (
    "candidate strong experience team platform distributed systems delivered migration "
    "latency cost ownership mentoring customers reliability streaming pipeline design "
    "review interview feedback culture async communication on-call incident tooling"
).split()
_SOURCES = ("referral", "job-board", "career-site", "agency")


class StringSet(tuple[str, ...]):
    """A DynamoDB string set, kept in a fixed order (a Python set's order varies by process)."""


def _text(rng: random.Random, length: int) -> str:
    words: list[str] = []
    size = 0
    while size < length:
        word = rng.choice(_WORDS)
        words.append(word)
        size += len(word) + 1
    return " ".join(words).capitalize() + "."


def _iso(epoch: int) -> str:
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _new_item(rng: random.Random, now: int) -> dict[str, Any]:
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    city, country, postcode = rng.choice(_CITIES)
    handle = f"{first}.{last}".lower().replace("'", "")
    return {
        "application_id": f"app-{rng.getrandbits(64):016x}",
        "job_id": rng.choice(_JOBS),
        "candidate_id": f"cand-{rng.getrandbits(48):012x}",
        "status": "APPLIED",
        "candidate": {
            "name": f"{first} {last}",
            "email": f"{handle}@example.com",
            "phone": f"+1-555-{rng.randrange(10_000):04d}",
            "location": {"city": city, "country": country, "postcode": postcode},
            "links": [f"https://example.com/in/{handle}", f"https://git.example.com/{handle}"],
        },
        "salary_expectation": Decimal(f"{rng.randrange(40_000, 200_000)}.{rng.randrange(100):02d}"),
        # 38 significant digits: exact numbers must survive every contender.
        "match_score": Decimal("0." + str(rng.randrange(10**37, 10**38))),
        "ranking_key": Decimal(rng.randrange(10**37, 10**38)),
        "years_experience": Decimal(rng.randrange(0, 30)),
        "skills": StringSet(rng.sample(_SKILLS, rng.randrange(3, 8))),
        "history": [{"status": "APPLIED", "at": _iso(now), "by": "candidate"}],
        "answers": {
            "relocate": rng.random() < 0.4,
            "notice_weeks": Decimal(rng.randrange(0, 13)),
            "visa": None if rng.random() < 0.7 else "H-1B",
            "motivation": _text(rng, 220),
        },
        "notes": _text(rng, 420),
        "source": rng.choice(_SOURCES),
        "remote": rng.random() < 0.5,
        "applied_at": _iso(now),
        "updated_at": _iso(now),
        "version": Decimal(1),
    }


def _modified(rng: random.Random, item: dict[str, Any], now: int) -> dict[str, Any]:
    new: dict[str, Any] = json.loads(json.dumps(item, default=_plain), object_hook=_restore)
    status = new["status"]
    if status in _NEXT and rng.random() < 0.75:
        status = _NEXT[status] if rng.random() < 0.8 else "REJECTED"
        new["status"] = status
        new["history"] = [*new["history"], {"status": status, "at": _iso(now), "by": "recruiter"}]
    else:
        new["notes"] = _text(rng, 420)
        new["match_score"] = Decimal("0." + str(rng.randrange(10**37, 10**38)))
    new["updated_at"] = _iso(now)
    new["version"] = new["version"] + 1
    return new


# A deep copy that keeps Decimal, StringSet and None (json round trip with markers).
def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return {"__n": str(value)}
    raise TypeError(type(value).__name__)


def _restore(obj: dict[str, Any]) -> Any:
    if set(obj) == {"__n"}:
        return Decimal(obj["__n"])
    if "skills" in obj:
        obj["skills"] = StringSet(obj["skills"])
    return obj


def _typed(value: Any) -> dict[str, Any]:
    if isinstance(value, StringSet):
        return {"SS": list(value)}
    if isinstance(value, bool):
        return {"BOOL": value}
    if value is None:
        return {"NULL": True}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, Decimal):
        return {"N": str(value)}
    if isinstance(value, dict):
        return {"M": {k: _typed(v) for k, v in value.items()}}
    if isinstance(value, list):
        return {"L": [_typed(v) for v in value]}
    raise TypeError(type(value).__name__)


def _image(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _typed(v) for k, v in item.items()}


def item_bytes(item: dict[str, Any]) -> int:
    """Approximate DynamoDB item size: attribute names plus values, as UTF-8."""
    return len(json.dumps(item, default=str, ensure_ascii=False, separators=(",", ":")).encode())


def event(
    n: int = BATCH, view_type: str = "NEW_AND_OLD_IMAGES", seed: int = SEED
) -> dict[str, Any]:
    """``n`` records of the stream; the same (n, seed) gives the same changes in every view
    type, only the images differ."""
    if view_type not in VIEW_TYPES:
        raise ValueError(f"view_type must be one of {VIEW_TYPES}")
    rng = random.Random(seed)
    live: list[dict[str, Any]] = [_new_item(rng, _START - 86_400) for _ in range(300)]
    records = []
    for i in range(n):
        now = _START + int(i / _PER_SECOND)
        roll = rng.random()
        old: dict[str, Any] | None
        new: dict[str, Any] | None
        if roll < 0.35 or len(live) < 10:
            name, old, new = "INSERT", None, _new_item(rng, now)
            live.append(new)
        elif roll < 0.85:
            at = rng.randrange(len(live))
            old = live[at]
            new = live[at] = _modified(rng, old, now)
            name = "MODIFY"
        else:
            name, old, new = "REMOVE", live.pop(rng.randrange(len(live))), None
        item = new if new is not None else old
        assert item is not None
        keys = {"application_id": {"S": item["application_id"]}}
        block: dict[str, Any] = {
            "ApproximateCreationDateTime": now,
            "Keys": keys,
        }
        size = len("application_id") + len(item["application_id"])
        if new is not None and view_type in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES"):
            block["NewImage"] = _image(new)
            size += item_bytes(new)
        if old is not None and view_type in ("OLD_IMAGE", "NEW_AND_OLD_IMAGES"):
            block["OldImage"] = _image(old)
            size += item_bytes(old)
        block["SequenceNumber"] = str(_BASE_SEQ + i * 100)
        block["SizeBytes"] = size
        block["StreamViewType"] = view_type
        event_id = f"{rng.getrandbits(128):032x}"
        records.append(
            lambda_record(
                event_id=event_id,
                event_name=name,
                block=block,
                stream_arn=STREAM_ARN,
                region=REGION,
                ttl=name == "REMOVE" and rng.random() < 0.1,
            )
        )
    return {"Records": records}


def event_text(n: int = BATCH, view_type: str = "NEW_AND_OLD_IMAGES", seed: int = SEED) -> str:
    """The event as the JSON text Lambda's runtime receives."""
    return json.dumps(event(n, view_type, seed), ensure_ascii=False)


def fingerprint(text: str) -> str:
    """Short SHA-256 of an event text (printed, to show two runs measured the same bytes)."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]
