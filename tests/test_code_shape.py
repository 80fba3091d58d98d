"""The package's shape, checked: short functions (at most 60 lines each, docstring included)."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "relf_hloc"


def test_no_function_longer_than_60_lines():
    long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > 60:
                    long.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, "functions longer than 60 lines:\n" + "\n".join(long)


LAYERS = [  # each module imports only from its own layer's peers below it, never from a higher layer
    {"confs", "log", "timing"},
    {"io", "geometry"},
    {"images", "figures", "checks"},
    {"features", "matchers", "retrieval", "datasets"},
    {"eval"},
    {"steps"},
    {"sfm", "benchmarks", "train", "visualize", "hloc_plugin"},
    {"query"},
    {"demo"},
    {"cli"},
]


def package_imports():
    """{(importing top-level part, imported top-level part)} of relf_hloc's own imports."""
    edges = set()
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        package = parts[:-1] if parts[-1] != "__init__" else parts[:-1]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                target = package[:len(package) - (node.level - 1)] + (node.module.split(".") if node.module else [])
                names = [target + [a.name] for a in node.names] if not node.module else [target]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("relf_hloc"):
                names = [node.module.split(".")]
            else:
                continue
            for name in names:
                if len(parts) > 1 and len(name) > 1 and parts[1] != name[1]:
                    edges.add((parts[1].removesuffix(".py"), name[1]))
    return edges


def test_no_import_from_a_higher_layer():
    layer = {name: i for i, names in enumerate(LAYERS) for name in names}
    edges = {(a, b) for a, b in package_imports() if a != "__init__" and b != "__version__"}
    unknown = {m for e in edges for m in e} - set(layer)
    assert not unknown, f"modules in no layer: {sorted(unknown)}"
    upward = sorted(f"{a} -> {b}" for a, b in edges if layer[b] > layer[a])
    assert not upward, "imports from a higher layer: " + ", ".join(upward)
