"""inr-bench: compare initialization schemes for implicit neural representations."""

import os

__version__ = "0.1.0"

# MKL's conditional numerical reproducibility, set before torch's MKL first reads it (a user's own setting
# wins): AUTO keeps the kernels MKL would dispatch anyway (the same numbers here) but with "fixed cache sizes,
# deterministic reductions, and static scheduling", and with a fixed thread team (MKL_DYNAMIC, OMP_DYNAMIC
# false) results repeat run to run (oneMKL Developer Reference, "Named Constants for CNR Control" and
# "Reproducibility Conditions"). Without it, a CPU run's numbers were seen to move, rarely, while other
# processes loaded the machine.
for _name, _value in (("MKL_CBWR", "AUTO"), ("MKL_DYNAMIC", "FALSE"), ("OMP_DYNAMIC", "FALSE")):
    os.environ.setdefault(_name, _value)
