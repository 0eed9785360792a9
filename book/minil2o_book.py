"""What the book adds to the pages it reads (a Sphinx extension, loaded by book/conf.py):

- every display equation tagged \\tag{N.M} (or a paper's \\tag{N}) gets the anchor eq-N-M, and
  every "(N.M)" in the prose of a chapter, the index or the workbook links to it (the papers'
  "(1)" to "(3)" in the chapters and the index only, where plain numbers are equations);
- every function named as `minil2o.MODULE.NAME` links to its source in the book's copy of the
  code (viewcode's pages), in place of a link to the file;
- `{minil2o-workbook}` writes the workbook's exercise table (minil2o/workbook/table.py), and
  `{minil2o-functions}` documents every function that docs/EQUATIONS.md or the workbook names;
- a link to a folder of the repository, which no page holds, is kept as text, and a link to
  an anchor a page writes in HTML (<a id="...">) goes to it.
"""
import importlib
import re

from docutils import nodes
from docutils.parsers.rst import Directive
from sphinx import addnodes

TAG = re.compile(r"\\tag\{(\d+(?:\.\d+)?)\}")
CHAPTER_NUMBER = re.compile(r"\((\d+\.\d+(?:,\s*\d+\.\d+)*)\)")     # (4.5), (9.4, 9.5)
PAPER_NUMBER = re.compile(r"\((\d)\)")                               # (1), (2), (3)
FUNCTION = re.compile(r"minil2o(?:\.\w+)+")
EQUATION_INDEX = "docs/EQUATIONS"
# Pages whose numbers in parentheses are equations: the chapters, the index, the book's own.
LINKED_PAGES = re.compile(r"(tutorials/\d\d_|docs/EQUATIONS$|book/)")
PAPER_LINKED_PAGES = re.compile(r"(tutorials/\d\d_|docs/EQUATIONS$)")
NOT_PROSE = (nodes.literal, nodes.literal_block, nodes.math, nodes.math_block, nodes.reference,
             nodes.title, nodes.raw, nodes.comment, addnodes.pending_xref, addnodes.toctree)


def anchor(number):
    """The HTML id of equation `number` ('4.5' -> 'eq-4-5')."""
    return "eq-" + number.replace(".", "-")


# ---------------------------------------------------------------------------------------------
# Equations: anchors when read, links when written
# ---------------------------------------------------------------------------------------------

def tag_equations(app, doctree):
    """Give each tagged display equation its anchor; record the pages that tag each number
    (env.minil2o_eqs: {number: {docname, ...}})."""
    found = app.env.__dict__.setdefault("minil2o_eqs", {})
    for block in doctree.findall(nodes.math_block):
        numbers = TAG.findall(block.astext())
        for number in numbers:
            block["ids"].append(anchor(number))
            found.setdefault(number, set()).add(app.env.docname)
        if "\\tag{" in block.astext() and not block.get("nowrap"):
            # Sphinx would wrap a block holding a line break in a split environment, where
            # MathJax refuses \tag: the block goes to MathJax as written, in display delimiters.
            block[:] = [nodes.Text("\\[" + block.astext() + "\\]")]
            block["nowrap"] = True


def purge_equations(app, env, docname):
    for pages in env.__dict__.get("minil2o_eqs", {}).values():
        pages.discard(docname)


def merge_equations(app, env, docnames, other):
    found = env.__dict__.setdefault("minil2o_eqs", {})
    for number, pages in other.__dict__.get("minil2o_eqs", {}).items():
        found.setdefault(number, set()).update(pages)


def home(eqs, number, fromdoc):
    """The page that derives equation `number`: the page itself if it tags it; for (N.M),
    chapter N; for a paper's (N), the chapter that tags most of the paper's numbers (4)."""
    pages = eqs.get(number, set())
    if fromdoc in pages or not pages:
        return fromdoc if pages else None
    if "." in number:
        prefix = "tutorials/%02d_" % int(number.split(".")[0])
        return next((p for p in sorted(pages) if p.startswith(prefix)), min(pages))
    count = lambda page: sum(page in ps for n, ps in eqs.items() if "." not in n)
    return max(sorted(pages), key=count)


def in_prose(node):
    """True for a text node that no code, math, title or link holds."""
    parent = node.parent
    while parent is not None:
        if isinstance(parent, NOT_PROSE):
            return False
        parent = parent.parent
    return True


