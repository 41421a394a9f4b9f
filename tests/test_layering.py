"""The layering rules of ARCHITECTURE.md, read from the source: every import of every ``mathnotes`` module.

The imports are read with :mod:`ast` (nothing is imported), including imports inside functions
(lazy ones run too, only later) and relative forms (``from . import x``, ``from ..web import y``).
The checker runs over a mapping of module names to source text, so the self-tests at the end can
hand it a small synthetic package with a violation and show that it is reported.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "services" / "mathnotes"

# pure modules: no I/O, no HTTP, no clock they do not get passed in. Checked with everything they import.
PURE = (
    "mathnotes.common.errors",
    "mathnotes.common.openapi",
    "mathnotes.ingest.dlq",
    "mathnotes.ingest.errors",
    "mathnotes.ingest.httpbody",
    "mathnotes.ingest.items",
    "mathnotes.ingest.lineproto",
    "mathnotes.ingest.parse",
    "mathnotes.ingest.timestamps",
    "mathnotes.ingest.topics",
    "mathnotes.ingest.workers",
    "mathnotes.notes",
    "mathnotes.notes.answers",
    "mathnotes.notes.bound",
    "mathnotes.notes.errors",
    "mathnotes.notes.exchange",
    "mathnotes.notes.formulas",
    "mathnotes.notes.latex",
    "mathnotes.notes.model",
    "mathnotes.notes.rank",
    "mathnotes.notes.text",
    "mathnotes.vision.addresses",
    "mathnotes.vision.answer",
    "mathnotes.vision.errors",
    "mathnotes.vision.images",
    "mathnotes.vision.inputs",
    "mathnotes.vision.pixels",
    "mathnotes.vision.prompts",
    "mathnotes.vision.shrink",
    "mathnotes.vision.thumbnail",
)
# what a pure module may not reach: network clients, servers, brokers, databases, the HTTP layer
IO_PACKAGES = (
    "paho",
    "requests",
    "redis",
    "influxdb_client",
    "flask",
    "werkzeug",
    "urllib3",
    "socket",
    "ssl",
    "http",
    "urllib.request",
    "sqlite3",
    "subprocess",
    "openai",
    "gunicorn",
    "waitress",
    "mathnotes.common.httpapi",
    "mathnotes.common.wsgi",
)
# the HTTP layer: the only modules that may import a web framework or mathnotes.common.httpapi
HTTP_LAYER = (
    "mathnotes.common.httpapi",
    "mathnotes.common.wsgi",
    "mathnotes.ingest.api",
    "mathnotes.ingest.app",
    "mathnotes.ingest.cli",
    "mathnotes.ingest.ops",
    "mathnotes.vision.api",
    "mathnotes.vision.app",
    "mathnotes.vision.cli",
    "mathnotes.vision.guards",
    "mathnotes.vision.notes_api",
    "mathnotes.vision.ops",
    "mathnotes.vision.serving",
    "mathnotes.vision.web",
)
HTTP_PACKAGES = ("flask", "werkzeug", "gunicorn", "waitress", *HTTP_LAYER)
SERVICES = ("mathnotes.vision", "mathnotes.ingest")
NOT_SHARED = (*SERVICES, "mathnotes.openwebui", "tests.support")


@dataclass(frozen=True)
class Import:
    importer: str
    target: str  # a dotted module name (for ``from m import name``: ``m``, and ``m.name`` when that is a module)
    line: int


def within(name: str, prefixes: Iterable[str]) -> bool:
    """Is ``name`` one of ``prefixes`` or inside one of them (``a.b`` is inside ``a``, ``ab`` is not)?"""
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def modules_in(root: Path) -> dict[str, str]:
    """``{"mathnotes.vision.app": source, "mathnotes.vision": source of its __init__, ...}``."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path.read_text(encoding="utf-8")
    return found


