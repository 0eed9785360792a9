"""Write RESULTS.md from tools/RESULTS.md.in and the numbers in results/*.json.

The template holds the prose: the claims, the earlier readings and what each figure shows. In it

    {{table:NAME}}      the tables of results/NAME.json: one per panel (and per criterion), each
                        optimizer's tuned learning rate and its score at the last step, mean and
                        standard error over the test problems, and (for JSON with paired data) the
                        paired difference to each learned optimizer of the claim, with its 95%
                        t-interval; dm-budget's table per budget and seed
    {{verdict:NAME}}    the verdict the rule (VERDICT_RULE, at the top of RESULTS.md) gives the
                        claims recorded in results/NAME.json, per criterion, comparison by
                        comparison; for JSON without paired data: "pending regeneration"
    {{verdicts}}        one line per experiment: its verdicts by the rule

A JSON measured with a learned optimizer that has since been replaced by another run (its recorded
train command is not the registry's) says so above its verdict and in the list.

Run from the repository root after `minil2o reproduce NAME --out results`:

    python tools/render_results.py
"""
import glob
import json
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

TEMPLATE = os.path.join(os.path.dirname(__file__), "RESULTS.md.in")
CRITERION_NAMES = {"final": "loss at the last step", "horizon-mean": "mean loss over the horizon",
                   "lv": "Lv et al.'s loss at the final parameters", "table4": "Table 4"}
DIRECTIONS = {"<": "lower than", ">": "higher than", "<=": "not worse than"}
BEST = "best baseline"           # a claim's other: the panel's best tuned baseline (spec.BEST)
PENDING = ("pending regeneration: this JSON predates the paired statistics (the verdict in the "
           "text is the earlier reading of unpaired numbers)")


def fmt(x):
    """A number with three significant digits (scientific below 1e-3); n/a for None."""
    return "n/a" if x is None else f"{x:.3g}" if abs(x) >= 1e-3 else f"{x:.2e}"


def signed(x):
    """fmt with an explicit sign."""
    return "n/a" if x is None else ("+" if x >= 0 else "") + fmt(x)


def cell(text):
    """Text for a markdown table cell (a '|' would end the cell)."""
    return str(text).replace("|", "\\|")


def load(name):
    """results/NAME.json as a dict, or None when it does not exist."""
    path = f"results/{name}.json"
    if not os.path.exists(path):
        return None
    with open(path) as fh:
        return json.load(fh)


def earlier_text(numbers):
    """'' for a JSON measured with the learned optimizers shipped now; else which were replaced."""
    from minil2o.experiments import superseded
    names = superseded(numbers)
    return "" if not names else (
        f"measured with an earlier file of {' and '.join(f'`{n}`' for n in names)} (the JSON "
        "records the command that trained it), not the one shipped now: pending regeneration")


def has_paired(numbers):
    """Whether the JSON holds the paired statistics (schema 2 or later)."""
    return numbers.get("schema", 1) >= 2


# -- the verdict rule --------------------------------------------------------------------------
def outcome(sign, direction):
    """One comparison's outcome from the paired sign (other - learned; +1: the learned optimizer
    lower) and the claimed direction: 'as claimed', 'level', 'opposite' or 'undecided'."""
    if sign is None:
        return "undecided"
    if direction == "<=":
        return "opposite" if sign < 0 else "as claimed"
    want = 1 if direction == "<" else -1
    return "as claimed" if sign == want else "level" if sign == 0 else "opposite"


def verdict_word(outcomes):
    """The claim's verdict from its comparisons' outcomes (VERDICT_RULE in the template)."""
    if not outcomes or "undecided" in outcomes:
        return "inconclusive"
    if all(o == "as claimed" for o in outcomes):
        return "agrees"
    if "as claimed" in outcomes:
        return "partly"
    return "does not agree" if "opposite" in outcomes else "level"


def label_of(numbers, name):
    """The JSON label of a shipped optimizer name (its legend label), or the name itself."""
    return numbers.get("learned", {}).get(name, {}).get("label", name)


