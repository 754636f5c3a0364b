"""The report's list of failed cells (failed.md, always written; a README section when there are any)."""

from __future__ import annotations

from bench.core.status import OK
from bench.report.sections import Report, report_section
from bench.report.tables import markdown

COLUMNS = ["signal", "model_spec", "seed", "width", "layers", "status", "diverged_step", "error"]


@report_section(order=60)
def failed_cells(report: Report) -> list[str]:
    failed = report.results[report.results["status"] != OK]
    keep = [column for column in COLUMNS if column in failed]
    listing = markdown(failed[keep].sort_values(keep[:3]), index=False) if len(failed) else "none"
    (report.out / "failed.md").write_text(listing + "\n")
    return ["## Failed cells", "", listing, ""] if len(failed) else []
