"""The Athena queries of docs/etl.md (and docs/module.md's) run against the Glue table the module
creates, checked with a real SQL engine reading the ETL processor's own gzip JSON Lines.

DuckDB stands in for Athena: a view with exactly the Glue table's columns (read from
glue.tf: names, types, the line key each maps to) and partition columns (``dt``, ``hour``;
the table's location ends at ``table=<name>/``, so ``table`` is no column), over objects
written by ``handlers.etl`` under Hive-style paths. The Athena (Trino) functions the queries
use are mapped to DuckDB's by macros of the same names. What DuckDB cannot stand in for:
Athena's OpenX SerDe itself, and decimals with more digits than a double holds (DuckDB reads
JSON numbers with a fraction as doubles; Trino's json_extract_scalar keeps their text).
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from handlers.etl import EtlProcessor
from handlers.stream import parse_event
from tests import factories as f

duckdb = pytest.importorskip("duckdb")

ROOT = Path(__file__).resolve().parents[2]
SALARY = Decimal("12345678901234567890123456789012345678")
AVATAR = b"\x00\xffhi"
T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
# What the Glue types are in DuckDB.
TYPES = {"string": "VARCHAR", "boolean": "BOOLEAN"}


def glue_columns() -> list[tuple[str, str, str]]:
    """(column, Glue type, line key) of glue.tf's ``etl_glue_columns``."""
    text = (ROOT / "glue.tf").read_text()
    block = text[
        text.index("etl_glue_columns = [") : text.index("]\n", text.index("etl_glue_columns = ["))
    ]
    found = re.findall(r'name = "(\w+)", type = "(\w+)", key = "(\w+)"', block)
    assert found, "glue.tf: etl_glue_columns not found"
    return found


def glue_partitions() -> list[tuple[str, str]]:
    text = (ROOT / "glue.tf").read_text()
    found = re.findall(r'partition_keys \{\s*name\s*= "(\w+)"\s*type\s*= "(\w+)"', text)
    assert found, "glue.tf: partition_keys not found"
    return found


def test_the_glue_table_is_located_at_the_tables_prefix() -> None:
    text = (ROOT / "glue.tf").read_text()
    assert 'table=${local.source_table_name}/" : null' in text  # the location
    assert [name for name, _ in glue_partitions()] == ["dt", "hour"]


def _records() -> list[dict[str, Any]]:
    app = {"application_id": "a1"}
    return f.sequential(
        [
            f.record(
                "INSERT", app, {"status": "APPLIED", "salary": SALARY, "avatar": AVATAR}, created=T0
            ),
            f.record("INSERT", {"application_id": "a2"}, {"status": "APPLIED"}, created=T0 + 5),
            f.record(
                "MODIFY",
                app,
                {"status": "INTERVIEW", "salary": SALARY},
                {"status": "APPLIED"},
                created=T0 + 3_600,
            ),
            f.record(
                "MODIFY",
                {"application_id": "a2"},
                {"status": "REJECTED"},
                {"status": "APPLIED"},
                created=T0 + 3_700,
            ),
            f.record(
                "REMOVE", {"application_id": "a2"}, old={"status": "REJECTED"}, created=T0 + 3_800
            ),
            f.record(
                "MODIFY",
                app,
                {"status": "OFFER", "salary": SALARY},
                {"status": "INTERVIEW"},
                created=T0 + 86_400,
            ),
        ]
    )


