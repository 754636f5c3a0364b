"""Peer "jax": one member's SIREN as a plain function of its parameters, ``jax.vmap`` over the members and
``jax.jit`` of the whole step (losses, gradients, ``optax.adam`` update), as fit-a-nef trains many neural
fields at once. The optimized loss is the sum of the members' mean MSEs (each member's gradient is its own).

Parameters are a list of (weights [K, out, in], bias [K, out]) per linear layer, the reference's layout.
Importing this module needs JAX and optax (``pip install -e .[peers]``); ``available()`` says whether they are.
"""

from __future__ import annotations

import importlib.util

import numpy as np

from benchmarks.peers.problem import LR, W0, W0_FIRST, Shape, initial_params, signal
from benchmarks.peers.timing import SteadyClock, Trained, warmup_steps

MISSING = "not installed (pip install -e .[peers])"


def available() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in ("jax", "optax"))


def train(shape: Shape, x64: bool = False) -> Trained:
    """Train members 0..K-1 at once in float32, or in float64 with ``x64`` (JAX's x64 mode, this call only);
    the first warm-up step compiles the step."""
    import jax

    if x64:
        with jax.enable_x64(True):
            return _train(shape, np.float64)
    return _train(shape, np.float32)


def _train(shape: Shape, dtype) -> Trained:
    import jax
    import jax.numpy as jnp
    import optax

    def siren(params, x):  # one member: x [N, 1] -> [N, 1]
        h = x
        for i, (weights, bias) in enumerate(params[:-1]):
            h = jnp.sin((W0_FIRST if i == 0 else W0) * (h @ weights.T + bias))
        weights, bias = params[-1]
        return h @ weights.T + bias

    def total_loss(params, x, y):  # the sum to differentiate, and the members' losses [K]
        losses = jax.vmap(lambda p: jnp.mean((siren(p, x) - y) ** 2))(params)
        return losses.sum(), losses

    optimizer = optax.adam(LR)

    @jax.jit
    def step(params, state, x, y):
        (_, losses), grads = jax.value_and_grad(total_loss, has_aux=True)(params, x, y)
        updates, state = optimizer.update(grads, state, params)
        return optax.apply_updates(params, updates), state, losses

    coords, target = (jnp.asarray(a, dtype=dtype) for a in signal(shape.samples))
    members = [initial_params(shape, seed) for seed in range(shape.members)]
    params = [(jnp.asarray(np.stack([m[i][0] for m in members]), dtype=dtype),
               jnp.asarray(np.stack([m[i][1] for m in members]), dtype=dtype)) for i in range(len(members[0]))]
    state = optimizer.init(params)
    history = []  # each step's losses [K], left on the device until the end (reading one would wait for it)
    clock = SteadyClock(warmup_steps(shape.steps), sync=lambda: jax.block_until_ready(params))
    for _ in range(shape.steps):
        clock.tick()
        params, state, losses = step(params, state, coords, target)
        history.append(losses)
    rate, warmup_s = clock.finish(member_steps_per_tick=shape.members)
    final = total_loss(params, coords, target)[1]
    return Trained(np.asarray(jnp.stack(history), dtype=np.float64), np.asarray(final, dtype=np.float64), rate,
                   warmup_s)
