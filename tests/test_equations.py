"""docs/EQUATIONS.md, the equation index: every function it lists exists and cites the number in its
docstring, in one of the forms the page defines; every equation number a tutorial chapter uses
in its Markdown is listed; every experiment it names is registered."""
import inspect
import pathlib
import re

import pytest

from minil2o.workbook.lookup import resolve

ROOT = pathlib.Path(__file__).resolve().parent.parent
INDEX = ROOT / "docs" / "EQUATIONS.md"

EQUATION = re.compile(r"\((\d+)(?:\.(\d+))?\)")                 # (3), (4.6)
NAMED = re.compile(r"(section|Appendix|Table|Fig\.) (\d+(?:\.\d+)?|[A-Z])")
FUNCTION = re.compile(r"`(minil2o(?:\.\w+)+)`")


def is_citation(cell):
    """True for a first column the page defines: an equation, a section, an appendix, a table or
    a figure (rows of other tables start otherwise)."""
    return bool(EQUATION.fullmatch(cell) or NAMED.fullmatch(cell))


def entries(text):
    """(citation, [function path, ...], the last cell) for every row of the index's tables."""
    rows = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) >= 3 and is_citation(cells[0]):
            rows.append((cells[0], FUNCTION.findall(cells[-1]), cells[-1]))
    return rows


def _number(text):
    """'4.6' or '3' as a comparable tuple (4, 6) or (3,)."""
    return tuple(int(part) for part in text.split("."))


def cites(doc, citation):
    """True when the docstring `doc` cites `citation` in a form the page defines."""
    eq = EQUATION.fullmatch(citation)
    if eq:
        number = citation[1:-1]
        if re.search(r"\(" + re.escape(number) + r"\)", doc):
            return True
        ranges = re.findall(r"\((\d+(?:\.\d+)?)\)\s*(?:to|-|–)\s*\((\d+(?:\.\d+)?)\)", doc)
        n = _number(number)
        return any(len(_number(a)) == len(n) == len(_number(b)) and _number(a)[:-1] == n[:-1]
                   == _number(b)[:-1] and _number(a) <= n <= _number(b) for a, b in ranges)
    kind, label = NAMED.fullmatch(citation).groups()
    words = {"section": r"(?:section|sec\.)", "Appendix": "appendix", "Table": "table",
             "Fig.": r"(?:fig\.|figure)"}[kind]
    return bool(re.search(words + r"\s+" + re.escape(label) + r"(?![\w]|\.\d)", doc, re.IGNORECASE))


INDEXED = entries(INDEX.read_text(encoding="utf-8"))
PAIRS = sorted({(citation, path) for citation, paths, _ in INDEXED for path in paths})


def test_the_index_parses():
    assert len(INDEXED) >= 80
    for citation, paths, cell in INDEXED:
        assert paths or cell.startswith("none:"), \
            f"{citation}: name the functions that implement it, or say 'none: ...'"


@pytest.mark.parametrize("citation, path", PAIRS, ids=[f"{c} {p}" for c, p in PAIRS])
def test_each_listed_function_cites_its_number(citation, path):
    obj = resolve(path)
    doc = inspect.getdoc(obj) or ""
    assert cites(doc, citation), f"the docstring of {path} does not cite {citation}"


def test_the_citation_forms():
    assert cites("eq. (3) and (4.6)", "(3)") and cites("eq. (3) and (4.6)", "(4.6)")
    assert cites("eqs. (3.5) to (3.8)", "(3.7)") and cites("(9.10)-(9.13)", "(9.11)")
    assert not cites("(3.5) to (3.8)", "(3.9)") and not cites("(3.5) to (4.8)", "(4.1)")
    assert not cites("(4.60)", "(4.6)") and not cites("eq. 3", "(3)")
    assert cites("Lv et al. Section 4.1", "section 4.1") and cites("sec. 4.3", "section 4.3")
    assert not cites("section 5.1", "section 5") and cites("section 5, the set-up", "section 5")
    assert cites("(Appendix A)", "Appendix A") and cites("the dashed edges of Figure 2", "Fig. 2")
    assert not cites("Table 12", "Table 1") and not cites("Fig. 2", "(2)")


# ---------------------------------------------------------------------------------------------
# The chapters: every number (N.M) used in a Markdown cell is indexed
# ---------------------------------------------------------------------------------------------

