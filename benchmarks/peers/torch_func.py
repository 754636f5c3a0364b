"""Peers "torch.func" and "torch.func compiled": PyTorch's model-ensembling recipe.

The K reference networks are stacked with ``torch.func.stack_module_state`` (each parameter becomes one
[K, ...] leaf tensor) and evaluated with ``vmap`` over ``functional_call`` of one copy of the network on the
meta device. The optimized loss is the sum over members of each member's mean MSE, so member k's gradient is
the gradient of its own loss; one ``torch.optim.Adam`` over the stacked leaves then updates each member as
its own Adam would (Adam is elementwise).

Compiled: ``torch.compile`` of the vmapped loss function, which compiles its forward and, through
AOTAutograd, its backward; ``backward()`` and the Adam step run eagerly, as in bench's own ``--compile``
(``bench.training.step``), so the two compiled paths compile the same part of the step.
"""

from __future__ import annotations

import copy

import torch
from torch.func import functional_call, stack_module_state, vmap

from benchmarks.peers.problem import LR, Shape, initial_net, signal
from benchmarks.peers.timing import SteadyClock, Trained, warmup_steps


def train(shape: Shape, dtype: torch.dtype = torch.float32, compiled: bool = False, lr: float = LR) -> Trained:
    """Train members 0..K-1 at once (Adam at ``lr``, the problem's unless a test asks another); ``compiled``
    compiles the loss function during the warm-up steps."""
    coords, target = (torch.from_numpy(a).to(dtype) for a in signal(shape.samples))
    nets = [initial_net(shape, seed, dtype) for seed in range(shape.members)]
    params, buffers = stack_module_state(nets)  # {name: [K, ...]} leaves that require grad
    base = copy.deepcopy(nets[0]).to("meta")  # the structure functional_call runs; its own weights are unused

    def member_loss(member_params, member_buffers, x, y):
        return (functional_call(base, (member_params, member_buffers), (x,)) - y).square().mean()

    def ensemble_losses(params, buffers, x, y):  # [K]
        return vmap(member_loss, in_dims=(0, 0, None, None))(params, buffers, x, y)

    losses_of = torch.compile(ensemble_losses) if compiled else ensemble_losses
    optimizer = torch.optim.Adam(params.values(), lr=lr)
    losses = torch.empty(shape.steps, shape.members, dtype=dtype)
    clock = SteadyClock(warmup_steps(shape.steps))
    for step in range(shape.steps):
        clock.tick()
        member_losses = losses_of(params, buffers, coords, target)
        optimizer.zero_grad(set_to_none=True)
        member_losses.sum().backward()
        optimizer.step()
        losses[step] = member_losses.detach()
    rate, warmup_s = clock.finish(member_steps_per_tick=shape.members)
    with torch.no_grad():
        final = ensemble_losses(params, buffers, coords, target)
    return Trained(losses.double().numpy(), final.double().numpy(), rate, warmup_s)
