"""Whether the NTK at init predicts the fit (bench.report.ntk_prediction): rank correlations on known cases."""

import numpy as np
import pytest


def test_rank_correlation_of_a_monotone_relation_is_one_and_of_a_reversed_one_minus_one():
    from bench.report.ntk_prediction import rank_correlation

    x = np.arange(12.0)
    assert rank_correlation(x, np.exp(x)) | {} == {"pairs": 12, "spearman_rho": 1.0, "ci_low": 1.0, "ci_high": 1.0}
    reverse = rank_correlation(x, -x**3)
    assert reverse["spearman_rho"] == pytest.approx(-1.0) and reverse["ci_high"] == pytest.approx(-1.0)
    assert np.isnan(rank_correlation(x[:2], x[:2])["spearman_rho"])  # too few pairs
