r"""Closed-form Kullback-Leibler divergences of parametric families.

Thin, vectorised NumPy: every function broadcasts its parameters against
each other (NumPy broadcasting rules), computes in float64 and returns
float32 when every floating input is float32 (Python scalars do not count,
as in NumPy's own promotion), float64 otherwise.  Results are in nats.

Parameters are validated before anything is computed: a NaN, an infinite
value or a value outside the family's parameter space raises ``ValueError``
naming the argument; a complex or non-numeric argument raises ``TypeError``.
The caller's arrays are never modified.

* :func:`kl_gaussian` -- univariate normal distributions;
* :func:`kl_mvn` -- multivariate normal, full covariance, batched;
* :func:`kl_beta` -- Beta distributions (needs SciPy, imported on demand);
* :func:`kl_bernoulli` -- Bernoulli distributions, exact at 0 and 1;
* :func:`kl_ucb` -- the KL-UCB index of Bernoulli bandit arms.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._typing import ArrayLike, Value

__all__ = ["kl_gaussian", "kl_mvn", "kl_beta", "kl_bernoulli", "kl_ucb"]

_F64 = np.dtype(np.float64)
_F32 = np.dtype(np.float32)

# Coefficients of S(u) = -(log1p(u) - u)/u**2 = sum_{k>=2} (-1)^k u^(k-2)/k,
# highest power first (np.polyval order); 32 terms: truncation error below
# 2**-62 relative for |u| <= 1/4 (where the direct form would lose 3 bits).
_LOG1PMX = np.array([(-1.0) ** k / k for k in range(33, 1, -1)])
_H_CUT = 0.25
# Coefficients of f(r)/r**2 with f(r) = (1 + r) log1p(r) - r
#   = sum_{k>=2} (-1)^k r^(k-2) / (k (k-1)), highest power first; 32 terms
# for |r| <= 1/4 (truncation error below 2**-62 relative).
_XLOGX = np.array([(-1.0) ** k / (k * (k - 1)) for k in range(33, 1, -1)])
_TINY = np.finfo(np.float64).tiny
_HUGE = np.finfo(np.float64).max


# ---------------------------------------------------------------- helpers

def _param(x: object, name: str) -> tuple[NDArray[np.float64], bool | None]:
    """`x` as a float64 ndarray, and whether it counts as float32 input.

    Python scalars are "weak" (they never make the result float64), NumPy
    float32/float16 arrays and scalars make it float32 unless another input
    is float64 or integer.
    """
    weak = isinstance(x, (int, float)) and not isinstance(x, (bool, np.generic))
    a = np.asarray(x)
    kind = a.dtype.kind
    if kind == "c":
        raise TypeError(f"{name} must be real-valued, got complex dtype {a.dtype}")
    if kind not in "biuf":
        raise TypeError(f"{name} must be a real numeric array, got dtype {a.dtype}")
    small = kind == "f" and a.dtype.itemsize <= 4
    return a.astype(_F64, copy=False), (None if weak else small)


def _params(**named: ArrayLike) -> tuple[dict[str, NDArray[np.float64]], np.dtype[np.floating[Any]]]:
    """Validate, coerce and broadcast named parameters.

    Returns (dict of broadcast float64 arrays, output dtype).
    """
    arrays, flags = {}, []
    for name, x in named.items():
        arrays[name], small = _param(x, name)
        if small is not None:
            flags.append(small)
    dtype = _F32 if flags and all(flags) else _F64
    try:
        shape = np.broadcast_shapes(*(a.shape for a in arrays.values()))
    except ValueError:
        shapes = ", ".join(f"{k} {a.shape}" for k, a in arrays.items())
        raise ValueError(f"parameter shapes do not broadcast together: {shapes}") from None
    return {k: np.broadcast_to(a, shape) for k, a in arrays.items()}, dtype


def _first_bad(a: NDArray[np.float64], bad: NDArray[np.bool_]) -> float:
    """The first offending value of `a` (where `bad` is True), as a float."""
    return float(a[bad].flat[0])


def _require(a: NDArray[np.float64], name: str, ok: NDArray[np.bool_], what: str) -> None:
    """Raise ValueError naming `name` and the first value where `ok` is False."""
    bad = ~ok
    if bad.any():
        raise ValueError(f"{name} must be {what}, got {_first_bad(a, bad)!r}")


def _require_finite(a: NDArray[np.float64], name: str) -> None:
    _require(a, name, np.isfinite(a), "finite")


def _require_positive(a: NDArray[np.float64], name: str) -> None:
    _require(a, name, np.isfinite(a) & (a > 0), "finite and > 0")


def _out(value: ArrayLike, dtype: np.dtype[np.floating[Any]]) -> Value:
    """Cast the float64 result to `dtype`; 0-d arrays become NumPy scalars."""
    with np.errstate(over="ignore"):  # float32 beyond its range: inf
        value = np.asarray(value, dtype=_F64).astype(dtype, copy=False)
    return value[()] if value.ndim == 0 else value


def _series(poly: NDArray[np.float64], x: NDArray[np.float64]) -> NDArray[np.float64]:
    """Horner evaluation of `poly` (highest power first) at x, in place."""
    acc = np.full_like(x, poly[0])
    for c in poly[1:]:
        acc *= x
        acc += c
    return acc


def _half_rho_term(sp: NDArray[np.float64], sq: NDArray[np.float64]) -> NDArray[np.float64]:
    """(rho - 1) - log(rho) >= 0 with rho = (sp/sq)**2, accurate near sp = sq.

    With u = (sp - sq)/sq (sp - sq exact by Sterbenz' lemma when
    1/2 <= sp/sq <= 2, so u has one rounding) the value is
    h(u) = u (2 + u) - 2 log1p(u) = u**2 (1 + 2 S(u)), S the log1p series:
    the series for |u| <= 1/4 (where the direct form cancels), the log1p
    form up to sp/sq = 2, and (s*s - 1) - 2 log s with s = sp/sq (log(sp)
    - log(sq) where s over- or underflows) farther out."""
    shape = np.broadcast_shapes(np.shape(sp), np.shape(sq))
    sp = np.broadcast_to(sp, shape).reshape(-1)
    sq = np.broadcast_to(sq, shape).reshape(-1)
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        u = np.subtract(sp, sq, dtype=_F64)
        u /= sq
        out = np.log1p(u)
        out *= -2.0
        out += u * (2.0 + u)
        far = np.flatnonzero((u < -0.5) | (u > 1.0))
        if far.size:
            a = np.take(sp, far)
            b = np.take(sq, far)
            s = a / b
            normal = (s >= _TINY) & (s <= _HUGE)
            logs = np.log(np.where(normal, s, 1.0))
            if not normal.all():
                logs = np.where(normal, logs, np.log(a) - np.log(b))
            np.put(out, far, (s * s - 1.0) - 2.0 * logs)
        small = np.flatnonzero(np.abs(u) <= _H_CUT)
        if small.size:
            us = np.take(u, small)
            np.put(out, small, us * us * (1.0 + 2.0 * _series(_LOG1PMX, us)))
    return out.reshape(shape)


def _kl_div_close(x: NDArray[np.float64], y: NDArray[np.float64],
                  d: NDArray[np.float64]) -> NDArray[np.float64]:
    """x log(x/y) - x + y >= 0 for x, y in [0, 1], with d = x - y given
    separately (computed from the original parameters, so that it is exact
    or correctly rounded even when x = 1 - p has lost low bits).

    0 log 0 = 0; +inf for x > 0 = y.  With r = d/y: the series y r**2 F(r),
    F(r) = f(r)/r**2, f(r) = (1 + r) log1p(r) - r, for |r| <= 1/4; y f(r)
    for 1/2 <= x/y <= 2 (r has one rounding there); elsewhere the
    element-wise kl_div kernel of kl_ext._special."""
    from ._special import kl_div
    shape = np.broadcast_shapes(np.shape(x), np.shape(y), np.shape(d))
    x, y, d = (np.broadcast_to(v, shape).reshape(-1) for v in (x, y, d))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        out: NDArray[np.float64] = kl_div(x, y)  # (a ufunc call: Any to NumPy's stubs)
        r = d / y
        mid = np.flatnonzero((r >= -0.5) & (r <= 1.0) & (y > 0))
        if mid.size:
            rm = np.take(r, mid)
            ym = np.take(y, mid)
            small = np.abs(rm) <= _H_CUT
            f = (1.0 + rm) * np.log1p(rm) - rm
            rs = rm[small]
            f[small] = rs * rs * _series(_XLOGX, rs)
            np.put(out, mid, ym * f)
    return out.reshape(shape)


def _kl_bernoulli64(p: NDArray[np.float64], q: NDArray[np.float64]) -> NDArray[np.float64]:
    """KL(Ber(p) || Ber(q)) in float64 for validated p, q in [0, 1]."""
    d = p - q
    return _kl_div_close(p, q, d) + _kl_div_close(1.0 - p, 1.0 - q, -d)


# ---------------------------------------------------------------- Gaussian

def kl_gaussian(mu_p: ArrayLike, sigma_p: ArrayLike, mu_q: ArrayLike,
                sigma_q: ArrayLike) -> Value:
    r"""KL divergence between two univariate normal distributions.

    Parameters
    ----------
    mu_p, sigma_p : array_like
        Mean and standard deviation (not variance) of p = N(mu_p, sigma_p**2).
    mu_q, sigma_q : array_like
        Mean and standard deviation of q = N(mu_q, sigma_q**2).
        The four parameters broadcast against each other.

    Returns
    -------
    kl : ndarray or NumPy scalar
        :math:`D_{KL}(p \| q)` in nats, >= 0, of the broadcast shape;
        float32 if every floating input is float32 (Python scalars do not
        count), float64 otherwise.  A NumPy scalar for scalar inputs.

    Raises
    ------
    ValueError
        If a sigma is <= 0, NaN or infinite, if a mean is NaN or infinite,
        or if the shapes do not broadcast.
    TypeError
        For complex or non-numeric input.

    See Also
    --------
    kl_mvn : multivariate normal distributions.

    Notes
    -----
    .. math::

        D_{KL}(p \| q) = \log\frac{\sigma_q}{\sigma_p}
            + \frac{\sigma_p^2 + (\mu_p - \mu_q)^2}{2\sigma_q^2} - \frac12
          = \frac12\left[(\rho - 1) - \log\rho\right]
            + \frac{(\mu_p - \mu_q)^2}{2\sigma_q^2},
          \qquad \rho = (\sigma_p/\sigma_q)^2.

    The second form is used: both terms are >= 0, and
    :math:`(\rho - 1) - \log\rho` is evaluated from
    :math:`u = (\sigma_p - \sigma_q)/\sigma_q` by a series for
    :math:`|u| \le 1/4`, so the result keeps full relative accuracy when
    :math:`\sigma_p \approx \sigma_q` (the first form cancels
    catastrophically there).  Squares of the sigmas are never formed, so
    sigmas up to 1e308 work.

    References
    ----------
    .. [1] S. Kullback, *Information Theory and Statistics*, Wiley, 1959.
    .. [2] T. M. Cover and J. A. Thomas, *Elements of Information Theory*,
       2nd ed., Wiley, 2006, ch. 8.

    Examples
    --------
    >>> from kl_ext.parametric import kl_gaussian
    >>> float(kl_gaussian(0.0, 1.0, 1.0, 2.0))   # log 2 + 2/8 - 1/2
    0.4431471805599453
    >>> kl_gaussian([0.0, 1.0], 1.0, 0.0, [1.0, 3.0])
    array([0.       , 0.7097234])
    >>> float(kl_gaussian(0.0, 1.0 + 1e-9, 0.0, 1.0))   # mpmath: 1.00000016514741543e-18
    1.0000001651474154e-18
    """
    a, dtype = _params(mu_p=mu_p, sigma_p=sigma_p, mu_q=mu_q, sigma_q=sigma_q)
    _require_finite(a["mu_p"], "mu_p")
    _require_finite(a["mu_q"], "mu_q")
    _require_positive(a["sigma_p"], "sigma_p")
    _require_positive(a["sigma_q"], "sigma_q")
    sp, sq = a["sigma_p"], a["sigma_q"]
    with np.errstate(over="ignore", under="ignore"):
        z = (a["mu_p"] - a["mu_q"]) / sq
        kl = 0.5 * _half_rho_term(sp, sq) \
            + 0.5 * (z * z)
    return _out(np.maximum(kl, 0.0), dtype)


# ---------------------------------------------------------------- MVN

def _cholesky(c: NDArray[np.float64], name: str,
              batch_shape: tuple[int, ...]) -> NDArray[np.floating[Any]]:
    try:
        return np.linalg.cholesky(c)
    except np.linalg.LinAlgError:
        pass
    flat = c.reshape((-1,) + c.shape[-2:])
    for i in range(flat.shape[0]):
        try:
            np.linalg.cholesky(flat[i])
        except np.linalg.LinAlgError:
            where = ""
            if batch_shape:
                pos = tuple(int(j) for j in np.unravel_index(i, batch_shape))
                where = f" (batch index {pos if len(pos) > 1 else pos[0]})"
            raise ValueError(f"{name} is not positive definite{where}") from None
    raise ValueError(f"{name} is not positive definite")  # pragma: no cover


def kl_mvn(mean_p: ArrayLike, cov_p: ArrayLike, mean_q: ArrayLike,
           cov_q: ArrayLike) -> Value:
    r"""KL divergence between two multivariate normal distributions.

    Parameters
    ----------
    mean_p : array_like of shape (..., k)
        Mean of p.
    cov_p : array_like of shape (..., k, k)
        Covariance of p: symmetric positive definite.
    mean_q : array_like of shape (..., k)
        Mean of q.
    cov_q : array_like of shape (..., k, k)
        Covariance of q: symmetric positive definite.
        The leading (batch) dimensions of the four arguments broadcast
        against each other.

    Returns
    -------
    kl : ndarray of shape (...) or NumPy scalar
        :math:`D_{KL}(p \| q)` in nats, >= 0, one value per batch element;
        float32 if every floating input is float32, float64 otherwise.

    Raises
    ------
    ValueError
        If a covariance is not square, not symmetric (to 1e-8 relative to
        its largest entry) or not positive definite (the message names the
        argument and the batch index), if a mean does not have length k,
        if an entry is NaN or infinite, or if batch shapes do not
        broadcast.
    TypeError
        For complex or non-numeric input.

    See Also
    --------
    kl_gaussian : the univariate case.

    Notes
    -----
    .. math::

        D_{KL}(p \| q) = \frac12\left[\operatorname{tr}(\Sigma_q^{-1}\Sigma_p)
            + (\mu_q - \mu_p)^T \Sigma_q^{-1} (\mu_q - \mu_p) - k
            + \log\frac{\det\Sigma_q}{\det\Sigma_p}\right].

    With Cholesky factors :math:`\Sigma = LL^T` and
    :math:`M = L_q^{-1}L_p` (lower triangular, from a solve, never an
    explicit inverse) and :math:`z = L_q^{-1}(\mu_q - \mu_p)`, this is
    computed as the sum of non-negative terms

    .. math::

        \frac12\Big[\sum_i \big(M_{ii}^2 - 1 - 2\log M_{ii}\big)
            + \sum_{i > j} M_{ij}^2 + \lVert z \rVert^2\Big],
        \qquad M_{ii} = L_{p,ii}/L_{q,ii},

    where each diagonal term is evaluated like :func:`kl_gaussian`'s
    :math:`(\rho - 1) - \log\rho`, so nearly equal distributions keep
    their accuracy instead of cancelling in :math:`\operatorname{tr} - k`.
    Only the lower triangles of the covariances are read by the
    factorisation (after the symmetry check).

    References
    ----------
    .. [1] W. D. Penny, "KL-divergences of Normal, Gamma, Dirichlet and
       Wishart densities", Wellcome Department of Cognitive Neurology,
       University College London, 2001.

    Examples
    --------
    >>> import numpy as np
    >>> from kl_ext.parametric import kl_mvn
    >>> float(kl_mvn([0.0, 0.0], np.eye(2), [1.0, 0.0], np.diag([4.0, 4.0])))
    0.7612943611198906
    >>> cov = [[2.0, 0.5], [0.5, 1.0]]
    >>> kl_mvn(np.zeros((3, 2)), cov, [[0, 0], [1, 0], [0, 1]], cov)
    array([0.        , 0.28571429, 0.57142857])
    """
    a: dict[str, NDArray[np.float64]] = {}
    flags: list[bool] = []
    for name, x in (("mean_p", mean_p), ("cov_p", cov_p), ("mean_q", mean_q),
                    ("cov_q", cov_q)):
        arr, small = _param(x, name)
        a[name] = arr
        if small is not None:
            flags.append(small)
    dtype = _F32 if flags and all(flags) else _F64
    for name in ("cov_p", "cov_q"):
        c = a[name]
        if c.ndim < 2 or c.shape[-1] != c.shape[-2]:
            raise ValueError(f"{name} must have shape (..., k, k), got {c.shape}")
    k = a["cov_p"].shape[-1]
    if a["cov_q"].shape[-1] != k:
        raise ValueError(f"cov_p is {k}x{k} but cov_q is "
                         f"{a['cov_q'].shape[-1]}x{a['cov_q'].shape[-1]}")
    if k == 0:
        raise ValueError("the dimension k must be >= 1, got covariances of shape "
                         f"{a['cov_p'].shape}")
    for name in ("mean_p", "mean_q"):
        m: NDArray[np.floating[Any]] = a[name]
        if m.ndim < 1 or m.shape[-1] != k:
            raise ValueError(f"{name} must have shape (..., {k}), got {m.shape}")
    for name, x in a.items():
        _require_finite(x, name)
    for name in ("cov_p", "cov_q"):
        c = a[name]
        scale = np.abs(c).max(axis=(-2, -1), keepdims=True)
        if not (np.abs(c - np.swapaxes(c, -1, -2)) <= 1e-8 * scale).all():
            raise ValueError(f"{name} is not symmetric")
    try:
        batch = np.broadcast_shapes(a["mean_p"].shape[:-1], a["cov_p"].shape[:-2],
                                    a["mean_q"].shape[:-1], a["cov_q"].shape[:-2])
    except ValueError:
        raise ValueError(
            "batch shapes do not broadcast together: "
            f"mean_p {a['mean_p'].shape}, cov_p {a['cov_p'].shape}, "
            f"mean_q {a['mean_q'].shape}, cov_q {a['cov_q'].shape}") from None
    lp = _cholesky(a["cov_p"], "cov_p", a["cov_p"].shape[:-2])
    lq = _cholesky(a["cov_q"], "cov_q", a["cov_q"].shape[:-2])
    lp = np.broadcast_to(lp, batch + (k, k))
    lq = np.broadcast_to(lq, batch + (k, k))
    dmu = (np.broadcast_to(a["mean_q"], batch + (k,))
           - np.broadcast_to(a["mean_p"], batch + (k,)))
    with np.errstate(over="ignore", under="ignore"):
        m = _forward_substitution(lq, lp)
        z = _forward_substitution(lq, dmu[..., None])[..., 0]
        dp = np.ascontiguousarray(np.diagonal(lp, axis1=-2, axis2=-1))
        dq = np.ascontiguousarray(np.diagonal(lq, axis1=-2, axis2=-1))
        diag = _half_rho_term(dp.reshape(-1), dq.reshape(-1)).reshape(dp.shape)
        off = np.tril(m, -1)
        kl = 0.5 * (diag.sum(axis=-1) + (off * off).sum(axis=(-2, -1))
                    + (z * z).sum(axis=-1))
    return _out(np.maximum(kl, 0.0), dtype)


def _forward_substitution(low: NDArray[np.floating[Any]],
                          b: NDArray[np.floating[Any]]) -> NDArray[np.floating[Any]]:
    """Solve ``low @ x = b`` for lower-triangular ``low`` (..., k, k).

    Row by row, so that equal factors give exactly the identity (and
    ``m = 0`` off the diagonal, hence KL exactly 0 for equal Gaussians);
    ``np.linalg.solve`` goes through a pivoted LU and leaves ~1e-17 there.
    """
    x = np.zeros(np.broadcast_shapes(low.shape[:-2], b.shape[:-2]) + b.shape[-2:])
    for i in range(low.shape[-1]):
        acc = b[..., i, :] - (low[..., i:i + 1, :i] @ x[..., :i, :])[..., 0, :]
        x[..., i, :] = acc / low[..., i, i, None]
    return x


# ---------------------------------------------------------------- Beta

def kl_beta(a_p: ArrayLike, b_p: ArrayLike, a_q: ArrayLike, b_q: ArrayLike) -> Value:
    r"""KL divergence between two Beta distributions.

    Parameters
    ----------
    a_p, b_p : array_like
        Shape parameters of p = Beta(a_p, b_p), > 0.
    a_q, b_q : array_like
        Shape parameters of q = Beta(a_q, b_q), > 0.
        The four parameters broadcast against each other.

    Returns
    -------
    kl : ndarray or NumPy scalar
        :math:`D_{KL}(p \| q)` in nats, >= 0 (clamped: rounding can give
        -1e-16), of the broadcast shape; float32 if every floating input
        is float32, float64 otherwise.

    Raises
    ------
    ValueError
        If a parameter is <= 0, NaN or infinite, or the shapes do not
        broadcast.
    TypeError
        For complex or non-numeric input.
    ImportError
        If SciPy is not installed (``scipy.special.betaln`` and
        ``digamma`` are used; SciPy is imported on the first call only).

    Notes
    -----
    .. math::

        D_{KL}(p \| q) = \log\frac{B(a_q, b_q)}{B(a_p, b_p)}
            + (a_p - a_q)\,\psi(a_p) + (b_p - b_q)\,\psi(b_p)
            + (a_q - a_p + b_q - b_p)\,\psi(a_p + b_p),

    with B the Beta function (``scipy.special.betaln`` for its logarithm)
    and :math:`\psi` the digamma function.  The terms cancel when p and q
    are close, so the absolute error is a few ulps of the largest term
    (about 1e-15 for parameters of order 10), not relative to the result.

    References
    ----------
    .. [1] W. D. Penny, "KL-divergences of Normal, Gamma, Dirichlet and
       Wishart densities", University College London, 2001.
    .. [2] S. Kullback, *Information Theory and Statistics*, Wiley, 1959.

    Examples
    --------
    >>> from kl_ext.parametric import kl_beta
    >>> float(kl_beta(17, 6, 3, 3))
    1.0470127728225833
    >>> kl_beta(2.0, 2.0, [2.0, 1.0], [2.0, 1.0])   # vs itself and vs uniform
    array([0.       , 0.1250928])
    """
    try:
        from scipy.special import betaln, digamma
    except ImportError:
        raise ImportError("kl_beta needs SciPy: pip install scipy") from None
    a, dtype = _params(a_p=a_p, b_p=b_p, a_q=a_q, b_q=b_q)
    for name in ("a_p", "b_p", "a_q", "b_q"):
        _require_positive(a[name], name)
    ap, bp, aq, bq = a["a_p"], a["b_p"], a["a_q"], a["b_q"]
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        kl = (betaln(aq, bq) - betaln(ap, bp)
              + (ap - aq) * digamma(ap) + (bp - bq) * digamma(bp)
              + ((aq - ap) + (bq - bp)) * digamma(ap + bp))
    return _out(np.maximum(kl, 0.0), dtype)


# ---------------------------------------------------------------- Bernoulli

def kl_bernoulli(p: ArrayLike, q: ArrayLike) -> Value:
    r"""KL divergence between two Bernoulli distributions.

    Parameters
    ----------
    p, q : array_like
        Success probabilities of p = Ber(p) and q = Ber(q), in [0, 1];
        they broadcast against each other.

    Returns
    -------
    kl : ndarray or NumPy scalar
        :math:`D_{KL}(\mathrm{Ber}(p) \| \mathrm{Ber}(q))` in nats, >= 0,
        of the broadcast shape; float32 if every floating input is float32,
        float64 otherwise.  ``+inf`` where q is 0 or 1 and p != q.

    Raises
    ------
    ValueError
        If p or q is outside [0, 1] or NaN, or the shapes do not broadcast.
    TypeError
        For complex or non-numeric input.

    See Also
    --------
    kl_ucb : the KL-UCB index built on this divergence.
    kl_divergence : the same for general discrete distributions.

    Notes
    -----
    .. math::

        D_{KL} = p\log\frac{p}{q} + (1 - p)\log\frac{1 - p}{1 - q},
        \qquad 0\log 0 = 0 .

    Computed as the sum of the two non-negative terms
    :math:`x\log(x/y) - x + y` (``scipy.special.kl_div``; their linear
    parts cancel) for (x, y) = (p, q) and (1 - p, 1 - q).  Near p = q each
    term is :math:`y f(r)` with :math:`r = \pm(p - q)/y` formed from the
    difference of the original p and q (not of the rounded 1 - p, 1 - q)
    and :math:`f(r) = (1 + r)\log(1 + r) - r` summed as a series, so the
    result keeps full relative accuracy as q -> p.

    References
    ----------
    .. [1] T. M. Cover and J. A. Thomas, *Elements of Information Theory*,
       2nd ed., Wiley, 2006, sec. 2.3.

    Examples
    --------
    >>> from kl_ext.parametric import kl_bernoulli
    >>> kl_bernoulli(0.5, [0.5, 0.25, 0.0])
    array([0.        , 0.14384104,        inf])
    >>> float(kl_bernoulli(0.0, 0.5))   # log 2
    0.6931471805599453
    >>> float(kl_bernoulli(0.3, 0.3 + 1e-9))   # mpmath: 2.38095250759190221e-18
    2.380952507591902e-18
    """
    a, dtype = _params(p=p, q=q)
    for name in ("p", "q"):
        x = a[name]
        _require(x, name, (x >= 0) & (x <= 1), "in [0, 1]")
    return _out(_kl_bernoulli64(a["p"], a["q"]), dtype)


def kl_ucb(mean: ArrayLike, count: ArrayLike, t: ArrayLike, *, c: float = 0.0,
           precision: float = 1e-6) -> Value:
    r"""KL-UCB upper-confidence index of Bernoulli bandit arms.

    Parameters
    ----------
    mean : array_like
        Empirical mean reward of each arm, in [0, 1].
    count : array_like
        Number of pulls of each arm, >= 0 (need not be an integer).
    t : array_like
        Current round (total number of pulls), >= 1.
        `mean`, `count` and `t` broadcast against each other.
    c : float, optional
        Exploration constant c >= 0 of the :math:`c \log\log t` term
        (Garivier & Cappé prove their regret bound for c = 3 and recommend
        c = 0 in practice).  Default 0.
    precision : float, optional
        Width of the final bisection bracket, > 0.  Default 1e-6.

    Returns
    -------
    index : ndarray or NumPy float64 scalar
        For each arm the largest :math:`q \in [\text{mean}, 1]` (to within
        `precision`, from below) with

        .. math:: \text{count}\cdot d(\text{mean}, q) \le \log t + c\log\log t,

        where d is :func:`kl_bernoulli`.  1.0 for arms with count = 0.
        Where :math:`\log t + c\log\log t < 0` (t close to 1 with c > 0) the
        bound is taken as 0 and the index is the mean.  Always float64 (the
        returned q satisfies the inequality exactly as computed in float64;
        rounding it to float32 could break that).

    Raises
    ------
    ValueError
        If mean is outside [0, 1], count < 0, t < 1 (or any of them NaN or
        infinite), c < 0 or not finite, precision <= 0 or not finite, or
        the shapes do not broadcast.
    TypeError
        For complex or non-numeric input.

    Notes
    -----
    Vectorised bisection on [mean, 1], all arms at once, for
    :math:`\lceil\log_2(1/\text{precision})\rceil` steps: the lower end
    always satisfies the inequality and the upper end violates it (or is 1),
    since :math:`d(\text{mean}, q)` increases with q >= mean.  The lower
    end is returned, so ``q`` satisfies the inequality and
    ``q + precision`` violates it (when <= 1).

    References
    ----------
    .. [1] A. Garivier and O. Cappé, "The KL-UCB algorithm for bounded
       stochastic bandits and beyond", Proc. COLT 2011, PMLR 19:359-376.

    Examples
    --------
    >>> from kl_ext.parametric import kl_ucb
    >>> kl_ucb([0.2, 0.5, 0.9, 0.5], [10, 10, 10, 0], 100)
    array([0.66711197, 0.88790798, 0.9996109 , 1.        ])
    """
    a, _ = _params(mean=mean, count=count, t=t)
    m, n, tt = a["mean"], a["count"], a["t"]
    _require(m, "mean", (m >= 0) & (m <= 1), "in [0, 1]")
    _require(n, "count", np.isfinite(n) & (n >= 0), "finite and >= 0")
    _require(tt, "t", np.isfinite(tt) & (tt >= 1), "finite and >= 1")
    try:
        c = float(c)
        precision = float(precision)
    except (TypeError, ValueError):
        raise TypeError("c and precision must be real numbers") from None
    if not (math.isfinite(c) and c >= 0):
        raise ValueError(f"c must be finite and >= 0, got {c!r}")
    if not (math.isfinite(precision) and precision > 0):
        raise ValueError(f"precision must be finite and > 0, got {precision!r}")
    with np.errstate(divide="ignore", invalid="ignore"):
        logt = np.log(tt)
        bound = logt + (c * np.log(logt) if c else 0.0)
        bound = np.where(np.isnan(bound) | (bound < 0), 0.0, bound)
    shape = m.shape
    m, n, bound = (np.array(x, dtype=_F64).reshape(-1) for x in (m, n, bound))
    lo = m.copy()
    hi = np.ones_like(m)
    live = n > 0
    steps = max(1, math.ceil(math.log2(1.0 / precision)) + 1)
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(steps):
            idx = np.flatnonzero(live & (hi - lo > precision))
            if idx.size == 0:
                break
            mid = 0.5 * (lo[idx] + hi[idx])
            ok = n[idx] * _kl_bernoulli64(m[idx], mid) <= bound[idx]
            lo[idx] = np.where(ok, mid, lo[idx])
            hi[idx] = np.where(ok, hi[idx], mid)
    lo[~live] = 1.0
    return _out(lo.reshape(shape), _F64)
