"""Figures on the shape of the code: the longest functions and the largest modules (``python scripts/house.py``)."""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

ROOTS = ("core", "kavlan_tui")


def functions(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), str(path))
    out: list[tuple[int, str]] = []
    stack: list[tuple[ast.AST, str]] = [(tree, "")]
    while stack:
        node, prefix = stack.pop()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                stack.append((child, f"{prefix}{child.name}."))
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (child.end_lineno or child.lineno) - child.lineno + 1
                out.append((length, f"{path}:{child.lineno} {prefix}{child.name}"))
                stack.append((child, f"{prefix}{child.name}."))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--top", type=int, default=10, help="how many of each (default 10)")
    parser.add_argument("--over", type=int, default=0, help="also list every function in core/ over N lines")
    args = parser.parse_args()
    files = sorted(p for root in ROOTS for p in Path(root).rglob("*.py"))
    funcs = sorted((f for p in files for f in functions(p)), reverse=True)
    print(f"{args.top} longest functions (lines):")
    for length, where in funcs[: args.top]:
        print(f"  {length:4d}  {where}")
    sizes = sorted(((len(p.read_text().splitlines()), str(p)) for p in files), reverse=True)
    print(f"{args.top // 2} largest modules (lines):")
    for length, where in sizes[: args.top // 2]:
        print(f"  {length:4d}  {where}")
    if args.over:
        print(f"functions in core/ over {args.over} lines:")
        for length, where in funcs:
            if length > args.over and where.startswith("core/"):
                print(f"  {length:4d}  {where}")


if __name__ == "__main__":
    main()
