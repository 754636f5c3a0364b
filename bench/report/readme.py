"""A report's README.md: every table, section and figure the results support, in one page, with the
environment the rows were measured in."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from bench.core.columns import curve_column
from bench.core.errors import UsageError
from bench.report.figures import figures, ntk_figures, throughput_figure
from bench.report.spectral_map import spectral_map_figures
from bench.report.surfaces import surface_figures
from bench.report.held_out import held_out_section
from bench.report.learning_cost import learning_cost_section
from bench.report.ntk_prediction import ntk_prediction_section
from bench.core.metrics import METRICS, declared
from bench.report.tables import (cell_table, conversion_section, fewest_pairs_note, left_out_of_mean, markdown,
                                 metric_rows, metrics_in, pooled_differently, render_table, seeds_caption, significance,
                                 table_rows)
from bench.core.status import OK


def environment(results: pd.DataFrame, results_dir: Path) -> dict:
    """Package commit(s), torch, device(s) and the time span of the runs, plus the spec when there is one."""
    spec = results_dir / "_spec.toml"
    return {
        "commits": sorted(results["commit"].dropna().unique().tolist()) if "commit" in results else [],
        "torch": sorted(results["torch"].dropna().unique().tolist()) if "torch" in results else [],
        "devices": sorted(results["device_name"].dropna().unique().tolist()) if "device_name" in results else [],
        "first_run": str(results["timestamp"].min()) if "timestamp" in results else None,
        "last_run": str(results["timestamp"].max()) if "timestamp" in results else None,
        "spec": spec.read_text() if spec.is_file() else None,
    }


def write_report(results: pd.DataFrame, results_dir: Path, out: Path, baseline: str = "siren",
                 command: str = "", notes: str | None = None, explicit_baseline: bool = True) -> Path:
    """Write tables, significance, figures, environment.json and a README.md into ``out``; ``notes``
    (markdown) goes under the title. A ``baseline`` without results is an error when the user chose it
    (``explicit_baseline``); the default one may be missing (a partial sweep): no paired differences then."""
    models = sorted(results["model_spec"].dropna().unique())
    if baseline not in models and explicit_baseline:
        raise UsageError(f"--baseline {baseline!r} names no model in {results_dir}; choose one of: {', '.join(models)}")
    out.mkdir(parents=True, exist_ok=True)
    ok = results[results["status"] == OK]
    scored = sorted(ok["model_spec"].dropna().unique())
    failed = results[results["status"] != OK]
    metrics = [m for m in metrics_in(ok) if ok[m].notna().any()]
    fits = {m.fit for m in METRICS.values() if m.fit}  # scores on the kept points of a held-out task
    env = environment(results, results_dir)
    # titled as published (the --out folder), not as run: a sweep kept beside its report is "sweep/"
    lines = [f"# Report: {out.resolve().name}", "", *([notes.strip(), ""] if notes else []),
             f"Made with `{command}`." if command else "", "",
             f"Measured on {', '.join(env['devices']) or 'unknown devices'} with torch {', '.join(env['torch'])}, "
             f"package commit {', '.join(env['commits'])}, between {env['first_run']} and {env['last_run']} (UTC).", "",
             f"{len(results)} rows: {len(ok)} ok, {len(failed)} failed "
             f"({', '.join(f'{n} {s}' for s, n in failed['status'].value_counts().sort_index().items()) or 'none'}).",
             ""]
    if baseline not in scored:
        lines += [f"No `{baseline}` results yet (none finished ok), so no paired differences against it (rerun the "
                  f"report once it has some, or pass --baseline with one of: {', '.join(scored) or 'none'}).", ""]
    for metric in metrics:
        declaration = declared(metric)
        rows = metric_rows(results, metric)
        cells = cell_table(table_rows(results, metric), metric)
        for ext, fmt in (("md", "markdown"), ("csv", "csv"), ("tex", "latex")):
            (out / f"table_{metric}.{ext}").write_text(render_table(cells, fmt, metric) + "\n")
        lines += [f"## {declaration.label}: `{metric}`, {declaration.direction} is better", "",
                  (out / f"table_{metric}.md").read_text(),
                  f"{seeds_caption(cells)}; best per row in bold. "
                  f"{declaration.note}{left_out_of_mean(cells)}{pooled_differently(rows)}", ""]
        fit = declaration.fit if declaration.fit in rows else None
        whole = rows[rows[fit].isna()] if fit else rows  # held-out rows score other points: not converted
        for conversion in declaration.conversions:
            lines += conversion_section(whole, conversion, out)
        if baseline in set(rows["model_spec"]):
            sig = significance(rows, metric, baseline)
            sig.to_csv(out / f"significance_{metric}.csv", index=False, float_format="%.6g")
            (out / f"significance_{metric}.md").write_text(markdown(sig, index=False, floatfmt=".4g") + "\n")
            better = "positive" if declaration.higher_is_better else "negative"
            lines += [f"Paired differences model - `{baseline}` (same signal, setting and seed): mean, bootstrap "
                      f"95% CI, Wilcoxon signed-rank p; {declaration.direction} {metric} is better, so a {better} "
                      f"difference favours the model.{fewest_pairs_note(sig)}", "", (out / f"significance_{metric}.md").read_text(), ""]
        for png in figures(rows, metric, out):
            lines += [f"![{png}]({png})", ""]
        if fit and rows[fit].notna().any():
            lines += held_out_section(rows, metric, out)
        if metric not in fits and curve_column(metric) in rows:  # a score tracked in training (the task's main one)
            lines += ntk_prediction_section(rows, metric, out)
    # rows written before the column existed hold NaN there: the first row that names its metric decides
    named = ok["main_metric"].dropna() if "main_metric" in ok else pd.Series(dtype=object)
    main_metric = named.iloc[0] if len(named) else None
    maps = [(column, label) for column, label in (
        (main_metric, declared(main_metric).label if main_metric else ""),
        ("ntk_init_frac_above_centroid", "share of NTK energy above the centroid at init")) if column]
    map_pngs = [png for column, label in maps for png in spectral_map_figures(ok, column, label, out)]
    if map_pngs:
        lines += ["## Spectral map", "", "Band-noise targets (`synthetic:band`) by spectral centroid and length.", "",
                  *(f"![{png}]({png})\n" for png in map_pngs)]
    surface_pngs = surface_figures(ok, out)
    if surface_pngs:
        lines += ["## Fitted surfaces", "", "The zero level set of each init's fitted signed distance (its lowest "
                  "seed), extracted by marching cubes from the coarse field the row keeps.", "",
                  *(f"![{png}]({png})\n" for png in surface_pngs)]
    lines += learning_cost_section(ok, out)
    ntk_pngs = ntk_figures(ok, out)
    if ntk_pngs:
        lines += ["## NTK spectral energy", "", *(f"![{png}]({png})\n" for png in ntk_pngs)]
    for png in throughput_figure(results, out):
        lines += ["## Throughput", "", f"![{png}]({png})", ""]
    keep = [c for c in ["signal", "model_spec", "seed", "width", "layers", "status", "diverged_step", "error"]
            if c in failed]
    listing = markdown(failed[keep].sort_values(keep[:3]), index=False) if len(failed) else "none"
    (out / "failed.md").write_text(listing + "\n")
    if len(failed):
        lines += ["## Failed cells", "", listing, ""]
    (out / "environment.json").write_text(json.dumps(env, indent=2) + "\n")
    lines += ["Environment (commits, torch, devices, spec): [environment.json](environment.json).", ""]
    readme = out / "README.md"
    readme.write_text("\n".join(lines))
    return readme
