"""The first sections of each metric in a report: its table of cells (mean ± std over seeds, in Markdown,
CSV and LaTeX), the conversions it declares (e.g. PSNR at another peak) and the paired differences against
the baseline."""

from __future__ import annotations

import pandas as pd

from bench.core.metrics import declared
from bench.report.sections import Report, metric_section
from bench.report.tables import (cell_table, conversion_section, fewest_pairs_note, left_out_of_mean, markdown,
                                 pooled_differently, render_table, scored_on_every_point, seeds_caption, significance,
                                 table_rows)

FORMATS = (("md", "markdown"), ("csv", "csv"), ("tex", "latex"))  # the table files: extension, format


@metric_section(order=10)
def table(rows: pd.DataFrame, metric: str, report: Report) -> list[str]:
    """table_<metric>.md/.csv/.tex and the README's table under the metric's heading, with its caption."""
    declaration = declared(metric)
    cells = cell_table(table_rows(report.results, metric), metric)
    caption = (f"{seeds_caption(cells)}; best per row in bold. "
               f"{declaration.note}{left_out_of_mean(cells)}{pooled_differently(rows)}")
    for ext, fmt in FORMATS:
        (report.out / f"table_{metric}.{ext}").write_text(
            render_table(cells, fmt, metric, f"{declaration.label}, {declaration.direction} is better. {caption}") + "\n")
    return [f"## {declaration.label}: `{metric}`, {declaration.direction} is better", "",
            (report.out / f"table_{metric}.md").read_text(), caption, ""]


@metric_section(order=20)
def conversions(rows: pd.DataFrame, metric: str, report: Report) -> list[str]:
    """The metric's declared conversions, on the rows scored on every point (held-out rows score others)."""
    whole = scored_on_every_point(rows, metric)
    return [line for conversion in declared(metric).conversions
            for line in conversion_section(whole, conversion, report.out)]


@metric_section(order=30)
def paired_differences(rows: pd.DataFrame, metric: str, report: Report) -> list[str]:
    """significance_<metric>.csv/.md: each model against the baseline, paired by signal, setting and seed."""
    baseline = report.baseline
    if baseline not in set(rows["model_spec"]):
        return []
    declaration = declared(metric)
    sig = significance(rows, metric, baseline)
    sig.to_csv(report.out / f"significance_{metric}.csv", index=False, float_format="%.6g")
    (report.out / f"significance_{metric}.md").write_text(markdown(sig, index=False, floatfmt=".4g") + "\n")
    better = "positive" if declaration.higher_is_better else "negative"
    return [f"Paired differences model - `{baseline}` (same signal, setting and seed): mean, bootstrap 95% CI, "
            f"Wilcoxon signed-rank p; {declaration.direction} {metric} is better, so a {better} difference favours "
            f"the model.{fewest_pairs_note(sig)}", "", (report.out / f"significance_{metric}.md").read_text(), ""]
