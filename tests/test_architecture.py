"""The shape of the code: no import cycles between ganbench's modules, and no module longer
than 400 lines.

Imports are read with ``ast``, not executed: module-level and function-level imports both
count (a cycle through a function-level import is still two modules that each need the
other), and so do imports under ``if TYPE_CHECKING:``. ``from ganbench import x`` and
``from ganbench.x import y`` resolve to the module they name (``ganbench.x``, or
``ganbench.x.y`` when that is a module). A package's ``__init__`` importing its own
submodules is an ordinary edge; a submodule importing its own package ``__init__`` (for a
name defined there) is one too, so the two together are a cycle. The parent packages that
Python imports implicitly before a submodule are not edges.

A module may be longer than 400 lines when its docstring says why, with the words "longer
than 400 lines because".
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "ganbench"
MAX_LINES = 400
LONG_REASON = "longer than 400 lines because"

# Known cases, each to be removed when its module is split (or its docstring says why it is
# long). Keep these explicit: a new cycle or a new long module fails the tests, and so does an
# entry here that no longer applies.
ALLOWED_CYCLES: dict[frozenset[str], str] = {
    # none today
}
ALLOWED_LONG: dict[str, str] = {
    # none today
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _package_of(name: str, path: Path) -> str:
    """The package a module's relative imports start from."""
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def _known(name: str, known: set[str]) -> str | None:
    """``name`` if it is a ganbench module, else the longest ganbench module it lies in."""
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The ganbench modules that ``name`` imports, anywhere in its source."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "ganbench" or alias.name.startswith("ganbench."):
                    target = _known(alias.name, known)
                    if target:
                        found.add(target)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = _package_of(name, path).split(".")
                base = base[: len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if source != "ganbench" and not source.startswith("ganbench."):
                continue
            for alias in node.names:
                target = _known(f"{source}.{alias.name}", known) or _known(source, known)
                if target:
                    found.add(target)
    found.discard(name)
    return found


def import_graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {name: imports_of(name, path, known) for name, path in mods.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component with more than one module (Tarjan), each given as
    one cycle through it, e.g. ``[a, b, a]``."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

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
                components.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [_cycle_through(c, graph) for c in components]


def _cycle_through(component: list[str], graph: dict[str, set[str]]) -> list[str]:
    """A shortest cycle from the component's first module back to itself (breadth first)."""
    members, start = set(component), component[0]
    paths = {start: [start]}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(graph[v] & members):
            if w == start:
                return paths[v] + [start]
            if w not in paths:
                paths[w] = paths[v] + [w]
                queue.append(w)
    return component  # not reached: a component of two or more always has a cycle


def test_the_graph_sees_every_kind_of_import(tmp_path):
    # The resolver itself, on a made-up layout: a function-level import, `from ganbench
    # import x`, `from ganbench.x import y` (a name, and a submodule), `import a.b as c`,
    # a relative import, and a submodule importing its package's __init__.
    known = {"ganbench.a", "ganbench.b", "ganbench.c", "ganbench.p", "ganbench.p.q",
             "ganbench.p.r"}
    source = tmp_path / "m.py"
    source.write_text("import os\nfrom ganbench import a\ndef f():\n    from ganbench.b import x\n"
                      "    import ganbench.c as c\nfrom ganbench.p import q\n")
    assert imports_of("ganbench.m", source, known) == {"ganbench.a", "ganbench.b", "ganbench.c",
                                                      "ganbench.p.q"}
    sub = tmp_path / "r.py"
    sub.write_text("from ganbench.p import NAME\nfrom . import q\n")
    assert imports_of("ganbench.p.r", sub, known) == {"ganbench.p", "ganbench.p.q"}
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_between_ganbench_modules():
    graph = import_graph()
    found = cycles(graph)
    unexpected = [c for c in found if frozenset(c) not in ALLOWED_CYCLES]
    assert not unexpected, "import cycles between ganbench modules:\n" + "\n".join(
        "  " + " -> ".join(c) for c in unexpected)
    stale = [sorted(k) for k in ALLOWED_CYCLES if k not in {frozenset(c) for c in found}]
    assert not stale, f"allowed cycles that no longer exist (remove them): {stale}"


def test_modules_are_at_most_400_lines_unless_they_say_why():
    too_long = {}
    for name, path in modules().items():
        text = path.read_text(encoding="utf-8")
        lines = len(text.splitlines())
        docstring = ast.get_docstring(ast.parse(text)) or ""
        if lines > MAX_LINES and LONG_REASON not in " ".join(docstring.split()):
            too_long[name] = lines
    unexpected = {n: k for n, k in too_long.items() if n not in ALLOWED_LONG}
    assert not unexpected, (
        f"modules over {MAX_LINES} lines (split them, or say in the module docstring that "
        f"it is {LONG_REASON} ...): "
        + ", ".join(f"{n} ({k} lines)" for n, k in sorted(unexpected.items())))
    stale = sorted(set(ALLOWED_LONG) - set(too_long))
    assert not stale, f"allowed long modules that are no longer long (remove them): {stale}"


def test_every_package_under_ganbench_is_packaged():
    # [tool.setuptools] lists packages by name: a subpackage missing there is left out of a
    # built wheel (an editable install finds it anyway, so nothing else here would notice).
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
                 ["tool"]["setuptools"]["packages"])
    packages = {module_name(p) for p in PACKAGE.rglob("__init__.py")} | {"ganbench"}
    missing = sorted(packages - listed)
    assert not missing, (f"packages missing from [tool.setuptools] packages in pyproject.toml "
                         f"(a built wheel would leave them out): {missing}")
