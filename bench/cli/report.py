"""`bench report` (a report folder of a results directory), `bench table` (its table on stdout) and `bench site`
(one HTML site over report folders)."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from bench.cli.options import add_format, common
from bench.core.errors import BenchError, BenchWarning, UsageError
from bench.core.status import OK


def add_report(sub) -> None:
    sub.add_parser("report", parents=[common()], help="tables, significance and figures of a results directory",
                   description="Write a report of any results directory (bench run or bench sweep, partial or with "
                               "failed cells) into --out: README.md, table_<metric>.md/.tex/.csv, "
                               "significance_<metric>.csv/.md against --baseline and their heatmap "
                               "difference_<metric>.png, PNG/PDF figures, failed.md, environment.json.",
                   build=_report_arguments)


def _report_arguments(report: argparse.ArgumentParser) -> None:
    report.add_argument("results", help="results directory")
    report.add_argument("--out", required=True, help="report directory, e.g. results/<name>")
    report.add_argument("--baseline", help="model spec the others are compared with (default siren; a partial sweep "
                                           "without siren results yet gets no paired differences)")
    report.add_argument("--notes", metavar="FILE.md",
                        help="markdown placed under the report's title (what the results mean, links); kept as is")
    report.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from bench import api

    command = f"bench report {args.results} --out {args.out}" + (
        f" --baseline {args.baseline}" if args.baseline else "") + (
        f" --notes {args.notes}" if args.notes else "")
    notes = None
    if args.notes:
        if not Path(args.notes).is_file():
            raise UsageError(f"notes file not found: {args.notes}; pass a markdown file")
        try:
            notes = Path(args.notes).read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise UsageError(f"notes file {args.notes} is not UTF-8 text ({exc.reason} at byte {exc.start}); "
                             f"save it as UTF-8") from None
    readme = api.report(args.results, args.out, args.baseline, notes, command)
    print(f"wrote {readme.parent} (open {readme})", file=sys.stderr)
    return 0


def add_site(sub) -> None:
    sub.add_parser("site", parents=[common()], help="one static HTML site over the report folders",
                   description="Build a static HTML site (no network needed to view it) from every report under "
                               "RESULTS: a front page ranking the inits of each report by its metrics, with the "
                               "paired difference to the baseline and its interval, and a page per report with its "
                               "notes, sortable tables and figures (linked where they lie, not copied: build it "
                               "beside RESULTS).", build=_site_arguments)


def _site_arguments(site: argparse.ArgumentParser) -> None:
    site.add_argument("results", nargs="?", default="results", help="folder holding the reports (default results)")
    site.add_argument("--out", default="site", help="site folder (default site); open OUT/index.html")
    site.set_defaults(func=cmd_site)


def cmd_site(args: argparse.Namespace) -> int:
    from bench import api

    index = api.site(args.results, args.out)
    print(f"wrote {index.parent} (open {index})", file=sys.stderr)
    return 0


def add_table(sub) -> None:
    sub.add_parser("table", parents=[common()], help="mean ± std over seeds by model and signal",
                   build=_table_arguments)


def _table_arguments(table: argparse.ArgumentParser) -> None:
    table.add_argument("results", help="results directory written by bench run")
    table.add_argument("--metric", help="a declared metric (snr_db, psnr_db, fit_snr_db, fit_psnr_db, si_snr_db, lsd, "
                                          "ssim, steps_to_20_snr_db, ... or a plugin's), or any numeric column of the "
                                          "rows: best_snr_db, seconds_to_20_snr_db, steps_per_s, n_params, centroid, "
                                          "ntk_init_* ... (default: every declared metric present)")
    add_format(table, ("markdown", "csv", "latex"))
    table.set_defaults(func=cmd_table)


def _unread(results) -> str:
    """A sentence naming the metric columns of ``results`` that no declared metric reads (a plugin's, run
    without its file) and the fix, or ""."""
    from bench.report.tables import undeclared_metrics

    unread = undeclared_metrics(results)
    if not unread:
        return ""
    return (f"no declared metric reads the metric column{'s' * (len(unread) > 1)} {', '.join(unread)} of these "
            f"rows; pass the plugin that declares {'them' if len(unread) > 1 else 'it'}: --plugin FILE")


def cmd_table(args: argparse.Namespace) -> int:
    import pandas as pd

    from bench.report.tables import (cell_table, left_out_of_mean, metric_rows, metrics_in, pooled_differently,
                                     render_table, seeds_caption, table_rows, tabulated, tidy)
    from bench.api import results as results_of

    results = results_of(args.results)
    present = metrics_in(results)
    metrics = [args.metric] if args.metric else [m for m in present if not metric_rows(results, m).empty] or present
    unread = _unread(results)
    if not metrics:
        raise UsageError(unread or f"the rows in {args.results} hold no metric column; nothing to tabulate")
    if unread:
        warnings.warn(unread, BenchWarning)
    tidy_tables = []
    for metric in metrics:
        declaration = tabulated(results, metric)  # (an unknown column: an error with the nearest names)
        rows = metric_rows(results, metric)
        if rows.empty:
            counts = ", ".join(f"{n} {s}" for s, n in results["status"].value_counts().sort_index().items())
            raise BenchError(f"no member in {args.results} finished ok with a {metric} value ({counts}); "
                             f"nothing to tabulate (their error and diverged_step columns say why)")
        heading = f"{metric}: {declaration.label}, " + (f"{declaration.direction} is better"
                                                        if declaration.higher_is_better is not None else "no best marked")
        cells = cell_table(table_rows(results, declaration), metric)
        caption = f"{seeds_caption(cells)}.{left_out_of_mean(cells)}{pooled_differently(rows)}"
        if args.format == "csv":  # one CSV of every metric's cells (column metric); headings and captions aside
            tidy_tables.append(tidy(cells, metric))
            print(f"{heading}. {caption}", file=sys.stderr)
        else:  # Markdown under its heading; LaTeX alone on stdout, each table captioned
            if args.format == "markdown":
                print(f"{chr(10) if metric != metrics[0] else ''}{heading}")
            print(render_table(cells, args.format, declaration, f"{declaration.label}: {caption}"))
            print(f"{metric}: {caption}", file=sys.stderr)
    if tidy_tables:
        print(pd.concat(tidy_tables, ignore_index=True).to_csv(index=False), end="")
    left_out = results["status"].value_counts().drop(OK, errors="ignore").sort_index()
    if len(left_out):
        print("not in the table: " + ", ".join(f"{n} {s}" for s, n in left_out.items()), file=sys.stderr)
    return 0
