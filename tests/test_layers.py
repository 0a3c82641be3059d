"""The layer order of ``../shared/DESIGN.md``, enforced on the package's import graph
(issue 12, items 2 and 7).

Every module of the package is parsed with `ast`; every import counts, at any level
(inside functions too), except those under ``if TYPE_CHECKING:``, which never run.

Layers, each importing only itself and the layers above it:

1. **models**: ``models``, and the endpoint table (``_endpoints``, with the parameter
   shapes of ``_schema``): data about Stripe's API that the client and the emulator
   both read.
2. **client**: the HTTP client and what it is built from, none of it importing Prefect:
   ``_client``, ``_base_client``, ``_resources``, ``_params``, ``_encoding``,
   ``_pagination``, ``_exceptions`` (the errors), ``_secrets`` (recognising and masking
   secrets), ``_logging`` (the package's loggers and the masking filter: plain
   `logging`, usable without Prefect) and ``_version``.
3. **credentials**: ``credentials``, ``rate_limits`` (the limiter the block gives its
   clients, on Prefect global concurrency limits) and ``settings`` (the package's
   settings, on Prefect's settings machinery: Prefect's conventions, so not the client's).
4. **tasks**: ``tasks`` and what the tasks need inside Prefect: ``_task_support``,
   ``serializers`` (the masking result serializer) and ``events`` (a session as a Prefect
   event; emitted by the flows and by the webhook receiver, both below).
5. **flows**: ``flows.*`` and ``_collection`` (the ``prefect.collections`` entry point,
   which imports the blocks, ``ProvidedDetailsInput`` being a flow parameter).
6. **webhooks**: ``webhooks.*``.
7. **emulator**: ``emulator.*``; it shares only the models with the rest.
8. **cli**: ``cli``, ``_demo`` (the ``demo`` command), ``_automations`` (the
   ``automations`` command's) and ``_prefect_setup`` (the temporary Prefect server of
   the CLI commands).

The top-level ``__init__`` is the package's facade: it re-exports every layer (lazily)
and is checked by its own tests (tests/test_imports.py), not by the layer order.

Besides the order:

* the models and client layers import neither Prefect nor starlette, uvicorn or fastapi;
* the emulator imports nothing of the package but the models (and itself);
* inside the package, nothing imports from the facade: each import names the module
  that defines the name, so this graph is the real one;
* no module imports a private name (``_x``) of a module in another layer, nor a
  private module of a subpackage (``flows._inputs``, ``flows._retention._sweep``) from
  outside that subpackage: a subpackage's ``__init__`` is its interface;
* every third-party module the package imports is a declared dependency in
  ``pyproject.toml``.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIR = ROOT / "prefect_stripe_identity"
PACKAGE = "prefect_stripe_identity"

LAYERS = ["models", "client", "credentials", "tasks", "flows", "webhooks", "emulator", "cli"]

# Top-level modules (without the package prefix); subpackages map as a whole.
MODULE_LAYERS = {
    "models": "models",
    "_schema": "models",  # the shapes of request parameters, as data
    "_endpoints": "models",  # the endpoint table: the client's and the emulator's source
    "_client": "client",
    "_base_client": "client",
    "_resources": "client",
    "_params": "client",
    "_encoding": "client",
    "_pagination": "client",
    "_exceptions": "client",
    "_secrets": "client",
    "_logging": "client",
    "_version": "client",
    "_policy": "client",  # retries and idempotency keys: no Prefect, used by every layer
    "credentials": "credentials",
    "rate_limits": "credentials",  # the block's limiter, on Prefect's concurrency limits
    "settings": "credentials",  # the package's settings, on Prefect's settings machinery
    "tasks": "tasks",
    "_task_support": "tasks",
    "serializers": "tasks",
    "events": "tasks",
    "flows": "flows",
    "_collection": "flows",
    "webhooks": "webhooks",
    "emulator": "emulator",
    "cli": "cli",
    "_demo": "cli",
    "_prefect_setup": "cli",
    "_automations": "cli",  # the `automations` command's automations
}
WITHOUT_PREFECT = {"models", "client"}
FORBIDDEN_IN_CLIENT = {"prefect", "starlette", "uvicorn", "fastapi"}

# Imports that break a rule, allowed for now: (importing module, imported module) with
# the reason. Empty: every violation found was fixed (see the git log of this file).
ALLOWED: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Import:
    importer: str  # dotted module name
    target: str  # dotted module name (a module of the package, or a third-party one)
    names: tuple[str, ...]  # names taken with `from target import ...` (empty otherwise)
    line: int

    def __str__(self) -> str:
        what = f" ({', '.join(self.names)})" if self.names else ""
        return f"{self.importer}:{self.line} imports {self.target}{what}"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES: dict[str, Path] = {_module_name(path): path for path in sorted(PACKAGE_DIR.rglob("*.py"))}


def _is_package(module: str) -> bool:
    return MODULES[module].name == "__init__.py"


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_nodes(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement of ``tree`` but those under ``if TYPE_CHECKING:``."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:  # the `else:` branch runs
                visit(child)
            return
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _imports(module: str) -> list[Import]:
    tree = ast.parse(MODULES[module].read_text(), filename=str(MODULES[module]))
    result: list[Import] = []
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            result += [Import(module, alias.name, (), node.lineno) for alias in node.names]
            continue
        if node.level:  # relative: resolve against the importing module's package
            base = module if _is_package(module) else module.rpartition(".")[0]
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            source = f"{base}.{node.module}" if node.module else base
        else:
            source = node.module or ""
        names = tuple(alias.name for alias in node.names)
        # `from pkg import submodule` imports the submodule.
        submodules = [n for n in names if f"{source}.{n}" in MODULES]
        others = tuple(n for n in names if f"{source}.{n}" not in MODULES)
        result += [Import(module, f"{source}.{n}", (), node.lineno) for n in submodules]
        if others or not submodules:
            result.append(Import(module, source, others, node.lineno))
    return result


ALL_IMPORTS = [imp for module in MODULES for imp in _imports(module)]
INTERNAL = [imp for imp in ALL_IMPORTS if imp.target.split(".")[0] == PACKAGE]
EXTERNAL = [
    imp
    for imp in ALL_IMPORTS
    if imp.target.split(".")[0] not in (PACKAGE, "__future__")
    and imp.target.split(".")[0] not in sys.stdlib_module_names
]


def _component(module: str) -> str:
    """The top-level module or subpackage (without the package prefix) ``module`` is in."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def layer_of(module: str) -> str:
    component = _component(module)
    if component not in MODULE_LAYERS:
        raise AssertionError(
            f"{module} has no layer: add it to MODULE_LAYERS in tests/test_layers.py"
        )
    return MODULE_LAYERS[component]


