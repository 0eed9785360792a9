"""The shipped optimizers' cards (minil2o/use/cards.py, minil2o/use/evaluate_shipped.py): the card
file checked field by field, `minil2o evaluate-shipped` on a tiny setting (the NumPy problems),
the divergence flags, and the committed cards equal to the rendering of the committed JSON."""
import json
import pathlib

import numpy as np
import pytest

import minil2o
from minil2o.cli import main
from minil2o.errors import DataError
from minil2o.use import cards
from minil2o.use.dropin import shipped
from minil2o.use.evaluate_shipped import FORMAT, versus_adam
from minil2o.use.heldout import PROBLEMS

ROOT = pathlib.Path(__file__).resolve().parent.parent
RESULTS = ROOT / "results" / "shipped-cards.json"


def good_cards():
    card = {"name": "dm-mnist", "trained_on": "DM optimizer on the MNIST MLP", "problems_seen": 3000,
            "horizon": 100, "unroll": 20, "seed": 0, "steps": 200, "seeds": 5,
            "wins": ["mlp"], "level": [], "loses": ["least-squares", "rosenbrock"],
            "undecided": [], "not_applicable": [], "diverged": [], "above_start": ["rosenbrock"]}
    return {"format": cards.CARD_FORMAT, "version": cards.CARD_VERSION, "cards": {"dm-mnist": card}}


def write(tmp_path, data):
    path = tmp_path / "cards.json"
    path.write_text(json.dumps(data) if not isinstance(data, str) else data, encoding="utf-8")
    return path


def test_a_valid_card_file_gives_the_short_text(tmp_path):
    path = write(tmp_path, good_cards())
    text = cards.load_card("dm-mnist", path)
    assert text.startswith("dm-mnist: DM optimizer on the MNIST MLP. Trained on 3,000 problems")
    assert "beats tuned Adam on mlp" in text and "loses to it on least-squares, rosenbrock" in text
    assert "ended above its initial loss on some seeds on rosenbrock" in text
    assert "diverged" not in text
    assert cards.load_card("rnnprop-mnist", path) is None


def bad_variants():
    """(label, a damaged cards.json, a word the refusal names)."""
    def edit(fn):
        data = good_cards()
        fn(data, data["cards"]["dm-mnist"])
        return data
    yield "not JSON", "{cards", "JSON"
    yield "a list", [good_cards()], "the file"
    yield "format", edit(lambda d, c: d.update(format="other")), "format"
    yield "version", edit(lambda d, c: d.update(version=2)), "format/version"
    yield "cards", edit(lambda d, c: d.update(cards=[c])), "cards"
    yield "missing field", edit(lambda d, c: c.pop("seed")), "exactly"
    yield "extra field", edit(lambda d, c: c.update(note="x")), "exactly"
    yield "name", edit(lambda d, c: c.update(name="dm-cnn")), "name"
    for value in (3, "", "x" * 501):
        yield f"trained_on {value!r:.10}", edit(lambda d, c: c.update(trained_on=value)), "trained_on"
    for field in cards.NUMBERS:
        for value in ("5", 1.5, True, -1, None, 10 ** 10):
            yield f"{field} {value!r}", edit(lambda d, c: c.update({field: value})), field
    for verdict in cards.VERDICTS + cards.FLAGS:
        for value in ("mlp", [1], ["MLP"], ["a b"], [None]):
            yield f"{verdict} {value!r}", edit(lambda d, c: c.update({verdict: value})), verdict
    yield "twice", edit(lambda d, c: c.update(level=["mlp"])), "one verdict"


@pytest.mark.parametrize("label,data,word", list(bad_variants()), ids=lambda v: str(v)[:20])
def test_each_bad_field_is_refused_in_one_line(tmp_path, label, data, word):
    path = write(tmp_path, data)
    with pytest.raises(DataError) as refused:
        cards.load_card("dm-mnist", path)
    text = str(refused.value)
    assert "\n" not in text and str(path) in text and word in text, (label, text)


def entry(initial, final):
    return {"initial": initial, "final": final}


def test_divergence_and_ending_above_the_start_are_said():
    adam = entry([2.3] * 5, [0.02, 0.03, 0.02, 0.025, 0.03])
    found = versus_adam(entry([2.3] * 5, [207.0, 0.5, 3.0e4, None, 0.01]), adam)
    assert found["diverged"] == 2                          # 3e4 > 1e3 x 2.3, and a NaN
    assert found["above_start"] == 2 and found["worst"] == 3.0e4
    assert found["paired"]["diverged_reference"] == 2 and found["verdict"] == "loses"
    better = versus_adam(entry([2.3] * 5, [0.002, 0.003, 0.001, 0.002, 0.004]), adam)
    assert better["verdict"] == "wins" and better["diverged"] == better["above_start"] == 0
    assert better["paired"]["log10_ratio"]["low"] > 0
    assert better["paired"]["signs"] == {"reference_lower": 5, "reference_higher": 0, "tied": 0}


