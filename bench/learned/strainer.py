"""STRAINER (Vyas et al., "Learning Transferable Features for Implicit Neural Representations", NeurIPS 2024,
arXiv 2409.09566): a SIREN whose first ``shared`` sine layers (the encoder; by default every sine layer, as the
official configuration shares them) are trained jointly on every piece of a family's train split, each piece
with a decoder of its own (by default only the linear output, a per-piece head; with fewer shared layers also
the remaining sine layers); a new signal then starts from the shared encoder and a fresh decoder, and is fitted
as usual. The joint training is full-batch Adam on the sum over pieces of each piece's MSE, as the official
code's ``shared_encoder_training`` does, for 5,000 steps by default (the official experiments'). A decoder,
during the joint training and fresh for a new signal, has the official decoder's init: its first sine layer
U(±1/fan_in) (the official decoder is a SIREN whose first layer takes SIREN's first-layer init), any further
sine layer and the head U(±sqrt(6/fan_in)/w0), biases nn.Linear's U(±1/sqrt(fan_in)). docs/methods.md,
"Learned inits".

Learned once per (parameters, family, network, seed, torch version) and cached (bench.learned.cache); each
row records the cost (``learn_seconds``, ``learn_member_steps``: steps x pieces).
"""

from __future__ import annotations

import math

import torch
from tqdm import tqdm

from bench.core.errors import UsageError
from bench.learned.families import family_to_learn_from, train_pieces
from bench.learned.cache import LearningProgress, learning_key, load_or_learn
from bench.models import Member, register_model
from bench.models.siren import siren
from bench.core.registry import PositiveFloat, PositiveInt
from bench.signals.library import SignalLibrary

VERSION = 2  # of the learning procedure: a change that alters learned weights bumps it (a new cache key)


@register_model(learned=True)
def strainer(m: Member, family: str = "audio-windows", shared: int | None = None, steps: PositiveInt = 5000,
             lr: PositiveFloat = 1e-4, w0: PositiveFloat = 30.0, w0_first: PositiveFloat | None = None) -> dict:
    """STRAINER (Vyas et al. 2024): every sine layer shared (auto), learned on a family's train split; a head per piece.

    `shared` auto = every sine layer (the official configuration: only the linear head is per signal); fewer
    keeps the remaining sine layers per piece too. A fitted signal gets the learned layers and a fresh head."""
    library = m.signal.library or SignalLibrary()  # where the task read its signal
    chosen = family_to_learn_from(family, m.signal, "strainer", library)
    sine_layers = len(m.weights) - 1
    shared = sine_layers if shared is None else shared
    if not 1 <= shared <= sine_layers:
        raise UsageError(f"strainer: shared = {shared} sine layers, but this network has {sine_layers}; share 1 to "
                         f"{sine_layers} (each piece keeps its own linear head and the sine layers not shared)")
    used = siren(m, w0, w0_first) | {"shared": shared}
    if shared < sine_layers:  # the fresh decoder's first sine layer: U(±1/fan_in), the official decoder's init
        drawn = math.sqrt(6.0 / m.weights[shared].shape[1]) / w0  # SIREN's bound, rescaled: the same draws
        m.weights[shared] *= _first_decoder_bound(m.weights[shared]) / drawn
    learning_seed = int(torch.randint(2**31, (1,), generator=m.generator))  # fixed by the member's seed
    key = learning_key("strainer", VERSION, {"steps": steps, "lr": lr, "w0": w0} | used, chosen, library, m,
                       learning_seed)
    learned = load_or_learn("strainer", key, {"lr": lr}, lambda progress: _shared_encoder(
        m, *train_pieces(chosen, library, m.signal.d_out), shared, steps, lr, w0, learning_seed, progress))
    for i in range(shared):  # the encoder learned; the decoder stays the fresh one drawn from this member's seed
        m.weights[i] = learned["weights"][i].clone()
        m.biases[i] = learned["biases"][i].clone()
    return used | {"learn_seconds": learned["seconds"], "learn_member_steps": learned["member_steps"],
                   "learned_key": key[:20]}


def _shared_encoder(m: Member, coords: torch.Tensor, targets: torch.Tensor, shared: int, steps: int, lr: float,
                    w0: float, seed: int, progress: LearningProgress) -> dict:
    """Train the encoder (the member's first ``shared`` layers) with one decoder per piece of ``targets``
    [P, N, d_out] at ``coords`` [N, d_in] (``_decoders``, drawn from ``seed``), from the start or the progress
    saved: {"weights", "biases" (the encoder's, Member's shapes), "decoders" (each piece's decoder layers after
    learning: (weights [P, out, in], biases [P, 1, out]) per layer), "seconds", "member_steps"}."""
    count = len(targets)
    encoder = [(m.weights[i].clone().requires_grad_(), m.biases[i].clone().requires_grad_()) for i in range(shared)]
    decoder = [(w.requires_grad_(), b.requires_grad_()) for w, b in _decoders(m, shared, count, w0, seed)]
    trained = [t for pair in encoder + decoder for t in pair]
    optimizer = torch.optim.Adam(trained, lr=lr)
    done = progress.restore(trained, optimizer)
    for step in tqdm(range(done, steps), desc="strainer: shared encoder", unit="step", initial=done, total=steps,
                     leave=False, disable=None):
        h = coords
        for i, (weights, bias) in enumerate(encoder):
            h = torch.sin(m.omegas[i] * (h @ weights.T + bias))  # [N, width], shared by every piece
        h = h.expand(count, *h.shape)
        for j, (weights, bias) in enumerate(decoder):
            z = torch.baddbmm(bias, h, weights.transpose(1, 2))
            h = torch.sin(m.omegas[shared + j] * z) if j < len(decoder) - 1 else z
        loss = (h - targets).square().mean(dim=(1, 2)).sum()  # the sum over pieces of each piece's MSE
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        progress.save(step + 1, trained, optimizer)
    return {"weights": [w.detach() for w, _ in encoder], "biases": [b.detach() for _, b in encoder],
            "decoders": [(w.detach(), b.detach()) for w, b in decoder], "seconds": progress.seconds(),
            "member_steps": steps * count}


def _decoders(m: Member, shared: int, count: int, w0: float, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``count`` decoders for member ``m``'s layers after the first ``shared``, drawn from ``seed``, with the
    official decoder's init: (weights [count, out, in], biases [count, 1, out]) per layer, the first sine layer's
    weights U(±1/fan_in), any further sine layer's and the head's U(±sqrt(6/fan_in)/w0), biases
    U(±1/sqrt(fan_in)) (nn.Linear's). With every sine layer shared, the decoder is the head alone."""
    draws = torch.Generator().manual_seed(seed)
    decoders = []
    for i in range(shared, len(m.weights)):
        fan_out, fan_in = m.weights[i].shape
        first_sine = i == shared and i < len(m.weights) - 1
        bound = _first_decoder_bound(m.weights[i]) if first_sine else math.sqrt(6.0 / fan_in) / w0
        weights = (torch.rand(count, fan_out, fan_in, generator=draws) * 2 - 1) * bound
        biases = (torch.rand(count, 1, fan_out, generator=draws) * 2 - 1) / math.sqrt(fan_in)
        decoders.append((weights, biases))
    return decoders


def _first_decoder_bound(weights: torch.Tensor) -> float:
    """The bound of a decoder's first sine layer, weights [fan_out, fan_in]: 1/fan_in. The official decoder is a
    SIREN on the encoder's features, whose first sine layer takes SIREN's first-layer init."""
    return 1.0 / weights.shape[1]
