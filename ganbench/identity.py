"""What produced a run's numbers, beyond its config: is a stored run current or stale?

The run id (``config.run_id``) hashes the resolved config; it does not change when a plugin
does. So a run's record keeps, for each part (generator, discriminator, loss, dataset), the
plugin's ``distribution``, ``version`` and ``source``: a hash of the code the plugin runs
(ganbench's built-ins are distribution ``ganbench`` at ganbench's version, like anyone's).
A stored run is **current** when every part matches what is installed now, and **stale**
otherwise (``stale_reasons`` says why: ``loss hinge 0.1.0 -> 0.2.0``, ``loss hinge: source
changed``). A record without a ``source`` (every run stored before hashes existed) is judged
by its versions alone: current when they match (the migration, so long runs resume).

A stale run is never resumed into, extended from, re-scored or pooled: ``set_aside_if_stale``
moves its folder, under its lock and by one rename, to ``<store>/.stale/<run_id>-<time>/``
before the run is trained afresh. ``ganbench prune --stale`` and ``ganbench rm`` remove runs.

The source hash, per plugin object (not per file, so that editing one loss of a module of
eight stales only that loss): the entry point's top-level definition and, transitively,
every top-level definition of the same package that it names (classes it builds or derives
from, helper functions, module-level constants, names imported from sibling modules, also
inside functions), each as ``ast.unparse`` of its syntax tree without docstrings (comments,
formatting and docstrings change nothing). Not covered: code reached only through
attributes of objects (``self.net.helper``), other distributions' code (torch, ...; their
versions are in ``versions``), data files and weights, statements a module runs on import
outside definitions, and ganbench's core (the trainer; its version only). The hash is taken
wherever the Python source is available, editable install or not, so the same code gives
the same hash however it is installed; without source there is none. (Another Python may
unparse a construct differently: that stales the runs it touches, on the safe side.)
"""

from __future__ import annotations

import ast
import copy
import hashlib
import importlib.util
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ganbench import plugins
from ganbench.errors import GanbenchError, PluginError
from ganbench.record import STALE  # the status results and plan give a stale run
from ganbench.settings import PARTS
from ganbench.store import Store, atomic_write_json, read_json

STALE_DIR = ".stale"  # <store>/.stale/<run_id>-<time>/: runs set aside (not in run_ids())
STALE_NOTE = "stale.json"  # in a set-aside folder: why, when, from where
HASH_FORMAT = "ast-unparse-1"  # part of every hash: changing the method stales every hash


# ---- the source hash of one plugin object ----


@dataclass
class _Module:
    name: str
    top: dict[str, ast.stmt]  # top-level definitions by name
    imports: dict[str, tuple[str, str | None]]  # alias -> (module, attribute; None: module)
    tree: ast.Module
    package: str  # where its relative imports start


_parsed: dict[tuple[str, int, int], _Module] = {}
_files: dict[str, str | None] = {}


def _file(module: str) -> str | None:
    """The .py file of a module, without importing it where it is not imported yet (only
    its parent packages are, by ``find_spec``)."""
    if module not in _files:
        path = getattr(sys.modules.get(module), "__file__", None)
        if path is None:
            try:
                spec = importlib.util.find_spec(module)
            except (ImportError, ValueError, AttributeError):
                spec = None
            path = spec.origin if spec is not None and spec.has_location else None
        _files[module] = os.path.realpath(path) if path and path.endswith(".py") else None
    return _files[module]


def _is_module(name: str) -> bool:
    return name in sys.modules or _file(name) is not None


def _imports(nodes: list[ast.AST], package: str) -> dict[str, tuple[str, str | None]]:
    out: dict[str, tuple[str, str | None]] = {}
    for node in nodes:
        if isinstance(node, ast.Import):
            for a in node.names:
                out[a.asname or a.name.split(".")[0]] = (a.name if a.asname else
                                                         a.name.split(".")[0], None)
        elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
            try:
                base = importlib.util.resolve_name("." * node.level + (node.module or ""),
                                                   package) if node.level else node.module
            except (ImportError, ValueError):
                continue
            for a in node.names:
                if a.name != "*":
                    out[a.asname or a.name] = (base, a.name)
    return out


def _parse(module: str) -> _Module | None:
    path = _file(module)
    if path is None:
        return None
    try:
        st = os.stat(path)
        key = (path, st.st_mtime_ns, st.st_size)
        if key not in _parsed:
            tree = ast.parse(Path(path).read_text(encoding="utf-8"))
            top: dict[str, ast.stmt] = {}
            for stmt in tree.body:
                if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    top[stmt.name] = stmt
                elif isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                    targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                    for target in targets:
                        for node in ast.walk(target):
                            if isinstance(node, ast.Name):
                                top.setdefault(node.id, stmt)
            is_package = path.endswith("__init__.py")
            package = module if is_package else module.rpartition(".")[0]
            _parsed[key] = _Module(module, top, _imports(tree.body, package), tree, package)
    except (OSError, SyntaxError, UnicodeDecodeError):
        return None
    return _parsed[key]


