"""Local polynomial filters on a uniform scan grid (BSCT v2 building blocks).

Every quantity here is a *linear* filter of the sampled values y_0..y_{n-1} (grid step h):
    q_k = Σ_j w_j y_{k+j}
with weights w from a least-squares polynomial fit over a few neighbouring points. Linear
filters have two properties the v2 detectors rely on:

* their response to white noise of standard deviation σ is exactly σ·‖w‖₂ (the *noise gain*),
  so a detection threshold can be stated in units of the scan's own noise;
* their error on a smooth curve is a known power of h, so two fits of different degree give an
  error estimate from their difference (the *resolution allowance*), in the spirit of Richardson
  extrapolation: where the grid resolves the curve the two agree, where it does not they differ.

Two filters are provided:

``one_sided_steps``   the step of y across the interval (r_k, r_{k+1}): the value at the
                      interval midpoint extrapolated from a degree-p fit of the m points on the
                      right minus the same from the m points on the left,
                          J_k = P_right(r_{k+1/2}) − P_left(r_{k+1/2}).
                      Each side is fitted on its own, so a kink (a step in y′) at the interval
                      leaves J_k = 0, and a step of size S gives J_k = S exactly.
                      Leading error on a smooth y: the mirror symmetry of the two windows
                      cancels the even-order terms, so J has error O(h^{p+1}) for even p and
                      O(h^{p+2}) for odd p (degree 2: O(h³); degree 3: O(h⁵)).
``local_derivative``  dy/dr at each grid point from a degree-p least-squares fit over the 2m+1
                      points centred on it (shifted inwards at the ends of the scan): a
                      Savitzky–Golay derivative, error O(h^p) (O(h^{p+1}) when centred and p
                      even, by symmetry).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


@lru_cache(maxsize=256)
def _poly_weights_cached(offsets: tuple[float, ...], x_eval: float, degree: int, deriv: int) -> np.ndarray:
    x = np.asarray(offsets, float)
    if len(x) < degree + 1:
        raise ValueError(f"a degree-{degree} fit needs at least {degree + 1} points, got {len(x)}")
    # Vandermonde in the offset (units of h); the fit's coefficients are pinv(V) @ y and the
    # derivative of order `deriv` at x_eval is a fixed linear form in the coefficients.
    v = np.vander(x, degree + 1, increasing=True)  # (m, degree+1)
    pinv = np.linalg.pinv(v)  # (degree+1, m)
    row = np.zeros(degree + 1)
    for p in range(deriv, degree + 1):
        # d^deriv/dx^deriv x^p at x_eval
        coef = 1.0
        for t in range(deriv):
            coef *= p - t
        row[p] = coef * x_eval ** (p - deriv)
    w = row @ pinv
    w.setflags(write=False)
    return w


def poly_weights(offsets, x_eval: float, degree: int, deriv: int = 0) -> np.ndarray:
    """Weights w with Σ w_j y(offset_j) = d^deriv P/dx^deriv (x_eval), P the least-squares polynomial.

    Offsets and x_eval are in units of the grid step h; divide a derivative by h**deriv.
    """
    return _poly_weights_cached(tuple(float(o) for o in offsets), float(x_eval), int(degree), int(deriv))


def one_sided_steps(values: np.ndarray, degree: int, window_points: int, min_points: int | None = None,
                    deriv: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Step across each interval from two one-sided fits, and the filter's noise gain.

    Args:
        values: (n,) or (n, c) samples on a uniform grid (c independent columns).
        degree: polynomial degree p of each one-sided fit.
        window_points: m, points used on each side (fewer near the ends of the scan).
        min_points: fewest points per side for a step to be computed (default p + 1);
            intervals with fewer are NaN.
        deriv: 0 for the step of y; 1 for the step of dy/dx (x in units of h: divide by h to
            get the step of dy/dr, e.g. the force step hidden in a kink of E).

    Returns:
        steps: (n-1,) or (n-1, c), J_k = P_right(r_{k+1/2}) − P_left(r_{k+1/2}) in y's unit.
        gain: (n-1,) ‖w‖₂ of each interval's filter: a white noise σ gives std(J_k) = σ·gain_k.
    """
    y = np.asarray(values, float)
    squeeze = y.ndim == 1
    if squeeze:
        y = y[:, None]
    n = y.shape[0]
    lo = degree + 1 if min_points is None else int(min_points)
    steps = np.full((n - 1, y.shape[1]), np.nan)
    gain = np.full(n - 1, np.nan)
    # Interval k uses m = min(window_points, k + 1, n - 1 - k) points a side (the same number
    # both sides keeps the mirror symmetry, hence the error cancellation): one filter of 2m taps
    # over y[k-m+1 .. k+m]. The interior shares m = window_points, a batched sliding-window
    # product; each shorter m occurs at most twice (k = m - 1 and k = n - 1 - m).
    k = np.arange(n - 1)
    m_of_k = np.minimum(np.minimum(k + 1, n - 1 - k), window_points)
    for m in np.unique(m_of_k[m_of_k >= lo]).tolist():
        ks = np.flatnonzero(m_of_k == m)
        left = poly_weights(tuple(-0.5 - np.arange(m)[::-1]), 0.0, degree, deriv)  # points k-m+1..k
        right = poly_weights(tuple(0.5 + np.arange(m)), 0.0, degree, deriv)  # points k+1..k+m
        windows = sliding_window_view(y, 2 * m, axis=0)[ks - m + 1]  # (len(ks), c, 2m)
        steps[ks] = windows[..., m:] @ right - windows[..., :m] @ left
        gain[ks] = float(np.sqrt(left @ left + right @ right))
    return (steps[:, 0] if squeeze else steps), gain


def local_derivative(values: np.ndarray, h: float, degree: int, half_window: int) -> tuple[np.ndarray, np.ndarray]:
    """dy/dr at every grid point from a local least-squares polynomial, and its noise gain.

    The window is the 2·half_window + 1 points centred on the point, shifted inwards at the
    ends of the scan (so the first and last points get a one-sided, less accurate derivative,
    which the caller's two-degree error estimate sees).

    Returns:
        deriv: (n,) dy/dr in y's unit per Å.
        gain: (n,) ‖w‖₂/h: a white noise σ in y gives std(deriv_k) = σ·gain_k.
    """
    y = np.asarray(values, float)
    n = len(y)
    width = 2 * half_window + 1
    if n < width:
        raise ValueError(f"need at least {width} points for a {width}-point derivative")
    starts = np.clip(np.arange(n) - half_window, 0, n - width)
    deriv = np.empty(n)
    gain = np.empty(n)
    windows = sliding_window_view(y, width)
    # the window's offset from its point is the same for every interior point: one filter;
    # the first and last half_window points each have their own (shifted) one
    for shift in np.unique(np.arange(n) - starts):
        ks = np.flatnonzero(np.arange(n) - starts == shift)
        w = poly_weights(tuple(float(o) for o in np.arange(width) - shift), 0.0, degree, deriv=1)
        deriv[ks] = windows[starts[ks]] @ w / h
        gain[ks] = float(np.linalg.norm(w)) / h
    return deriv, gain
