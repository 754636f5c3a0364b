"""Sweep specs: a TOML file naming models with parameter grids, tasks with signals and options,
widths, layers, seeds and training settings. Everything is checked before anything trains; an error
names the file and the key (``models.siren2.S1``, ``tasks[1].signals``).

    signal_dir = "/data/in"  # optional: the folder relative signal paths are in (default: the spec file's)
    seeds = "0-4"            # or a list; widths / layers: an int or a list
    widths = [222]           # or params = [1e4, 1e5]: per model, the width nearest each parameter budget
    layers = 4
    max_members = 8          # optional: fixed members per ensemble (default: measured; --max-members overrides)
    gpus_per_job = 0.5       # optional: GPUs per ensemble with --executor ray (--gpus-per-job overrides)
    ntk = ["init", "final"]  # optional: NTK spectral summaries as result columns, on ntk_points points
    [train]                  # steps, lr, lr_step, lr_gamma, batch_size, eval_every, batch_seed, precision
    steps = 1000             # each a value or a list (a grid axis: lr = [1e-4, 3e-4, 1e-3])
    [models]                 # name = {param = value or [values]}; each list is a grid axis
    siren = {}
    siren2 = {S0 = [0.01, 0.033, 0.1]}
    meta_learned = [{}, {method = "maml"}]  # a list of tables: several grids of one model
    [[tasks]]                # task = audio | image | ...; signals; task options (value or list)
    task = "audio"
    signals = ["arch", "relay"]
    max_samples = 150000
"""

from __future__ import annotations

import itertools
import json
import math
import re
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

from bench.core.errors import UsageError, did_you_mean
from bench.core.metrics import METRICS
from bench.models import ModelChoice, load_builtin_models
from bench.analysis.ntk import NtkOptions
from bench.signals.library import SignalLibrary, is_synthetic
from bench.tasks import effective_options, load_builtin_tasks
from bench.training import TRAIN_PARAMS, TrainConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
MAX_SEED = 2**63 - 1  # seeds are stored as int64
MAX_SEEDS = 100_000  # seeds one spec or --seeds may name
DEFAULT_WIDTH = 64
DEFAULT_LAYERS = 4
TOP_KEYS = ("name", "description", "seeds", "widths", "params", "layers", "max_members", "gpus_per_job", "ntk", "ntk_points",
            "train", "models", "tasks", "tune", "signal_dir")
TUNE_KEYS = ("seeds", "metric", "models", "tasks")  # and any [train] setting: the values tried for every model


class Target(NamedTuple):
    """One signal a task fits, with one combination of its options (sorted (name, value) pairs)."""

    signal: str
    fingerprint: str
    options: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class TaskGrid:
    """One [[tasks]] entry: a task over signals, with each option's values (a grid axis each).
    ``fingerprints[i]`` identifies the content of ``signals[i]`` (``SignalLibrary.fingerprint``);
    ``targets`` is every distinct (signal, options) the grid makes (``task_grid``)."""

    task: str
    signals: tuple[str, ...]
    options: tuple[tuple[str, tuple[Any, ...]], ...]
    fingerprints: tuple[str, ...]
    targets: tuple[Target, ...]


def task_grid(task: str, signals: tuple[str, ...], options: tuple[tuple[str, tuple[Any, ...]], ...],
              library: SignalLibrary) -> TaskGrid:
    """The grid of ``task`` over ``signals`` and every combination of the options' values, each target once
    as it acts: without the values equal to the task's declared default (or None, "auto"), so a spec that
    spells out a default makes the same cell (and key) as one that leaves it out; then as the task says the
    options act on each signal (``effective_options``: e.g. ``max_samples`` beyond a clip is its length).
    An option the task lacks is kept, for ``load_task`` to refuse by name."""
    entry = load_builtin_tasks().get(task)
    domain = entry.meta["domain"]
    fingerprints = tuple(library.fingerprint(ref, domain) for ref in signals)
    names = [name for name, _ in options]
    combos = [dict(zip(names, combo)) for combo in itertools.product(*(values for _, values in options))]
    given = [{key: value for key, value in combo.items()
              if value is not None and not (key in entry.params and _is_default(entry.params[key].default, value))}
             for combo in combos]
    targets = (Target(ref, fingerprint, tuple(sorted(effective_options(entry, library, ref, combo).items())))
               for ref, fingerprint in zip(signals, fingerprints) for combo in given)
    return TaskGrid(task, signals, options, fingerprints, unique(targets))


