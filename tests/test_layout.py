"""The repository's layout: every import is an import, and imports point one way.

* No Python file edits the module search path (``SEARCH_PATH`` below).
* ``jelu`` imports only itself (and third-party packages).
* ``benchmarks`` imports ``jelu``, itself, and of ``examples`` only the tiny trainer
  ``examples.mlp``.
* ``examples`` is a folder of scripts importing each other by module name; among
  them there is no cycle, and ``mlp.py`` imports none of them.
* Nothing imports ``tests``.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("jelu", "benchmarks", "examples", "tests")
EXAMPLES = {p.stem for p in (ROOT / "examples").glob("*.py")}
TESTS = {p.stem for p in (ROOT / "tests").glob("*.py")}


def python_files() -> list[Path]:
    return sorted(p for folder in FOLDERS for p in (ROOT / folder).rglob("*.py"))


def imported(path: Path) -> set[str]:
    """Every name ``path`` imports, dotted from its top-level module (relative ones resolved)."""
    names: set[str] = set()
    package = ".".join(path.relative_to(ROOT).parent.parts)
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            names.update(f"{base}.{alias.name}" for alias in node.names)  # module or member
    return names


def internal(path: Path) -> set[str]:
    """The repository's own modules among ``path``'s imports, as folder-qualified names."""
    folder = path.relative_to(ROOT).parts[0]
    out = set()
    for name in imported(path):
        top = name.split(".")[0]
        if top in ("jelu", "benchmarks", "examples", "tests"):
            out.add(name)
        elif folder == "examples" and top in EXAMPLES:
            out.add(f"examples.{top}")
        elif folder == "tests" and top in EXAMPLES:
            out.add(f"examples.{top}")
        elif top in TESTS and folder != "tests":
            out.add(f"tests.{top}")
    return out


SEARCH_PATH = "sys" + ".path"  # spelled so that this file does not name it


def test_no_file_edits_the_module_search_path():
    offenders = [str(p.relative_to(ROOT)) for p in python_files() if SEARCH_PATH in p.read_text()]
    assert offenders == []


def test_imports_point_one_way():
    allowed = {
        "jelu": ("jelu",),
        "benchmarks": ("jelu", "benchmarks", "examples.mlp"),
        "examples": ("jelu", "examples"),
        "tests": ("jelu", "benchmarks", "examples", "tests"),
    }
    upward = []
    for path in python_files():
        folder = path.relative_to(ROOT).parts[0]
        for name in internal(path):
            if not any(name == a or name.startswith(a + ".") for a in allowed[folder]):
                upward.append(f"{path.relative_to(ROOT)} imports {name}")
            elif folder != "tests" and name.startswith("tests"):
                upward.append(f"{path.relative_to(ROOT)} imports {name}")
    assert upward == []


def test_the_examples_have_no_import_cycle_and_mlp_stands_alone():
    graph = {p.stem: {n.split(".")[1] for n in internal(p) if n.startswith("examples.")} - {p.stem}
             for p in (ROOT / "examples").glob("*.py")}
    assert graph["mlp"] == set()
    done: set[str] = set()

    def visit(node: str, stack: tuple[str, ...]) -> None:
        assert node not in stack, " -> ".join([*stack, node])
        if node not in done:
            for child in sorted(graph[node]):
                visit(child, (*stack, node))
            done.add(node)

    for node in sorted(graph):
        visit(node, ())


def test_the_tiny_trainer_fits_on_a_screen_or_two():
    assert len((ROOT / "examples" / "mlp.py").read_text().splitlines()) <= 120


def _reaches_into(path: Path) -> list[str]:
    """The underscore names of jelu modules that ``path`` imports or reads as attributes.

    A private module (``jelu._kernel``) may be imported; the names inside it
    that other modules use have no leading underscore. Dunder names are not
    private names.
    """
    found, aliases = [], {}
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "jelu" and not node.level:
            for alias in node.names:
                is_module = (ROOT / (node.module or "").replace(".", "/") / f"{alias.name}.py").exists()
                if is_module:
                    aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
                elif alias.name.startswith("_") and not alias.name.startswith("__"):
                    found.append(f"from {node.module} import {alias.name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("jelu") and alias.asname:
                    aliases[alias.asname] = alias.name
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                and node.attr.startswith("_") and not node.attr.startswith("__")):
            found.append(f"{aliases[node.value.id]}.{node.attr}")
    return found


def test_no_module_reaches_into_another_modules_underscore_names():
    offenders = [f"{p.relative_to(ROOT)}: {name}" for p in python_files() for name in _reaches_into(p)]
    assert offenders == []


def test_every_jelu_module_says_what_it_holds():
    """(Their length is held by tests/test_function_length.py.)"""
    for path in sorted((ROOT / "jelu").glob("*.py")):
        assert ast.get_docstring(ast.parse(path.read_text())), f"{path.name} has no module docstring"
