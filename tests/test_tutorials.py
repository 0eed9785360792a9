"""The tutorial notebooks: each is executed top to bottom (cwd tutorials/, 300 s per cell) and must
run without error and leave no new files behind; the saved notebooks must carry their outputs, and
tutorials/README.md must link every notebook present; each notebook must hold exactly the cells of
its source tutorials/NN_name.py (jupytext's percent format).

Execution runs only on the numpy backend: the notebooks call the numpy path, and executing them again
under array_api_strict would only double CI time. Rebuild them with `python tools/build_notebooks.py`."""
import os
import pathlib

import pytest

TUTORIALS = pathlib.Path(__file__).resolve().parent.parent / "tutorials"
NOTEBOOKS = sorted(p.name for p in TUTORIALS.glob("*.ipynb"))
SOURCES = sorted(p.name for p in TUTORIALS.glob("[0-9][0-9]_*.py"))
BACKEND = os.environ.get("MINIL2O_BACKEND", "numpy").strip().lower() or "numpy"
# The kernels inherit this process's environment. A chapter imports numpy (through matplotlib)
# before minil2o, which then cannot give BLAS its one thread (minil2o/__init__.py): set it here, or
# on a busy machine a 16-second cell takes minutes (as in tools/build_notebooks.py).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")


def _files():
    return {p for p in TUTORIALS.rglob("*") if ".ipynb_checkpoints" not in p.parts}


@pytest.mark.notebook
@pytest.mark.skipif(BACKEND != "numpy", reason="notebooks run on the numpy backend only "
                    f"(MINIL2O_BACKEND={BACKEND}); executing them again would only add CI time")
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs(name):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(TUTORIALS / name, as_version=4)
    before = _files()
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(TUTORIALS)}}).execute()
    assert _files() == before, f"{name} wrote files: {sorted(map(str, _files() - before))}"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_saved_with_outputs(name):
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.read(TUTORIALS / name, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.execution_count for c in code), f"{name} is not saved executed"
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors, f"{name} was saved with an error output"
    assert os.path.getsize(TUTORIALS / name) < 400_000, f"{name} is too large for a repository page"


def test_readme_links_every_notebook():
    readme = (TUTORIALS / "README.md").read_text(encoding="utf-8")
    missing = [name for name in NOTEBOOKS if f"]({name})" not in readme]
    assert not missing, f"tutorials/README.md does not link {missing}"


def test_one_source_per_notebook():
    assert SOURCES, "tutorials/ holds no chapter source"
    assert [n[:-3] for n in SOURCES] == [n[:-6] for n in NOTEBOOKS]


@pytest.mark.parametrize("name", SOURCES)
def test_notebook_matches_its_source(name):
    """The notebook was built from its source and not edited since (nor the source edited after)."""
    jupytext = pytest.importorskip("jupytext")
    nbformat = pytest.importorskip("nbformat")
    source = jupytext.read(TUTORIALS / name)
    notebook = nbformat.read(TUTORIALS / (name[:-3] + ".ipynb"), as_version=4)
    cells = lambda nb: [(c.cell_type, c.source) for c in nb.cells]  # noqa: E731
    assert cells(notebook) == cells(source), (
        f"{name[:-3]}.ipynb and {name} disagree: rebuild it with "
        f"`python tools/build_notebooks.py {name[:2]}`")