def _checked(imports: list[Import]) -> list[Import]:
    """Leaves out the facade's own imports and the allowed exceptions."""
    return [
        imp
        for imp in imports
        if imp.importer != PACKAGE and (imp.importer, imp.target) not in ALLOWED
    ]


def _rank(module: str) -> int:
    return LAYERS.index(layer_of(module))


# --- the graph itself -------------------------------------------------------------------------


def test_every_module_has_a_layer() -> None:
    for module in MODULES:
        if module != PACKAGE:
            layer_of(module)


def test_the_graph_is_seen() -> None:
    # A parser that saw nothing would pass every rule below.
    assert len(MODULES) > 40
    assert any(
        imp.importer == f"{PACKAGE}._task_support" and imp.target == f"{PACKAGE}._client"
        for imp in INTERNAL
    )
    # Imports inside functions count: the CLI imports its commands lazily.
    assert any(
        imp.importer == f"{PACKAGE}.cli" and imp.target.startswith(f"{PACKAGE}.emulator")
        for imp in INTERNAL
    )


def test_allowed_exceptions_are_still_needed() -> None:
    seen = {(imp.importer, imp.target) for imp in ALL_IMPORTS}
    assert [pair for pair in ALLOWED if pair not in seen] == []


# --- the rules ----------------------------------------------------------------------------------


def test_no_layer_imports_a_layer_below_it() -> None:
    upward = [
        f"{imp}: {layer_of(imp.importer)} -> {layer_of(imp.target)}"
        for imp in _checked(INTERNAL)
        if imp.target != PACKAGE and _rank(imp.target) > _rank(imp.importer)
    ]
    assert upward == []


def test_models_and_client_import_no_prefect_starlette_nor_uvicorn() -> None:
    found = [
        str(imp)
        for imp in _checked(EXTERNAL)
        if layer_of(imp.importer) in WITHOUT_PREFECT
        and imp.target.split(".")[0] in FORBIDDEN_IN_CLIENT
    ]
    assert found == []


def test_the_emulator_shares_only_the_models() -> None:
    found = [
        str(imp)
        for imp in _checked(INTERNAL)
        if layer_of(imp.importer) == "emulator"
        and imp.target != PACKAGE
        and layer_of(imp.target) not in ("models", "emulator")
    ]
    assert found == []


def test_nothing_inside_the_package_imports_from_its_facade() -> None:
    found = [str(imp) for imp in _checked(INTERNAL) if imp.target == PACKAGE]
    assert found == []


