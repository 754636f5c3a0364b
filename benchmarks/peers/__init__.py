"""The same training problem (``problem``) written in each of the other ways to train many small networks at
once, timed side by side with ``bench run`` (``run``; ``python -m benchmarks.peers``): the plain loop
(``plain``), PyTorch's torch.func ensembling eager and compiled (``torch_func``), JAX's vmap + jit with optax
(``jax_vmap``), and bench itself (``bench_run``). Each peer runs in a process of its own (``worker``)."""
