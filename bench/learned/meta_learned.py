"""Meta-learned init (Tancik et al., "Learned Initializations for Optimizing Coordinate-Based Neural
Representations", CVPR 2021, arXiv 2012.02189; code tancik/learnit): the starting weights are meta-learned
over many signals of one kind, then a new signal is fitted from them as usual. Two meta-learners, the
paper's two, both from SIREN's init of the member's seed and ``batch`` pieces of the family's train split per
outer step:

- ``method = "reptile"`` (Nichol et al. 2018; the default): fit the pieces for ``inner_steps`` Adam steps, all
  at once as one ensemble of ``batch`` members (each member its own piece), and move the starting weights
  ``outer_lr`` of the way to the mean of the fitted ones.
- ``method = "maml"`` (Finn et al. 2017): the loss of each piece after ``inner_steps`` plain gradient steps
  from the starting weights, differentiated through those steps (second order, with torch.func), averaged
  over the pieces and followed by one Adam step of the starting weights, as the learnit demo does.

Learning runs once per (parameters, family definition and train-source content, network, seed, torch
version) and is cached as a file keyed by that content (bench.learned.cache): the next member of the same
seed reads it back, and a learning killed midway resumes from its saved progress. It runs on the CPU, where
every init runs, and records its cost (``learn_seconds``, ``learn_member_steps``) in each row it starts.
docs/methods.md, "Learned inits".
"""

from __future__ import annotations

from typing import Annotated

import torch
from tqdm import tqdm

from bench.learned.families import family_to_learn_from, train_pieces
from bench.learned.cache import LearningProgress, learning_key, load_or_learn
from bench.models import Member, register_model
from bench.models.ensemble import Ensemble
from bench.models.siren import siren
from bench.core.registry import OneOf, PositiveFloat, PositiveInt
from bench.signals.library import SignalLibrary

VERSION = 1  # of the learning procedure: a change that alters learned weights bumps it (a new cache key)
# method -> (inner steps, inner learning rate, outer learning rate) when not given. Reptile's are ours (8 Adam
# steps inside, a full move outside). MAML's inner loop is the learnit demo's (2 plain gradient steps of 1e-2)
# and its outer Adam rate ours: the demo's 1e-5 is for 150,000 outer steps, ours are a hundred (on a relay
# window, 1e-3 fitted 13.4 dB after 100 steps where 1e-4 fitted 8.0 and siren 3.0).
DEFAULTS = {"reptile": (8, 1e-4, 1.0), "maml": (2, 1e-2, 1e-3)}


@register_model(learned=True)
def meta_learned(m: Member, family: str = "audio-windows", method: Annotated[str, OneOf(*DEFAULTS)] = "reptile",
                 outer_steps: PositiveInt = 100, inner_steps: PositiveInt | None = None,
                 inner_lr: PositiveFloat | None = None,
                 outer_lr: PositiveFloat | None = None, batch: PositiveInt = 4, w0: PositiveFloat = 30.0,
                 w0_first: PositiveFloat | None = None) -> dict:
    """Meta-learned (Tancik et al. 2021) from SIREN's init; auto: Reptile 8 x Adam 1e-4, outer 1; MAML 2 x 1e-2.

    MAML's outer step is Adam at 1e-3 unless ``outer_lr`` says otherwise (``DEFAULTS``)."""
    library = m.signal.library or SignalLibrary()  # where the task read its signal
    chosen = family_to_learn_from(family, m.signal, "meta_learned", library)
    used = siren(m, w0, w0_first)
    learning_seed = int(torch.randint(2**31, (1,), generator=m.generator))  # fixed by the member's seed
    given = {"inner_steps": inner_steps, "inner_lr": inner_lr, "outer_lr": outer_lr}
    settings = {"method": method, "outer_steps": outer_steps, "batch": batch} | {
        key: default if given[key] is None else given[key] for key, default in zip(given, DEFAULTS[method])}
    key = learning_key("meta_learned", VERSION, settings | used | {"w0": w0}, chosen, library, m, learning_seed)
    learn = _maml if method == "maml" else _reptile
    rates = {name: settings[name] for name in ("inner_lr", "outer_lr")}
    learned = load_or_learn("meta_learned", key, rates, lambda progress: learn(
        m, *train_pieces(chosen, library, m.signal.d_out), settings, learning_seed, progress))
    m.weights = [w.clone() for w in learned["weights"]]
    m.biases = [b.clone() for b in learned["biases"]]
    return used | {"learn_seconds": learned["seconds"], "learn_member_steps": learned["member_steps"],
                   "learned_key": key[:20]}


