"""House rules a reader relies on: no library function longer than a screen."""

from __future__ import annotations

import ast
import pathlib

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "scratchnet"
LONGEST = 60          # lines, decorators and docstring included


def long_functions(limit: int) -> list[str]:
    """'path:line name (N lines)' for every function or method in the package over ``limit`` lines."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                first = min([node.lineno] + [d.lineno for d in node.decorator_list])
                length = node.end_lineno - first + 1
                if length > limit:
                    found.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name} ({length} lines)")
    return found


def test_no_library_function_is_over_sixty_lines():
    assert long_functions(LONGEST) == []


def test_the_length_check_sees_long_functions():
    assert long_functions(30), "a limit of 30 lines should catch some functions: the walker is broken"