def _tested_too(tuning: TaskGrid | None, tests: list[TaskGrid]) -> list[str]:
    """The signals of ``tuning`` that ``tests`` (grids of the same task) test too, by content
    (``SignalLibrary.fingerprint``): a copy, a hard link or another spelling of a test signal is one."""
    tested = {fingerprint for test in tests for fingerprint in test.fingerprints}
    return [signal for signal, fingerprint in zip(tuning.signals, tuning.fingerprints)
            if fingerprint in tested] if tuning else []


def _is_default(default: Any, value: Any) -> bool:
    """Whether ``value`` is ``default`` (values are coerced to the option's type first, so 10 and 10.0 of a float
    option are one value; True and 1 are not)."""
    return default is not None and type(default) is type(value) and default == value


@dataclass(frozen=True)
class Tuning:
    """A spec's [tune] section (bench.experiment.tuning): each model's settings are chosen on the tuning split
    (``seeds``, and ``tasks`` when given, else the spec's own tasks) by ``metric`` (None: the task's main
    one), then the spec's seeds and tasks (the test split) train at the chosen values.

    trains: every training setting tried (the spec's [train] with the [tune] values); models: for each of
    the spec's models (its label), every variant of its parameters tried."""

    seeds: tuple[int, ...]
    metric: str | None
    trains: tuple[TrainConfig, ...]
    models: tuple[tuple[str, tuple[ModelChoice, ...]], ...]
    tasks: tuple[TaskGrid, ...] | None = None


@dataclass(frozen=True)
class Spec:
    """A validated sweep; ``text`` is the TOML it came from (kept beside the results)."""

    name: str
    models: tuple[ModelChoice, ...]
    tasks: tuple[TaskGrid, ...]
    widths: tuple[int, ...]
    layers: tuple[int, ...]
    seeds: tuple[int, ...]
    trains: tuple[TrainConfig, ...]  # the training settings' grid ([train] values may be lists)
    max_members: int | None
    text: str
    ntk: NtkOptions | None = None
    gpus_per_job: float | None = None
    budgets: tuple[int, ...] = ()  # parameter budgets (spec key ``params``), instead of ``widths`` (then empty)
    tune: Tuning | None = None  # choose settings per model on a tuning split first ([tune])


def unique(values) -> tuple:
    """``values`` without repeats, in first-seen order: a value listed twice in a grid is one value."""
    return tuple(dict.fromkeys(values))


def parse_seeds(text: str) -> list[int]:
    """``0-3`` -> [0, 1, 2, 3]; ``0,2,5``; ``1-3,7`` (the syntax of --seeds and of a spec's seeds); a seed
    named twice counts once."""
    ranges: list[range] = []
    try:
        for part in filter(None, (p.strip() for p in text.split(","))):
            lo, sep, hi = part.partition("-")
            ranges.append(range(int(lo), int(hi) + 1) if sep else range(int(lo), int(lo) + 1))
    except ValueError:
        raise UsageError(f"seeds {text!r} is not a list of seeds; write e.g. 0-3 or 0,2,5") from None
    count = sum(len(r) for r in ranges)  # before expanding: "0-100000000" would take minutes and GBs
    if count > MAX_SEEDS:
        raise UsageError(f"seeds {text!r} name {count:,} seeds, more than {MAX_SEEDS:,}; name fewer (a sweep's seeds "
                         f"are trained one member each)")
    seeds = [seed for r in ranges for seed in r]
    if not seeds:
        raise UsageError(f"seeds {text!r} names no seed (a range lo-hi needs lo <= hi); write e.g. 0-3")
    if min(seeds) < 0 or max(seeds) > MAX_SEED:
        raise UsageError(f"seeds {text!r} must name non-negative seeds below 2^63, e.g. 0-3")
    return list(unique(seeds))


