"""The results site (``bench site``): one static HTML site over report folders, to read without a network.

A front page ranks the inits of every report by each metric it tests against a baseline (the mean over
signals, with the paired difference to the baseline and its bootstrap 95% interval, and whether that
interval leaves zero out: "resolved"); a page per report shows its README (notes, tables, figures, links)
with every table sortable. Figures and files are linked where they lie, not copied, so the site stays small:
it is built beside the results folder it reads (``site/`` beside ``results/``).

Report folders are found by their ``README.md`` and ``environment.json`` (a tuned report's in its
``test/``); Markdown is rendered by the ``markdown`` package; sorting is a few lines of inline JavaScript.
"""

from __future__ import annotations

import html
import os
import re
import urllib.parse
import warnings
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bench.core.errors import BenchWarning, UsageError
from bench.core.metrics import METRICS

REPORT_MARKERS = ("environment.json", "test/environment.json")
PAGES = "reports"  # the folder of the report pages inside the site
PAIRED = ("model", "baseline", "mean_diff", "ci_low", "ci_high")  # a significance file's columns ranked (numbers: 2:)

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; display: block; overflow-x: auto; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: right; }
th { background: #f3f3f3; cursor: pointer; }
th.sorted-up::after { content: " \\25B2"; } th.sorted-down::after { content: " \\25BC"; }
td:first-child, th:first-child { text-align: left; }
img { max-width: 100%; }
.unresolved { color: #888; }
code { background: #f6f6f6; padding: 0 0.2em; }
"""

# Sort a table by the column whose heading was clicked; a cell sorts by the first number in it ("12.3 ± 0.4",
# "**51.5**"), cells without one after those with, by text. (Hand-written: a library would need a network.)
SORT_SCRIPT = """
document.querySelectorAll("table").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, column) {
    th.addEventListener("click", function () {
      var body = table.tBodies[0], rows = Array.from(body.rows);
      var up = !th.classList.contains("sorted-up");
      table.querySelectorAll("th").forEach(function (h) { h.classList.remove("sorted-up", "sorted-down"); });
      th.classList.add(up ? "sorted-up" : "sorted-down");
      function key(row) {
        var text = row.cells[column] ? row.cells[column].textContent.trim() : "";
        var found = text.replace(/\\u2212/g, "-").match(/-?\\d+(\\.\\d+)?(e[-+]?\\d+)?/i);
        return found ? [0, parseFloat(found[0]), text] : [1, 0, text];
      }
      rows.sort(function (a, b) {
        var x = key(a), y = key(b), order = x[0] - y[0] || x[1] - y[1] || x[2].localeCompare(y[2]);
        return up ? order : -order;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""


@dataclass(frozen=True)
class ReportFolder:
    """A report under the results root: ``path`` its folder, ``name`` its path from the root ("tuned/audio")."""

    path: Path
    name: str

    @property
    def page(self) -> str:
        """Its page's file name inside the site's ``PAGES`` folder."""
        return self.name.replace("/", "__") + ".html"

    @property
    def href(self) -> str:
        """Its page's name as a link (a folder "a#b" or "with space" percent-encoded: "#" starts a fragment)."""
        return url(self.page)

    @property
    def title(self) -> str:
        lines = self.path.joinpath("README.md").read_text(encoding="utf-8").lstrip().splitlines()
        return (lines[0].lstrip("# ").strip() if lines else "") or self.name  # (an empty README: its folder)


def find_reports(root: Path) -> list[ReportFolder]:
    """Every report folder under ``root`` (itself included), in path order; a tuned report's ``test/``
    folder is a report of its own."""
    found = []
    for readme in sorted(root.rglob("README.md")):
        folder = readme.parent
        if any((folder / marker).is_file() for marker in REPORT_MARKERS):
            name = folder.relative_to(root).as_posix()  # "." for the root itself: its own name
            found.append(ReportFolder(folder, absolute(root).name if name == "." else name))
    return found


def rankings(report: ReportFolder) -> list[pd.DataFrame]:
    """Per metric the report tests against a baseline (``significance_<metric>.csv``; steps to a level and
    fit scores left to its page), the models by their mean over signals (``table_<metric>.csv``) with
    their paired difference to the baseline: columns metric, model, mean, mean_diff, ci_low, ci_high,
    resolved (the interval leaves 0 out). The baseline is a row of its own (no difference)."""
    tables = []
    for name, metric in METRICS.items():
        if metric.level_of or name.startswith("fit_"):
            continue
        table, tests = report.path / f"table_{name}.csv", report.path / f"significance_{name}.csv"
        if not (table.is_file() and tests.is_file()):
            continue
        means, paired = pd.read_csv(table), None
        if not {"signal", "model", "mean"} <= set(means):
            continue  # a table written before tables were tidy numbers: its page shows it
        try:
            paired = pd.read_csv(tests)
        except (pd.errors.EmptyDataError, pd.errors.ParserError):
            pass
        unread = next((file for file, frame, columns, numbers in ((table, means, ("mean",), ("mean",)),
                                                                  (tests, paired, PAIRED, PAIRED[2:]))
                       if frame is None or not set(columns) <= set(frame)
                       or not all(pd.api.types.is_numeric_dtype(frame[c]) for c in numbers)), None)
        if unread is not None:
            warnings.warn(f"{unread}: not a table bench report writes (columns {', '.join(PAIRED)}, numbers); "
                          f"its {name} ranking is left out: remake the report (bench report)", BenchWarning)
            continue
        means = means.query("signal == 'mean over signals'")[["model", "mean"]]
        if means.empty or paired.empty:
            continue
        baseline = str(paired["baseline"].iloc[0])
        ranked = means.merge(paired[["model", "mean_diff", "ci_low", "ci_high"]], on="model", how="left")
        ranked["resolved"] = (ranked["ci_low"] > 0) | (ranked["ci_high"] < 0)
        ranked.loc[ranked["model"] == baseline, "resolved"] = True
        ranked = ranked.sort_values("mean", ascending=not metric.higher_is_better, kind="stable")
        tables.append(ranked.assign(metric=name, baseline=baseline))
    return tables


def ranking_html(ranked: pd.DataFrame, page: str) -> str:
    """One ranking as an HTML table, models whose difference to the baseline is not resolved greyed."""
    metric = METRICS[ranked["metric"].iloc[0]]
    baseline = ranked["baseline"].iloc[0]
    rows = []
    for _, row in ranked.iterrows():
        if row["model"] == baseline:
            diff = "baseline"
        elif pd.isna(row["ci_low"]):
            diff = f"{row['mean_diff']:+.2f} (no interval)" if pd.notna(row["mean_diff"]) else "n/a"
        else:
            diff = f"{row['mean_diff']:+.2f} [{row['ci_low']:+.2f}, {row['ci_high']:+.2f}]"
        css = "" if row["resolved"] else ' class="unresolved"'
        rows.append(f"<tr{css}><td>{html.escape(str(row['model']))}</td><td>{row['mean']:.{metric.digits}f}</td>"
                    f"<td>{html.escape(diff)}</td></tr>")
    return (f'<p><a href="{PAGES}/{page}">{html.escape(metric.label)}</a>, {metric.direction} is better; '
            f"difference to {html.escape(baseline)}, paired over signals and seeds, with its bootstrap 95% "
            "interval (grey: the interval holds 0, not resolved)</p>\n"
            f"<table><thead><tr><th>model</th><th>mean over signals</th><th>difference to {html.escape(baseline)}"
            f"</th></tr></thead><tbody>\n" + "\n".join(rows) + "\n</tbody></table>")


def html_page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{STYLE}</style></head>\n<body>\n{body}\n<script>{SORT_SCRIPT}</script>\n</body></html>\n")


def url(path: str) -> str:
    """A relative path as a link: percent-encoded but its "/"."""
    return urllib.parse.quote(path, safe="/")


def absolute(path: Path) -> Path:
    """``path`` made absolute without resolving links: the site's links depend only on where it lies beside
    the results, not on where either is mounted."""
    return Path(os.path.abspath(path))


def relink(text: str, report: ReportFolder, reports: dict[Path, ReportFolder], page_dir: Path) -> str:
    """A report README's relative links, pointed from ``page_dir``: another report's README to its page, any
    other file to where it lies."""
    def target(match: re.Match) -> str:
        link = match.group(2)
        if re.match(r"^[a-z]+:|^#|^/", link):
            return match.group(0)
        path, _, anchor = link.partition("#")
        resolved = absolute(report.path / urllib.parse.unquote(path))  # a link is a URL: "with%20space/"
        other = reports.get(resolved.parent if resolved.name == "README.md" else resolved)
        if not resolved.exists():
            warnings.warn(f"{report.name}/README.md links to {link}, which is not there ({resolved}); the site's "
                          "link leads nowhere: fix the link or add the file", BenchWarning)
        if other is not None and (resolved.name == "README.md" or resolved.is_dir()):
            new = other.href
        else:
            new = url(os.path.relpath(resolved, absolute(page_dir)).replace(os.sep, "/"))
        return f"{match.group(1)}({new}{'#' + anchor if anchor else ''})"

    return re.sub(r"(!?\[[^\]]*\])\(([^)\s]+)\)", target, text)


def players(body: str) -> str:
    """HTML with each link to a WAV file (a report's clips, ``bench.report.reconstructions``) as an audio player
    titled by the link's text, the link kept beside it."""
    return re.sub(r'<a href="([^"]+\.wav)">([^<]*)</a>',
                  r'<audio controls preload="none" src="\1" title="\2"></audio> <a href="\1">\2</a>', body)


def build_site(root: Path, out: Path) -> list[Path]:
    """Build the site of every report under ``root`` into ``out`` (index.html and a page per report under
    ``reports/``); returns the files written. No report under ``root`` is a usage error."""
    import markdown

    root, out = Path(root), Path(out)
    if not root.is_dir():
        raise UsageError(f"results folder not found: {root}; pass the folder that holds the reports (results/)")
    reports = find_reports(root)
    if not reports:
        raise UsageError(f"no report under {root} (a folder with README.md and environment.json, as bench report "
                         f"writes); make one with bench report RUNS --out {root}/NAME")
    for path in (out, out / PAGES):
        if path.exists() and not path.is_dir():
            raise UsageError(f"--out {out}: {path} is a file, not a folder; pass a folder for the site (site/)")
    pages = out / PAGES
    pages.mkdir(parents=True, exist_ok=True)
    by_path = {absolute(report.path): report for report in reports}
    written = []
    sections = []
    for report in reports:
        text = relink(report.path.joinpath("README.md").read_text(encoding="utf-8"), report, by_path, pages)
        body = players(markdown.markdown(text, extensions=["tables", "fenced_code"]))
        back = os.path.relpath(out / "index.html", pages).replace(os.sep, "/")
        file = pages / report.page
        file.write_text(html_page(report.title, f'<p><a href="{back}">All reports</a></p>\n{body}'), encoding="utf-8")
        written.append(file)
        ranked = rankings(report)
        sections.append(f'<h2><a href="{PAGES}/{report.href}">{html.escape(report.name)}</a>: '
                        f"{html.escape(report.title)}</h2>\n"
                        + ("\n".join(ranking_html(table, report.href) for table in ranked) if ranked else
                           "<p>No ranking against a baseline in this report: see its page.</p>"))
    index = out / "index.html"
    index.write_text(html_page("inr-bench results", "<h1>inr-bench results</h1>\n<p>Every published report, each init "
                          "ranked by the report's metrics (mean over signals) with its paired difference to the "
                          "baseline. A ranking is resolved only where the intervals say so; each report's page "
                          "has its tables (click a heading to sort), figures, notes and the commands that made "
                          "it.</p>\n" + "\n".join(sections)), encoding="utf-8")
    return [index, *written]
