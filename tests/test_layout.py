"""The package's shape (docs/DESIGN.md): no import cycles, no mode importing another mode, rules named only
through the catalogue, no module-level state that a run mutates.

Every import counts: top-level, inside functions, and under `if TYPE_CHECKING:`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "gatekeeper"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The module of ours that `name` (a module or `module.attribute`) refers to."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """Every module of ours that `path` imports, anywhere in the file."""
    me = _module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*up, base] if base else up)
            targets = [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        for target in targets:
            if target.split(".")[0] == "gatekeeper":
                found = _resolve(target, modules)
                if found and found != me:
                    out.add(found)
    return out


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(path, modules) for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles() -> None:
    cycles = _cycles(_graph())
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def _mode_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[2] if len(parts) > 2 and parts[:2] == ["gatekeeper", "modes"] else None


def test_no_mode_imports_another_mode() -> None:
    bad = [
        f"{src} imports {dst}"
        for src, targets in _graph().items()
        for dst in targets
        if _mode_of(src) and _mode_of(dst) and _mode_of(src) != _mode_of(dst)
    ]
    assert not bad, "\n".join(bad)


def test_only_the_cli_and_the_entrypoint_know_the_modes() -> None:
    """Gates, engine, trust and reporters never import a mode (data flows one way)."""
    bad = [
        f"{src} imports {dst}"
        for src, targets in _graph().items()
        for dst in targets
        if _mode_of(dst) and not _mode_of(src) and src not in {"gatekeeper.cli", "gatekeeper.modes"}
    ]
    assert not bad, "\n".join(bad)


def test_every_rule_is_declared_in_the_catalogue() -> None:
    """A `Rule(...)` is built only under gatekeeper/rules/; everyone else imports it from there."""
    bad = []
    for path in PACKAGE.rglob("*.py"):
        if path.parent.name == "rules" and path.parent.parent == PACKAGE:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Rule":
                bad.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert not bad, "rules declared outside gatekeeper/rules/: " + ", ".join(bad)


def test_rule_ids_are_unique_and_every_area_is_in_the_catalogue() -> None:
    from gatekeeper import rules

    areas = {p.stem for p in (PACKAGE / "rules").glob("*.py")} - {"__init__", "model"}
    assert {m.__name__.rsplit(".", 1)[1] for m in rules.AREAS} == areas
    ids = [v.id for area in rules.AREAS for v in vars(area).values() if isinstance(v, rules.Rule)]
    assert len(ids) == len(set(ids)) == len(rules.all_rules())


_MUTATORS = {"append", "extend", "add", "update", "setdefault", "pop", "popitem", "clear", "remove", "discard"}


def _module_state(path: Path) -> list[str]:
    """Module-level containers (or names a function rebinds with `global`) that code in the module mutates."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    containers: set[str] = set()
    for node in tree.body:
        targets: list[ast.expr] = []
        value = None
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        constructor = isinstance(value, ast.Call) and getattr(value.func, "id", "") in {"list", "dict", "set"}
        mutable = isinstance(value, ast.List | ast.Dict | ast.Set) or constructor
        if mutable:
            containers |= {t.id for t in targets if isinstance(t, ast.Name)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Global):
            found += [f"global {n}" for n in node.names]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id in containers
            and node.func.attr in _MUTATORS
        ):
            found.append(f"{node.func.value.id}.{node.func.attr}()")
        elif isinstance(node, ast.Assign | ast.AugAssign | ast.Delete):
            for t in node.targets if isinstance(node, ast.Assign | ast.Delete) else [node.target]:
                name = t.value.id if isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name) else ""
                if name in containers:
                    found.append(f"{name}[...] =")
        elif isinstance(node, ast.FunctionDef) and tree.body.count(node):
            for deco in node.decorator_list:
                name = deco.attr if isinstance(deco, ast.Attribute) else getattr(deco, "id", "")
                if name in {"cache", "lru_cache"}:
                    found.append(f"@{name} on {node.name}")
    return found


def test_the_state_finder_sees_a_module_level_cache(tmp_path: Path) -> None:
    sample = tmp_path / "m.py"
    sample.write_text("_SEEN: dict[int, int] = {}\n\ndef f(x):\n    _SEEN[x] = 1\n")
    assert _module_state(sample) == ["_SEEN[...] ="]
    sample.write_text("_SEEN = {1: 2}\n\ndef f(x):\n    return _SEEN.get(x)\n")
    assert _module_state(sample) == []


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(REPO)))
def test_no_module_level_state(path: Path) -> None:
    assert _module_state(path) == [], f"{path.relative_to(REPO)} keeps module-level state"
