"""A report's README.md: every table, section and figure the results support, in one page, with the
environment the rows were measured in."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

from bench.core.errors import UsageError
from bench.core.status import OK
from bench.report import (failed, figures, held_out, learning_cost, ntk_prediction, reconstructions, spectral_map,
                          summary, surfaces)
from bench.report.sections import METRIC_SECTIONS, REPORT_SECTIONS, Report, in_order
from bench.report.tables import metric_rows, metrics_in

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

# the modules whose sections a report has (each registers its own: bench.report.sections)
SECTION_MODULES = (summary, figures, held_out, ntk_prediction, spectral_map, surfaces, reconstructions, learning_cost,
                   failed)


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


def title(spec: str | None, out: Path, sweeps: list[str] = ()) -> str:
    """A report's title: its spec's name and description where the rows keep their spec; else the name of
    the one sweep its rows come from (``sweeps``) beside the report's folder as published ("tuned-image:
    test"); else that folder (never the folder the rows lie in: a sweep kept beside its report is "sweep/")."""
    if spec:
        try:
            declared = tomllib.loads(spec)
        except tomllib.TOMLDecodeError:
            declared = {}
        name, description = declared.get("name"), declared.get("description")
        if isinstance(name, str) and name:
            return f"{name}: {description}" if isinstance(description, str) and description else name
    return f"{sweeps[0]}: {out.resolve().name}" if len(sweeps) == 1 else out.resolve().name


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
    unfinished = results[results["status"] != OK]
    metrics = [m for m in metrics_in(ok) if ok[m].notna().any()]
    env = environment(results, results_dir)
    sweeps = sorted(results["sweep"].dropna().unique()) if "sweep" in results else []
    lines = [f"# {title(env['spec'], out, sweeps)}", "", *([notes.strip(), ""] if notes else []),
             f"Made with `{command}`." if command else "", "",
             f"Measured on {', '.join(env['devices']) or 'unknown devices'} with torch {', '.join(env['torch'])}, "
             f"package commit {', '.join(env['commits'])}, between {env['first_run']} and {env['last_run']} (UTC).", "",
             f"{len(results)} rows: {len(ok)} ok, {len(unfinished)} failed "
             f"({', '.join(f'{n} {s}' for s, n in unfinished['status'].value_counts().sort_index().items()) or 'none'}).",
             ""]
    if baseline not in scored:
        lines += [f"No `{baseline}` results yet (none finished ok), so no paired differences against it (rerun the "
                  f"report once it has some, or pass --baseline with one of: {', '.join(scored) or 'none'}).", ""]
    report = Report(results, ok, out, baseline, results_dir)
    for metric in metrics:
        rows = metric_rows(results, metric)
        for section in in_order(METRIC_SECTIONS):
            lines += section(rows, metric, report)
    for section in in_order(REPORT_SECTIONS):
        lines += section(report)
    (out / "environment.json").write_text(json.dumps(env, indent=2) + "\n")
    lines += ["Environment (commits, torch, devices, spec): [environment.json](environment.json).", ""]
    readme = out / "README.md"
    readme.write_text("\n".join(lines))
    return readme
