"""What the learned inits of a results directory cost to learn (``param.learn_seconds`` and
``param.learn_member_steps`` of the rows they started), beside what one fit costs: a fair comparison with
an analytic init counts the learning."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.core.columns import param_column
from bench.report.tables import markdown
from bench.report.sections import Report, report_section

KEY, SECONDS, MEMBER_STEPS = (param_column(name) for name in ("learned_key", "learn_seconds", "learn_member_steps"))


def learning_cost_table(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per learned model: distinct learnings (cache keys), median wall seconds and member-steps of a
    learning, the fits that started from them, and the median seconds of one of those fits (its ensemble's
    seconds over its members) at their largest step budget. Empty when no row was started by a learned init."""
    if KEY not in rows or rows[KEY].isna().all():
        return pd.DataFrame()
    learned = rows.dropna(subset=[KEY])
    table = []
    for model, fits in learned.groupby("model_spec", sort=True):
        learnings = fits.drop_duplicates(KEY)
        longest = fits[fits["steps"] == fits["steps"].max()]
        table.append({"model": model, "learnings": len(learnings),
                      "seconds a learning": learnings[SECONDS].median(),
                      "member-steps a learning": learnings[MEMBER_STEPS].median(),
                      "fits from them": len(fits), "steps of a fit": int(longest["steps"].iloc[0]),
                      "seconds a fit": (longest["seconds"] / longest["ensemble_size"]).median()})
    return pd.DataFrame(table)


def learning_cost_section(rows: pd.DataFrame, out: Path) -> list[str]:
    """README lines (and learning_cost.md/.csv in ``out``) for the learned inits among ``rows``; none without."""
    table = learning_cost_table(rows)
    if table.empty:
        return []
    table.to_csv(out / "learning_cost.csv", index=False, float_format="%.6g")
    (out / "learning_cost.md").write_text(markdown(table, index=False, floatfmt=".4g") + "\n")
    return ["## Cost of learning", "",
            "What each learned init cost to learn, once per learning (a cache key: parameters, family, network, "
            "seed), and what one fit from it costs at its largest step budget (its ensemble's wall seconds over "
            "its members): medians, on the device each ran on.", "",
            (out / "learning_cost.md").read_text(), ""]


@report_section(order=30)
def learning_cost(report: Report) -> list[str]:
    return learning_cost_section(report.ok, report.out)