def _reptile(m: Member, coords: torch.Tensor, targets: torch.Tensor, settings: dict, seed: int,
             progress: LearningProgress) -> dict:
    """Reptile from the member's current weights (or the progress saved) over the pieces ``targets``
    [P, N, d_out] at ``coords`` [N, d_in]: {"weights", "biases" (the learned ones, in Member's shapes),
    "seconds", "member_steps"}."""
    batch = min(settings["batch"], len(targets))
    draws = torch.Generator().manual_seed(seed)
    weights = [w.clone() for w in m.weights]
    biases = [b.clone() for b in m.biases]
    done = progress.restore(weights + biases, draws=draws)
    for step in tqdm(range(done, settings["outer_steps"]), desc="meta_learned: Reptile", unit="outer step",
                     initial=done, total=settings["outer_steps"], leave=False, disable=None):
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
        progress.save(step + 1, weights + biases, draws=draws)
    return {"weights": weights, "biases": biases, "seconds": progress.seconds(),
            "member_steps": settings["outer_steps"] * settings["inner_steps"] * batch}


def _maml(m: Member, coords: torch.Tensor, targets: torch.Tensor, settings: dict, seed: int,
          progress: LearningProgress) -> dict:
    """Second-order MAML from the member's current weights (or the progress saved), for a SIREN (sine layers
    with the member's frequencies, then a linear output): each outer step the mean over ``batch`` pieces of a
    piece's MSE after ``inner_steps`` gradient steps of ``inner_lr``, its gradient by torch.func (vmap over
    the pieces, grad through the inner steps), and an Adam step of ``outer_lr``. Returns what ``_reptile``
    does; ``member_steps`` counts inner steps x pieces."""
    batch = min(settings["batch"], len(targets))
    draws = torch.Generator().manual_seed(seed)
    start = [t.clone().requires_grad_() for t in m.weights + m.biases]
    optimizer = torch.optim.Adam(start, lr=settings["outer_lr"])
    done = progress.restore(start, optimizer, draws)
    layers = len(m.weights)
    omegas = [float(omega) for omega in m.omegas[:layers - 1]]

    def mse(params: list[torch.Tensor], target: torch.Tensor) -> torch.Tensor:
        h = coords
        for i in range(layers - 1):
            h = torch.sin(omegas[i] * (h @ params[i].T + params[layers + i]))
        return ((h @ params[layers - 1].T + params[-1]) - target).square().mean()

    def adapted(params: list[torch.Tensor], target: torch.Tensor) -> torch.Tensor:
        for _ in range(settings["inner_steps"]):
            grads = torch.func.grad(mse)(params, target)
            params = [p - settings["inner_lr"] * g for p, g in zip(params, grads)]
        return mse(params, target)

    def outer_loss(params: list[torch.Tensor], pieces: torch.Tensor) -> torch.Tensor:
        return torch.func.vmap(adapted, in_dims=(None, 0))(params, pieces).mean()

    outer_grad = torch.func.grad(outer_loss)
    for step in tqdm(range(done, settings["outer_steps"]), desc="meta_learned: MAML", unit="outer step",
                     initial=done, total=settings["outer_steps"], leave=False, disable=None):
        chosen = torch.randperm(len(targets), generator=draws)[:batch]
        grads = outer_grad([t.detach() for t in start], targets[chosen])
        for tensor, grad in zip(start, grads):
            tensor.grad = grad
        optimizer.step()
        progress.save(step + 1, start, optimizer, draws)
    learned = [t.detach() for t in start]
    return {"weights": learned[:layers], "biases": learned[layers:], "seconds": progress.seconds(),
            "member_steps": settings["outer_steps"] * settings["inner_steps"] * batch}


def _member_with(m: Member, weights: list, biases: list) -> Member:
    """A copy of member ``m`` (its layers, omegas and signal) holding these weights and biases."""
    copy = Member(m.layers, 0, m.signal)
    copy.weights = [w.clone() for w in weights]
    copy.biases = [b.clone() for b in biases]
    copy.omegas = list(m.omegas)
    return copy
