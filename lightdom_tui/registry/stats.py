"""Small statistics for A/B reports and monitoring (closed forms, no SciPy needed)."""

from __future__ import annotations

import math
from collections.abc import Sequence

Z95 = 1.959963984540054  # two-sided 95 % normal quantile


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion; (0, 1) when there is no data."""
    if n <= 0:
        return (0.0, 1.0)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


def two_proportion_z(x_a: int, n_a: int, x_b: int, n_b: int) -> tuple[float | None, float | None]:
    """Pooled two-proportion z statistic (b − a) and its two-sided p-value; None without data."""
    if n_a <= 0 or n_b <= 0:
        return (None, None)
    pooled = (x_a + x_b) / (n_a + n_b)
    variance = pooled * (1 - pooled) * (1 / n_a + 1 / n_b)
    if variance <= 0:  # both arms all-success or all-failure: no evidence of a difference
        return (0.0, 1.0)
    z = (x_b / n_b - x_a / n_a) / math.sqrt(variance)
    return (z, math.erfc(abs(z) / math.sqrt(2)))


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0–100) with linear interpolation between ranks (NumPy's default)."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
