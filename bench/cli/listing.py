"""`bench list`: the registered models (with parameter counts), tasks, signals and signal families."""

from __future__ import annotations

import argparse

from bench.cli.options import add_data_dir, common, positive
from bench.core.errors import UsageError


def add_list(sub) -> None:
    sub.add_parser("list", parents=[common()], help="list models, tasks, signals or signal families",
                   description="List the registered models (with parameter counts), tasks, the signals of the "
                               "manifest, or the signal families learned inits learn from (their pieces and the "
                               "sources of each split).", build=_list_arguments)


def _list_arguments(listing: argparse.ArgumentParser) -> None:
    from bench.experiment.presets import DEFAULTS

    listing.add_argument("what", choices=["models", "tasks", "signals", "families"])
    add_data_dir(listing)
    listing.add_argument("--width", type=positive(int), default=DEFAULTS["width"],
                         help=f"models: count parameters at this width (default {DEFAULTS['width']})")
    listing.add_argument("--layers", type=positive(int), default=DEFAULTS["layers"],
                         help=f"models: ... and this many hidden layers (default {DEFAULTS['layers']})")
    listing.add_argument("--params", type=positive(int), metavar="N",
                         help="models: instead of --width, the width nearest N trainable parameters and its count")
    listing.add_argument("--d-in", type=positive(int), default=1, help="models: input dimension (default 1)")
    listing.add_argument("--d-out", type=positive(int), default=1, help="models: output dimension (default 1)")
    listing.set_defaults(func=cmd_list)


def cmd_list(args: argparse.Namespace) -> int:
    from bench import learned  # noqa: F401  (the learned schemes are listed too)
    from bench.models import load_builtin_models
    from bench.signals import band_noise
    from bench.signals.library import SYNTHETIC, SignalLibrary
    from bench.signals.shapes import SYNTHETIC_SHAPES
    from bench.tasks import load_builtin_tasks
    from bench.tasks.audio import SYNTHETIC_LENGTH

    if args.what == "models":
        from bench.models import Architecture, parameter_count

        if args.params:
            return _list_budget(args)
        arch = Architecture(args.d_in, args.width, args.layers, args.d_out)
        print(f"parameters for d_in={args.d_in}, d_out={args.d_out}, {args.layers} x {args.width}:")
        for entry in load_builtin_models():  # counted from each plan: no init runs (a learned one would learn)
            print(f"{entry.name:18s} {entry.summary}")
            print(f"{'':18s} {parameter_count(arch.layers_of(entry.meta['plan'])):,} parameters; "
                  f"params: {entry.describe_params()}")
        print(_fr_note())
    elif args.what == "families":
        _list_families(args)
    elif args.what == "tasks":
        for entry in load_builtin_tasks():
            options = ", ".join("--" + p.replace("_", "-") for p in entry.params) or "none"
            print(f"{entry.name:14s} {entry.summary}  [options: {options}]")
        print(f"signals: a manifest name (bench list signals), a file path, synthetic:{', synthetic:'.join(SYNTHETIC)}, "
              f"or synthetic:{band_noise.USAGE}; shapes (sdf): a mesh file, a manifest shape or "
              f"synthetic:{', synthetic:'.join(SYNTHETIC_SHAPES)}")
    else:
        library = SignalLibrary(args.data_dir)
        for entry in library.entries.values():
            where = library.local_path(entry)
            status = f"local: {where}" if where else "not local (downloaded on first use)"
            details = ", ".join(f"{k}={v}" for k, v in entry.details.items())
            print(f"{entry.name:18s} {entry.kind:6s} {details}  [{status}]")
            print(f"{'':25s} licence: {entry.licence}")
        for name, members in library.sets.items():
            local = sum(library.local_path(library.entries[member]) is not None for member in members)
            kinds = "/".join(dict.fromkeys(library.entries[member].kind for member in members))
            print(f"{name:18s} {kinds:6s} a set of {len(members)}: {members[0]} ... {members[-1]} (a spec's signals "
                  f"may name the set)  [local: {local} of {len(members)}]")
        for name in SYNTHETIC:
            print(f"{'synthetic:' + name:18s} both   generated in code (seed 0)  [always available]")
        print(f"{'synthetic:band':18s} both   noise with a controlled spectrum: synthetic:{band_noise.USAGE}; centroid in\n"
              f"{'':25s} Nyquist units (0, 1), bandwidth the band's FWHM, floor the level of frequencies below it\n"
              f"{'':25s} (0..1 of the band's peak); clips are made at --max-samples (default {SYNTHETIC_LENGTH:,}), images\n"
              f"{'':25s} at --side  [always available]")
        for name in SYNTHETIC_SHAPES:
            print(f"{'synthetic:' + name:18s} shape  a {name} mesh made in code (sdf task)  [always available]")
    return 0


def _list_families(args: argparse.Namespace) -> None:
    """Each declared family: its pieces (the task options of the first), count, and the sources of each split."""
    from bench.learned.families import FAMILIES, families_file, load_families
    from bench.signals.library import SignalLibrary

    library = SignalLibrary(args.data_dir)
    where = " and ".join(dict.fromkeys(str(path) for path in (FAMILIES, families_file())))
    print(f"signal families in {where} (learned inits learn from train, are judged on test):")
    for family in load_families(library=library).values():
        source, options = family.pieces("train")[0]
        first = " ".join(f"--{key.replace('_', '-')} {value}" for key, value in options.items())
        print(f"{family.name:18s} {family.kind:6s} {len(family.starts)} pieces a source, e.g. "
              f"{family.kind}:{source} {first}")
        print(f"{'':25s} train: {', '.join(family.train)}")
        print(f"{'':25s} test:  {', '.join(family.test)}")


def _fr_note() -> str:
    """The option every model takes, and the models that refuse it."""
    from bench.models import load_builtin_models
    from bench.models.fr import FR_PARAMS, fr_checked

    refused = []
    for entry in load_builtin_models():
        try:
            fr_checked(entry.name, entry.meta, {"fr": True})
        except UsageError:
            refused.append(entry.name)
    settings = ", ".join(param.describe() for name, param in FR_PARAMS.items() if name != "fr")
    return (f"every model but {', '.join(refused)} also takes fr=true (e.g. --model siren:fr=true): Fourier "
            f"reparameterized training (FR-INR, Shi et al. 2024) of its hidden-to-hidden layers, with {settings} "
            f"(auto: per input dimension); parameters then count the basis' coefficients; a scheme that clamps its "
            f"hidden weights during training refuses it when built")


def _list_budget(args: argparse.Namespace) -> int:
    """Each model's width for a budget of ``--params`` parameters and its exact count."""
    from bench.models import ModelChoice, load_builtin_models, width_for_budget

    print(f"widths for {args.params:,} parameters, d_in={args.d_in}, d_out={args.d_out}, {args.layers} hidden layers:")
    for entry in load_builtin_models():
        try:
            width, count = width_for_budget(ModelChoice(entry, {}), args.d_in, args.layers, args.d_out, args.params)
            print(f"{entry.name:18s} width {width:<6d} {count:,} parameters ({100 * (count / args.params - 1):+.1f}%)")
        except UsageError as exc:
            print(f"{entry.name:18s} out of reach: {exc}")
    return 0
