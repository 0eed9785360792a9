"""Write RESULTS.md from tools/RESULTS.md.in and the numbers in results/*.json, and README.md's
results table.

The template holds the prose: what each experiment is and what its figure shows, with no result
quoted by hand; every number of a result comes from the JSON through this renderer. In it

    {{table:NAME}}      the tables of results/NAME.json: one per panel (and per criterion), each
                        optimizer's tuned learning rate, its score (mean and standard error over
                        the test problems) and its paired log10 ratio to each shipped learned
                        optimizer a claim names; dm-budget's table per budget and seed
    {{verdict:NAME}}    the verdicts the rule (minil2o/evaluation/verdicts.py, stated at the top of
                        RESULTS.md) gave results/NAME.json, as the JSON holds them: per criterion
                        each claim quoted, its parts' verdicts across and per meta-training seed,
                        and every comparison; above them, each recipe's score at every seed
    {{updates:NAME}}    Appendix B: per traced coordinate, its nonzero gradients and its updates
    {{scaling:NAME}}    results/NAME.json of tools/convex_scaling.py: per meta-training seed, the
                        recipe with g at r = 3 beside it at r = 1, paired as the rule pairs
    {{verdicts}}        one line per experiment: its claims' summaries ("1 of 2 parts agree")
    {{summary}}         one row per claim: the quote, the parts agreeing, each part's verdict
                        (README.md gets the same table between its two markers)

A JSON measured with a learned optimizer that has since been replaced by another run (its recorded
train command is not the registry's) says so above its verdict and in the list.

Run from the repository root after `minil2o reproduce NAME --out results` (which judges the JSON
it writes; tools/judge_results.py judges stored ones again):

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
                   "lv": "Lv et al.'s loss at the final parameters"}
DIRECTIONS = {"<": "lower than", ">": "higher than", "<=": "not worse than"}


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


def criteria_of(numbers):
    """The criteria the JSON reports, the panels' own first."""
    return list(numbers.get("criteria", {}) or ["final"])


def block(panel, criterion):
    """label -> entry of a panel for one criterion, or None."""
    if panel.get("criterion", "final") == criterion:
        return panel["optimizers"]
    return panel.get("criteria", {}).get(criterion)


# -- the verdicts (minil2o/evaluation/verdicts.py; the JSON holds them) ---------------------------
def judged_criteria(numbers):
    """criterion -> [claim verdicts] as the JSON holds them ({} for a picture: no claim)."""
    return {c: claims for c, claims in numbers.get("verdicts", {}).get("criteria", {}).items()
            if claims}


def ratio_text(log):
    """'+0.213 [+0.193, +0.231] (×1.63)': a log10 ratio's interval and the ratio it means."""
    if log.get("mean") is None:
        return "n/a"
    return (f"{signed(log['mean'])} [{signed(log['low'])}, {signed(log['high'])}] "
            f"(×{10 ** log['mean']:.3g})")


def interval_text(paired):
    """'+0.018 [+0.010, +0.026]', with the divergences that decided it."""
    if paired is None or paired.get("mean") is None:
        return "n/a"
    text = f"{signed(paired['mean'])} [{signed(paired['low'])}, {signed(paired['high'])}]"
    if paired.get("diverged_this") or paired.get("diverged_reference"):
        text += (f"; diverged {paired['diverged_this']} vs {paired['diverged_reference']} of "
                 f"{paired['n']}")
    return text


def seeds_text(part):
    """' (seed 0: agrees, seed 1: level)', or '' when the part has one seed."""
    seeds = part["seeds"]
    if len(seeds) <= 1:
        return ""
    return " (" + ", ".join(f"seed {s}: {r['verdict']}" for s, r in seeds.items()) + ")"


def comparison_row(part_number, seed, c):
    """One comparison as a row of a claim's table."""
    diverged = c["diverged"]
    dv = (f"; diverged {diverged['other']} vs {diverged['learned']}"
          if diverged["other"] or diverged["learned"] else "")
    p = "n/a" if c["wilcoxon_p"] is None else f"{c['wilcoxon_p']:.2g}"
    return (f"| {part_number} | {seed} | {cell(c['panel'])} | {cell(c['learned'])} "
            f"{DIRECTIONS[c['direction']]} {cell(c['other'])} | {ratio_text(c['log10_ratio'])}"
            f"{dv} | {p} | {c['signs']['reference_lower']} of {c['n']} | "
            f"{interval_text(c['raw'])} | {c['outcome']} |")