def _roots(module: str) -> list[str]:
    """Where the plugin's own code lives: its top-level package's folders (or its file)."""
    top = module.split(".")[0]
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return []
    if spec is None:
        return []
    if spec.submodule_search_locations:
        return [os.path.realpath(p) + os.sep for p in spec.submodule_search_locations]
    return [os.path.realpath(spec.origin)] if spec.origin else []


def _text(stmt: ast.stmt) -> str:
    """A definition as its syntax tree says it, without docstrings."""
    stmt = copy.deepcopy(stmt)
    for node in ast.walk(stmt):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return ast.unparse(stmt)


def _references(stmt: ast.stmt, mod: _Module) -> list[tuple[str, str]]:
    """The (module, name) definitions a definition names: its own module's, those it
    imports (at the top of the module or inside itself), and ``module.name`` attributes."""
    local = _imports([n for n in ast.walk(stmt) if isinstance(n, (ast.Import, ast.ImportFrom))],
                     mod.package)
    names = {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name)}
    attributes = [(n.value.id, n.attr) for n in ast.walk(stmt)
                  if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name)]
    out, modules = [], {}
    for name in names:
        target = local.get(name) or ((mod.name, name) if name in mod.top else
                                     mod.imports.get(name))
        if target is None:
            continue
        where, attr = target
        if attr is None or _is_module(f"{where}.{attr}"):
            modules[name] = where if attr is None else f"{where}.{attr}"
        else:
            out.append((where, attr))
    out += [(modules[base], attr) for base, attr in attributes if base in modules]
    return out


def source_hash(value: str) -> str | None:
    """The hash of the code an entry point (``"module:attribute"``) runs, as the module's
    docstring says; None when its source is not available."""
    module, _, attr = value.partition(":")
    module, attr = module.strip(), attr.strip().split(".")[0]
    roots = _roots(module)
    start = _parse(module)
    if start is None or not roots:
        return None

    def mine(where: str) -> bool:
        path = _file(where)
        return path is not None and any(path == r or path.startswith(r) for r in roots)

    texts: dict[tuple[str, str], str] = {}
    seen: set[tuple[str, str]] = set()
    todo = [(module, attr)]
    while todo:
        where, name = todo.pop()
        if (where, name) in seen or not mine(where):
            continue
        seen.add((where, name))
        mod = _parse(where)
        if mod is None:
            continue
        stmt = mod.top.get(name)
        if stmt is None:  # a name the module imports (a re-export): follow it
            if name in mod.imports and mod.imports[name][1] is not None:
                todo.append(mod.imports[name])
            continue
        texts[(where, name)] = _text(stmt)
        todo += _references(stmt, mod)
    if not texts:  # not a plain definition (made at import time): the whole module then
        texts[(module, "")] = ast.unparse(start.tree)
    digest = hashlib.sha256(HASH_FORMAT.encode())
    for (where, name), text in sorted(set(texts.items())):
        digest.update(f"\0{where}:{name}\0{text}".encode())
    return digest.hexdigest()[:16]


# ---- the installed identity of a config's plugins, and a stored record's verdict ----

_current: dict[tuple[str, str, tuple[str, ...]], dict[str, str] | PluginError] = {}
_path: list[tuple[str, ...]] = [()]  # the sys.path that _files was found on


def clear_cache() -> None:
    """Forget what was looked up and hashed (a new process does; so does a test that bumps
    a plugin's version or edits its source)."""
    _current.clear()
    _parsed.clear()
    _files.clear()


def current(part: str, name: str) -> dict[str, str]:
    """``{name, distribution, version, source}`` of the plugin installed now (``source``
    left out where there is none: no Python source, or the plugin cannot be imported);
    PluginError when there is no such plugin. Cached per process (finding is slow)."""
    key = (part, name, tuple(sys.path))  # another sys.path may find other plugins
    if _path[0] != key[2]:
        _files.clear()
        _path[0] = key[2]
    if key not in _current:
        try:
            info = plugins.find(part, name)
        except PluginError as exc:
            _current[key] = exc
        else:
            entry = {"name": info.name, "distribution": info.distribution,
                     "version": info.version}
            try:
                plugins.load(part, name)  # its modules imported: their imports resolve
                source = source_hash(info.value)
            except Exception:  # broken, or code the hashing cannot read: versions only
                source = None
            if source is not None:
                entry["source"] = source
            _current[key] = entry
    found = _current[key]
    if isinstance(found, PluginError):
        raise PluginError(str(found))
    return dict(found)


