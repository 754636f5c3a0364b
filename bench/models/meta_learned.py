"""Meta-learned init (Tancik et al., "Learned Initializations for Optimizing Coordinate-Based Neural
Representations", CVPR 2021, arXiv 2012.02189; code tancik/learnit): the starting weights are meta-learned
over many signals of one kind, then a new signal is fitted from them as usual. Here with Reptile (Nichol et
al. 2018, one of the paper's two meta-learners): from SIREN's init of the member's seed, each outer step
fits ``batch`` pieces of the family's train split for ``inner_steps`` Adam steps, all at once as one
ensemble of ``batch`` members (each member its own piece), and moves the starting weights ``outer_lr`` of
the way to the mean of the fitted ones. docs/methods.md, "Learned inits".

Learning runs once per (parameters, family definition and train-source content, network, seed, torch
version) and is cached as a file keyed by that content (bench.learned_cache): the next member of the same
seed reads it back. It runs on the CPU, where every init runs, and
records its cost (``learn_seconds``, ``learn_member_steps``) in each row it starts.
"""

from __future__ import annotations

import time

import torch
from tqdm import tqdm

from bench.families import family_to_learn_from, train_pieces
from bench.learned_cache import learning_key, load_or_learn
from bench.models import Member, register_model
from bench.models.ensemble import Ensemble
from bench.models.siren import siren
from bench.registry import PositiveFloat, PositiveInt
from bench.signals import SignalLibrary

VERSION = 1  # of the learning procedure: a change that alters learned weights bumps it (a new cache key)


@register_model(learned=True)
def meta_learned(m: Member, family: str = "audio-windows", outer_steps: PositiveInt = 100,
                 inner_steps: PositiveInt = 8, inner_lr: PositiveFloat = 1e-4, outer_lr: PositiveFloat = 1.0,
                 batch: PositiveInt = 4, w0: PositiveFloat = 30.0, w0_first: PositiveFloat | None = None) -> dict:
    """Meta-learned (Tancik et al. 2021), Reptile over a family's train split from SIREN's init; cached."""
    library = SignalLibrary()
    chosen = family_to_learn_from(family, m.signal, "meta_learned", library)
    used = siren(m, w0, w0_first)
    learning_seed = int(torch.randint(2**31, (1,), generator=m.generator))  # fixed by the member's seed
    settings = {"outer_steps": outer_steps, "inner_steps": inner_steps, "inner_lr": inner_lr, "outer_lr": outer_lr,
                "batch": batch}
    key = learning_key("meta_learned", VERSION, settings | used | {"w0": w0}, chosen, library, m, learning_seed)
    learned = load_or_learn("meta_learned", key,
                            lambda: _reptile(m, *train_pieces(chosen, library), settings, learning_seed))
    m.weights = [w.clone() for w in learned["weights"]]
    m.biases = [b.clone() for b in learned["biases"]]
    return used | {"learn_seconds": learned["seconds"], "learn_member_steps": learned["member_steps"],
                   "learned_key": key[:20]}


def _reptile(m: Member, coords: torch.Tensor, targets: torch.Tensor, settings: dict, seed: int) -> dict:
    """Reptile from the member's current weights over the pieces ``targets`` [P, N, d_out] at ``coords`` [N, d_in]:
    {"weights", "biases" (the learned ones, in Member's shapes), "seconds", "member_steps"}."""
    batch = min(settings["batch"], len(targets))
    draws = torch.Generator().manual_seed(seed)
    weights = [w.clone() for w in m.weights]
    biases = [b.clone() for b in m.biases]
    started = time.perf_counter()
    for _ in tqdm(range(settings["outer_steps"]), desc="meta_learned: Reptile", unit="outer step", leave=False,
                  disable=None):
        chosen = torch.randperm(len(targets), generator=draws)[:batch]
        inner = Ensemble([_member_with(m, weights, biases) for _ in range(batch)], m.layers)
        optimizer = torch.optim.Adam(inner.parameters(), lr=settings["inner_lr"])
        for _ in range(settings["inner_steps"]):
            loss = (inner(coords) - targets[chosen]).square().mean(dim=(1, 2)).sum()  # one piece per member
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        with torch.no_grad():  # theta <- theta + outer_lr (mean of the fitted weights - theta)
            for i in range(len(weights)):
                weights[i] += settings["outer_lr"] * (inner.weights[i].mean(dim=0) - weights[i])
                biases[i] += settings["outer_lr"] * (inner.biases[i][:, 0].mean(dim=0) - biases[i])
    return {"weights": weights, "biases": biases, "seconds": time.perf_counter() - started,
            "member_steps": settings["outer_steps"] * settings["inner_steps"] * batch}


def _member_with(m: Member, weights: list, biases: list) -> Member:
    """A copy of member ``m`` (its layers, omegas and signal) holding these weights and biases."""
    copy = Member(m.layers, 0, m.signal)
    copy.weights = [w.clone() for w in weights]
    copy.biases = [b.clone() for b in biases]
    copy.omegas = list(m.omegas)
    return copy
