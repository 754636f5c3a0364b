"""STRAINER (Vyas et al., "Learning Transferable Features for Implicit Neural Representations", NeurIPS 2024,
arXiv 2409.09566): a SIREN whose first ``shared`` sine layers (the encoder) are trained jointly on every
piece of a family's train split, each piece with a decoder of its own (the remaining sine layers and the
linear output); a new signal then starts from the shared encoder and a fresh decoder (SIREN's init of the
member's seed), and is fitted as usual. The joint training is full-batch Adam on the sum over pieces of each
piece's MSE, as the official code's ``shared_encoder_training`` does. docs/methods.md, "Learned inits".

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

VERSION = 1  # of the learning procedure: a change that alters learned weights bumps it (a new cache key)


@register_model(learned=True)
def strainer(m: Member, family: str = "audio-windows", shared: int | None = None, steps: PositiveInt = 300,
             lr: PositiveFloat = 1e-4, w0: PositiveFloat = 30.0, w0_first: PositiveFloat | None = None) -> dict:
    """STRAINER (Vyas et al. 2024): the first `shared` sine layers learned jointly on a family's train split."""
    library = m.signal.library or SignalLibrary()  # where the task read its signal
    chosen = family_to_learn_from(family, m.signal, "strainer", library)
    sine_layers = len(m.weights) - 1
    if sine_layers < 2:
        raise UsageError("strainer needs at least 2 hidden layers (--layers 2): a shared encoder and a decoder")
    shared = sine_layers - 1 if shared is None else shared
    if not 1 <= shared < sine_layers:
        raise UsageError(f"strainer: shared = {shared} sine layers, but this network has {sine_layers}; share 1 to "
                         f"{sine_layers - 1} (each piece keeps a decoder of at least one sine layer and the output)")
    used = siren(m, w0, w0_first) | {"shared": shared}
    learning_seed = int(torch.randint(2**31, (1,), generator=m.generator))  # fixed by the member's seed
    key = learning_key("strainer", VERSION, {"steps": steps, "lr": lr, "w0": w0} | used, chosen, library, m,
                       learning_seed)
    learned = load_or_learn("strainer", key, {"lr": lr}, lambda progress: _shared_encoder(
        m, *train_pieces(chosen, library, m.signal.d_out), shared, steps, lr, w0, learning_seed, progress))
    for i in range(shared):  # the encoder learned; the decoder stays SIREN's init of this member's seed
        m.weights[i] = learned["weights"][i].clone()
        m.biases[i] = learned["biases"][i].clone()
    return used | {"learn_seconds": learned["seconds"], "learn_member_steps": learned["member_steps"],
                   "learned_key": key[:20]}


def _shared_encoder(m: Member, coords: torch.Tensor, targets: torch.Tensor, shared: int, steps: int, lr: float,
                    w0: float, seed: int, progress: LearningProgress) -> dict:
    """Train the encoder (the member's first ``shared`` layers) with one decoder per piece of ``targets``
    [P, N, d_out] at ``coords`` [N, d_in] (each decoder SIREN's init, drawn from ``seed``), from the start or the
    progress saved: {"weights", "biases" (the encoder's), "seconds", "member_steps"}."""
    count = len(targets)
    draws = torch.Generator().manual_seed(seed)
    encoder = [(m.weights[i].clone().requires_grad_(), m.biases[i].clone().requires_grad_()) for i in range(shared)]
    decoder = []
    for i in range(shared, len(m.weights)):  # [P, out, in] and [P, 1, out]: SIREN's hidden/output bounds
        fan_out, fan_in = m.weights[i].shape
        bound = math.sqrt(6.0 / fan_in) / w0
        weights = (torch.rand(count, fan_out, fan_in, generator=draws) * 2 - 1) * bound
        biases = (torch.rand(count, 1, fan_out, generator=draws) * 2 - 1) / math.sqrt(fan_in)  # nn.Linear's
        decoder.append((weights.requires_grad_(), biases.requires_grad_()))
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
            "seconds": progress.seconds(), "member_steps": steps * count}
