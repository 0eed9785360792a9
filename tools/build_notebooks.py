"""Build tutorials/NN_name.ipynb from its source tutorials/NN_name.py (jupytext's percent format),
executed top to bottom with the numpy backend in tutorials/ and saved with its outputs.

    python tools/build_notebooks.py            every chapter
    python tools/build_notebooks.py 03 04      only the chapters whose names start so

Cell ids are numbered (NN-000, NN-001, ...) so that a rebuild changes only what changed."""
import os
import sys
import time
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient

TUTORIALS = Path(__file__).resolve().parent.parent / "tutorials"
# The kernels inherit this environment: one BLAS thread, as minil2o would set it had numpy not
# been imported before it (as in tests/test_tutorials.py).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")


def build(source):
    """Read the source, execute it, write the paired notebook; returns the seconds it ran."""
    nb = jupytext.read(source)
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"{source.name[:2]}-{i:03d}"
    start = time.perf_counter()
    NotebookClient(nb, timeout=300, kernel_name="python3", record_timing=False,
                   resources={"metadata": {"path": str(TUTORIALS)}}).execute()
    nbformat.validate(nb)
    nbformat.write(nb, source.with_suffix(".ipynb"))
    return time.perf_counter() - start


def main(prefixes):
    os.environ["MINIL2O_BACKEND"] = "numpy"                     # the kernels inherit it
    sources = sorted(p for p in TUTORIALS.glob("[0-9][0-9]_*.py")
                     if not prefixes or any(p.name.startswith(q) for q in prefixes))
    if not sources:
        sys.exit(f"no chapter source starts with {' or '.join(prefixes)}")
    for source in sources:
        print(f"{source.with_suffix('.ipynb').name}: executed in {build(source):.1f} s", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