def claim_text(claim, quick):
    """A claim: its quote, its parts' verdicts (per seed) and their comparisons."""
    out = [f"> “{claim['quote']}” ({claim['where']})\n", f"**{claim['summary']}**{quick}:\n"]
    for k, part in enumerate(claim["parts"], 1):
        out.append(f"{k}. {part['says']}: **{part['verdict']}**{seeds_text(part)}")
    out += ["", "<details><summary>its comparisons (the log10 ratio decides)</summary>\n",
            "| part | seed | panel | comparison | log10(other / learned), 95% t-interval "
            "(ratio) | signed-rank p | learned lower on | other − learned, 95% t-interval | "
            "outcome |", "|---|---|---|---|---|---|---|---|---|"]
    for k, part in enumerate(claim["parts"], 1):
        for seed, result in part["seeds"].items():
            out += [comparison_row(k, seed, c) for c in result["comparisons"]]
    return "\n".join(out + ["", "</details>", ""])


def recipe_seeds(numbers):
    """recipe -> [(seed, label)] for the recipes the JSON ran at several meta-training seeds."""
    runs = {}
    for entry in numbers.get("learned", {}).values():
        runs.setdefault(entry.get("recipe"), []).append((entry.get("seed"), entry["label"]))
    return {r: sorted(v, key=lambda sv: sv[0]) for r, v in runs.items() if len(v) > 1}


def seeds_table(numbers):
    """Per panel and recipe run at several seeds (first criterion): each seed's mean score, their
    mean and the best; '' when no recipe has several seeds."""
    runs = recipe_seeds(numbers)
    if not runs or "panels" not in numbers:
        return ""
    criterion = criteria_of(numbers)[0]
    out = [f"Every meta-training seed ({CRITERION_NAMES[criterion]}, mean over the test "
           "problems; the shipped file is one of them):\n",
           "| panel | recipe | mean of the seeds | each seed | best |", "|---|---|---|---|---|"]
    for panel in numbers["panels"]:
        entries = block(panel, criterion)
        for recipe, seeds in runs.items():
            means = [(entries[label]["value_mean"], seed) for seed, label in seeds
                     if label in entries and entries[label]["value_mean"] is not None]
            if means:
                each = ", ".join(f"seed {s}: {fmt(v)}" for v, s in means)
                out.append(f"| {cell(panel['label'])} | `{recipe}` | "
                           f"{fmt(sum(v for v, _ in means) / len(means))} | {each} | "
                           f"seed {min(means)[1]} |")
    return "\n".join(out + [""])


def mean_and_best(means):
    """'0.0153 (best, seed 0: 0.00963)' for [(score, seed), ...]."""
    best = min(means)
    return f"{fmt(sum(v for v, _ in means) / len(means))} (best, seed {best[1]}: {fmt(best[0])})"


def budget_brief(b):
    """dm-budget's seeds_brief: Table 4's two recipes after its largest budget (first criterion),
    their seeds' mean and the best seed."""
    from minil2o.experiments.budget import WITH_CC, WITHOUT_CC
    budget = str(max(b["table4_budgets"]))
    runs = next(iter(b["criteria"].values()))["runs"]
    out = []
    for recipe in (WITH_CC, WITHOUT_CC):
        means = [(r[budget]["value_mean"], int(seed)) for seed, r in runs.get(recipe, {}).items()
                 if budget in r]
        if means:
            out.append(f"`{recipe}` after {int(budget):,} problems {mean_and_best(means)}")
    return "; ".join(out)


def seeds_brief(numbers):
    """'`dm-mnist` 0.0153 (best, seed 0: 0.00963)' for each recipe run at several seeds: its
    seeds' mean score on the first panel (first criterion) and the best seed's; '' otherwise."""
    if "budget" in numbers:
        return budget_brief(numbers["budget"])
    runs = recipe_seeds(numbers)
    if not runs or not numbers.get("panels"):
        return ""
    entries, out = block(numbers["panels"][0], criteria_of(numbers)[0]), []
    for recipe, seeds in runs.items():
        means = [(entries[label]["value_mean"], seed) for seed, label in seeds
                 if label in entries and entries[label]["value_mean"] is not None]
        if means:
            out.append(f"`{recipe}` {mean_and_best(means)}")
    return "; ".join(out)


def verdict_section(name):
    """The {{verdict:NAME}} text: per criterion each claim, its parts' verdicts and comparisons."""
    numbers = load(name)
    if numbers is None:
        return "_(not run yet)_\n"
    found = judged_criteria(numbers)
    if not found:
        return "Verdict by the rule: **shown** (no comparison is claimed).\n"
    quick = " (a --quick run: too small to decide)" if numbers.get("quick") else ""
    earlier = earlier_text(numbers)
    out = [f"_This JSON was {earlier}._\n"] if earlier else []
    out.append(seeds_table(numbers))
    for criterion, claims in found.items():
        out.append(f"**Verdicts by the rule, {CRITERION_NAMES[criterion]}:**\n")
        out += [claim_text(claim, quick) for claim in claims]
    return "\n".join(out)