def equation_link(app, fromdoc, number, text):
    """A reference to equation `number` with `text`, or None if no page tags it."""
    todoc = home(app.env.__dict__.get("minil2o_eqs", {}), number, fromdoc)
    if todoc is None:
        return None
    uri = app.builder.get_relative_uri(fromdoc, todoc) + "#" + anchor(number)
    if todoc == fromdoc:
        uri = "#" + anchor(number)
    return nodes.reference(text, text, refuri=uri, internal=True,
                           classes=["equation-link"])


def linked_text(app, fromdoc, text, papers):
    """`text` split into text and equation references; None if it holds no equation number."""
    spans = []                                          # (start, end, number)
    for match in CHAPTER_NUMBER.finditer(text):
        pos = match.start(1)
        for part in match.group(1).split(","):
            lead = len(part) - len(part.lstrip())
            number = part.strip()
            spans.append((pos + lead, pos + lead + len(number), number))
            pos += len(part) + 1
    if papers:
        spans += [(m.start(1), m.end(1), m.group(1)) for m in PAPER_NUMBER.finditer(text)]
    out, last = [], 0
    for start, end, number in sorted(spans):
        link = equation_link(app, fromdoc, number, number)
        if link is None:
            continue
        if text[start - 1:end + 1] == f"({number})":                    # link "(4.5)" whole
            start, end, link = start - 1, end + 1, equation_link(app, fromdoc, number, f"({number})")
        out += [nodes.Text(text[last:start]), link]
        last = end
    return out + [nodes.Text(text[last:])] if out else None


def link_equations(app, doctree, fromdoc):
    """Every equation number in the prose of a linked page becomes a link to its equation."""
    if not LINKED_PAGES.match(fromdoc):
        return
    papers = bool(PAPER_LINKED_PAGES.match(fromdoc))
    for text in list(doctree.findall(nodes.Text)):
        if in_prose(text):
            parts = linked_text(app, fromdoc, str(text), papers)
            if parts:
                text.parent.replace(text, parts)


# ---------------------------------------------------------------------------------------------
# Functions: a link to their source
# ---------------------------------------------------------------------------------------------

def split_name(dotted):
    """'minil2o.meta.unroll' -> ('minil2o.meta', 'unroll'): the longest importable module."""
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        module = ".".join(parts[:cut])
        try:
            importlib.import_module(module)
        except ImportError:
            continue
        return module, ".".join(parts[cut:])
    return None, None


def defined_at(dotted):
    """(module, qualified name) where `dotted` is written: 'minil2o.optimizers.learned.
    LearnedOptimizer.step' is PublicStep's step, in minil2o/optimizers/learned.py."""
    from minil2o.workbook.lookup import resolve
    obj = resolve(dotted)
    return obj.__module__, obj.__qualname__


def source_uri(app, fromdoc, dotted):
    """The relative address of `dotted`'s source in the book, or None if the book has none."""
    try:
        module, name = defined_at(dotted)
    except Exception:                      # not a function or class of minil2o: no link
        return None
    entry = getattr(app.env, "_viewcode_modules", {}).get(module)
    if not entry or not isinstance(entry, tuple) or name not in entry[2]:     # entry[2]: used
        return None
    page = "_modules/" + module.replace(".", "/")
    return app.builder.get_relative_uri(fromdoc, page) + "#" + name


def enclosing_link(node):
    """The link that holds `node` and nothing else, or None."""
    parent = node.parent
    while parent is not None and parent.astext() == node.astext():
        if isinstance(parent, (nodes.reference, addnodes.download_reference)):
            return parent
        parent = parent.parent
    return None


def link_functions(app, doctree, fromdoc):
    """`minil2o.MODULE.NAME` in code spans links to its source; a link around it is replaced."""
    for literal in list(doctree.findall(nodes.literal)):
        text = literal.astext()
        uri = source_uri(app, fromdoc, text) if FUNCTION.fullmatch(text) else None
        if uri is None:
            continue
        link = nodes.reference("", "", literal.deepcopy(), refuri=uri, internal=True,
                               classes=["source-link"])
        outer = enclosing_link(literal)
        if outer is not None:
            outer.parent.replace(outer, link)
        elif in_prose(literal.parent) or isinstance(literal.parent, nodes.paragraph):
            literal.parent.replace(literal, link)