def other_label(numbers, entries, other):
    """The JSON label a claim's `other` names: a shipped optimizer's label, or for "best baseline"
    the tuned baseline with the lowest mean score among `entries`, or the name itself."""
    if other != BEST:
        return label_of(numbers, other)
    tuned = [(r["value_mean"], label) for label, r in entries.items()
             if r.get("lr") is not None and r.get("value_mean") is not None]
    return min(tuned)[1] if tuned else other


def block(panel, criterion):
    """label -> entry (with 'paired') of a panel for one criterion, or None."""
    if panel.get("criterion", "final") == criterion:
        return panel["optimizers"]
    return panel.get("criteria", {}).get(criterion)


def comparisons(numbers, criterion):
    """Every comparison the claims ask for under `criterion`: (panel label, learned label, other
    label, direction, paired or None, outcome)."""
    out, panels = [], numbers.get("panels", [])
    for claim in numbers.get("claims", []):
        learned = label_of(numbers, claim["learned"])
        for i in (claim["panels"] if claim["panels"] is not None else range(len(panels))):
            if i >= len(panels):
                continue                          # a quick run keeps only the first panels
            entries = block(panels[i], criterion) or {}
            for other in claim["others"]:
                label = other_label(numbers, entries, other)
                paired = entries.get(label, {}).get("paired", {}).get(learned)
                shown = f"{label} (the best baseline)" if other == BEST else label
                out.append((panels[i]["label"], learned, shown, claim["direction"], paired,
                            outcome(paired and paired["sign"], claim["direction"])))
    return out


def criteria_of(numbers):
    """The criteria the JSON reports, the panels' own first."""
    return list(numbers.get("criteria", {}) or ["final"])


# Lv et al.'s Table 4 as dm-budget measures it: with the convex combination fewer training problems
# reach the threshold, so the paired log10(without) - log10(with) is positive, as for "with" lower
# than "without".
TABLE4_DIRECTION = "<"


def table4_paired(numbers):
    """dm-budget's paired log10(without) - log10(with) over seeds, or None where not measured."""
    return numbers.get("convex_combination", {}).get("from_snapshots", {}).get("paired_log10")


def table4_verdict(numbers):
    """Table 4's verdict by the rule, or None where it is not measured."""
    paired = table4_paired(numbers)
    if paired is None:
        return None
    if numbers.get("quick"):
        return "inconclusive"
    return verdict_word([outcome(paired["sign"], TABLE4_DIRECTION)])


def verdicts(numbers):
    """criterion -> verdict word for the JSON's claims; a single 'shown' when there are none (and
    dm-budget's Table 4 beside it, under "table4"); None when the JSON has no paired data (pending
    regeneration)."""
    if not has_paired(numbers):
        return None
    if not numbers.get("claims"):
        table4 = table4_verdict(numbers)
        return {"": "shown"} if table4 is None else {"": "shown", "table4": table4}
    if numbers.get("quick"):
        return {c: "inconclusive" for c in criteria_of(numbers)}
    return {c: verdict_word([o[-1] for o in comparisons(numbers, c)]) for c in criteria_of(numbers)}


def interval_text(paired):
    """'+0.018 [+0.010, +0.026]', with the divergences that decided it."""
    if paired is None:
        return "n/a"
    text = f"{signed(paired['mean'])} [{signed(paired['low'])}, {signed(paired['high'])}]"
    if paired["diverged_this"] or paired["diverged_reference"]:
        text += (f"; diverged {paired['diverged_this']} vs {paired['diverged_reference']} of "
                 f"{paired['n']}")
    return text


