"""The specs shipped in specs/ (presets, named by file stem), and the one-task spec `bench run` means."""

from __future__ import annotations

import itertools

from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.core.errors import UsageError, did_you_mean
from bench.models import parse_model
from bench.analysis.ntk import NtkOptions
from bench.signals.library import SignalLibrary
from bench.experiment.spec import DEFAULT_LAYERS, DEFAULT_WIDTH, Spec, load_spec, parse_seeds, task_grid
from bench.tasks import parse_task
from bench.training import TrainConfig

SPECS_DIR = Path(__file__).resolve().parent / "specs"  # package data, found from any directory

# What `bench run` does with no flags: the three main inits on an offline high-frequency clip
# (training settings: TrainConfig's defaults).
DEFAULTS: dict[str, Any] = {"models": ["siren", "siren2", "winner"], "task": "audio:synthetic:hf_noise",
                            "width": DEFAULT_WIDTH, "layers": DEFAULT_LAYERS, "seeds": "0-1", "out": "runs/default"}


def preset_names() -> list[str]:
    """The presets in specs/, sorted."""
    return sorted(path.stem for path in SPECS_DIR.glob("*.toml"))


def spec_path(spec: str) -> Path:
    """The file of a spec given as a path, or as a preset name without suffix (``quick`` -> specs/quick.toml)."""
    path = Path(spec)
    if path.suffix or path.exists():
        return path
    names = preset_names()
    if spec not in names:
        raise UsageError(f"no spec file {spec} and no preset {spec!r}{did_you_mean(spec, names)}; pass a .toml file "
                         f"or one of: {', '.join(names)}")
    return SPECS_DIR / f"{spec}.toml"


def run_preset(name: str, library: SignalLibrary) -> Spec:
    """The preset ``name`` as the settings of one run: one width and one depth."""
    preset = load_spec(SPECS_DIR / f"{name}.toml", library)
    if len(preset.widths) + len(preset.budgets) > 1 or len(preset.layers) > 1 or len(preset.trains) > 1:
        raise UsageError(f"spec {name} sweeps widths, params, layers or [train] settings and cannot be a --preset; "
                         f"run it with bench sweep")
    return preset


def run_spec(library: SignalLibrary, models: list[str] | None = None, task: str | None = None,
             width: int | None = None, layers: int | None = None, seeds: str | None = None,
             train: dict[str, Any] | None = None, preset: str | None = None,
             task_options: dict[str, Any] | None = None, ntk: tuple[str, ...] | None = None,
             ntk_points: int = NtkOptions.points, params: int | None = None) -> Spec:
    """The one-task spec `bench run` means: each value given, else the preset's, else DEFAULTS.

    models: model texts (``siren2:S0=1``); task: ``TASK:SIGNAL``; seeds: ``0-3`` or ``0,2,5``;
    train: TrainConfig fields to override, each a value or a list of values (a grid axis); task_options: on top
    of the preset's (one value each), values or command-line texts, parsed and checked by the task's
    declarations; ntk: the stages at which to record NTK summaries, on ``ntk_points`` points; params: a
    parameter budget instead of a width.
    """
    loaded = run_preset(preset, library) if preset is not None else None
    task = task or (f"{loaded.tasks[0].task}:{loaded.tasks[0].signals[0]}" if loaded else DEFAULTS["task"])
    entry, ref = parse_task(task)
    ref = library.canonical(ref, entry.meta["domain"])  # two spellings of one file are one signal
    name = entry.name
    given = entry.parse_options(task_options or {})
    options = (_preset_options(loaded, preset, name, given) if loaded else {}) | given
    grid = {key: value if isinstance(value, list) else [value] for key, value in (train or {}).items()}
    trains = tuple(dict.fromkeys(replace(loaded.trains[0] if loaded else TrainConfig(), **dict(zip(grid, values)))
                                 for values in itertools.product(*grid.values())))
    budgets = (params,) if params else (loaded.budgets if loaded and not width else ())
    return Spec(
        name="run",
        models=tuple(parse_model(text) for text in models or DEFAULTS["models"]),
        tasks=(task_grid(name, (ref,), tuple((key, (value,)) for key, value in options.items()), library),),
        widths=() if budgets else (width or (loaded.widths[0] if loaded else DEFAULTS["width"]),),
        budgets=budgets,
        layers=(layers or (loaded.layers[0] if loaded else DEFAULTS["layers"]),),
        seeds=tuple(parse_seeds(seeds or DEFAULTS["seeds"])),
        trains=trains, max_members=None, text="",
        ntk=NtkOptions(ntk, ntk_points) if ntk else None)


def _preset_options(loaded: Spec, preset: str, task: str, given: dict[str, Any]) -> dict[str, Any]:
    """The task options preset ``preset`` (loaded) sets for ``task``, each one value: an option it sweeps
    (several values) must be among those ``given`` on the command line, which choose one."""
    grid = next((g for g in loaded.tasks if g.task == task), None)
    if grid is None:
        raise UsageError(f"preset {preset} has no {task} task (it has: "
                         f"{', '.join(g.task for g in loaded.tasks)}); choose a matching --task")
    for key, values in grid.options:
        if len(values) > 1 and key not in given:
            flag = "--" + key.replace("_", "-")
            raise UsageError(f"preset {preset} sweeps {key} over {', '.join(map(str, values))}; choose one with "
                             f"{flag} (e.g. {flag} {values[0]}), or run the whole grid with bench sweep {preset}")
    return {key: values[0] for key, values in grid.options}
