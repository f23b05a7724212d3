"""Checks the package's layout: no import circle, no module over 550 lines, no function over 80
lines or over 10 parameters (an option group is passed whole, not field by field).

Usage: python scripts/check_layout.py [PACKAGE_DIR]    (default: optical_bench)

A function's length is its body's: the signature and the docstring are not counted; every import counts, including those
inside functions (an import moved into a function still ties the two modules). Exit status 1
lists each problem with its file and line.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

MAX_MODULE_LINES = 550
MAX_FUNCTION_LINES = 80
MAX_PARAMETERS = 10  # self and cls not counted


def parameter_count(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    arguments = node.args
    named = arguments.posonlyargs + arguments.args + arguments.kwonlyargs
    return len([a for a in named if a.arg not in ("self", "cls")]) + bool(arguments.vararg) + bool(arguments.kwarg)


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imported_modules(tree: ast.Module, name: str, is_package: bool, known: set[str]) -> set[str]:
    """The package's own modules that ``tree`` imports (``from a import b`` counts a.b if a module)."""
    found = set()
    package = name if is_package else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # `from a import b` imports the module a.b where there is one, else a name of a
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def function_lengths(tree: ast.Module):
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if (
                len(body) > 1
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                body = body[1:]
            # the body only: the signature (one parameter per line once it is long) and the docstring are declarations
            yield node, node.end_lineno - body[0].lineno + 1


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                other = stack.pop()
                on_stack.discard(other)
                component.append(other)
                if other == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def main(argv: list[str]) -> int:
    root = Path(argv[1] if len(argv) > 1 else "optical_bench").resolve()
    paths = sorted(root.rglob("*.py"))
    names = {module_name(path, root): path for path in paths}
    problems = []
    graph = {}
    for name, path in names.items():
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text, filename=str(path))
        lines = len(text.splitlines())
        if lines > MAX_MODULE_LINES:
            problems.append(f"{path}: {lines} lines (at most {MAX_MODULE_LINES}): split it by concern")
        for node, length in function_lengths(tree):
            if length > MAX_FUNCTION_LINES:
                problems.append(f"{path}:{node.lineno}: {node.name} has a body of {length} lines (at most {MAX_FUNCTION_LINES})")
            count = parameter_count(node)
            if count > MAX_PARAMETERS:
                problems.append(
                    f"{path}:{node.lineno}: {node.name} takes {count} parameters (at most {MAX_PARAMETERS}): pass the option group "
                    "it needs (OTOptions, MLMSettings, EvaluationOptions, ...) instead of its fields"
                )
        graph[name] = imported_modules(tree, name, path.name == "__init__.py", set(names))
    for component in circles(graph):
        problems.append("import circle: " + " -> ".join(component))
    for problem in problems:
        print(problem)
    print(f"{len(names)} modules, {len(problems)} layout problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
