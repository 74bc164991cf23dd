"""The package layout: no import cycles, each module and class name means one thing, and the
tools reach the handlers' shared helpers through shared modules, not through a Lambda entry
point's module.

Imports are read from the source (``ast``), wherever they stand in a file: an import inside a
function hides a cycle from module loading, not from the design.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

from handlers import registry

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("handlers", "ddbt")
# Modules whose name each side has for the same concept: the boto3 clients of that program
# (the Lambda functions; the ddbt commands, which resolve the region as the AWS CLI does).
SAME_CONCEPT = {"__init__.py", "aws.py"}
# The modules that hold a Lambda entry point.
ENTRY_MODULES = {f"handlers.{name}" for name in registry.ENTRY_POINTS} | {"handlers.archiver"}


def _modules() -> dict[str, Path]:
    out: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            out[name.removesuffix(".__init__")] = path
    return out


def _imports(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module => the project modules it imports (anywhere in the file)."""
    edges: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for name in names:
                while name and name not in modules:
                    name = name.rpartition(".")[0]
                if name and name != module and not module.startswith(name + "."):
                    edges[module].add(name)
    return edges


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (iterative Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycles() -> None:
    assert _cycles(_imports(_modules())) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(edges) == [["a", "b", "c"]]


def test_each_module_name_is_used_once() -> None:
    by_name: dict[str, list[str]] = defaultdict(list)
    for module, path in _modules().items():
        if path.name not in SAME_CONCEPT:
            by_name[path.name].append(module)
    assert {n: ms for n, ms in by_name.items() if len(ms) > 1} == {}


def test_each_public_class_name_is_used_once() -> None:
    by_name: dict[str, list[str]] = defaultdict(list)
    for module, path in _modules().items():
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                by_name[node.name].append(module)
    assert {n: ms for n, ms in by_name.items() if len(ms) > 1} == {}


def test_the_tools_import_no_lambda_entry_point_for_a_helper() -> None:
    """ddbt runs processors in-process by name (``ddbt.ops.target``, importlib), reads ETL
    output as ``handlers.etl`` names it and cache entries as ``handlers.cache`` keys them; any
    other helper it shares with the handlers lives in
    a shared module (``handlers.archive``, ``handlers.filters``, ``handlers.getrecords``)."""
    edges = _imports(_modules())
    wrong = {
        module: sorted(targets & (ENTRY_MODULES - {"handlers.etl", "handlers.cache"}))
        for module, targets in edges.items()
        if module.startswith("ddbt")
    }
    assert {m: t for m, t in wrong.items() if t} == {}
    # The local runtime (everything outside the ops tools) imports none at all.
    runtime = {
        module: sorted(targets & ENTRY_MODULES)
        for module, targets in edges.items()
        if module.startswith("ddbt") and not module.startswith("ddbt.ops")
    }
    assert {m: t for m, t in runtime.items() if t} == {}


def test_mypy_checks_every_package_strictly() -> None:
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    assert config["strict"] is True
    assert sorted(config["packages"]) == sorted(PACKAGES)


def _slug(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _tracked_text_files() -> list[Path]:
    folders = ("handlers", "ddbt", "tests", "docs", "scripts", "bench", "examples")
    paths = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted(ROOT.glob("*.tf"))]
    for folder in folders:
        paths += [
            p
            for p in sorted((ROOT / folder).rglob("*"))
            if p.suffix in {".py", ".md", ".tf", ".hcl"} and "__pycache__" not in p.parts
        ]
    return paths


def test_the_semantics_are_the_projects_own_and_every_link_to_them_resolves() -> None:
    """docs/aws-semantics.md is the project's account of AWS's behaviour: nothing points to a
    file outside the repository, and every link to one of its anchors names a heading."""
    page = (ROOT / "docs" / "aws-semantics.md").read_text()
    anchors = {_slug(h) for h in re.findall(r"^#+ (.+)$", page, re.M)}
    outside: list[str] = []
    broken: list[str] = []
    for path in _tracked_text_files():
        text = path.read_text()
        if "ESM-" + "SEMANTICS" in text:  # (spelled apart, or this file would name it)
            outside.append(str(path.relative_to(ROOT)))
        for anchor in re.findall(r"aws-semantics\.md#([\w-]+)", text):
            if anchor not in anchors:
                broken.append(f"{path.relative_to(ROOT)}: #{anchor}")
    assert outside == []
    assert broken == []
    # The code links the rules it applies.
    for module in ("handlers/batch.py", "handlers/checkpoint.py", "ddbt/local/engine.py"):
        assert "docs/aws-semantics.md#" in (ROOT / module).read_text(), module