def run_cli(capsys, *argv):
    code = main(["evaluate-shipped", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


TINY = ("--steps", 6, "--seeds", 2, "--tune-seeds", 1,
        "--optimizers", "rnnprop-mnist,dm-cnn,dm-quadratic")


def test_evaluate_shipped_on_a_tiny_setting(tmp_path, capsys):
    out = tmp_path / "cards.json"
    code, text, err = run_cli(capsys, "--problems", "least-squares,rosenbrock,mlp", *TINY,
                              "--out", out)
    assert code == 0, err
    results = json.loads(out.read_text())
    assert results["format"] == FORMAT and results["command"].startswith("minil2o evaluate-shipped")
    torch_ran = "mlp" in results["problems"]
    assert torch_ran != bool(results["skipped"])
    if not torch_ran:
        assert "mlp: " in text and "skipped" in text           # one line says so
    for name in ("least-squares", "rosenbrock"):
        problem = results["problems"][name]
        for tuned in problem["baselines"].values():
            assert tuned["interior"] and tuned["grid"][0] < tuned["lr"] < tuned["grid"][-1]
            assert len(tuned["final"]) == 2
        assert "conv" in problem["learned"]["dm-cnn"]["not_applicable"]
        found = problem["learned"]["rnnprop-mnist"]
        assert found["verdict"] in ("wins", "level", "loses", "undecided")
        assert found["paired"]["n"] == 2 and "wilcoxon" in found["paired"]
    code, _, err = run_cli(capsys, "--problems", "rosenbrock", *TINY, "--out", out)
    assert code == 2 and "--overwrite" in err                  # not replaced without the flag
    code, _, err = run_cli(capsys, "--problems", "sphere", "--out", tmp_path / "x.json")
    assert code == 2 and "sphere" in err and "rosenbrock" in err
    folder = tmp_path / "pretrained"
    folder.mkdir()
    (folder / "README.md").write_text("# Shipped\n\nkept text\n")
    for _ in range(2):                                         # rendering twice: one section
        readme, written = cards.write_cards(results, folder)
    text = readme.read_text()
    assert text.startswith("# Shipped\n\nkept text\n") and text.count(cards.MARKERS[0]) == 1
    assert cards.load_card("rnnprop-mnist", written).startswith("rnnprop-mnist: RNNprop")


def committed():
    if not RESULTS.exists():
        pytest.fail(f"{RESULTS} is missing: run minil2o evaluate-shipped --render")
    return json.loads(RESULTS.read_text(encoding="utf-8"))


def test_the_committed_cards_are_the_rendering_of_the_committed_json():
    results = committed()
    readme = cards.README.read_text(encoding="utf-8")
    assert cards.render_section(results) in readme
    on_disk = json.loads(cards.CARDS_FILE.read_text(encoding="utf-8"))
    assert on_disk == json.loads(json.dumps(cards.cards_of(results)))
    assert set(results["problems"]) == set(PROBLEMS) and not results["skipped"]
    for name in shipped():
        text = minil2o.pretrained(name).card
        assert text == cards.card_text(on_disk["cards"][name]) and "held-out" in text
    assert minil2o.pretrained("adam").card is None


def test_the_main_readme_quotes_rows_of_the_rendered_table():
    """README.md's table of the shipped optimizers is rows of the table rendered from the JSON."""
    table = cards.summary_table(committed()).splitlines()
    readme = (cards.README.parents[3] / "README.md").read_text(encoding="utf-8").splitlines()
    start = readme.index(table[0])
    end = next(i for i in range(start, len(readme)) if not readme[i].startswith("|"))
    rows = readme[start:end]
    assert len(rows) >= 5 and set(rows) <= set(table), set(rows) - set(table)


def test_every_shipped_optimizer_was_measured_against_a_tuned_adam():
    results = committed()
    assert sorted(results["settings"]["optimizers"]) == shipped()
    for problem in results["problems"].values():
        assert all(b["interior"] for b in problem["baselines"].values())
        adam = np.array(problem["baselines"]["adam"]["final"], float)
        assert len(adam) == results["settings"]["seeds"] >= 5
        for name, found in problem["learned"].items():
            assert "verdict" in found or "not_applicable" in found, name