def of_config(config: Any) -> dict[str, dict[str, str]]:
    """Each part's ``current`` identity, for a run's record."""
    return {part: current(part, getattr(config, part)) for part in PARTS}


def _norm(name: str) -> str:
    return str(name).lower().replace("_", "-")


def _installed(part: str, stored: dict[str, Any]) -> dict[str, str] | None:
    name = stored.get("name")
    for query in (name, f"{stored.get('distribution')}:{name}"):
        try:
            return current(part, query)
        except PluginError:
            continue
    return None


def stale_reasons(record: dict[str, Any] | None) -> list[str]:
    """Why a stored record was not made by the plugins installed now; [] when it was (or
    when it names no plugins, or one that is no longer installed: nothing to compare)."""
    reasons = []
    for part, stored in ((record or {}).get("plugins") or {}).items():
        if part not in PARTS or not isinstance(stored, dict):
            continue
        now = _installed(part, stored)
        if now is None:
            continue
        label = f"{part} {stored.get('name')}"
        if _norm(stored.get("distribution")) != _norm(now["distribution"]):
            reasons.append(f"{label}: from {stored.get('distribution')} "
                           f"{stored.get('version')}, now from {now['distribution']}")
        elif str(stored.get("version")) != now["version"]:
            reasons.append(f"{label} {stored.get('version')} -> {now['version']}")
        elif stored.get("source") and now.get("source") \
                and stored["source"] != now["source"]:
            # No hash now (the plugin fails to import, or its source cannot be read): unknown,
            # not stale, as for a plugin not installed: a broken environment must never make
            # `prune --stale` delete good runs.
            reasons.append(f"{label}: source changed")
    return reasons


def is_current(record: dict[str, Any] | None) -> bool:
    return not stale_reasons(record)


def stored_record(store: Store, run_id: str) -> dict[str, Any] | None:
    """A run's record, or None (none, or unreadable)."""
    try:
        return store.read_record(run_id)
    except (OSError, ValueError):
        return None


def status(store: Store, run_id: str) -> str | None:
    """``store.status``, or ``stale`` for a stored run that ``stale_reasons`` finds stale."""
    found = store.status(run_id)
    if found is not None and stale_reasons(stored_record(store, run_id)):
        return STALE
    return found


# ---- setting aside, listing and removing ----


def set_aside_if_stale(store: Store, run_id: str) -> Path | None:
    """Move a stale stored run to ``<store>/.stale/<run_id>-<time>/`` (one rename, under the
    run's lock; RunLocked when another process holds it) and return where it went; None
    when the run is not stored or is current."""
    if not stale_reasons(stored_record(store, run_id)):
        return None
    with store.lock(run_id) as folder:
        reasons = stale_reasons(stored_record(store, run_id))  # as of now, under the lock
        if not reasons:
            return None
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        (store.root / STALE_DIR).mkdir(exist_ok=True)
        target = store.root / STALE_DIR / f"{run_id}-{stamp}"
        n = 1
        while target.exists():
            target, n = store.root / STALE_DIR / f"{run_id}-{stamp}-{n}", n + 1
        atomic_write_json(folder / STALE_NOTE, {"run_id": run_id, "reasons": reasons,
                                                "moved": stamp})
        os.rename(folder, target)
    return target


def moved_aside(store: Store) -> list[Path]:
    """The folders of runs set aside as stale, oldest first within each run."""
    root = store.root / STALE_DIR
    return sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


def stale_note(folder: Path) -> dict[str, Any]:
    try:
        return read_json(folder / STALE_NOTE)
    except (OSError, ValueError):
        return {"run_id": folder.name.split("-")[0], "reasons": ["set aside as stale"]}


def remove(store: Store, run_id: str, *, only_if_stale: bool = False) -> Path | None:
    """Delete a stored run: under its lock (RunLocked when another process holds it), one
    rename out of the store's runs, then the files. ``only_if_stale``: judged again under the
    lock (another process may have set it aside and trained it afresh meanwhile); None when
    it is current by then, and nothing is removed."""
    if run_id not in store.run_ids():
        raise GanbenchError(f"no run {run_id!r} in {store.root}")
    with store.lock(run_id) as folder:
        if only_if_stale and is_current(store.read_record(run_id)):
            return None
        trash = store.root / f".removing-{run_id}-{os.getpid()}"
        os.rename(folder, trash)
    shutil.rmtree(trash)
    return folder


__all__ = ["HASH_FORMAT", "STALE", "STALE_DIR", "clear_cache", "current", "is_current",
           "moved_aside", "of_config", "remove",
           "set_aside_if_stale", "source_hash", "stale_note", "stale_reasons", "status",
           "stored_record"]
