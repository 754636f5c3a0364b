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
  over the pieces and followed by one Adam step of the starting weights, as the learnit demo does. The inner
  steps are the demo's: taken in the demo's parametrisation (``_demo_units``: every sine layer sin(200 (W h +
  b)), coordinates in [0, 1], signal values in [0, 1]), which is our network under a change of variables, so
  ``inner_lr`` means what the demo's 1e-2 means whatever our frequencies (docs/methods.md derives the
  equivalent per-layer rates: (200 / omega_i)^2 / 4 x ``inner_lr`` on a hidden sine layer).

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

VERSION = 2  # of the learning procedure: a change that alters learned weights bumps it (a new cache key)
# method -> (inner steps, inner learning rate, outer learning rate) when not given. Reptile's are ours (8 Adam
# steps inside, a full move outside). MAML's inner loop is the learnit demo's (2 plain gradient steps of 1e-2 in
# the demo's parametrisation, meta_demo.ipynb cell 12 lines 8-9) and its outer Adam rate ours: the demo's 1e-5
# is for 150,000 outer steps, ours are a hundred (1e-3 was chosen when the inner steps were taken in our own
# parametrisation, and has not been tuned again since).
DEFAULTS = {"reptile": (8, 1e-4, 1.0), "maml": (2, 1e-2, 1e-3)}


@register_model(learned=True)
def meta_learned(m: Member, family: str = "audio-windows", method: Annotated[str, OneOf(*DEFAULTS)] = "reptile",
                 outer_steps: PositiveInt = 100, inner_steps: PositiveInt | None = None,
                 inner_lr: PositiveFloat | None = None,
                 outer_lr: PositiveFloat | None = None, batch: PositiveInt = 4, w0: PositiveFloat = 30.0,
                 w0_first: PositiveFloat | None = None) -> dict:
    """Meta-learned (Tancik et al. 2021) from SIREN's init; auto: Reptile 8 x Adam 1e-4, outer 1; MAML 2 x 1e-2.

    MAML's inner rate is the learnit demo's, in the demo's parametrisation (w0 = 200 in every layer, coordinates
    and values in [0, 1]); its outer step is Adam at 1e-3 unless ``outer_lr`` says otherwise (``DEFAULTS``)."""
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
    piece's MSE after ``inner_steps`` of the demo's gradient steps of ``inner_lr`` (``_inner_steps``), its
    gradient by torch.func (vmap over the pieces, grad through the inner steps), and an Adam step of
    ``outer_lr``. Returns what ``_reptile`` does; ``member_steps`` counts inner steps x pieces."""
    batch = min(settings["batch"], len(targets))
    draws = torch.Generator().manual_seed(seed)
    start = [t.clone().requires_grad_() for t in m.weights + m.biases]
    optimizer = torch.optim.Adam(start, lr=settings["outer_lr"])
    done = progress.restore(start, optimizer, draws)
    layers = len(m.weights)
    omegas = [float(omega) for omega in m.omegas[:layers - 1]]

    def adapted(params: list[torch.Tensor], target: torch.Tensor) -> torch.Tensor:
        fitted = _inner_steps(params, omegas, coords, target, settings["inner_lr"], settings["inner_steps"])
        return _mse(fitted, omegas, coords, target)

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


DEMO_W0 = 200.0  # the learnit demo's frequency, in every layer (meta_demo.ipynb cell 8, lines 2 and 17)


def _mse(params: list[torch.Tensor], omegas: list[float], coords: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The MSE of our SIREN ``params`` (L weights [out, in], then L biases [out]; sin(omega_i (W_i h + b_i)) for
    i < L - 1 with ``omegas`` [L - 1], then linear) at ``coords`` [N, d_in] against ``target`` [N, d_out]."""
    layers = len(params) // 2
    h = coords
    for i in range(layers - 1):
        h = torch.sin(omegas[i] * (h @ params[i].T + params[layers + i]))
    return ((h @ params[layers - 1].T + params[-1]) - target).square().mean()


def _demo_units(params: list[torch.Tensor], omegas: list[float]) -> list[torch.Tensor]:
    """Our SIREN ``params`` (as ``_mse`` takes them) as the learnit demo's network computing the same function:
    sine layer i is sin(200 (W'_i h + b'_i)) on coordinates x' = (x + 1) / 2 in [0, 1] (ours are in [-1, 1]),
    and the head gives y' = (y + 1) / 2 = W' h + b' + 0.5 (the demo's values in [0, 1], ours in [-1, 1]).
    So W'_0 = 2 c_0 W_0, b'_0 = c_0 (b_0 - W_0 1); W'_i = c_i W_i, b'_i = c_i b_i; W' = W / 2, b' = b / 2 for the
    head; c_i = omega_i / 200. Same layout as ``params``."""
    layers = len(params) // 2
    weights, biases = list(params[:layers]), list(params[layers:])
    for i in range(layers - 1):
        c = omegas[i] / DEMO_W0
        if i == 0:
            weights[0], biases[0] = 2 * c * weights[0], c * (biases[0] - weights[0].sum(dim=1))
        else:
            weights[i], biases[i] = c * weights[i], c * biases[i]
    weights[-1], biases[-1] = weights[-1] / 2, biases[-1] / 2
    return weights + biases


def _our_units(demo: list[torch.Tensor], omegas: list[float]) -> list[torch.Tensor]:
    """The inverse of ``_demo_units``: the demo network's ``demo`` parameters as our SIREN's."""
    layers = len(demo) // 2
    weights, biases = list(demo[:layers]), list(demo[layers:])
    for i in range(layers - 1):
        c = omegas[i] / DEMO_W0
        if i == 0:
            weights[0] = demo[0] / (2 * c)
            biases[0] = demo[layers] / c + weights[0].sum(dim=1)
        else:
            weights[i], biases[i] = demo[i] / c, demo[layers + i] / c
    weights[-1], biases[-1] = 2 * demo[layers - 1], 2 * demo[-1]
    return weights + biases


def _demo_mse(demo: list[torch.Tensor], coords: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The demo's loss (mean squared error in its units, values in [0, 1]) of its network ``demo`` (as
    ``_demo_units`` gives it) at our ``coords`` [N, d_in] against our ``target`` [N, d_out]."""
    layers = len(demo) // 2
    h = (coords + 1) / 2
    for i in range(layers - 1):
        h = torch.sin(DEMO_W0 * (h @ demo[i].T + demo[layers + i]))
    return ((h @ demo[layers - 1].T + demo[-1] + 0.5) - (target + 1) / 2).square().mean()


def _inner_steps(params: list[torch.Tensor], omegas: list[float], coords: torch.Tensor, target: torch.Tensor,
                 lr: float, steps: int) -> list[torch.Tensor]:
    """Our SIREN ``params`` after ``steps`` of the learnit demo's inner steps (plain gradient steps of ``lr`` on
    its loss, in its parametrisation: ``_demo_units``) towards ``target`` [N, d_out] at ``coords`` [N, d_in]."""
    demo = _demo_units(params, omegas)
    for _ in range(steps):
        grads = torch.func.grad(_demo_mse)(demo, coords, target)
        demo = [p - lr * g for p, g in zip(demo, grads)]
    return _our_units(demo, omegas)


def _member_with(m: Member, weights: list, biases: list) -> Member:
    """A copy of member ``m`` (its layers, omegas and signal) holding these weights and biases."""
    copy = Member(m.layers, 0, m.signal)
    copy.weights = [w.clone() for w in weights]
    copy.biases = [b.clone() for b in biases]
    copy.omegas = list(m.omegas)
    return copy
