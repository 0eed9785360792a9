"""Write RESULTS.md from tools/RESULTS.md.in and the numbers in results/*.json.

The template holds the prose: the claims, the verdicts and what each figure shows. Every
{{table:NAME}} in it becomes the tables of results/NAME.json (one per panel: each optimizer's tuned
learning rate and its loss at the last step, mean and standard error over the test problems).
Run from the repository root after `minil2o reproduce NAME --out results`:

    python tools/render_results.py
"""
import json
import os
import re

TEMPLATE = os.path.join(os.path.dirname(__file__), "RESULTS.md.in")


def fmt(x):
    """A number with three significant digits (scientific below 1e-3); n/a for None."""
    return "n/a" if x is None else f"{x:.3g}" if abs(x) >= 1e-3 else f"{x:.2e}"


def table(name):
    """The markdown tables of results/NAME.json, one per panel, best optimizer first."""
    path = f"results/{name}.json"
    if not os.path.exists(path):
        return "_(not run yet)_"
    with open(path) as fh:
        numbers = json.load(fh)
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


def main():
    with open(TEMPLATE, encoding="utf-8") as fh:
        text = fh.read()
    text = re.sub(r"\{\{table:([\w-]+)\}\}", lambda m: table(m.group(1)), text)
    with open("RESULTS.md", "w", encoding="utf-8") as fh:
        fh.write(text)


if __name__ == "__main__":
    main()
