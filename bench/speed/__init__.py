"""Making sweeps fast: the CPU allocator setting, the compiled training step, how many members share an
ensemble on this device (measured, cached), and throughput measurement (``bench bench``)."""
