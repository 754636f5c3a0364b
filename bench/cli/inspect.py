"""`bench ntk` (empirical NTK spectra at init) and `bench diagnose` (per-layer activations at init):
the un-trained members, looked at."""

from __future__ import annotations

import argparse
import sys

from bench.cli.options import add_format, add_members, common, positive, task_options
from bench.core.errors import UsageError


def add_ntk(sub) -> None:
    sub.add_parser("ntk", parents=[common()], help="empirical NTK spectra and spectral energy at init",
                   description="Empirical NTK of every member (models x seeds) at init on --points consecutive points "
                               "of the task's grid (images: a central square patch): spectral energy summaries per "
                               "member, a table of their means, optional plot and Parquet rows.", build=_ntk_arguments)


def _ntk_arguments(ntk: argparse.ArgumentParser) -> None:
    add_members(ntk)
    ntk.add_argument("--points", type=positive(int), default=1024, help="M, points of the NTK (default 1024)")
    ntk.add_argument("--out", help="write one row per member (Parquet) into this directory")
    ntk.add_argument("--plot", help="write the spectra and eigenvalue decay to this image file (.png, .pdf)")
    add_format(ntk)
    ntk.set_defaults(func=cmd_ntk)


def cmd_ntk(args: argparse.Namespace) -> int:
    from bench.analysis.ntk import ntk_matrix, ntk_means, ntk_points, ntk_rows, plot_spectra, spectra
    from bench.experiment.store import write_rows

    task, specs, model, arch, device = _members_and_task(args, "ntk")
    coords, shape = ntk_points(task, args.points)
    members = spectra(ntk_matrix(model, coords), shape)
    rows = ntk_rows(task, specs, arch, members, args.points, device)
    table = ntk_means(rows)
    print(table.to_markdown(floatfmt=".4g") if args.format == "markdown" else table.to_csv())
    if args.out:
        print(f"wrote {len(rows)} rows to {write_rows(args.out, rows)}", file=sys.stderr)
    if args.plot:
        curves: dict[str, list] = {}
        for spec, member in zip(specs, members):
            curves.setdefault(spec.model.label, []).append(member)
        plot_spectra(curves, args.plot, centroid=task.info.centroid,
                     title=f"NTK at init: {task.name}:{task.signal}, {args.points} points"
                           + (f" (a central {shape[0]} x {shape[1]} patch)" if len(shape) == 2 else " (the first)"))
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0


def add_diagnose(sub) -> None:
    sub.add_parser("diagnose", parents=[common()], help="per-layer activation statistics and figure of one member at init",
                   description="Pre- and post-activations of the first --model with the first seed on --points evenly "
                               "spaced inputs in [-1, 1]: their spread against theory (arcsine law; normal with the "
                               "predicted variance) and periodograms.", build=_diagnose_arguments)


def _diagnose_arguments(diagnose: argparse.ArgumentParser) -> None:
    add_members(diagnose)
    diagnose.add_argument("--points", type=positive(int), default=16384, help="evenly spaced inputs (default 16384)")
    diagnose.add_argument("--plot", help="write the figure to this image file (.png, .pdf)")
    add_format(diagnose)
    diagnose.set_defaults(func=cmd_diagnose)


def cmd_diagnose(args: argparse.Namespace) -> int:
    import torch

    from bench.analysis.diagnostics import layer_activations, layer_table, plot_activations

    task, specs, model, arch, device = _members_and_task(args, "diagnose")
    coords = torch.linspace(-1, 1, args.points, device=device)[:, None]
    layers = layer_activations(model, coords, member=0)
    table = layer_table(layers)
    print(table.to_markdown(index=False, floatfmt=".4g") if args.format == "markdown" else table.to_csv(index=False))
    if args.plot:
        plot_activations(layers, args.plot, title=f"{specs[0].model.label}, seed {specs[0].seed}, "
                                                  f"{arch.layers} x {arch.width}")
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0


def _members_and_task(args: argparse.Namespace, feature: str):
    """The task and the un-trained ensemble (models x seeds) that `bench ntk` / `bench diagnose` inspect
    (``feature``: "ntk" or "diagnose", which the models must support)."""
    from bench import learned  # noqa: F401  (the learned schemes may be inspected too)
    from bench.core.provenance import resolve_device
    from bench.experiment.presets import DEFAULTS
    from bench.experiment.spec import parse_seeds
    from bench.models import Architecture, MemberSpec, build_ensemble, parse_model, unsupported
    from bench.signals.library import SignalLibrary
    from bench.tasks import load_task, parse_task

    device = resolve_device(args.device)
    name = args.task or DEFAULTS["task"]
    options = parse_task(name)[0].parse_options(task_options(args))
    task = load_task(name, SignalLibrary(args.data_dir), options).to(device)
    specs = [MemberSpec(parse_model(text), seed) for text in args.model or DEFAULTS["models"]
             for seed in parse_seeds(args.seeds or DEFAULTS["seeds"])]
    arch = Architecture.of(task.info, args.width or DEFAULTS["width"], args.layers or DEFAULTS["layers"])
    reason = unsupported([spec.model for spec in specs], arch, feature)
    if reason:
        fix = "use an audio task (the default)" if feature == "diagnose" and arch.d_in != 1 else "drop that model"
        raise UsageError(f"{reason}; {fix}")
    model, _ = build_ensemble(specs, arch, task.info)
    return task, specs, model.to(device), arch, device