class Graph:
    """The imports of a set of modules. ``packages`` names the modules that are packages (``__init__``)."""

    def __init__(self, sources: Mapping[str, str], packages: Iterable[str] = ()) -> None:
        self.modules = set(sources)
        self.packages = set(packages) | {m.rsplit(".", 1)[0] for m in sources if "." in m}
        self.imports = {name: list(self._imports_of(name, src)) for name, src in sources.items()}

    def _imports_of(self, name: str, source: str) -> Iterator[Import]:
        package = name if name in self.packages else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(source, filename=name)):  # every level: lazy imports count too
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield Import(name, alias.name, node.lineno)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base_parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*base_parts, *([node.module] if node.module else [])])
                else:
                    base = node.module or ""
                yield Import(name, base, node.lineno)
                for alias in node.names:
                    if f"{base}.{alias.name}" in self.modules:  # ``from . import influx`` imports a module
                        yield Import(name, f"{base}.{alias.name}", node.lineno)

    def internal(self, module: str) -> list[Import]:
        """``module``'s imports of other modules of the set, without its own parent packages (always there)."""
        return [
            i
            for i in self.imports.get(module, [])
            if i.target in self.modules and i.target != module and not module.startswith(i.target + ".")
        ]

    def reach(self, start: str) -> dict[str, list[str]]:
        """Every module of the set that importing ``start`` runs, with the chain of imports that gets there.

        Importing ``a.b.c`` also runs the packages ``a`` and ``a.b``, so they are reached too.
        """
        paths: dict[str, list[str]] = {start: [start]}
        todo = [start]
        while todo:
            current = todo.pop()
            parents = [".".join(current.split(".")[:n]) for n in range(1, current.count(".") + 1)]
            for nxt in [i.target for i in self.internal(current)] + [p for p in parents if p in self.modules]:
                if nxt not in paths:
                    paths[nxt] = [*paths[current], nxt]
                    todo.append(nxt)
        return paths

    def reaching(self, start: str, forbidden: Iterable[str]) -> list[str]:
        """One line per import of ``forbidden`` that importing ``start`` runs, naming the chain."""
        forbidden = tuple(forbidden)
        problems = []
        for module, path in sorted(self.reach(start).items()):
            for imp in self.imports.get(module, []):
                if within(imp.target, forbidden):
                    via = "" if module == start else f" (through {' -> '.join(path)})"
                    problems.append(f"{start} imports {imp.target}{via}: {module} line {imp.line}")
        return problems

    def cycles(self) -> list[list[str]]:
        """The import cycles: strongly connected groups of more than one module (Tarjan's algorithm)."""
        index: dict[str, int] = {}
        low: dict[str, int] = {}
        stack: list[str] = []
        on_stack: set[str] = set()
        groups: list[list[str]] = []

        def visit(module: str) -> None:
            index[module] = low[module] = len(index)
            stack.append(module)
            on_stack.add(module)
            for imp in self.internal(module):
                if imp.target not in index:
                    visit(imp.target)
                    low[module] = min(low[module], low[imp.target])
                elif imp.target in on_stack:
                    low[module] = min(low[module], index[imp.target])
            if low[module] == index[module]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == module:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))

        for module in sorted(self.modules):
            if module not in index:
                visit(module)
        return groups


def check(graph: Graph, pure: Iterable[str] = PURE) -> list[str]:
    """Every broken rule, one line each, naming the importing module and the forbidden import."""
    problems: list[str] = []
    for module in pure:
        assert module in graph.modules, f"{module} is listed as pure but does not exist"
        problems += [f"pure module {p}" for p in graph.reaching(module, IO_PACKAGES)]
    for module in sorted(graph.modules):
        if within(module, ("mathnotes.vision",)):
            problems += [f"service module {p}" for p in graph.reaching(module, ("mathnotes.ingest",))]
        if within(module, ("mathnotes.ingest",)):
            problems += [f"service module {p}" for p in graph.reaching(module, ("mathnotes.vision",))]
        if within(module, ("mathnotes.openwebui",)):  # pasted into Open WebUI alone: nothing of ours
            problems += [f"Open WebUI tool {p}" for p in graph.reaching(module, ("mathnotes",))]
        if within(module, ("mathnotes",)) and not within(module, NOT_SHARED):
            problems += [f"shared module {p}" for p in graph.reaching(module, NOT_SHARED)]
        if within(module, SERVICES):
            problems += [f"service module {p}" for p in graph.reaching(module, ("tests.support",))]
        if not within(module, HTTP_LAYER):  # direct imports; the HTTP layer's own modules are checked in turn
            problems += [
                f"{module} imports {i.target} (the HTTP layer) at line {i.line}"
                for i in graph.imports[module]
                if within(i.target, HTTP_PACKAGES)
            ]
    problems += [f"import cycle: {' <-> '.join(group)}" for group in graph.cycles()]
    return problems