def unlink_folders(app, doctree):
    """A link to a folder of the repository (no page holds one) keeps its text, not the link."""
    for ref in list(doctree.findall(addnodes.pending_xref)):
        if ref.get("reftarget", "").endswith("/"):
            ref.parent.replace(ref, nodes.inline("", "", *ref.children))


def link_html_anchors(app, doctree):
    """A link to an anchor the page defines in its own HTML (<a id="...">, which MyST does not
    see) goes to that anchor."""
    ids = {i for raw in doctree.findall(nodes.raw) if "html" in raw.get("format", "")
           for i in re.findall(r'\bid="([^"]+)"', raw.astext())}
    for ref in list(doctree.findall(addnodes.pending_xref)):
        if ref.get("reftype") == "myst" and not ref.get("refdomain") \
                and ref.get("reftarget") in ids:
            link = nodes.reference("", "", *ref.children, refuri="#" + ref["reftarget"],
                                   internal=True)
            ref.parent.replace(ref, link)


def on_resolved(app, doctree, fromdoc):
    if app.builder.format != "html":
        return
    link_functions(app, doctree, fromdoc)
    link_equations(app, doctree, fromdoc)


# ---------------------------------------------------------------------------------------------
# Generated pages: the workbook's table, the functions' documentation
# ---------------------------------------------------------------------------------------------

def parse_markdown(directive, text):
    """Nodes for Markdown `text`, parsed in the directive's page."""
    from docutils.statemachine import StringList
    holder = nodes.container()
    directive.state.nested_parse(StringList(text.splitlines(), "minil2o_book"),
                                 directive.content_offset, holder)
    return holder.children


class WorkbookTable(Directive):
    """The workbook's exercises in chapter order, from minil2o/workbook/table.py."""

    def run(self):
        from minil2o.workbook.table import EXERCISES
        rows = ["| chapter | exercise | what it computes | derived in | mirrors |",
                "|---|---|---|---|---|"]
        for ex in sorted(EXERCISES, key=lambda e: e.chapter):
            rows.append(f"| {ex.chapter} | `{ex.name}` | {ex.title} | {ex.equation} "
                        f"| `{ex.library}` |")
        return parse_markdown(self, "\n".join(rows))


def documented_names():
    """Where each function or class docs/EQUATIONS.md and the workbook's table name is written,
    as 'module.qualified.name', in a stable order."""
    import pathlib
    from minil2o.workbook.table import EXERCISES
    index = pathlib.Path(__file__).resolve().parent.parent / "docs" / "EQUATIONS.md"
    names = FUNCTION.findall(index.read_text(encoding="utf-8"))
    names += [ex.library for ex in EXERCISES]
    return sorted({".".join(defined_at(name)) for name in names})


def autodoc_kind(dotted):
    """The autodoc directive for `dotted`: autoclass, automethod or autofunction."""
    import inspect
    from minil2o.workbook.lookup import resolve
    if inspect.isclass(resolve(dotted)):
        return "autoclass"
    return "automethod" if "." in defined_at(dotted)[1] else "autofunction"


class FunctionDocs(Directive):
    """Each function the equation index and the workbook name: signature, docstring, source."""

    def run(self):
        out, module = [], None
        for dotted in documented_names():
            here, _ = defined_at(dotted)
            if here != module:
                module = here
                out.append(f"## `{module}`\n")
            out.append(f"```{{eval-rst}}\n.. {autodoc_kind(dotted)}:: {dotted}\n```\n")
        return parse_markdown(self, "\n".join(out))


def docstring_as_written(app, what, name, obj, options, lines):
    """minil2o's docstrings are plain text, written for help(): shown as written, not as reST."""
    if lines:
        lines[:] = ["::", ""] + ["    " + line for line in lines] + [""]


def setup(app):
    app.connect("autodoc-process-docstring", docstring_as_written)
    app.connect("doctree-read", tag_equations)
    app.connect("doctree-read", unlink_folders)
    app.connect("doctree-read", link_html_anchors)
    app.connect("env-purge-doc", purge_equations)
    app.connect("env-merge-info", merge_equations)
    app.connect("doctree-resolved", on_resolved)
    app.add_directive("minil2o-workbook", WorkbookTable)
    app.add_directive("minil2o-functions", FunctionDocs)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "env_version": 1}
