"""The tutorial notebooks: each is executed top to bottom (cwd tutorials/, 300 s per cell) and must
run without error and leave no new files behind; the saved notebooks must carry their outputs, and
tutorials/README.md must link every notebook present.

Execution runs only on the numpy backend: the notebooks call the numpy path, and executing them again
under array_api_strict would only double CI time. Rebuild them with `python tools/build_tutorials.py`."""
import os
import pathlib

import pytest

TUTORIALS = pathlib.Path(__file__).resolve().parent.parent / "tutorials"
NOTEBOOKS = sorted(p.name for p in TUTORIALS.glob("*.ipynb"))
BACKEND = os.environ.get("MINIL2O_BACKEND", "numpy").strip().lower() or "numpy"


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
