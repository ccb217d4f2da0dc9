"""Imports point one way (docs/architecture.md): every import of ours, lazy ones included, goes down the layers."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUBPACKAGES = ("model", "rollout", "data", "training", "policies", "interop")

# What each unit may import (besides itself). A unit is a top-level package or a world_model subpackage.
ALLOWED = {
    "common": set(),
    "planners": set(),
    "envs": {"common"},
    "world_model.rollout": {"common"},
    "world_model.model": {"common", "world_model.rollout"},
    "world_model.data": {"common"},
    "world_model": {"world_model.model"},  # the package's public names: LeWM, LeWMConfig, ...
    "world_model.training": {"common", "world_model", "world_model.model", "world_model.rollout", "world_model.data"},
    "world_model.policies": {"common", "world_model", "world_model.model", "world_model.data",
                             "world_model.training"},
    "world_model.interop": {"common", "world_model", "world_model.model"},
    "agent": {"common", "planners", "envs", "world_model", *(f"world_model.{s}" for s in SUBPACKAGES)},
}


def unit(module: str) -> str:
    parts = module.split(".")
    if parts[0] == "world_model" and len(parts) > 1 and parts[1] in SUBPACKAGES:
        return f"world_model.{parts[1]}"
    return parts[0]


def imports_of(path: Path) -> list[str]:
    """Every module of ours that ``path`` imports, at any depth (function-level imports included)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # ``from world_model import training`` names a subpackage; ``from world_model import LeWM`` does not
            found += [f"{node.module}.{a.name}" if a.name in SUBPACKAGES else node.module for a in node.names]
    return [m for m in found if unit(m) in ALLOWED]


def package_modules():
    for top in ("common", "planners", "envs", "world_model", "agent"):
        for path in sorted((ROOT / top).rglob("*.py")):
            yield path, ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def test_imports_go_down_the_layers():
    wrong = []
    for path, module in package_modules():
        here = unit(module)
        wrong += [f"{module} imports {m}" for m in sorted(set(imports_of(path)))
                  if unit(m) != here and unit(m) not in ALLOWED[here]]
    assert not wrong, "imports against the layers (docs/architecture.md):\n" + "\n".join(wrong)


def test_the_allowed_graph_has_no_cycle():
    seen, done = set(), set()

    def visit(node, trail):
        assert node not in seen - done, f"cycle: {' -> '.join(trail + [node])}"
        if node in done:
            return
        seen.add(node)
        for nxt in ALLOWED[node]:
            visit(nxt, trail + [node])
        done.add(node)

    for start in ALLOWED:
        visit(start, [])


def test_a_wrong_way_import_is_caught(tmp_path):
    planted = tmp_path / "bad.py"
    planted.write_text("def f():\n    from agent.agent import Agent\n")
    assert [unit(m) for m in imports_of(planted)] == ["agent"]


# --- no import cycle between modules -------------------------------------------------------------------------------

def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_nodes(node: ast.AST):
    """Every Import / ImportFrom under ``node`` (function-level ones included), the body of ``if TYPE_CHECKING:`` left
    out (its imports never run)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.Import, ast.ImportFrom)):
            yield child
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            for other in child.orelse:
                yield from _import_nodes(ast.Module(body=[other], type_ignores=[]))
        else:
            yield from _import_nodes(child)


def module_edges(path: Path, module: str, known: set[str]) -> set[str]:
    """The modules of ``known`` that ``module`` (the file ``path``) imports: ``from a.b import c`` names ``a.b.c``
    when that is a module, else ``a.b``; ``import a.b.c`` names the longest known prefix."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in _import_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != module:
                found.add(target)
    return found


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components of ``graph`` (node -> successors), each sorted."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def module_cycles(files: list[tuple[Path, str]]) -> list[list[str]]:
    """Groups of two or more modules that import each other, directly or round a loop."""
    known = {module for _, module in files}
    graph = {module: module_edges(path, module, known) for path, module in files}
    return sorted(comp for comp in strongly_connected(graph) if len(comp) > 1)


def test_no_import_cycle_between_modules():
    cycles = module_cycles(list(package_modules()))
    assert not cycles, "modules that import each other (lazy imports included):\n" + "\n".join(
        " <-> ".join(c) for c in cycles)


def test_a_planted_cycle_is_found(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg.b import g\n\ndef f():\n    return g()\n")
    (pkg / "b.py").write_text("def g():\n    from pkg import a\n    return a\n")
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.d import h\n")
    (pkg / "d.py").write_text("from .c import TYPE_CHECKING\n")
    files = [(p, ".".join(p.relative_to(tmp_path).with_suffix("").parts).removesuffix(".__init__"))
             for p in sorted(pkg.glob("*.py"))]
    assert module_cycles(files) == [["pkg.a", "pkg.b"]]  # c -> d only under TYPE_CHECKING: no cycle