def verdict_section(name):
    """The {{verdict:NAME}} text: per criterion the verdict and a table of its comparisons."""
    numbers = load(name)
    if numbers is None:
        return "_(not run yet)_\n"
    found = verdicts(numbers)
    if found is None:
        return f"Verdict by the rule: _{PENDING}._\n"
    if "" in found:
        if "table4" not in found:
            return "Verdict by the rule: **shown** (no comparison is claimed).\n"
        paired = table4_paired(numbers)
        return ("Verdict by the rule: **shown** (the curves claim no comparison).\n"
                f"\nTable 4 by the rule (claimed: with the convex combination fewer problems, "
                f"so log10(without) − log10(with) > 0): **{found['table4']}**, "
                f"{interval_text(paired)} over N = {paired['n']} seeds, "
                f"{outcome(paired['sign'], TABLE4_DIRECTION)}.\n")
    quick = " (a --quick run: too small to decide)" if numbers.get("quick") else ""
    earlier = earlier_text(numbers)
    out = [f"_This JSON was {earlier}._\n"] if earlier else []
    for criterion, word in found.items():
        out += [f"Verdict by the rule, {CRITERION_NAMES[criterion]}: **{word}**{quick}.\n",
                "| panel | claim | other − learned, mean [95% t-interval] | N | outcome |",
                "|---|---|---|---|---|"]
        for panel, learned, other, direction, paired, result in comparisons(numbers, criterion):
            n = "n/a" if paired is None else paired["n"]
            out.append(f"| {cell(panel)} | {learned} {DIRECTIONS[direction]} {other} | "
                       f"{interval_text(paired)} | {n} | {result} |")
        out.append("")
    return "\n".join(out)


def verdict_list():
    """The {{verdicts}} table: every results JSON and its verdicts by the rule."""
    lines = ["| experiment | verdict by the rule |", "|---|---|"]
    for path in sorted(glob.glob("results/*.json")):
        name = os.path.basename(path)[:-5]
        numbers = load(name)
        found = verdicts(numbers)
        text = "_pending regeneration_" if found is None else "; ".join(
            f"{CRITERION_NAMES.get(c, c)}: **{w}**" if c else f"**{w}**" for c, w in found.items())
        if found is not None and earlier_text(numbers):
            text += " (_earlier optimizer files: pending regeneration_)"
        lines.append(f"| `{name}` | {text} |")
    return "\n".join(lines)


# -- the tables -----------------------------------------------------------------------------------
def table(name):
    """The markdown tables of results/NAME.json, one per panel, best optimizer first."""
    numbers = load(name)
    if numbers is None:
        return "_(not run yet)_"
    if "budget" in numbers:
        return budget_tables(numbers)
    left_out = "".join(f"\n**{p['label']}** — not run: it needs {p['needs']}, not at hand here.\n"
                       for p in numbers.get("panels_left_out", []))
    if has_paired(numbers):
        return paired_tables(numbers) + left_out
    steps, out = numbers["steps"], []
    for panel in numbers.get("panels", []):
        out.append(f"**{panel['label']}** — loss at step {steps}, mean ± standard error over N "
                   "test problems:\n")
        out.append(f"| optimizer | learning rate (tuned) | loss at step {steps} | N | diverged |")
        out.append("|---|---|---|---|---|")
        order = sorted(panel["optimizers"].items(),
                       key=lambda kv: 1e30 if kv[1]["final_mean"] is None else kv[1]["final_mean"])
        for label, r in order:
            lr = "learned" if r["lr"] is None else f"{r['lr']:g}"
            out.append(f"| {label} | {lr} | {fmt(r['final_mean'])} ± {fmt(r['final_stderr'])} | "
                       f"{r['num_runs']} | {r['diverged']} |")
        out.append("")
    return "\n".join(out)


def rate_text(r):
    """The tuned rate, 'learned', '(edge of grid)' when the chosen rate is not interior, and how
    often the tuned rate diverged on the test problems."""
    if r["lr"] is None:
        return "learned"
    edge = "" if r.get("tuning", {}).get("interior", True) else " (edge of grid)"
    values = r.get("final_per_problem", r.get("per_problem", []))
    bad = sum(v is None for v in values)
    diverged = f" (diverged on {bad} of {len(values)} test problems)" if bad else ""
    return f"{r['lr']:g}{edge}{diverged}"