def test_no_private_import_crosses_a_layer_or_enters_a_subpackage() -> None:
    found = []
    for imp in _checked(INTERNAL):
        if imp.target == PACKAGE:
            continue
        other_layer = layer_of(imp.importer) != layer_of(imp.target)
        private_names = [n for n in imp.names if n.startswith("_") and not n.startswith("__")]
        if other_layer and private_names:
            found.append(f"{imp}: private names of another layer")
        entered = _private_module_entered(imp)
        if entered:
            found.append(f"{imp}: a private module of {entered}")
    assert found == []


def _private_module_entered(imp: Import) -> str | None:
    """The subpackage whose private module ``imp`` reaches from outside, if it does; at
    any depth: ``flows._retention._sweep`` is private to ``flows._retention``."""
    parts = imp.target.split(".")
    for depth in range(2, len(parts)):
        package = ".".join(parts[:depth])
        inside = imp.importer == package or imp.importer.startswith(f"{package}.")
        if parts[depth].startswith("_") and not inside:
            return package
    return None


def test_the_private_module_rule_holds_at_every_depth() -> None:
    def entered(importer: str, target: str) -> str | None:
        return _private_module_entered(
            Import(f"{PACKAGE}.{importer}", f"{PACKAGE}.{target}", (), 1)
        )

    assert entered("webhooks._app", "flows._inputs") == f"{PACKAGE}.flows"
    assert entered("flows._verify", "flows._retention._sweep") == f"{PACKAGE}.flows._retention"
    assert entered("flows", "flows._retention._sweep") == f"{PACKAGE}.flows._retention"
    assert entered("flows", "flows._retention") is None
    assert entered("flows._retention", "flows._retention._sweep") is None
    assert entered("flows._retention._sweep", "flows._inputs") is None
    assert entered("cli", "_policy") is None  # a top-level private module: layers decide


# --- every runtime import declared (issue 12, item 7) ----------------------------------------


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirements() -> list[str]:
    if sys.version_info >= (3, 11):
        import tomllib

        project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
        return list(project["dependencies"])
    # Python 3.10 has no tomllib: the installed metadata (`make install` rebuilds it
    # whenever pyproject.toml changes), without the extras.
    requires = importlib.metadata.requires("prefect-stripe-identity") or []
    return [r for r in requires if "extra ==" not in r]


def _declared_dependencies() -> set[str]:
    names = set()
    for requirement in _requirements():
        match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
        assert match, requirement
        names.add(_normalise(match.group(0)))
    return names


@cache
def _packages_distributions() -> dict[str, list[str]]:
    return dict(importlib.metadata.packages_distributions())


def _distributions(top_level: str) -> set[str]:
    found = _packages_distributions().get(top_level, [])
    return {_normalise(name) for name in found}


def test_every_third_party_import_is_a_declared_dependency() -> None:
    declared = _declared_dependencies()
    undeclared = {}
    for imp in EXTERNAL:
        top = imp.target.split(".")[0]
        distributions = _distributions(top)
        assert distributions, f"{imp}: no installed distribution provides {top!r}"
        if not distributions & declared:
            undeclared.setdefault(top, str(imp))
    assert undeclared == {}, f"imported but not in [project].dependencies: {undeclared}"


@pytest.mark.parametrize("top", ["starlette", "uvicorn", "typing_extensions"])
def test_the_imports_found_undeclared_by_issue_12_are_declared(top: str) -> None:
    assert any(imp.target.split(".")[0] == top for imp in EXTERNAL)
    assert _distributions(top) & _declared_dependencies()


MAX_FUNCTION_LINES = 80


def _body_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """A function's length: its body's lines, without its docstring."""
    body = node.body
    first = body[0]
    if (
        len(body) > 1
        and isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        body = body[1:]
    return (body[-1].end_lineno or body[-1].lineno) - body[0].lineno + 1


def test_no_function_is_longer_than_80_lines() -> None:
    # Issue 12, item 4: long functions become named steps.
    too_long = [
        f"{module}:{node.lineno} {node.name} ({_body_lines(node)} lines)"
        for module, path in MODULES.items()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and _body_lines(node) > MAX_FUNCTION_LINES
    ]
    assert too_long == []


def test_the_package_imports_no_private_module_of_prefect() -> None:
    # ../shared/DESIGN.md: sync and async "without `prefect._internal` imports". The sync
    # tasks' dispatch to their async twins follows Prefect's `async_dispatch` on Prefect's
    # public API instead (tests/tasks/test_dispatch.py checks the two agree).
    found = [
        str(imp)
        for imp in _checked(EXTERNAL)
        if imp.target.split(".")[0] == "prefect"
        and any(part.startswith("_") for part in imp.target.split(".")[1:])
    ]
    assert found == []