@pytest.fixture(scope="module")
def athena(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """DuckDB with ``ex_complete_etl.changes``: the Glue table over the processor's objects."""
    bucket = tmp_path_factory.mktemp("bucket")
    runs, stop, reason = EtlProcessor("bucket", "changes/", None).plan(
        parse_event(f.event(_records()))
    )
    assert stop == len(_records()), reason
    for run in runs:
        path = bucket / run.key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(run.body())
    location = bucket / "changes" / f"table={f.TABLE}"
    columns = glue_columns()
    partitions = glue_partitions()
    read = ", ".join(f"'{key}': '{TYPES[kind]}'" for _, kind, key in columns)
    hive = ", ".join(f"'{name}': '{TYPES[kind]}'" for name, kind in partitions)
    select = ", ".join(f'"{key}" AS {name}' for name, _, key in columns)
    select += ", " + ", ".join(name for name, _ in partitions)
    con = duckdb.connect()
    con.execute("CREATE SCHEMA ex_complete_etl")
    con.execute(
        f"CREATE VIEW ex_complete_etl.changes AS SELECT {select} FROM read_json("
        f"'{location}/dt=*/hour=*/*.jsonl.gz', format = 'newline_delimited', "
        f"hive_partitioning = true, hive_types = {{{hive}}}, columns = {{{read}}})"
    )
    # Athena's (Trino's) functions that the documented queries use, by DuckDB's names.
    con.execute("CREATE MACRO json_extract_scalar(j, p) AS json_extract_string(j, p)")
    con.execute("CREATE MACRO from_iso8601_timestamp(s) AS strptime(s, '%Y-%m-%dT%H:%M:%SZ')")
    return con


def sql_blocks(path: Path, start: str) -> list[str]:
    """The ```sql blocks of ``path`` from heading ``start`` to the next heading of its level."""
    text = path.read_text()
    level = start.split(" ", 1)[0]
    section = text[text.index(start) + len(start) :]
    end = re.search(rf"^{level} ", section, re.M)
    section = section[: end.start()] if end else section
    blocks = re.findall(r"```sql\n(.*?)```", section, re.S)
    assert blocks, f"{path.name}: no sql under {start!r}"
    return blocks


DOC_QUERIES = sql_blocks(ROOT / "docs" / "etl.md", "## Querying with Athena")
MODULE_QUERIES = sql_blocks(ROOT / "docs" / "module.md", "## Querying the ETL output with Athena")


@pytest.mark.parametrize("query", DOC_QUERIES + MODULE_QUERIES)
def test_every_documented_query_runs_against_the_glue_table(athena: Any, query: str) -> None:
    assert athena.execute(query).fetchall(), query


def test_a_partition_column_table_does_not_exist(athena: Any) -> None:
    with pytest.raises(duckdb.BinderException):
        athena.execute('SELECT "table" FROM ex_complete_etl.changes').fetchall()


def test_the_documented_queries_answer_what_they_say(athena: Any) -> None:
    transitions, latest, exact = DOC_QUERIES
    assert athena.execute(transitions).fetchall() == [
        ("2026-01-01", "APPLIED", "INTERVIEW", 1),
        ("2026-01-01", "APPLIED", "REJECTED", 1),
        ("2026-01-02", "INTERVIEW", "OFFER", 1),
    ]
    last = {row[1] for row in athena.execute(latest).fetchall()}
    assert last == {"MODIFY", "REMOVE"}  # a1 was modified last that day, a2 removed
    rows = {row[0]: row[1:] for row in athena.execute(exact).fetchall()}
    text, salary, avatar, changed_at = rows["a1"]
    assert (text, salary) == (str(SALARY), SALARY)  # all 38 digits
    assert avatar == AVATAR.hex().upper()
    assert changed_at.isoformat() == "2026-01-01T00:00:00"
    assert rows["a2"][:3] == (None, None, None)  # no such attributes: null


def test_the_documented_columns_are_the_glue_tables() -> None:
    """docs/etl.md's column table names exactly glue.tf's columns, types, keys and
    partitions (no ``table`` partition column)."""
    text = (ROOT / "docs" / "etl.md").read_text()
    section = text[text.index("## Querying with Athena") :]
    documented: dict[str, tuple[str, str]] = {}
    for names, kind, keys in re.findall(
        r"^\| (`[^|]+) \| (\w+)[^|]* \| ([^|]+) \|$", section, re.M
    ):
        for name in re.findall(r"`(\w+)`", names):
            documented[name] = (kind, keys)
    expected = {name: kind for name, kind, _ in glue_columns()}
    expected.update(dict(glue_partitions()))
    assert {n: k for n, (k, _) in documented.items()} == expected
    for name, _, key in glue_columns():
        assert f"`{key}`" in documented[name][1], name
    assert "`table`" not in {f"`{n}`" for n in documented}


def test_the_glue_table_uses_the_serde_the_case_documents() -> None:
    from tests.conformance.corpus import cases

    (case,) = [c for c in cases("sinks", service="athena")]
    text = (ROOT / "glue.tf").read_text()
    assert f'serialization_library = "{case["request"]["serialization_library"]}"' in text
    for name, value in case["request"]["serde_parameters"].items():
        assert f'"{name}" = "{value}"' in text
    assert [n for n, _ in glue_partitions()] == case["expect"]["partition_columns"]
    assert case["expect"]["documented_warning"] in (ROOT / "docs" / "etl.md").read_text()
