"""One peer in a process of its own, as the runner times it:

    python -m benchmarks.peers.worker PEER --members K --steps S --samples N --width H --layers L --threads T
                                      [--float64]

prints one JSON line: the peer, its steady member-steps/s and warm-up seconds (``timing.Trained``), the
thread count it ran with, the steps its losses were kept at and the losses [S', K] (float64 numbers).
PEER is one of ``PEERS``; "bench" is bench's training loop in process (the curve check's; the timed
``bench run`` is a command of its own, ``bench_run.command``).
"""

from __future__ import annotations

import argparse
import json

import torch

from benchmarks.peers.problem import Shape

PEERS = ("reference", "torch.func", "torch.func compiled", "jax", "bench")


def run(peer: str, shape: Shape, float64: bool) -> dict:
    """Train ``peer`` on ``shape``; the JSON-able record the worker prints."""
    dtype = torch.float64 if float64 else torch.float32
    if peer == "bench":
        from benchmarks.peers import bench_run

        losses, steps = bench_run.train(shape, dtype)
        return {"peer": peer, "steps": steps, "losses": losses.tolist()}
    if peer == "reference":
        from benchmarks.peers import plain

        trained = plain.train(shape, dtype)
    elif peer.startswith("torch.func"):
        from benchmarks.peers import torch_func

        trained = torch_func.train(shape, dtype, compiled=peer.endswith("compiled"))
    else:
        from benchmarks.peers import jax_vmap

        trained = jax_vmap.train(shape, x64=float64)
    return {"peer": peer, "member_steps_per_s": trained.member_steps_per_s, "warmup_s": trained.warmup_s,
            "steps": list(range(shape.steps)), "losses": trained.losses.tolist(), "final": trained.final.tolist()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("peer", choices=PEERS)
    for name in ("members", "steps", "samples", "width", "layers", "threads"):
        parser.add_argument(f"--{name}", type=int, required=True)
    parser.add_argument("--float64", action="store_true", help="train in float64 (the curve check)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    shape = Shape(args.members, args.steps, args.samples, args.width, args.layers)
    print(json.dumps(run(args.peer, shape, args.float64) | {"threads": torch.get_num_threads()}), flush=True)


if __name__ == "__main__":
    main()
