"""Every function fits on a screen and every file holds one idea: in the folders of
``FOLDERS``, no function has more than ``MAX_FUNCTION_LINES`` lines of code and no
``.py`` file more than ``MAX_FILE_LINES`` lines.

A function's lines of code run from its ``def`` line to its last line (decorators
and its docstring not counted; blank lines, comments and nested functions counted,
a nested function in its own count too).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("jelu", "examples", "benchmarks")
MAX_FUNCTION_LINES = 80
MAX_FILE_LINES = 500


def python_files(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def code_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines from the ``def`` to the function's last line, less its docstring's."""
    lines = node.end_lineno - node.lineno + 1
    first = node.body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        lines -= first.end_lineno - first.lineno + 1
    return lines


def long_functions(path: Path) -> list[str]:
    """``file:line name (n lines)`` of each function in ``path`` over the limit."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and code_lines(node) > MAX_FUNCTION_LINES:
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({code_lines(node)} lines)")
    return found


def test_the_line_count_leaves_out_the_docstring_only() -> None:
    source = 'def f(x):\n    """One\n    two."""\n\n    # a comment\n    return x\n'
    (node,) = ast.parse(source).body
    assert code_lines(node) == 4  # def, blank, comment, return
    (node,) = ast.parse("@staticmethod\ndef g():\n    pass\n").body
    assert code_lines(node) == 2


def test_the_folders_hold_python_files() -> None:
    for folder in FOLDERS:
        assert python_files(folder), folder


@pytest.mark.parametrize("folder", FOLDERS)
def test_no_function_over_the_limit(folder: str) -> None:
    offenders = [f for path in python_files(folder) for f in long_functions(path)]
    assert offenders == []


@pytest.mark.parametrize("folder", FOLDERS)
def test_no_file_over_the_limit(folder: str) -> None:
    offenders = [f"{path.relative_to(ROOT)} ({n} lines)" for path in python_files(folder)
                 if (n := len(path.read_text().splitlines())) > MAX_FILE_LINES]
    assert offenders == []