def stored_names():
    """The experiments with a results JSON, in the registry's order (the papers' order)."""
    from minil2o.experiments import EXPERIMENTS
    found = {os.path.basename(path)[:-5] for path in glob.glob("results/*.json")}
    return [name for name in EXPERIMENTS if name in found]


def verdict_list():
    """The {{verdicts}} table: every results JSON and its claims' summaries by the rule."""
    lines = ["| experiment | parts agreeing, claim by claim |", "|---|---|"]
    for name in stored_names():
        numbers = load(name)
        found = judged_criteria(numbers)
        text = "; ".join(f"{CRITERION_NAMES.get(c, c)}: **"
                         + ", ".join(claim["summary"] for claim in claims) + "**"
                         for c, claims in found.items()) or "**shown** (no claim)"
        if earlier_text(numbers):
            text += " (_earlier optimizer files: pending regeneration_)"
        lines.append(f"| `{name}` | {text} |")
    return "\n".join(lines)


def summary_table():
    """The {{summary}} table: per claim of each experiment its quote, the parts agreeing under the
    experiment's first criterion, and each part's verdict across seeds."""
    lines = ["| experiment | the paper says | parts agreeing | each part (across seeds) |",
             "|---|---|---|---|"]
    for name in stored_names():
        found = judged_criteria(load(name))
        for claim in next(iter(found.values())) if found else []:
            parts = "; ".join(f"{p['says']}: **{p['verdict']}**" for p in claim["parts"])
            lines.append(f"| [`{name}`](#{name}) | {cell(claim['where'])}: "
                         f"“{cell(claim['quote'])}” | {claim['summary']} | {cell(parts)} |")
    return "\n".join(lines)


def readme_table():
    """README's short table: per experiment the claim in brief, the parts agreeing under its first
    criterion over all its claims, and the link to its section of RESULTS.md."""
    lines = ["| claim | parts agreeing | the learned optimizer's score, mean of its seeds "
             "(first panel) | numbers |", "|---|---|---|---|"]
    for name in stored_names():
        numbers = load(name)
        found = judged_criteria(numbers)
        if not found:
            continue
        parts = [p["verdict"] for claim in next(iter(found.values())) for p in claim["parts"]]
        agree = sum(word == "agrees" for word in parts)
        lines.append(f"| {numbers['source']}: {cell(numbers['claim'])} | {agree} of {len(parts)} "
                     f"| {seeds_brief(numbers) or 'one seed'} | [`{name}`](RESULTS.md#{name}) |")
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


def shipped_labels(numbers):
    """The labels of the shipped learned optimizers the claims name (not their other seeds)."""
    named = {p["learned"] for c in numbers.get("claims", []) for p in c.get("parts", [])}
    return [e["label"] for key, e in numbers.get("learned", {}).items()
            if e.get("recipe", key) in named and key == e.get("recipe", key)]


def paired_tables(numbers):
    """Tables for JSON with paired data: per panel and criterion, each optimizer's score (every
    meta-training seed of a learned recipe a row) and its paired log10 ratio to each shipped
    learned optimizer a claim names."""
    steps, out = numbers["steps"], []
    refs = shipped_labels(numbers)
    for panel in numbers.get("panels", []):
        for criterion in criteria_of(numbers):
            entries = block(panel, criterion)
            tuned = "" if criterion == criteria_of(numbers)[0] else ", baselines tuned for it"
            out += [f"**{panel['label']}** — {CRITERION_NAMES[criterion]} (step {steps}){tuned}; "
                    "mean ± standard error over N test problems; paired log10(other / learned) "
                    "with its 95% t-interval (and the ratio):\n",
                    "| optimizer | learning rate (tuned) | score | N | diverged | "
                    + " | ".join(f"vs {r}" for r in refs) + " |",
                    "|---|---|---|---|---|" + "---|" * len(refs)]
            order = sorted(entries.items(), key=lambda kv: 1e30 if kv[1]["value_mean"] is None
                           else kv[1]["value_mean"])
            for label, r in order:
                diffs = [ratio_text(r["paired"][ref]["log10_ratio"]) if ref in r["paired"]
                         else "—" for ref in refs]
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
    return "\n".join(out)


LAST = 20            # the closing steps of an Appendix B trace, for its mean update


