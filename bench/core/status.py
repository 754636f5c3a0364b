"""The status of a result row (one member): a trained member is OK or DIVERGED (a non-finite loss; the row
is a result too); a cell that could not be trained is ERROR or OOM (out of memory), and a sweep runs it again."""

OK, DIVERGED, ERROR, OOM = "ok", "diverged", "error", "oom"
FINISHED = (OK, DIVERGED)  # statuses that are results
FAILED = (ERROR, OOM)  # statuses of cells to run again
