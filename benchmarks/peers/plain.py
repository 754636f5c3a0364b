"""Peer "reference": the plain loop of benchmarks/reference.py, one ``nn.Sequential`` and one Adam per seed,
seeds one after another. The loop is ``reference.fit``'s, step for step, with each step's loss kept."""

from __future__ import annotations

import torch

from benchmarks.peers.problem import LR, Shape, initial_net, signal
from benchmarks.peers.timing import SteadyClock, Trained, warmup_steps


def train(shape: Shape, dtype: torch.dtype = torch.float32) -> Trained:
    """Train members 0..K-1 one after another; the warm-up is the first seed's first steps."""
    coords, target = (torch.from_numpy(a).to(dtype) for a in signal(shape.samples))
    losses = torch.empty(shape.steps, shape.members, dtype=dtype)
    final = torch.empty(shape.members, dtype=dtype)
    clock = SteadyClock(warmup_steps(shape.steps))
    for seed in range(shape.members):
        net = initial_net(shape, seed, dtype)
        optimizer = torch.optim.Adam(net.parameters(), lr=LR)
        for step in range(shape.steps):
            clock.tick()
            loss = (net(coords) - target).square().mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses[step, seed] = loss.detach()
        with torch.no_grad():
            final[seed] = (net(coords) - target).square().mean()
    rate, warmup_s = clock.finish(member_steps_per_tick=1)
    return Trained(losses.double().numpy(), final.double().numpy(), rate, warmup_s)
