"""The import structure of docs/architecture.md: no cycle, and none of its forbidden arrows.

Read from the source with `ast`: imports at module level and inside functions alike (an
import hidden in a function is still an arrow), except those under `if TYPE_CHECKING:`.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from django.conf import settings

from reservations import rules

BASE_DIR = Path(settings.BASE_DIR)
PACKAGES = ("hellowork", "reservations", "consent")
ARCHITECTURE = BASE_DIR / "docs" / "architecture.md"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(BASE_DIR).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in (BASE_DIR / package).rglob("*.py"):
            if "migrations" not in path.parts:
                modules[_module_name(path)] = path
    return modules


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    hidden: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            hidden.update(id(child) for child in ast.walk(node))
    return hidden


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules `path` imports (the most specific module each name resolves to)."""

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    tree = ast.parse(path.read_text(encoding="utf-8"))
    hidden = _type_checking_nodes(tree)
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in hidden:
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from pkg import module` imports that module; `from module import name` the module.
            names = [
                f"{node.module}.{alias.name}"
                if f"{node.module}.{alias.name}" in modules
                else node.module
                for alias in node.names
            ]
        else:
            continue
        for name in names:
            target = resolve(name)
            if target is not None:
                found.add(target)
    found.discard(_module_name(path))
    return found


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {name: imports_of(path, modules) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of two or more modules (Tarjan), and self-imports."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def forbidden_arrows() -> list[tuple[str, str]]:
    text = ARCHITECTURE.read_text(encoding="utf-8")
    arrows = re.findall(r"^- ([\w.]+) ↛ ([\w.]+)\s*$", text, flags=re.MULTILINE)
    assert arrows, "docs/architecture.md lists no forbidden arrows"
    return arrows


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def test_the_project_has_no_import_cycle() -> None:
    assert cycles(import_graph()) == []


def test_no_import_takes_a_forbidden_arrow() -> None:
    graph = import_graph()
    taken = [
        f"{source} → {target} (forbidden: {src} ↛ {dst})"
        for src, dst in forbidden_arrows()
        for source, targets in graph.items()
        if _within(source, src)
        for target in targets
        if _within(target, dst) and not _within(target, src)
    ]
    assert taken == []


def test_no_project_import_hides_inside_a_function() -> None:
    modules = project_modules()
    hidden = []
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(function):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(PACKAGES):
                    hidden.append(f"{name}:{node.lineno} from {node.module}")
                elif isinstance(node, ast.Import) and any(
                    alias.name.startswith(PACKAGES) for alias in node.names
                ):
                    hidden.append(f"{name}:{node.lineno}")
    assert hidden == []


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, [["a", "b", "c"]]),
        ({"a": {"b"}, "b": set()}, []),
    ],
)
def test_the_cycle_finder_finds_cycles(graph: dict, expected: list) -> None:
    assert cycles(graph) == expected


def test_the_arrows_are_read_from_the_document() -> None:
    assert ("reservations.admin", "reservations.meetings") in forbidden_arrows()
    assert ("consent.services", "reservations.services") in forbidden_arrows()


def test_the_rules_document_numbers_every_rule_and_names_real_code() -> None:
    text = (BASE_DIR / "docs" / "rules.md").read_text(encoding="utf-8")
    numbers = [int(n) for n in re.findall(r"^## (\d+)\. ", text, flags=re.MULTILINE)]
    assert numbers == list(range(1, 17))
    cited = set(re.findall(r"`rules\.([A-Za-z_]+)`", text))
    assert cited, "docs/rules.md names no rule function"
    assert sorted(name for name in cited if not hasattr(rules, name)) == []
