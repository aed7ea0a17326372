"""Counts the import cycles among blindspot_gui's modules (function-level imports included), with grimp.

    python benchmarks/import_cycles.py        (grimp comes with the test extra's import-linter)

Prints each group of modules that import one another, directly or through others (Tarjan's
strongly connected components of the import graph); "0 cycles" is the goal of issue 14.
"""

import sys

import grimp


def cycles(package: str = "blindspot_gui") -> list[list[str]]:
    """Every group of two or more modules of ``package`` that reach one another through imports."""
    graph = grimp.build_graph(package)
    modules = sorted(module for module in graph.modules if module.startswith(package))
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if not imported.startswith(package):
                continue
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
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

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(modules)))
    for module in modules:
        if module not in index:
            visit(module)
    return groups


if __name__ == "__main__":
    found = cycles()
    print(f"{len(found)} cycles")
    for group in found:
        print("  " + " <-> ".join(group))
