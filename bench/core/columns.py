"""The row layout, declared once: which columns of a result row say what the row is of, its settings, the
target it fitted, how it ended, its metrics, its curves, its speed, where it was made (provenance) and what
it keeps to look at (artifacts). Readers and reports ask this module (``role_of``, ``columns_of`` and the
column-name functions) rather than matching names, and rows are built with ``Row``, which refuses a column
written twice instead of letting the later value win.

Metrics are declared with ``bench.core.metrics.declare_metric``, which declares their column here (so a metric
column has its role once ``bench.core.metrics`` is imported, as every reader of rows does); a task's artifacts
with ``declare_column(name, ARTIFACT)``. A task's other descriptive columns (``Task.meta``: sample
rate, centroid, ...) are TARGET when they tell one target from another, else DESCRIPTION.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from bench.core.errors import UsageError

IDENTITY = "identity"  # what the row is of: its cell, signal, model and seed
SETTING = "setting"  # how it was made: network, training settings, task options, the scheme's parameters
TARGET = "target"  # which target it fitted (tables never pool rows of two targets of one signal)
DESCRIPTION = "description"  # what the target is like (its centroid, power, sample rate; a baseline's score)
OUTCOME = "outcome"  # how training ended: status, error, best and diverged step
METRIC = "metric"  # the scores (final, best, steps to a level, NTK summaries)
CURVE = "curve"  # a score along training (lists)
SPEED = "speed"  # how fast: rates, seconds, the ensemble it trained in
PROVENANCE = "provenance"  # where and with what code it was made
ARTIFACT = "artifact"  # something kept to look at, not a score (an sdf's coarse field)
ROLES = (IDENTITY, SETTING, TARGET, DESCRIPTION, OUTCOME, METRIC, CURVE, SPEED, PROVENANCE, ARTIFACT)

PARAM_PREFIX = "param."  # the scheme's parameters as used: param.<name>
OPTION_PREFIX = "option."  # the task's options as set: option.<name>
CURVE_STEPS = "curve_steps"

_FIXED = {
    IDENTITY: ("cell_key", "signal", "model", "model_spec", "seed", "main_metric", "sweep", "run_id"),
    # the network's; the training settings are declared by bench.training.config (``declare_settings``)
    SETTING: ("task", "param_budget", "width", "layers"),
    TARGET: ("n_samples", "height_px", "width_px", "noise_snr", "noise_std", "noise_seed", "mask",
             "signal_fingerprint", "target_revision"),
    OUTCOME: ("status", "error", "best_step", "diverged_step"),
    CURVE: (CURVE_STEPS,),
    SPEED: ("ensemble_size", "n_params", "steps_per_s", "samples_per_s", "gflop_per_s", "seconds"),
    PROVENANCE: ("device", "device_name", "torch", "commit", "timestamp", "compiled", "numerics", "model_code",
                 "task_code", "family_fingerprint"),
    # the project's tasks' descriptions of their targets (``Task.meta``)
    DESCRIPTION: ("sample_rate", "centroid", "signal_power", "channels", "n_kept", "n_held_out", "mask_digest",
                  "fit_signal_power", "inside_fraction", "faces", "n_surface_points"),
}
NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")  # a declared column's name: a file name and a label as it is
_declared: dict[str, str] = {name: role for role, names in _FIXED.items() for name in names}


def declare_column(name: str, role: str) -> str:
    """Declare column ``name`` with ``role`` (once; the same again is harmless). A name that is already a
    column of another role (e.g. a plugin metric called ``width``) is a usage error: it would overwrite it."""
    if role not in ROLES:
        raise ValueError(f"unknown column role {role!r}; one of {', '.join(ROLES)}")
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise UsageError(f"{name!r} cannot name a {role} column: use a letter, then letters, digits and _ "
                         f"(it names files and table headings)")
    held = _declared.get(name) or _derived_role(name)
    if held is not None and held != role:
        raise UsageError(f"{name!r} cannot be a {role} column: every result row has the {held} column {name!r}, "
                         f"which it would overwrite; give the {role} another name")
    _declared[name] = role
    return name


def declare_settings(names: Iterable[str]) -> None:
    """The training settings (``bench.training.config``), after the network's columns."""
    for name in names:
        declare_column(name, SETTING)


def param_column(name: str) -> str:
    return PARAM_PREFIX + name


def option_column(name: str) -> str:
    return OPTION_PREFIX + name


def best_column(metric: str) -> str:
    """The metric's value at the member's best step."""
    return f"best_{metric}"


def curve_column(metric: str) -> str:
    """The metric along training, at the steps of ``curve_steps``."""
    return f"curve_{metric}"


def steps_to_column(metric: str, level: float) -> str:
    """Training steps until the metric's curve first reached ``level`` (NaN: never)."""
    return f"steps_to_{level:g}_{metric}"


def seconds_to_column(metric: str, level: float) -> str:
    """Those steps at the run's mean seconds per step."""
    return f"seconds_to_{level:g}_{metric}"


def option_name(column: str) -> str | None:
    """The task option a column holds (``option.side`` -> ``side``), or None."""
    return column[len(OPTION_PREFIX):] if column.startswith(OPTION_PREFIX) else None


def param_name(column: str) -> str | None:
    """The scheme parameter a column holds (``param.w0`` -> ``w0``), or None."""
    return column[len(PARAM_PREFIX):] if column.startswith(PARAM_PREFIX) else None


def _derived_role(name: str) -> str | None:
    """The role of a column named after another declared one (a metric's best value, curve, steps and seconds
    to a level), or of the parameter and option columns; None for a name this layout does not know."""
    if option_name(name) is not None or param_name(name) is not None:
        return SETTING
    for prefix, role in (("best_", METRIC), ("curve_", CURVE), ("steps_to_", METRIC), ("seconds_to_", SPEED)):
        if name.startswith(prefix):
            metric = name[len(prefix):]
            if prefix.endswith("_to_"):
                metric = metric.partition("_")[2]
            if _declared.get(metric) == METRIC:
                return role
    if name.startswith("ntk_"):  # bench.analysis.ntk's spectral summaries
        return METRIC
    return None


def role_of(name: str) -> str:
    """The role of column ``name``; a column this layout does not know is a task's DESCRIPTION."""
    return _declared.get(name) or _derived_role(name) or DESCRIPTION


def columns_of(columns: Iterable[str], *roles: str) -> list[str]:
    """Those of ``columns`` (e.g. a DataFrame's) with one of ``roles``, in their order."""
    return [column for column in columns if role_of(column) in roles]


def table_settings(training: Iterable[str]) -> list[str]:
    """The columns that make runs of one signal different experiments, in the order table rows name them:
    the network's, the ``training`` settings (``bench.training.config.SETTINGS``), then the target's
    (options and the scheme's parameters are told apart elsewhere)."""
    return [*_FIXED[SETTING], *training, *_FIXED[TARGET]]


class Row(dict):
    """One result row, built from parts with ``add``: a column given twice is an error naming it, never a
    silent overwrite."""

    def add(self, values: Mapping[str, Any]) -> Row:
        twice = [name for name in values if name in self]
        if twice:
            raise ValueError(f"result column {twice[0]!r} written twice while building a row")
        self.update(values)
        return self

    @classmethod
    def of(cls, *parts: Mapping[str, Any]) -> Row:
        row = cls()
        for part in parts:
            row.add(part)
        return row