def paired_tables(numbers):
    """Tables for JSON with paired data: per panel and criterion, each optimizer's score and its
    paired difference to each learned optimizer that a claim names."""
    steps, out = numbers["steps"], []
    refs = list(dict.fromkeys(label_of(numbers, c["learned"]) for c in numbers.get("claims", [])))
    for panel in numbers.get("panels", []):
        for criterion in criteria_of(numbers):
            entries = block(panel, criterion)
            tuned = "" if criterion == criteria_of(numbers)[0] else ", baselines tuned for it"
            out += [f"**{panel['label']}** — {CRITERION_NAMES[criterion]} (step {steps}){tuned}; "
                    "mean ± standard error over N test problems; paired differences other − "
                    "learned with 95% t-intervals:\n",
                    "| optimizer | learning rate (tuned) | score | N | diverged | "
                    + " | ".join(f"vs {r}" for r in refs) + " |",
                    "|---|---|---|---|---|" + "---|" * len(refs)]
            order = sorted(entries.items(), key=lambda kv: 1e30 if kv[1]["value_mean"] is None
                           else kv[1]["value_mean"])
            for label, r in order:
                diffs = [interval_text(r["paired"].get(ref)) if ref != label else "—"
                         for ref in refs]
                values = r.get("final_per_problem", r.get("per_problem"))
                out.append(f"| {label} | {rate_text(r)} | {fmt(r['value_mean'])} ± "
                           f"{fmt(r['value_stderr'])} | {len(values)} | "
                           f"{r.get('diverged_by_criterion', r.get('diverged'))} | "
                           + " | ".join(diffs) + " |")
            out.append("")
    return "\n".join(out)


def budget_tables(numbers):
    """dm-budget: per criterion, the mean score per run (rows) and budget (columns), the tuned
    references, the missing snapshots, and Table 4's measurement."""
    b, out = numbers["budget"], []
    if numbers.get("quick"):
        out.append("_A --quick run: shrunk problems and a few steps, not a measurement._\n")
    if b["untrained_stand_in"]:
        out.append("_No snapshots were found: untrained networks stand in (budget 0)._\n")
    for criterion, part in b["criteria"].items():
        budgets = sorted({int(k) for seeds in part["runs"].values() for at in seeds.values()
                          for k in at})
        out += [f"**{CRITERION_NAMES[criterion]}** at step {numbers['steps']}, mean ± s.e. over "
                "the test problems, by training problems seen:\n",
                "| run | " + " | ".join(str(k) for k in budgets) + " |",
                "|---|" + "---|" * len(budgets)]
        for name, seeds in part["runs"].items():
            for seed, at in sorted(seeds.items()):
                cells = [f"{fmt(at[str(k)]['value_mean'])} ± {fmt(at[str(k)]['value_stderr'])}"
                         if str(k) in at else "—" for k in budgets]
                out.append(f"| {name}, seed {seed} | " + " | ".join(cells) + " |")
        for label, r in part["references"].items():
            what = "learned" if r["lr"] is None else f"tuned, lr {r['lr']:g}"
            out.append(f"| {label} ({what}) | "
                       + " | ".join([f"{fmt(r['value_mean'])} ± {fmt(r['value_stderr'])}"]
                                    * len(budgets)) + " |")
        out.append("")
    out.append(f"Missing snapshots: {', '.join(b['missing']) or 'none'}.\n")
    out.append(table4_text(numbers.get("convex_combination", {}).get("from_snapshots", {})))
    return "\n".join(out)


def table4_text(cc):
    """Lv et al.'s Table 4 as measured by dm-budget on the snapshots, in one paragraph."""
    if cc.get("threshold") is None:
        return f"Table 4 (convex combination): not measured yet ({cc.get('note', '')}).\n"
    needed, p = cc["problems_needed"], cc["paired_log10"]
    ratio = "n/a" if p["mean"] is None else f"{10 ** p['mean']:.3g}"
    return (f"Table 4 (convex combination): training problems to first reach the test loss "
            f"{fmt(cc['threshold'])} (interpolated between snapshots), seeds {cc['seeds']}: with "
            f"{needed['rnnprop-mnist']}, without {needed['rnnprop-mnist-no-cc']}; log10(without) − "
            f"log10(with) = {interval_text(p)} (without / with ≈ {ratio}).\n")


def main():
    with open(TEMPLATE, encoding="utf-8") as fh:
        text = fh.read()
    text = re.sub(r"\{\{table:([\w-]+)\}\}", lambda m: table(m.group(1)), text)
    text = re.sub(r"\{\{verdict:([\w-]+)\}\}", lambda m: verdict_section(m.group(1)), text)
    text = text.replace("{{verdicts}}", verdict_list())
    with open("RESULTS.md", "w", encoding="utf-8") as fh:
        fh.write(text)


if __name__ == "__main__":
    main()
