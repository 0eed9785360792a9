"""Build the book: the eleven chapters with their saved outputs, RESULTS.md, the equation index,
the workbook's exercises and the functions' source, as one static site read from disk with no
network (book/conf.py configures it; book/minil2o_book.py links equations and functions).

    python tools/build_book.py                  the book from the saved notebooks
    python tools/build_book.py --execute        run every chapter again first (tools/build_notebooks.py)
    python tools/build_book.py --strict         a warning (a broken link, say) fails the build
    python tools/build_book.py --out DIR        build into DIR (default book/_build)

Open DIR/html/index.html. Needs the book extra: pip install -e ".[book]"."""
import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
LANDING = "book/index.html"           # where the root page (book/index.md) is written
REDIRECT = ('<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
            '<meta http-equiv="refresh" content="0; url={0}"><title>minil2o</title></head>'
            '<body><p><a href="{0}">minil2o: the book</a></p></body></html>\n')


def build(out, strict=False, quiet=True):
    """Build the HTML into out/html (doctrees in out/doctrees), every page read afresh; returns
    Sphinx's exit status."""
    from sphinx.cmd.build import build_main
    args = ["-E", "-b", "html", "-c", str(BOOK), "-d", str(out / "doctrees"), str(ROOT),
            str(out / "html")]
    args += ["-W", "--keep-going"] if strict else []
    args += ["-q"] if quiet else []
    status = build_main(args)
    if status == 0:
        (out / "html" / "index.html").write_text(REDIRECT.format(LANDING), encoding="utf-8")
    return status


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--execute", action="store_true",
                        help="run every chapter and save it (tools/build_notebooks.py) first")
    parser.add_argument("--strict", action="store_true", help="a warning fails the build")
    parser.add_argument("--out", type=Path, default=BOOK / "_build",
                        help="the build folder (default book/_build)")
    args = parser.parse_args(argv)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    if args.execute:
        sys.path.insert(0, str(ROOT / "tools"))
        import build_notebooks
        build_notebooks.main([])
    start = time.perf_counter()
    status = build(args.out.resolve(), strict=args.strict)
    if status:
        sys.exit(f"the book's build failed (status {status}); the warnings above say where")
    print(f"built in {time.perf_counter() - start:.1f} s: open "
          f"{args.out.resolve() / 'html' / 'index.html'}")


if __name__ == "__main__":
    main()
