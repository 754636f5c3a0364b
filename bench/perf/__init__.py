"""Making sweeps fast, on top of ``bench.training``: how many members share an ensemble on this device
(measured, cached), whether compiling pays, the roofline floor, and throughput measurement (``bench bench``)."""
