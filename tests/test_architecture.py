"""How the code is laid out: imports flow one way, down the pipeline, and the entry module lists every command.

cli -> pipeline -> distributed -> training / latents / clustering -> data / models -> backend.
An import inside a function counts as much as one at the top: it still ties the two modules together.
"""
import ast
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = {"gpuclust": "gpuclust", "gpuclust_cli": "cli"}  # import name -> folder


def modules() -> dict:
    """Every module of gpuclust/ and cli/ by its import name, with its file."""
    out = {}
    for name, folder in PACKAGES.items():
        for d, _, files in os.walk(os.path.join(ROOT, folder)):
            for f in files:
                if f.endswith(".py"):
                    rel = os.path.relpath(os.path.join(d, f), os.path.join(ROOT, folder))[:-3].split(os.sep)
                    if rel[-1] == "__init__":
                        rel = rel[:-1]
                    out[".".join([name, *rel])] = os.path.join(d, f)
    return out


def imports(mods: dict) -> dict:
    """module -> the set of gpuclust / gpuclust_cli modules it imports (a package's own __init__ excluded)."""
    graph = {}
    for mod, path in mods.items():
        package = mod if path.endswith("__init__.py") else mod.rsplit(".", 1)[0]
        found = set()
        for node in ast.walk(ast.parse(open(path).read())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[:len(package.split(".")) - node.level + 1]
                    base = ".".join(parts + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
            else:
                continue
            found |= {t for t in targets if t in mods and t != mod}
        graph[mod] = found
    return graph


def cycles(graph: dict) -> list:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
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
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_no_two_modules_import_each_other_even_through_others():
    assert cycles(imports(modules())) == []


def test_nothing_below_the_pipeline_imports_the_pipeline_or_the_command_line():
    graph = imports(modules())
    upward = sorted((m, t) for m, ts in graph.items() for t in ts
                    if not m.startswith(("gpuclust.pipeline", "gpuclust_cli"))
                    and t.startswith(("gpuclust.pipeline", "gpuclust_cli")))
    assert upward == []


def test_command_modules_never_import_the_entry_module():
    """The entry module registers the commands; the command modules never import it back."""
    graph = imports(modules())
    assert not [m for m, ts in graph.items() if m != "gpuclust_cli.commands" and "gpuclust_cli.main" in ts]


def test_python_m_entry_module_lists_every_command():
    """Regression: `python -m gpuclust_cli.main --help` listed no commands (they registered on import of another module)."""
    out = subprocess.run([sys.executable, "-m", "gpuclust_cli.main", "--help"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    listed = out.stdout.split("Commands:")[-1]
    for command in ("bench", "cluster", "compare", "embed", "info", "predict", "report", "run", "select-k",
                    "spectrograms", "synth", "train", "tsne"):
        assert f"  {command} " in listed, command
