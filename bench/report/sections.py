"""The sections of a report, each registered where it is made: a function of the rows that writes its files
into the report folder and returns its README lines (none when the rows do not support it). Per metric
sections (``metric_section``) follow each metric's table; report sections (``report_section``) follow all
metrics. ``order`` places a section among the others (ascending); ``bench.report.readme`` lays them out.

A new section is one function in a module of this package, decorated, and that module named in
``bench.report.readme.SECTION_MODULES``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd


@dataclass(frozen=True)
class Report:
    """What every section sees: ``results`` (every row), ``ok`` (those that finished ok), ``out`` (the report
    folder, where its files go), ``baseline`` (the model paired differences are taken against) and ``source``
    (the results folder the rows were read from, where what they keep beside them lies)."""

    results: pd.DataFrame
    ok: pd.DataFrame
    out: Path
    baseline: str
    source: Path


MetricSection = Callable[[pd.DataFrame, str, Report], list[str]]  # (the metric's rows, metric, report) -> lines
ReportSection = Callable[[Report], list[str]]
METRIC_SECTIONS: list[tuple[int, MetricSection]] = []
REPORT_SECTIONS: list[tuple[int, ReportSection]] = []


def metric_section(order: int) -> Callable[[MetricSection], MetricSection]:
    """Register a section of each metric, at ``order`` among them."""
    def register(fn: MetricSection) -> MetricSection:
        METRIC_SECTIONS.append((order, fn))
        return fn
    return register


def report_section(order: int) -> Callable[[ReportSection], ReportSection]:
    """Register a section of the whole report, after the metrics', at ``order`` among them."""
    def register(fn: ReportSection) -> ReportSection:
        REPORT_SECTIONS.append((order, fn))
        return fn
    return register


def in_order(sections: list[tuple[int, Callable]]) -> list[Callable]:
    return [fn for _, fn in sorted(sections, key=lambda entry: entry[0])]


def pictures(pngs: list[str]) -> list[str]:
    """README lines showing each figure."""
    return [f"![{png}]({png})\n" for png in pngs]