IN_PARENTHESES = re.compile(r"\((\d+\.\d+(?:,\s*\d+\.\d+)*)\)")   # (4.6), (9.4, 9.5)
TAG = re.compile(r"\\tag\{(\d+\.\d+)\}")


def markdown_cells(source):
    """The Markdown cells of a jupytext percent-format source, as text."""
    cells, current = [], None
    for line in source.splitlines():
        if line.startswith("# %%"):
            current = [] if "[markdown]" in line else None
            if current is not None:
                cells.append(current)
        elif current is not None:
            current.append(line)
    return ["\n".join(cell) for cell in cells]


def chapter_numbers(source):
    """Every equation number (N.M), N >= 1, that the Markdown cells of a chapter use."""
    found = set()
    for cell in markdown_cells(source):
        for group in IN_PARENTHESES.findall(cell):
            found.update(n.strip() for n in group.split(","))
        found.update(TAG.findall(cell))
    return {n for n in found if not n.startswith("0")}


def missing_from_index(chapters, indexed):
    """{chapter file name: sorted numbers it uses that the index does not list}."""
    missing = {}
    for path in chapters:
        absent = chapter_numbers(path.read_text(encoding="utf-8")) - indexed
        if absent:
            missing[path.name] = sorted(absent, key=_number)
    return missing


def test_every_chapter_number_is_indexed():
    """And every chapter number indexed is used by a chapter. Passes with nothing to check where
    the chapters' sources are absent."""
    indexed = {c[1:-1] for c, _, _ in INDEXED if EQUATION.fullmatch(c)}
    chapters = sorted((ROOT / "tutorials").glob("[0-9][0-9]_*.py"))
    assert not missing_from_index(chapters, indexed), "numbers missing from docs/EQUATIONS.md"
    if chapters:
        used = set().union(*(chapter_numbers(p.read_text(encoding="utf-8")) for p in chapters))
        stale = {n for n in indexed if "." in n} - used
        assert not stale, f"docs/EQUATIONS.md lists numbers no chapter uses: {sorted(stale)}"


def test_the_chapter_scan_finds_numbers(tmp_path):
    chapter = tmp_path / "99_example.py"
    chapter.write_text("# %% [markdown]\n# $$x = 1 \\tag{99.1}$$ and (99.2, 99.3), not (0.5)\n"
                       "# %%\nx = f(99.4)  # code: (99.5)\n# %% [markdown]\n# (99.6)\n")
    assert chapter_numbers(chapter.read_text()) == {"99.1", "99.2", "99.3", "99.6"}
    assert missing_from_index([chapter], {"99.1", "99.3"}) == {"99_example.py": ["99.2", "99.6"]}


def test_every_experiment_named_is_registered():
    from minil2o.experiments import EXPERIMENTS
    text = INDEX.read_text(encoding="utf-8").split("## The papers' experiments")[1]
    names = re.findall(r"`([a-z0-9-]+)`", text)
    assert names and not set(names) - set(EXPERIMENTS)


# ---------------------------------------------------------------------------------------------
# Andrychowicz et al. number only (1) to (3): nothing cites another number of theirs
# ---------------------------------------------------------------------------------------------

DM_EQUATION = re.compile(r"(?:\bDM|Andrychowicz et al\.(?: 2016)?,?) eqs?\. ?\(?(\d+)(?!\d|\.\d)")


def dm_numbers_beyond_three(text):
    """The equation numbers above (3) that `text` cites as Andrychowicz et al.'s (DM eq. N)."""
    return [int(n) for n in DM_EQUATION.findall(text) if int(n) > 3]


def test_no_equation_of_andrychowicz_et_al_beyond_3_is_cited():
    """Their other equations are unnumbered: cited by section (neural art is section 3.4)."""
    sources = sorted((ROOT / "minil2o").rglob("*.py")) + sorted((ROOT / "tutorials").glob("*.py"))
    wrong = {p.name: dm_numbers_beyond_three(p.read_text(encoding="utf-8")) for p in sources}
    assert not {k: v for k, v in wrong.items() if v}
    assert dm_numbers_beyond_three("f = a L_c + b L_s (DM eq. 5), DM eq. (3), eq. 11.2") == [5]
    assert dm_numbers_beyond_three("Andrychowicz et al. 2016, eq. 11.2; DM eq. 5.") == [5]
