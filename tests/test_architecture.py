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
