"""The shape of the code a learner reads: no module under minil2o/ over 400 lines, no function or
method over 50, no import cycle between the library's modules, and README's map of the code
naming every module."""
import ast
import pathlib
import re

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "minil2o"
MODULES = sorted(PACKAGE.rglob("*.py"))
MAX_FILE, MAX_FUNCTION = 400, 50


def _name(path):
    return str(path.relative_to(PACKAGE.parent))


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_module_fits(path):
    lines = path.read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_FILE, f"{_name(path)} has {lines} lines (at most {MAX_FILE})"


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_functions_fit_on_a_screen(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    long = [f"{node.name} ({node.end_lineno - node.lineno + 1} lines, line {node.lineno})"
            for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION]
    assert not long, f"{_name(path)}: over {MAX_FUNCTION} lines: {', '.join(long)}"


def _imports(path):
    """The minil2o modules that `path` imports, at module level or inside a function."""
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            if base.startswith("minil2o"):
                found.add(base)
                found.update(f"{base}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("minil2o"))
    return found


def test_no_import_cycle():
    modules = {".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__"): p
               for p in MODULES}
    graph = {m: {d for d in _imports(p) if d in modules and d != m} for m, p in modules.items()}
    # a package imports its own submodules by design (its __init__ re-exports); ignore those edges
    graph = {m: {d for d in deps if not d.startswith(m + ".")} for m, deps in graph.items()}
    state = {}

    def visit(m, stack):
        state[m] = "open"
        for d in graph[m]:
            if state.get(d) == "open":
                cycle = stack[stack.index(d):] + [d]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if d not in state:
                visit(d, stack + [d])
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])


LAYERS = (
    ("ground", ("errors", "backend", "validate")),
    ("building blocks", ("autograd", "gradcheck", "layers", "convolution", "lstm", "fast_lstm",
                         "kernels", "files")),
    ("optimizees and optimizers", ("problems", "optimizers")),
    ("the meta-gradient", ("meta", "meta_engine")),
    ("evaluation", ("evaluation",)),
    ("meta-training", ("training",)),
    ("uses", ("experiments", "bench", "use", "workbook")),
    ("the front door", ("cli", "__main__", "torch", "")),
)
"""CONTRIBUTING's layers, lowest first: the first part of a module's name under minil2o (its
room) gives its layer; "" is the package's own __init__."""


def layer_of(module):
    room = module.removeprefix("minil2o").lstrip(".").split(".")[0]
    return next(k for k, (_, rooms) in enumerate(LAYERS) if room in rooms)


def test_every_module_has_a_layer_and_imports_none_above_it():
    modules = {".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__"): p
               for p in MODULES}
    upward = []
    for m, p in modules.items():
        for d in _imports(p) - {"minil2o"}:     # `from .. import x` names x; __version__ too
            if d in modules and layer_of(d) > layer_of(m):
                upward.append(f"{m} ({LAYERS[layer_of(m)][0]}) imports {d} "
                              f"({LAYERS[layer_of(d)][0]})")
    assert not upward, "imports from a higher layer: " + "; ".join(sorted(upward))


def test_the_top_of_the_package_is_the_math():
    top = sorted(p.name for p in PACKAGE.glob("*.py") if p.name not in ("__init__.py", "__main__.py"))
    assert len(top) <= 15, top


def _map_names():
    """{folder under minil2o/: the file names README's "Map of the code" gives it}. A row names
    files by path (`minil2o/training/train.py`, `minil2o/optimizers/hand.py`) or, after a first path, by
    name alone (`bench_torch.py`); a folder row (`minil2o/problems/`) names its files in its text."""
    readme = (PACKAGE.parent / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Map of the code", 1)[1].split("\n## ", 1)[0]
    names = {}
    for row in (line for line in table.splitlines() if line.startswith("| `minil2o/")):
        first = row.split("|")[1]
        folder = re.match(r" `minil2o/((?:\w+/)*)", first).group(1)
        cells = first if not first.strip().endswith("/`") else row
        names.setdefault(folder, set()).update(re.findall(r"`(?:minil2o/(?:\w+/)*)?(\w+\.py)`", cells))
    return names


def test_readme_map_names_every_module():
    names = _map_names()
    listed = {folder + name for folder, files in names.items() for name in files}
    present = {str(p.relative_to(PACKAGE)) for p in MODULES}
    quiet = {p for p in present if p.endswith("/__init__.py") and p != "problems/__init__.py"}
    missing, stale = sorted(present - quiet - listed), sorted(listed - present)
    assert not missing, f"README's map of the code does not name {missing}"
    assert not stale, f"README's map of the code names modules that do not exist: {stale}"