def updates_table(name):
    """The {{updates:NAME}} table (Appendix B): per traced coordinate, on how many steps its
    gradient was nonzero, the largest |gradient|, the sum of the updates it received, the sum of
    those on the steps where its gradient was zero, and its mean update over the last LAST steps."""
    numbers = load(name)
    if numbers is None:
        return "_(not run yet)_"
    lines = ["| panel | optimizer | coordinate | steps with a nonzero gradient | largest "
             "\\|gradient\\| | sum of its updates | of them, on steps with a zero gradient | "
             f"mean update, last {LAST} steps |", "|---|---|---|---|---|---|---|---|"]
    for trace in numbers["traces"]:
        for k, grads, updates in zip(trace["coordinates"], trace["gradient"], trace["update"]):
            nonzero = sum(g != 0 for g in grads)
            blind = sum(u for g, u in zip(grads, updates) if g == 0)
            lines.append(f"| {cell(trace['label'])} | {trace['optimizer']} | {k} | {nonzero} of "
                         f"{len(grads)} | {fmt(max(abs(g) for g in grads))} | "
                         f"{signed(sum(updates))} | {signed(blind) if nonzero < len(grads) else '—'}"
                         f" | {signed(sum(updates[-LAST:]) / LAST)} |")
    return "\n".join(lines)


SCALING_OUTCOMES = {"as claimed": "r = 1 lower", "opposite": "r = 1 higher", "level": "level",
                    "undecided": "undecided"}


def scaling_table(name):
    """The {{scaling:NAME}} table (tools/convex_scaling.py): per seed, the mean score at r = 3 and
    at r = 1, the paired log10(r3 / r1), the signed-rank p, on how many problems r = 1 is lower,
    and the outcome by rule 4 (no side wins unless the interval excludes zero)."""
    from minil2o.evaluation.verdicts import comparison_outcome
    numbers = load(name)
    if numbers is None or not numbers["seeds"]:
        return "_(not run yet)_"
    lines = [f"{cell(numbers['panel'])}, {CRITERION_NAMES.get(numbers['criterion'], numbers['criterion'])}, "
             f"N = {numbers['num_test']} test problems per seed:", "",
             "| seed | g at r = 3 | g at r = 1 | log10(r3 / r1), 95% t-interval (ratio) | "
             "signed-rank p | r = 1 lower on | outcome |", "|---|---|---|---|---|---|---|"]
    for seed, s in numbers["seeds"].items():
        paired = s["paired"]
        p = "n/a" if paired["wilcoxon"]["p"] is None else f"{paired['wilcoxon']['p']:.2g}"
        lines.append(f"| {seed} | {fmt(s['r3']['mean'])} | {fmt(s['r1']['mean'])} | "
                     f"{ratio_text(paired['log10_ratio'])} | {p} | "
                     f"{paired['signs']['reference_lower']} of {paired['n']} | "
                     f"{SCALING_OUTCOMES[comparison_outcome(paired, '<')]} |")
    return "\n".join(lines)


README_START = "<!-- results table: written by tools/render_results.py -->"
README_END = "<!-- end of the results table -->"


def readme_with_table(text):
    """README.md's text with the summary table between its markers made anew."""
    head, start, rest = text.partition(README_START)
    _, end, tail = rest.partition(README_END)
    if not start or not end:
        raise SystemExit(f"README.md lacks the markers {README_START!r} ... {README_END!r}")
    return f"{head}{start}\n{readme_table()}\n{end}{tail}"


def render(template):
    """RESULTS.md's text from its template and results/*.json."""
    text = re.sub(r"\{\{table:([\w-]+)\}\}", lambda m: table(m.group(1)), template)
    text = re.sub(r"\{\{verdict:([\w-]+)\}\}", lambda m: verdict_section(m.group(1)), text)
    text = re.sub(r"\{\{updates:([\w-]+)\}\}", lambda m: updates_table(m.group(1)), text)
    text = re.sub(r"\{\{scaling:([\w-]+)\}\}", lambda m: scaling_table(m.group(1)), text)
    return text.replace("{{verdicts}}", verdict_list()).replace("{{summary}}", summary_table())


def main():
    with open(TEMPLATE, encoding="utf-8") as fh:
        text = render(fh.read())
    with open("RESULTS.md", "w", encoding="utf-8") as fh:
        fh.write(text)
    with open("README.md", encoding="utf-8") as fh:
        readme = readme_with_table(fh.read())
    with open("README.md", "w", encoding="utf-8") as fh:
        fh.write(readme)


if __name__ == "__main__":
    main()
