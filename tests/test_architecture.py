"""The import rule and the layers of docs/architecture.md, checked.

* import-linter (contracts in .importlinter): the layers point down only, rater_bridge
  imports alignment_ci and never the reverse, no cycle between sibling packages or modules;
* no function imports one of the project's own modules (they are imported at the top);
* no heavy library (alignment_ci.lazy.HEAVY) at a light module's top level;
* `alignment-ci --help` and importing every light module load no heavy library.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
from importlinter.cli import lint_imports

from alignment_ci.lazy import HEAVY, HEAVY_MODULES
from alignment_ci.train.stages import STAGE_MODULES

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("alignment_ci", "rater_bridge")
# Modules that import a heavy library at their top: the declared heavy modules, the training
# stages (and their shared online-RL helper), and the metric scripts `evaluate.load` runs.
HEAVY_MODULE_NAMES = {*HEAVY_MODULES.values(), *STAGE_MODULES.values(), "alignment_ci.train.stages.online"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sources() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "evals/metrics/" in path.as_posix() and path.name != "__init__.py":
                continue  # evaluate metric scripts: loaded from their directory by evaluate.load
            found[_module_name(path)] = path
    return found


SOURCES = _sources()
LIGHT = sorted(m for m in SOURCES if m not in HEAVY_MODULE_NAMES)


def _is_own(node: ast.Import | ast.ImportFrom) -> bool:
    if isinstance(node, ast.ImportFrom):
        return node.level > 0 or (node.module or "").split(".")[0] in PACKAGES
    return any(a.name.split(".")[0] in PACKAGES for a in node.names)


def _imports(tree: ast.AST, in_function: bool = False, type_checking: bool = False):
    """(node, inside a function, under `if TYPE_CHECKING:`) for every import statement."""
    for child in ast.iter_child_nodes(tree):
        if isinstance(child, (ast.Import, ast.ImportFrom)):
            yield child, in_function, type_checking
        yield from _imports(
            child,
            in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)),
            type_checking or (isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test)),
        )


def test_import_contracts_hold(monkeypatch):
    monkeypatch.chdir(ROOT)
    assert lint_imports(config_filename=str(ROOT / ".importlinter"), no_cache=True, no_logo=True) == 0


def test_no_function_imports_the_projects_own_modules():
    inside = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for path in SOURCES.values()
        for node, in_function, _ in _imports(ast.parse(path.read_text(encoding="utf-8")))
        if in_function and _is_own(node)
    ]
    assert inside == [], "import the project's own modules at the top of the file:\n" + "\n".join(inside)


def test_heavy_libraries_are_not_imported_at_a_light_modules_top():
    found = []
    for module in LIGHT:
        path = SOURCES[module]
        for node, in_function, type_checking in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level:
                continue  # the project's own module (e.g. `.datasets`), not the library of that name
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
            if not in_function and not type_checking and any(n.split(".")[0] in HEAVY for n in names):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert found == [], "import heavy libraries inside the functions that use them:\n" + "\n".join(found)


def test_help_and_every_light_module_load_no_heavy_library():
    code = f"""
import importlib, json, sys
heavy = {list(HEAVY)!r}
def loaded():
    return sorted({{m.split('.')[0] for m in sys.modules}} & set(heavy))
from typer.testing import CliRunner
from alignment_ci.cli import app
result = CliRunner().invoke(app, ["--help"])
assert result.exit_code == 0, result.output
report = {{"--help": loaded()}}
for module in {LIGHT!r}:
    importlib.import_module(module)
    report.setdefault(module, loaded())
print(json.dumps(report))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["--help"] == []
    first = next(((m, libs) for m, libs in report.items() if libs), None)
    assert first is None, f"importing {first[0]} loads {first[1]}"


@pytest.mark.parametrize(("package", "submodule"), [("alignment_ci.quality", "raters")])
def test_package_init_reexports_lazily(package, submodule):
    """Importing the package loads none of the re-exported submodules; using a name does."""
    code = (
        f"import sys, {package} as p\n"
        f"print('{package}.{submodule}' in sys.modules)\n"
        "[getattr(p, n) for n in p.__all__]\n"
        f"print('{package}.{submodule}' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True"]