class SpecProblem(UsageError):
    """One problem of a spec: the key it is at and what is wrong there."""

    def __init__(self, source: str, key: str, problem: str):
        super().__init__(f"{source}: {key}: {problem}")
        self.key, self.problem = key, problem


class _Checker:
    """Checks the values of a spec, collecting the problems of independent keys so that one error lists
    them all (``source``, the file name, heads each message)."""

    def __init__(self, source: str, signal_dir: Path | None = None):
        self.source, self.signal_dir = source, signal_dir
        self.problems: list[SpecProblem] = []
        self.relative = False  # whether a signal path was read relative to signal_dir

    def fail(self, key: str, problem: str) -> SpecProblem:
        return SpecProblem(self.source, key, problem)

    def note(self, key: str, problem: str) -> None:
        self.problems.append(self.fail(key, problem))

    def collect(self, check, *args) -> Any:
        """``check(*args)``, or None with its problem noted when it raises one."""
        try:
            return check(*args)
        except SpecProblem as exc:
            self.problems.append(exc)
            return None

    def done(self) -> None:
        """Raise the problems noted: one as it is, several as one error that lists them in order."""
        if len(self.problems) == 1:
            raise self.problems[0]
        if self.problems:
            listed = "; ".join(f"({i}) {p.key}: {p.problem}" for i, p in enumerate(self.problems, 1))
            raise UsageError(f"{self.source}: {len(self.problems)} problems: {listed}")

    def values(self, key: str, value: Any) -> list[Any]:
        """A grid axis: a value or a non-empty list of values."""
        values = value if isinstance(value, list) else [value]
        if not values:
            raise self.fail(key, "empty list; give at least one value (or leave the key out for its default)")
        return values

    def ints(self, key: str, value: Any, minimum: int, maximum: int | None = None) -> tuple[int, ...]:
        values = self.values(key, value)
        if not all(isinstance(v, int) and not isinstance(v, bool) and minimum <= v <= (maximum or v) for v in values):
            above = " and < 2^63" if maximum == MAX_SEED else (f" and <= {maximum}" if maximum else "")
            raise self.fail(key, f"expected an integer >= {minimum}{above} or a list of them, got {value!r}")
        return unique(values)

    def one_int(self, key: str, value: Any, minimum: int) -> int:
        """A setting that is one integer, not a grid axis."""
        values = self.ints(key, value, minimum)
        if len(values) > 1:
            raise self.fail(key, f"expected one integer >= {minimum}, got {value!r}")
        return values[0]

    def budgets(self, value: Any) -> tuple[int, ...]:
        """Parameter budgets: whole numbers >= 1, written as integers or as 1e4-style floats."""
        values = self.values("params", value)
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 1 and float(v).is_integer()
                   for v in values):
            raise self.fail("params", f"expected parameter counts (whole numbers >= 1, e.g. 1e4) or a list of them, "
                                      f"got {value!r}")
        return unique(int(v) for v in values)

    def name(self, value: Any) -> str:
        """A plain name (it becomes the directory runs/NAME): letters, digits and -_. not leading."""
        if not isinstance(value, str) or not PLAIN_NAME.fullmatch(value):
            raise self.fail("name", f"{value!r} is not a plain name; use letters, digits and -_. (not first), "
                                    f"e.g. name = \"my-sweep\"")
        return value

    def seeds(self, value: Any) -> tuple[int, ...]:
        if isinstance(value, str):
            try:
                return tuple(parse_seeds(value))
            except UsageError as exc:
                raise self.fail("seeds", str(exc)) from None
        return self.ints("seeds", value, 0, MAX_SEED)

    def gpus(self, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
            raise self.fail("gpus_per_job", f"expected a finite number >= 0 (GPUs per ensemble), got {value!r}")
        return value

    def ntk(self, stages: Any, points: Any) -> NtkOptions:
        points = self.one_int("ntk_points", points, 2)
        listed = stages if isinstance(stages, list) else [stages]
        if not all(isinstance(stage, str) for stage in listed):
            raise self.fail("ntk", f"expected stage names (\"init\", \"final\" or a list of them), got {stages!r}")
        try:
            return NtkOptions(tuple(stages if isinstance(stages, list) else [stages]), points)
        except UsageError as exc:
            raise self.fail("ntk", str(exc)) from None

    def train(self, table: Any) -> tuple[TrainConfig, ...] | None:
        """The grid of training settings: each [train] value, or list of values, is an axis."""
        if not isinstance(table, dict):
            raise self.fail("train", "expected a table of training settings")
        before = len(self.problems)
        axes = {key: self.collect(self._train_values, key, value) for key, value in table.items()}
        if len(self.problems) > before:
            return None
        # coerced: lr = 1 and lr = 1.0 are one setting (and one cell key); a value listed twice is one
        return unique(TrainConfig(**dict(zip(axes, values))) for values in itertools.product(*axes.values()))

    def _train_values(self, key: str, value: Any) -> list[Any]:
        return [self._train_value(key, v) for v in self.values(f"train.{key}", value)]

    def _train_value(self, key: str, value: Any) -> Any:
        """A [train] value checked by its setting's declared type and domain (``TRAIN_PARAMS``), as the
        command line's flags are."""
        if key not in TRAIN_PARAMS:
            raise self.fail(f"train.{key}", f"unknown key{did_you_mean(key, TRAIN_PARAMS)}; "
                                            f"valid keys: {', '.join(TRAIN_PARAMS)}")
        param = TRAIN_PARAMS[key]
        try:
            if isinstance(value, str) and param.type is not str:  # a number written as text ("1e-4") is a typo
                raise ValueError(f"{value!r} is text; write the number without quotes")
            return param.coerce(value)
        except ValueError as exc:
            raise self.fail(f"train.{key}", f"bad value {value!r} ({param.reject(value, exc)})") from None

    def models(self, table: Any) -> tuple[ModelChoice, ...]:
        if not isinstance(table, dict) or not table:
            raise self.fail("models", "expected a table naming at least one model, e.g. [models] siren = {}")
        registry, choices = load_builtin_models(), []
        for name, grids in table.items():
            if grids == []:
                raise self.fail(f"models.{name}", "an empty list; give a table of parameters ({} for the defaults)")
            for grid in grids if isinstance(grids, list) else [grids]:
                choices += self.collect(self._model, registry, name, grid) or []
        return tuple({choice.label: choice for choice in choices}.values())  # a variant in two grids: once

    def _model(self, registry, name: str, grid: Any, table: str = "models") -> list[ModelChoice] | None:
        """The choices of one model's grid in ``table`` ([models] or [tune.models]; None when one of its
        parameters has a problem)."""
        try:
            entry = registry.get(name)
        except UsageError as exc:
            raise self.fail(f"{table}.{name}", str(exc)) from None
        if not isinstance(grid, dict):
            raise self.fail(f"{table}.{name}", "expected a table of parameters, e.g. {S0 = [0.01, 0.1]}, or a list "
                                               "of such tables")
        before, axes = len(self.problems), []
        for key, value in grid.items():
            where = f"{table}.{name}.{key}"
            if key not in entry.accepted:
                also = f" (and {', '.join(entry.reserved)})" if entry.reserved else ""
                self.note(where, f"unknown parameter{did_you_mean(key, entry.accepted)}; "
                                 f"valid keys: {entry.describe_params()}{also}")
            else:
                axes.append([(key, v) for v in self.collect(self._axis, entry.accepted[key], value, where) or ()])
        if len(self.problems) > before:
            return None
        try:
            return [ModelChoice(entry, dict(combo)) for combo in itertools.product(*axes)]
        except UsageError as exc:  # a combination the choice refuses (fr_alpha without fr, fr of a complex scheme)
            raise self.fail(f"{table}.{name}", str(exc)) from None

    def tasks(self, entries: Any, library: SignalLibrary, where: str = "tasks") -> tuple[TaskGrid, ...]:
        if not isinstance(entries, list) or not entries:
            raise self.fail(where, "expected at least one [[tasks]] table with task and signals")
        registry = load_builtin_tasks()
        grids = [self.collect(self._task, registry, f"{where}[{i}]", table, library) for i, table in enumerate(entries)]
        return tuple(grids)

    def tune(self, table: Any, seeds: tuple[int, ...], trains: tuple[TrainConfig, ...],
             models: tuple[ModelChoice, ...], tasks: tuple[TaskGrid, ...], library: SignalLibrary) -> Tuning | None:
        """The [tune] section, checked against the test split it must stay apart from."""
        if not isinstance(table, dict):
            raise self.fail("tune", "expected a table: seeds, metric, models, tasks and [train] settings to try")
        before = len(self.problems)
        for key in table:
            if key not in TUNE_KEYS and key not in TRAIN_PARAMS:
                valid = [*TUNE_KEYS, *TRAIN_PARAMS]
                self.note(f"tune.{key}", f"unknown key{did_you_mean(key, valid)}; valid keys: {', '.join(valid)}")
        if "seeds" not in table:
            raise self.fail("tune.seeds", "missing: the tuning split's seeds (apart from the spec's seeds)")
        tune_seeds = self.collect(self.seeds, table["seeds"])
        if tune_seeds and seeds and set(tune_seeds) & set(seeds):
            self.note("tune.seeds", f"seeds {sorted(set(tune_seeds) & set(seeds))} are test seeds too; tuning must "
                                    f"not see the seeds it is judged on: choose others")
        metric = table.get("metric")
        if metric is not None and (not isinstance(metric, str) or metric not in METRICS):
            self.note("tune.metric", f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")
        tried_trains = None
        if trains is not None:
            if len(trains) > 1:
                self.note("train", "give single values in [train] when the spec has [tune]: the settings to try "
                                   "are listed in [tune]")
            axes = {key: self.collect(self._train_values, key, value) for key, value in table.items()
                    if key in TRAIN_PARAMS}
            if all(values is not None for values in axes.values()):
                tried_trains = unique(replace(trains[0], **dict(zip(axes, values)))
                                      for values in itertools.product(*axes.values()))
        grids = table.get("models", {})
        if not isinstance(grids, dict):
            raise self.fail("tune.models", "expected a table: model = {parameter = [values]}")
        names = {model.entry.name for model in models or ()}
        for name in grids:
            if models is not None and name not in names:
                self.note(f"tune.models.{name}", f"not a model of this spec's [models] ({', '.join(sorted(names))})")
        tried_models = []
        for model in models or ():
            grid = grids.get(model.entry.name, {})
            variants = self.collect(self._model, load_builtin_models(), model.entry.name, grid, "tune.models") or []
            tried = (ModelChoice(model.entry, model.params | v.params) for v in variants)
            tried_models.append((model.label, tuple({c.label: c for c in tried}.values())))  # each variant once
        tune_tasks = self.collect(self.tasks, table["tasks"], library, "tune.tasks") if "tasks" in table else None
        if tune_tasks and all(tune_tasks) and tasks and all(tasks):
            untuned = sorted({g.task for g in tasks} - {g.task for g in tune_tasks})
            if untuned:
                self.note("tune.tasks", f"no tuning signals for task {', '.join(untuned)}; each model chooses per "
                                        f"task, so give every task of [[tasks]] a [[tune.tasks]] entry")
        for i, grid in enumerate(tune_tasks or ()):
            shared = _tested_too(grid, [test for test in tasks or () if test and grid and test.task == grid.task])
            if shared:
                self.note(f"tune.tasks[{i}].signals", f"{', '.join(shared)} are test signals of task {grid.task} "
                                                      f"too; tune on other signals (or leave tune.tasks out)")
        if len(self.problems) > before or tried_trains is None:
            return None
        return Tuning(tune_seeds, metric, tried_trains, tuple(tried_models), tune_tasks)

    def _task(self, registry, where: str, table: Any, library: SignalLibrary) -> TaskGrid | None:
        """One [[tasks]] table (None when its signals or one of its options have a problem)."""
        if not isinstance(table, dict):
            raise self.fail(where, "expected a table with task and signals, e.g. {task = \"audio\", signals = [\"arch\"]}")
        table = dict(table)
        try:
            entry = registry.get(table.pop("task", None) or "")
        except UsageError as exc:
            raise self.fail(f"{where}.task", str(exc)) from None
        before = len(self.problems)
        signals = self.collect(self._signals, where, table.pop("signals", None), entry.meta["domain"], library)
        options = []
        for key, value in table.items():
            if key not in entry.params:
                valid = ["task", "signals", *entry.params]
                self.note(f"{where}.{key}", f"unknown key for task {entry.name}{did_you_mean(key, valid)}; "
                                            f"valid keys: {', '.join(valid)}")
            else:
                options.append((key, self.collect(self._axis, entry.params[key], value, f"{where}.{key}")))
        if len(self.problems) > before:
            return None
        return task_grid(entry.name, signals, tuple(options), library)

    def _signals(self, where: str, signals: Any, domain: str, library: SignalLibrary) -> tuple[str, ...]:
        """A task's signals, each by its one name (``SignalLibrary.canonical``), without repeats; a set's name
        (``SignalLibrary.sets``, e.g. "kodak512") stands for every signal of the set."""
        if not isinstance(signals, list) or not signals or not all(isinstance(s, str) for s in signals):
            raise self.fail(f"{where}.signals", "expected a non-empty list of signal names or paths")
        try:
            return unique(library.canonical(self._located(ref, library), domain) for ref in library.expand(signals))
        except UsageError as exc:
            raise self.fail(f"{where}.signals", str(exc)) from None

    def _located(self, ref: str, library: SignalLibrary) -> str:
        """``ref`` as a path in ``signal_dir`` when it is a relative file path there (or written as one: with a
        suffix or a folder); a manifest or synthetic name, an absolute path, or any path of a spec without a
        folder as it is."""
        if (self.signal_dir is None or is_synthetic(ref) or ref in library.entries
                or Path(ref).expanduser().is_absolute()):
            return ref
        located = self.signal_dir / ref
        if not (located.is_file() or Path(ref).suffix or len(Path(ref).parts) > 1):
            return ref  # a name: the library says which names there are
        self.relative = True
        return str(located)

    def signal_folder(self, value: Any) -> Path:
        """``signal_dir``: an absolute folder (a copy of the spec, such as a sweep's _spec.toml, lies elsewhere)."""
        folder = Path(value).expanduser() if isinstance(value, str) and value.strip() else None
        if folder is None or not folder.is_absolute():
            raise self.fail("signal_dir", f"expected the absolute path of a folder, got {value!r}; leave it out to "
                                          f"read relative signal paths in the spec file's folder")
        if not folder.is_dir():
            raise self.fail("signal_dir", f"no folder {folder}; name the folder the spec's relative signal paths are in")
        return folder

    def _axis(self, param, value: Any, key: str) -> tuple[Any, ...]:
        """A grid axis of a parameter: its distinct values, each checked."""
        return unique(self._coerce(param, v, key) for v in self.values(key, value))

    def _coerce(self, param, value: Any, key: str) -> Any:
        try:
            return param.coerce(value)
        except ValueError as exc:
            raise self.fail(key, param.reject(value, exc)) from None


def parse_spec(text: str, source: str, library: SignalLibrary, default_name: str = "sweep",
               folder: Path | None = None) -> Spec:
    """Validate a spec's TOML text; ``source`` names it in error messages. The problems of independent keys
    are reported together, in one UsageError. Relative signal paths are read in ``signal_dir``, else in
    ``folder`` (the spec file's), else in the working directory; the spec's ``text`` then names the folder
    they were read in, so that a copy of it (a sweep's _spec.toml) reads the same files from anywhere."""
    check = _Checker(source, folder.resolve() if folder is not None else None)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{source}: not valid TOML: {exc}") from None
    if "signal_dir" in raw:  # at once: the signals cannot be found without it
        check.signal_dir = check.signal_folder(raw["signal_dir"])
    unknown = [key for key in raw if key not in TOP_KEYS]
    for key in unknown:
        check.note(key, f"unknown key{did_you_mean(key, TOP_KEYS)}; valid keys: {', '.join(TOP_KEYS)}")
    for key in () if unknown else ("models", "tasks", "seeds"):  # an unknown key may be a missing one misspelled
        if key not in raw:
            check.note(key, "missing (a spec needs models, tasks and seeds)")
    name = check.collect(check.name, raw["name"]) if "name" in raw else default_name
    seeds = check.collect(check.seeds, raw["seeds"]) if "seeds" in raw else None
    if "widths" in raw and "params" in raw:
        check.note("params", "give widths or params (parameter budgets), not both")
    budgets = check.collect(check.budgets, raw["params"]) if "params" in raw else ()
    widths = () if budgets else check.collect(check.ints, "widths", raw.get("widths", DEFAULT_WIDTH), 1)
    layers = check.collect(check.ints, "layers", raw.get("layers", DEFAULT_LAYERS), 1)
    max_members = check.collect(check.one_int, "max_members", raw["max_members"], 1) if "max_members" in raw else None
    gpus = check.collect(check.gpus, raw["gpus_per_job"]) if "gpus_per_job" in raw else None
    ntk = check.collect(check.ntk, raw["ntk"], raw.get("ntk_points", NtkOptions.points)) if "ntk" in raw else None
    trains = check.collect(check.train, raw.get("train", {}))
    models = check.collect(check.models, raw["models"]) if "models" in raw else None
    tasks = check.collect(check.tasks, raw["tasks"], library) if "tasks" in raw else None
    tune = check.collect(check.tune, raw["tune"], seeds, trains, models, tasks, library) if "tune" in raw else None
    check.done()
    if check.relative and "signal_dir" not in raw:  # so that a copy of the text reads the same files from anywhere
        text = f"signal_dir = {json.dumps(str(check.signal_dir))}  # added by bench\n{text}"
    return Spec(name=name, models=models, tasks=tasks, widths=widths, layers=layers, seeds=seeds, trains=trains,
                max_members=max_members, text=text, ntk=ntk, gpus_per_job=gpus, budgets=budgets, tune=tune)


def unregistered(text: str) -> list[str]:
    """The models and tasks a spec's TOML ``text`` names that are not registered in this process (a plugin's,
    not loaded), e.g. ["model my_init"]; [] for a spec that is not valid TOML (``parse_spec`` says why)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return []
    models = raw.get("models") if isinstance(raw.get("models"), dict) else {}
    tasks = raw.get("tasks") if isinstance(raw.get("tasks"), list) else []
    known_models, known_tasks = load_builtin_models().names(), load_builtin_tasks().names()
    return ([f"model {name}" for name in models if name not in known_models]
            + [f"task {table['task']}" for table in tasks
               if isinstance(table, dict) and isinstance(table.get("task"), str) and table["task"] not in known_tasks])


def load_spec(path: str | Path, library: SignalLibrary) -> Spec:
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"spec file not found: {path}; pass a .toml file (see specs/)")
    return parse_spec(path.read_text(), str(path), library, default_name=path.stem, folder=path.parent)
