"""Cross-entropy and KL divergence computed directly from logits.

Validation, dtype coercion and broadcasting follow :mod:`kl_ext.measures`
(its helpers are reused); the rows go to the fused log-sum-exp kernels of
``src/_logits.pyx`` (best CPU tier built for this machine, ``CPU_TIER``).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, SupportsIndex

import numpy as np
from numpy.typing import NDArray

from . import _cpu
from ._typing import ArrayLike, FloatArray, Value
from .measures import _AxisTypeError, _as_rows, _axis, _coerce, _row_text  # noqa: F401

if TYPE_CHECKING:  # every tier has the interface of kl_ext/_logits.pyi
    from . import _logits
    _k = _logits
    CPU_TIER: str
else:
    _k, CPU_TIER = _cpu.load("kl_ext._logits")

__all__ = ["cross_entropy_logits", "kl_divergence_logits"]

_F64 = np.dtype(np.float64)
_F32 = np.dtype(np.float32)
_I64 = np.dtype(np.int64)
_ST_LABEL, _ST_NEG_TARGET, _ST_NOMEM = 1, 2, 3


def _rows(a: FloatArray) -> FloatArray:
    """(..., n) view as (rows, n) with unit element stride (copy if needed)."""
    r = _as_rows(a)
    if r is None:
        r = np.ascontiguousarray(a).reshape(-1, a.shape[-1])
    if r.shape[1] > 1 and r.strides[1] != r.itemsize:
        if r.strides[0] == 0:  # a broadcast row: copy it once, not per row
            r = np.broadcast_to(np.ascontiguousarray(r[0]), r.shape)
        else:
            r = np.ascontiguousarray(r)
    if not r.flags.aligned:
        r = np.require(r, requirements=["C", "A"])
    return r


def _float_arg(value: Any, name: str, lo: float, lo_open: bool,
               hi: float | None = None) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number, got {value!r}") from None
    ok = (v > lo if lo_open else v >= lo) and math.isfinite(v)
    if hi is not None:
        ok = ok and v <= hi
    if not ok:
        rng = f"in [{lo}, {hi}]" if hi is not None else f"a finite number > {lo}"
        raise ValueError(f"{name} must be {rng}, got {value!r}")
    return v


def _labels(target: ArrayLike, lead: tuple[int, ...], ax_name: str) -> NDArray[np.int64]:
    """Validated int64 class labels of shape `lead` (ValueError names the row)."""
    t = target if type(target) is np.ndarray else np.asarray(target)
    kind = t.dtype.kind
    if kind == "b":
        raise TypeError("target of dtype bool: pass integer class labels, or "
                        "probability rows with the logits' number of dimensions")
    if kind not in "iuf":
        raise TypeError(f"target must be integer class labels or real "
                        f"probabilities, got dtype {t.dtype}")
    try:
        t = np.broadcast_to(t, lead)
    except ValueError:
        raise ValueError(f"class labels with shape {t.shape} do not match the "
                         f"logits' shape without {ax_name} {lead}") from None
    if kind == "f":
        bad = ~(np.isfinite(t) & (t == np.floor(t)))
        if bad.any():
            i = int(np.flatnonzero(bad.reshape(-1))[0])
            v = t.reshape(-1)[i]
            raise ValueError(f"class labels must be integers, found {float(v)!r}"
                             f"{_row_text(i, lead)}")
        big = np.abs(t) >= 2.0 ** 62
        t = np.where(big, -1, t)  # out of range anyway; keep the cast defined
    return np.ascontiguousarray(t, dtype=_I64).reshape(-1)


def cross_entropy_logits(logits: ArrayLike, target: ArrayLike, *, axis: SupportsIndex = -1,
                         label_smoothing: float = 0.0) -> Value:
    r"""Cross-entropy loss of each row of logits against its target.

    Parameters
    ----------
    logits : array_like of shape (..., C, ...)
        Unnormalised log-probabilities; the classes lie along `axis`.
        float32 or float64 (integers become float64).
    target : array_like
        Either class labels, with *one dimension fewer* than `logits`: the
        shape of `logits` without `axis` (or broadcastable to it), integers
        in ``[0, C)`` (floats with integral values are accepted); or
        probability rows, with *as many dimensions* as `logits` and a shape
        that broadcasts against it (a row shared by all samples has shape
        ``(1, C)``).  Probabilities must be >= 0 and are used as given (not
        renormalised, as in PyTorch); integers become float64.
    axis : int, default -1
        Axis of `logits` (and of probability targets) holding the classes.
    label_smoothing : float in [0, 1], default 0.0
        As in ``torch.nn.functional.cross_entropy``: the target becomes
        ``(1 - eps) * target + eps / C`` (with one-hot rows for labels).

    Returns
    -------
    loss : numpy.float64/float32 or ndarray
        Loss per row in nats, shape of `logits` (broadcast with probability
        targets) without `axis`; a NumPy scalar for one row.  float32 when
        `logits` (and a probability target) are float32, accumulated in
        float64; float64 otherwise.

    Raises
    ------
    ValueError
        A label out of ``[0, C)`` or not an integer, a negative probability
        (the message names the row), shapes that don't match, an empty or
        out-of-range `axis`, or `label_smoothing` outside [0, 1].
    TypeError
        Complex, object, string or bool input; a non-integer `axis`.

    See Also
    --------
    kl_divergence_logits
    kl_ext.cross_entropy : the same from probabilities.

    Notes
    -----
    With :math:`\mathrm{LSE}(x) = \log\sum_c e^{x_c}` and smoothed target
    :math:`t' = (1-\varepsilon)\,t + \varepsilon/C`,

    .. math::

        \ell(x, t) = -\sum_c t'_c \log \mathrm{softmax}(x)_c
                   = \sum_c t'_c \bigl(\mathrm{LSE}(x) - x_c\bigr),

    which for a label :math:`y` and :math:`\varepsilon = 0` is
    :math:`\mathrm{LSE}(x) - x_y` (Goodfellow et al., §6.2.2.3).  The kernel
    shifts each row by its maximum :math:`m` (no ``exp`` overflows) and
    writes :math:`\mathrm{LSE}(x) - x_c = (m - x_c) + \log(1 + s')`, where
    :math:`s'` sums :math:`e^{x_c - m}` over all classes but the maximal
    one: every part is >= 0, so nothing cancels and a confident correct
    prediction keeps full relative accuracy (``log(0)`` is never formed).
    Two passes over each row (maximum, then the sums; the second reads the
    row from cache).

    Conventions: NaN anywhere in a row of logits gives NaN for that row; a
    ``+inf`` logit gives NaN (softmax is inf/inf there; PyTorch also gives
    NaN); ``-inf`` logits are classes of probability 0, fine while the
    target puts no mass on them (zero-probability entries contribute 0,
    where PyTorch's ``0 * -inf`` gives NaN) and ``+inf`` otherwise (also
    with label smoothing > 0); a row of only ``-inf`` gives NaN.  There is
    no ``ignore_index``.  Units: nats.

    References
    ----------
    .. [1] I. Goodfellow, Y. Bengio and A. Courville, *Deep Learning*, MIT
       Press, 2016, §6.2.2.3 (softmax units, log-sum-exp).
    .. [2] PyTorch documentation, ``torch.nn.functional.cross_entropy``
       (label smoothing: C. Szegedy et al., "Rethinking the Inception
       architecture", CVPR 2016).
    .. [3] ``sklearn.metrics.log_loss``: the mean over rows, from
       probabilities.

    Examples
    --------
    >>> import numpy as np
    >>> from kl_ext.logits import cross_entropy_logits
    >>> logits = np.array([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]])
    >>> cross_entropy_logits(logits, [0, 1])
    array([0.41703002, 0.22004952])
    >>> cross_entropy_logits(logits, [0, 1], label_smoothing=0.1)
    array([0.51369668, 0.36004952])
    >>> cross_entropy_logits([1000.0, 0.0], 0)   # no overflow
    np.float64(0.0)
    >>> cross_entropy_logits([30.0, 0.0], 0)     # log1p(e**-30), not 0
    np.float64(9.357622968839737e-14)
    >>> cross_entropy_logits(logits, [[0.5, 0.5, 0.0]])
    array([0.91703002, 1.22004952])
    """
    eps = _float_arg(label_smoothing, "label_smoothing", 0.0, False, 1.0)
    x = _coerce(logits, "logits")
    if x.ndim == 0:
        raise ValueError("logits must have at least one dimension (the classes)")
    ax = _axis(axis, x.ndim)
    t = target if type(target) is np.ndarray else np.asarray(target)
    if t.ndim == x.ndim:          # probability rows
        t = _coerce(t, "target")
        if t.dtype is not x.dtype:
            x = x.astype(_F64)
            t = t.astype(_F64)
        try:
            shape = np.broadcast_shapes(x.shape, t.shape)
        except ValueError:
            raise ValueError(f"logits with shape {x.shape} and target with shape "
                             f"{t.shape} do not broadcast together") from None
        if shape[ax] != x.shape[ax]:
            raise ValueError(f"target has {t.shape[ax]} classes along axis {axis}, "
                             f"logits {x.shape[ax]}")
        xb = np.moveaxis(np.broadcast_to(x, shape), ax, -1)
        tb = np.moveaxis(np.broadcast_to(t, shape), ax, -1)
        labels = None
    elif t.ndim == x.ndim - 1:    # class labels
        xb = np.moveaxis(x, ax, -1)
        labels = _labels(t, xb.shape[:-1], f"axis {axis}")
        tb = None
    else:
        raise ValueError(f"target must have {x.ndim - 1} dimensions (class labels) "
                         f"or {x.ndim} (probabilities), got shape {t.shape} for "
                         f"logits of shape {x.shape}")
    n = xb.shape[-1]
    if n == 0:
        raise ValueError(f"cannot reduce over an empty axis (axis {axis} has length 0)")
    lead = xb.shape[:-1]
    dtype = xb.dtype
    out = np.empty(lead, dtype=_F64)
    status = np.zeros(lead, dtype=np.int8)
    if not out.size:  # an empty batch: no rows to run
        return out.astype(dtype)
    x2 = _rows(xb)
    t2 = None if tb is None else _rows(tb)
    flagged = _k.ce_rows(x2, labels, t2, eps, out.reshape(-1), status.reshape(-1))
    if flagged < 0:  # pragma: no cover - _rows guarantees the layout
        raise RuntimeError("kl_ext._logits: unsupported memory layout")
    if flagged:
        flat = status.reshape(-1)
        i = int(np.flatnonzero(flat)[0])
        st = int(flat[i])
        where = _row_text(i, lead)
        if st == _ST_LABEL:
            assert labels is not None  # (only class labels are out of range)
            raise ValueError(f"class label {int(labels[i])} is out of range [0, {n})"
                             f"{where}")
        if st == _ST_NEG_TARGET:
            assert tb is not None  # (only probability rows are negative)
            row = tb.reshape(-1, n)[i] if tb.ndim > 1 else tb
            v = row[np.flatnonzero(row < 0)[0]]
            raise ValueError(f"target probabilities must be non-negative, found "
                             f"{float(v)!r}{where}")
        raise MemoryError("kl_ext._logits: out of memory")
    with np.errstate(over="ignore"):  # float32 beyond its range: inf
        if not lead:
            return dtype.type(out[()])
        return out.astype(dtype, copy=False)


def kl_divergence_logits(logits_p: ArrayLike, logits_q: ArrayLike, *, axis: SupportsIndex = -1,
                         temperature: float = 1.0) -> Value:
    r"""KL divergence between the softmax distributions of two sets of logits.

    Parameters
    ----------
    logits_p, logits_q : array_like
        Logits of p (e.g. the teacher, or the new policy) and of q (the
        student, or the reference policy); they broadcast against each other
        with NumPy rules (one reference row of shape (C,) against (N, C) is
        read in place).  float32 or float64 (integers become float64).
    axis : int, default -1
        Axis holding the classes (of the broadcast shape).
    temperature : float > 0, default 1.0
        Both sets of logits are divided by it before the softmax.

    Returns
    -------
    d : numpy.float64/float32 or ndarray
        :math:`D(p\,\|\,q)` per row in nats, >= 0, broadcast shape without
        `axis`; float32 only when both inputs are float32 (accumulated in
        float64).

    Raises
    ------
    ValueError
        Shapes that don't broadcast, an empty or out-of-range `axis`, a
        `temperature` that is not a finite number > 0.
    TypeError
        Complex, object or string input; a non-integer `axis`.

    See Also
    --------
    cross_entropy_logits
    kl_ext.kl_divergence : the same from probabilities.

    Notes
    -----
    With :math:`p = \mathrm{softmax}(a/T)` and :math:`q = \mathrm{softmax}(b/T)`,

    .. math::

        D(p\,\|\,q) = \sum_i p_i \log\frac{p_i}{q_i}
                    = \sum_i \bigl(p_i d_i - p_i + q_i\bigr),\qquad
        d_i = \frac{a_i - b_i}{T} - \log\frac{Z_a}{Z_b},

    the second form (:math:`\sum p = \sum q = 1`) being a sum of
    non-negative terms :math:`q_i\,\varphi(d_i)`,
    :math:`\varphi(d) = 1 + (d-1)e^d`, evaluated by its Taylor series for
    :math:`|d_i| \le 1` (no cancellation as :math:`a \to b`).  The sum is
    stationary in the partition log-ratio :math:`\log(Z_a/Z_b)` (its
    derivative is :math:`\sum_i (q_i - p_i) = 0`), so the rounding of that
    one number enters only at second order: ``D(a, a) = 0`` exactly (the
    plain :math:`\sum p(\log p - \log q)` loses every digit near
    :math:`a = b`).  Nearly equal rows (the value below
    :math:`2^{-20}(1 + (|\max a| + |\max b|)/T + |c|)^2` and
    :math:`2^{-10}`) are recomputed
    with :math:`d_i = e_i - c'`, :math:`e_i = ((a_i - b_i) - (m_a - m_b))/T`
    from exact differences (TwoSum [4]_) and
    :math:`c' = \log(Z_a/Z_b) - (m_a - m_b)/T
    = \operatorname{log1p}(\sum_i q_i \operatorname{expm1}(e_i))`, so
    neither the rounding of :math:`a - b` (shifted logits) nor that of
    :math:`Z_a/Z_b` enters.  Accuracy: within 1e-13 relative of exact
    arithmetic on the given float64 logits, also for logits a relative
    1e-13 apart (``D`` ~ 1e-27) and shifted ones; float32 input within one
    float32 rounding of the exact value.
    Equal to ``torch.nn.functional.kl_div(log_softmax(b/T),
    log_softmax(a/T), log_target=True, reduction='none').sum(-1)``.  Hinton
    et al. multiply the distillation loss by :math:`T^2`; that factor is
    left to the caller.

    Conventions: finite logits always give a finite result; NaN in a row,
    ``+inf`` or a row of only ``-inf`` gives NaN; ``-inf`` in `logits_p`
    only is a class with :math:`p_i = 0` (contributes 0); ``-inf`` in
    `logits_q` where :math:`p_i > 0` gives ``+inf``.  Units: nats.

    References
    ----------
    .. [1] G. Hinton, O. Vinyals and J. Dean, "Distilling the knowledge in a
       neural network", arXiv:1503.02531, 2015 (temperature).
    .. [2] PyTorch documentation, ``torch.nn.functional.kl_div``.
    .. [3] S. Kullback and R. A. Leibler, "On information and sufficiency",
       Ann. Math. Statist. 22(1), 79-86, 1951.
    .. [4] N. J. Higham, *Accuracy and Stability of Numerical Algorithms*,
       2nd ed., SIAM, 2002, sec. 4.3 (TwoSum, Knuth).

    Examples
    --------
    >>> import numpy as np
    >>> from kl_ext.logits import kl_divergence_logits
    >>> a = np.array([2.0, 1.0, 0.1])
    >>> kl_divergence_logits(a, [0.5, 2.5, 0.3])
    np.float64(0.908158580932721)
    >>> kl_divergence_logits(a, [0.5, 2.5, 0.3], temperature=4.0)
    np.float64(0.05176595292358414)
    >>> kl_divergence_logits(a, a + 1e-9 * np.array([1.0, -1.0, 0.0]))
    np.float64(3.639525574297e-19)
    """
    temp = _float_arg(temperature, "temperature", 0.0, True)
    a = _coerce(logits_p, "logits_p")
    b = _coerce(logits_q, "logits_q")
    if a.dtype is not b.dtype:
        a = a.astype(_F64)
        b = b.astype(_F64)
    dtype = a.dtype
    if a.shape == b.shape:
        shape = a.shape
    else:
        try:
            shape = np.broadcast_shapes(a.shape, b.shape)
        except ValueError:
            raise ValueError(f"logits_p with shape {a.shape} and logits_q with shape "
                             f"{b.shape} do not broadcast together") from None
    if len(shape) == 0:
        raise ValueError("logits must have at least one dimension (the classes)")
    ax = _axis(axis, len(shape))
    if shape[ax] == 0:
        raise ValueError(f"cannot reduce over an empty axis (axis {axis} has length 0)")
    ab = np.moveaxis(np.broadcast_to(a, shape), ax, -1)
    bb = np.moveaxis(np.broadcast_to(b, shape), ax, -1)
    lead = ab.shape[:-1]
    out = np.empty(lead, dtype=_F64)
    status = np.zeros(lead, dtype=np.int8)
    if not out.size:  # an empty batch: no rows to run
        return out.astype(dtype)
    flagged = _k.kl_rows(_rows(ab), _rows(bb), temp, out.reshape(-1), status.reshape(-1))
    if flagged < 0:  # pragma: no cover - _rows guarantees the layout
        raise RuntimeError("kl_ext._logits: unsupported memory layout")
    if flagged:
        raise MemoryError("kl_ext._logits: out of memory")
    with np.errstate(over="ignore"):  # float32 beyond its range: inf
        if not lead:
            return dtype.type(out[()])
        return out.astype(dtype, copy=False)
