"""The layout docs/architecture.md describes, checked: no hidden imports, no cycles, small modules,
and the run pipeline importing only downwards."""

import ast
from collections.abc import Iterator
from pathlib import Path

APP = Path(__file__).resolve().parent.parent / "app"
MAX_LINES = 400
RUN_PIPELINE = [
    "models",
    "schemas",
    "errors",
    "spec",
    "events",
    "notify",
    "store",
    "follow",
    "executor",
    "queries",
    "service",
    "durable",
    "executors",
    "background",
    "cancel",
    "streaming",
    "router",
]
"""app/runs modules in pipeline order: each may import only modules before it."""


def _modules() -> dict[str, ast.Module]:
    found: dict[str, ast.Module] = {}
    for path in sorted(APP.rglob("*.py")):
        parts = path.relative_to(APP.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = ast.parse(path.read_text(), str(path))
    return found


def _is_type_checking(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def _imports(tree: ast.Module, *, top_level: bool) -> Iterator[tuple[str, int]]:
    """`app.*` modules imported at module level (``top_level``) or inside functions (not ``top_level``)."""

    def visit(nodes: list[ast.stmt], in_function: bool) -> Iterator[tuple[str, int]]:
        for node in nodes:
            if isinstance(node, ast.If) and _is_type_checking(node):
                continue
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("app"):
                if in_function != top_level:
                    for alias in node.names:
                        candidate = f"{node.module}.{alias.name}"
                        yield (candidate if candidate in MODULES else node.module), node.lineno
            elif isinstance(node, ast.Import) and in_function != top_level:
                yield from ((a.name, node.lineno) for a in node.names if a.name.startswith("app"))
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.stmt):
                    nested = in_function or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
                    yield from visit([child], nested)

    yield from visit(tree.body, False)


MODULES = _modules()


def test_no_function_local_imports_of_app_modules() -> None:
    hidden = [
        f"{module}:{line} imports {target}"
        for module, tree in MODULES.items()
        for target, line in _imports(tree, top_level=False)
    ]
    assert hidden == []


def test_no_import_cycles() -> None:
    graph = {m: {t for t, _ in _imports(tree, top_level=True) if t in MODULES} for m, tree in MODULES.items()}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}

    def walk(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                walk(target, [*path, target])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            walk(module, [module])
    assert cycles == []


def test_no_module_over_the_size_limit() -> None:
    long = {str(p.relative_to(APP)): n for p in APP.rglob("*.py") if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_the_run_pipeline_imports_only_downwards() -> None:
    runs = {name.removeprefix("app.runs."): tree for name, tree in MODULES.items() if name.startswith("app.runs.")}
    assert sorted(runs) == sorted(RUN_PIPELINE)
    upward = []
    for position, module in enumerate(RUN_PIPELINE):
        for target, line in _imports(runs[module], top_level=True):
            if target.startswith("app.runs."):
                name = target.removeprefix("app.runs.")
                if name not in RUN_PIPELINE[:position]:
                    upward.append(f"app/runs/{module}.py:{line} imports {name}")
            elif target == "app.runs":
                upward.append(f"app/runs/{module}.py:{line} imports app.runs")
    assert upward == []
