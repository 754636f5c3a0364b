"""What importing the package sets for the numerical libraries under torch."""

import os
import subprocess
import sys


def test_importing_bench_asks_mkl_for_reproducible_results_and_keeps_a_users_choice():
    script = "import os, bench, torch; torch.ones(4, 4) @ torch.ones(4, 4); print(os.environ['MKL_CBWR'])"
    env = {key: value for key, value in os.environ.items() if key not in ("MKL_CBWR", "MKL_DYNAMIC", "OMP_DYNAMIC")}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "AUTO"
    done = subprocess.run([sys.executable, "-c", script], env=env | {"MKL_CBWR": "COMPATIBLE"}, capture_output=True,
                          text=True, check=True)
    assert done.stdout.strip() == "COMPATIBLE"
