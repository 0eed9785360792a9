"""The book's Sphinx configuration (Jupyter Book 1's stack: MyST-NB and the book theme).

The source folder is the repository's root, so that the chapters, RESULTS.md and
docs/EQUATIONS.md are read where they are and their relative links hold as written;
`include_patterns` names the pages. Built by `python tools/build_book.py` into book/_build/html,
readable from disk with no network: MathJax is copied in (sphinx-mathjax-offline), nothing loads
from another host. The book's own machinery (equation anchors and links, links to the functions'
source, the workbook's table) is book/minil2o_book.py."""
import os
import sys

BOOK = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BOOK)                                   # minil2o_book
sys.path.insert(0, os.path.dirname(BOOK))                  # the checkout, for autodoc

project = "minil2o: learned optimizers from scratch"
author = "the minil2o authors"
copyright = "the minil2o authors, MIT licence"
root_doc = "book/index"

extensions = [
    "myst_nb",                      # Markdown (MyST) and notebooks with their saved outputs
    "sphinx.ext.autodoc",           # the functions the equation index names ...
    "sphinx.ext.viewcode",          # ... and their source, as pages of the book
    "sphinx-mathjax-offline",       # MathJax 3 copied into _static: equations render offline
    "sphinx_book_theme",
    "minil2o_book",
]

include_patterns = ["book/*.md", "tutorials/README.md", "tutorials/[0-9][0-9]_*.ipynb",
                    "RESULTS.md", "docs/EQUATIONS.md", "minil2o/datasets/pretrained/README.md"]
exclude_patterns = ["book/_build", "**/.ipynb_checkpoints"]

# Notebooks are read with their saved outputs; `tools/build_book.py --execute` rebuilds them first.
nb_execution_mode = "off"
nb_ipywidgets_js = {}               # the widgets' loader comes from a CDN; no chapter has widgets
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3
myst_dmath_double_inline = True     # $$...$$ inside a paragraph is display math too
suppress_warnings = ["myst.header"]

autodoc_default_options = {"members": False}
autodoc_typehints = "none"
viewcode_line_numbers = True

html_theme = "sphinx_book_theme"
html_title = "minil2o"
html_theme_options = {
    "show_navbar_depth": 1,
    "show_toc_level": 2,
    "use_download_button": False,
    "use_fullscreen_button": False,
    "use_repository_button": False,
    "navigation_with_keys": False,
}
html_static_path = ["_static"]
html_css_files = ["book.css"]
html_context = {"default_mode": "light"}     # an empty mode logs an error on a first visit
html_last_updated_fmt = None
html_copy_source = False
html_show_sourcelink = False