def real_graph() -> Graph:
    sources = modules_in(PACKAGE)
    packages = {name for name in sources if (PACKAGE.parent / name.replace(".", "/") / "__init__.py").exists()}
    return Graph(sources, packages)


# --- the real package ---------------------------------------------------------------------------------


def test_the_package_keeps_its_layers() -> None:
    problems = check(real_graph())
    assert not problems, "layering rules broken (ARCHITECTURE.md, Layers):\n" + "\n".join(problems)


def test_the_domains_do_not_reach_the_http_layer() -> None:
    graph = real_graph()
    for domain in ("mathnotes.vision.analyzer", "mathnotes.ingest.service"):
        problems = graph.reaching(domain, ("flask", "werkzeug", "mathnotes.common.httpapi", "mathnotes.common.wsgi"))
        assert not problems, "\n".join(problems)


def test_the_checker_sees_the_whole_package() -> None:
    graph = real_graph()
    assert {"mathnotes", "mathnotes.vision.analyzer", "mathnotes.ingest.parse", "mathnotes.vision.web"} <= graph.modules
    imports = {i.target for i in graph.imports["mathnotes.ingest.pipeline"]}
    assert "mathnotes.ingest.influx" in imports  # ``from . import influx``
    lazy = {i.target for i in graph.imports["mathnotes.vision.cli"]}
    assert "mathnotes.vision.serving" in lazy  # imported inside main()


# --- the checker finds what it should --------------------------------------------------------------------

SYNTHETIC = {
    "mathnotes": "",
    "mathnotes.common.httpapi": "import flask\n",
    "mathnotes.common.logs": "import logging\n",
    "mathnotes.vision": "",
    "mathnotes.vision.prompts": "import json\nfrom . import helpers\n",
    "mathnotes.vision.helpers": "def later():\n    from ..common.httpapi import request_id\n    return request_id\n",
    "mathnotes.vision.analyzer": "from .prompts import build\n",
    "mathnotes.ingest": "",
    "mathnotes.ingest.parse": "from .topics import TopicTemplate\n",
    "mathnotes.ingest.topics": "import re\n",
}


def synthetic(**changes: str) -> Graph:
    return Graph({**SYNTHETIC, **changes}, packages={"mathnotes", "mathnotes.vision", "mathnotes.ingest"})


def test_checker_reports_a_pure_module_reaching_http_through_a_lazy_relative_import() -> None:
    problems = check(synthetic(), pure=["mathnotes.vision.prompts"])
    assert any(
        p.startswith("pure module mathnotes.vision.prompts imports mathnotes.common.httpapi")
        and "mathnotes.vision.prompts -> mathnotes.vision.helpers" in p
        for p in problems
    ), problems
    assert any(
        "mathnotes.vision.helpers imports mathnotes.common.httpapi (the HTTP layer) at line 2" in p for p in problems
    )


def test_checker_reports_a_direct_io_import_in_a_pure_module() -> None:
    problems = check(synthetic(**{"mathnotes.ingest.topics": "import socket\n"}), pure=["mathnotes.ingest.parse"])
    assert any("mathnotes.ingest.parse imports socket" in p and "mathnotes.ingest.topics" in p for p in problems)


def test_checker_passes_a_clean_set() -> None:
    clean = synthetic(**{"mathnotes.vision.helpers": "import re\n"})
    assert check(clean, pure=["mathnotes.vision.prompts", "mathnotes.ingest.parse"]) == []


def test_checker_reports_one_service_importing_the_other() -> None:
    problems = check(synthetic(**{"mathnotes.ingest.topics": "from ..vision import prompts\n"}), pure=[])
    assert any(p.startswith("service module mathnotes.ingest.topics imports mathnotes.vision") for p in problems)


def test_checker_reports_a_shared_module_importing_a_service() -> None:
    problems = check(synthetic(**{"mathnotes.common.logs": "import mathnotes.ingest.topics\n"}), pure=[])
    assert any(p.startswith("shared module mathnotes.common.logs imports mathnotes.ingest") for p in problems), problems


def test_checker_reports_an_import_cycle_even_through_a_function() -> None:
    cyclic = synthetic(
        **{
            "mathnotes.vision.helpers": "import re\n",
            "mathnotes.vision.prompts": "def f():\n    from .analyzer import run\n",
        }
    )
    assert "import cycle: mathnotes.vision.analyzer <-> mathnotes.vision.prompts" in check(cyclic, pure=[])
