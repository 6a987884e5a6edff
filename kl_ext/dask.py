r"""kl_ext on Dask arrays: the same measures, lazily, where the data is.

Every function has the name, signature, keywords and semantics of the
in-memory function of :mod:`kl_ext` (values, dtypes, conventions at zeros
and infinities, errors), takes Dask arrays (or anything
:func:`dask.array.asarray` accepts) and returns a lazy Dask array
(:func:`compare`: a :class:`kl_ext.Comparison` of Dask arrays).  Building
the graph computes nothing; errors surface at compute time, naming the
global row.

How a call is run depends on the chunks of the reduction axis:

* **The axis in one chunk** (rows chunked): one task per block of rows
  calls the in-memory function on it -- no rechunking, no extra pass, and
  results bit-identical to the in-memory call on the whole array.
* **The axis split over chunks**: each chunk gives the partial statistics
  of :mod:`kl_ext.chunked` (a few sums per 65,536 elements and row), which
  are gathered in a tree of at most ``split_every`` (dask's
  ``split_every`` setting, default 8) blocks per task and finished per
  block of rows.  The data itself is never gathered or rechunked.
  Entropy, cross-entropy and KL take one pass over the data; JS divergence
  and distance, total variation and :func:`wasserstein_hist` take two (the
  totals first), and the second pass reads its chunks again from their
  source (``dask.graph_manipulation.bind``) rather than holding the whole
  input in memory between the passes -- chunks that are expensive to
  produce are produced twice.  Results equal the in-memory call bit for bit
  when every chunk boundary of the axis is a multiple of 65,536, and to
  ~1e-16 relative otherwise, also for rows near p = q (see
  :mod:`kl_ext.chunked` for how, and for the limits of a split axis).

Inside tasks the kernels run on one thread (``nthreads``: 1 by default):
Dask's workers are the parallelism, and a threaded scheduler or a worker's
``OMP_NUM_THREADS`` never multiplies the threads.

``import kl_ext`` does not import Dask; this module does (install the
``dask`` extra: ``pip install "kl_ext[dask]"``).

Examples
--------
>>> import dask.array as da
>>> import kl_ext, kl_ext.dask
>>> p = da.from_array([[1.0, 3.0], [2.0, 2.0]], chunks=(1, 2))
>>> d = kl_ext.dask.kl_divergence(p, [1.0, 1.0], base=2)
>>> d
dask.array<kl-ext-kl_divergence, shape=(2,), dtype=float64, chunksize=(1,), chunktype=numpy.ndarray>
>>> d.compute()
array([0.18872188, 0.        ])
"""

from __future__ import annotations

import functools
import os
import math
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, SupportsIndex, Union

import dask
import dask.array as da
import numpy as np
from dask.graph_manipulation import bind
from numpy.typing import NDArray

from . import _table, _threads, chunked
from . import measures as _m
from ._typing import ArrayLike

if TYPE_CHECKING:
    from .report import Comparison

# (annotation shorthands)
_Arr = NDArray[Any]
_F64A = NDArray[np.float64]
_Sp = chunked._Spec

#: what the functions take: Dask arrays, or anything da.asarray takes
_In = Union[da.Array, ArrayLike]

__all__ = [m.name for m in _table.MEASURES] + [
    "compare", "wasserstein_hist", "wasserstein_1d_binned", "read_npy", "NTHREADS"]

#: Threads each task's kernel call may use (1: the worker processes and
#: threads are the parallelism).  Set it to 0 for kl_ext's default when a
#: task has a machine to itself.
NTHREADS = 1

_F64 = np.dtype(np.float64)
_LETTERS = "abcdefghijklmnopqrstuvw"


# ---------------------------------------------------------------------------
# validation and alignment (no data is read)

def _dtype_of(a: Any, name: str) -> np.dtype[Any]:
    """The dtype kl_ext's coercion gives `a` (its TypeError for complex or
    non-numeric dtypes), without reading any data."""
    return _m._coerce(np.empty(0, dtype=a.dtype), name).dtype


def _as_dask(a: Any) -> da.Array:
    return a if isinstance(a, da.Array) else da.asarray(a)


def _align(p: da.Array, q: da.Array, axis: object, name_q: str = "q"
           ) -> tuple[da.Array, da.Array, tuple[int, ...], int]:
    """Dask views of p and q of the broadcast shape's rank, `axis` last.

    q (or p) keeps size-1 dimensions where it broadcasts (blockwise reuses
    its one block); where both have a dimension, q takes p's chunks, so p's
    rows are never rechunked.  Returns (p, q, lead, n).  Raises as kl_ext
    does for shapes that do not broadcast, a bad axis and an empty axis.
    """
    try:
        shape = np.broadcast_shapes(p.shape, q.shape)
    except ValueError:
        raise ValueError(f"p with shape {p.shape} and {name_q} with shape {q.shape} "
                         "do not broadcast together") from None
    if any(isinstance(s, float) and math.isnan(s) for s in shape):
        raise ValueError("arrays with unknown chunk sizes: call compute_chunk_sizes() first")
    nd = len(shape)
    ax = _m._axis(axis, nd)
    if shape[ax] == 0:
        raise ValueError(f"cannot reduce over an empty axis (axis {axis} has length 0)")

    def place(a: da.Array) -> da.Array:
        a = a[(None,) * (nd - a.ndim)] if a.ndim < nd else a
        return da.moveaxis(a, ax, -1) if ax != nd - 1 else a

    pa, qa = place(p), place(q)
    if qa is not pa:
        # one input broadcast along the reduction axis: give it the other's
        # axis chunks (np.broadcast_to per block: no copy)
        for a, b in ((0, 1), (1, 0)):
            x, y = (pa, qa)[a], (pa, qa)[b]
            if x.shape[-1] == 1 and y.shape[-1] != 1:
                x = da.broadcast_to(x, x.shape[:-1] + (y.shape[-1],),
                                    chunks=x.chunks[:-1] + (y.chunks[-1],))
                pa, qa = (x, qa) if a == 0 else (pa, x)
        target = tuple(pc if ps == qs else qc for pc, qc, ps, qs
                       in zip(pa.chunks, qa.chunks, pa.shape, qa.shape))
        if target != qa.chunks:
            qa = qa.rechunk(target)
    lead = tuple(shape[:ax] + shape[ax + 1:])
    return pa, qa, lead, shape[ax]


def _lead_chunks(pa: da.Array, qa: da.Array) -> tuple[tuple[int, ...], ...]:
    """The chunks of the broadcast leading dimensions (a size-1 dimension
    takes the other input's chunks)."""
    return tuple(qc if sum(pc) == 1 and sum(qc) != 1 else pc
                 for pc, qc in zip(pa.chunks[:-1], qa.chunks[:-1]))


def _empty(lead: tuple[int, ...], dtype: np.dtype[Any]) -> da.Array:
    """The result of a batch with no rows: an empty array of the broadcast
    shape (as the in-memory functions give)."""
    return da.empty(lead, dtype=dtype, chunks=-1)


def _origin(block_info: Any, nlead: int) -> tuple[int, ...]:
    loc = block_info[None]["array-location"]
    return tuple(start for start, _ in loc[:nlead])


# ---------------------------------------------------------------------------
# the axis in one chunk: the in-memory function per block of rows

def _block_eager(fn: Callable[..., Any], kwargs: dict[str, Any], nlead: int, has_q: bool,
                 *arrays: _Arr, block_info: Any = None) -> Any:
    """fn(p[, q], *extra, **kwargs) on one block of rows, on one thread, with
    error messages naming global rows; a 1-D block (one row) takes the 2-D
    path, so that the thread count reaches the kernels."""
    p, rest = arrays[0], arrays[1:]
    with _threads.limit(NTHREADS), _threads.rows_from(_origin(block_info, nlead)):
        if p.ndim == 1:
            p = p[np.newaxis]
            if has_q:
                rest = (rest[0][np.newaxis],) + rest[1:]
            return np.asarray(fn(p, *rest, **kwargs))[0]
        return fn(p, *rest, **kwargs)


def _rowwise(fn: Callable[..., Any], kwargs: dict[str, Any], pa: da.Array, qa: da.Array,
             lead: tuple[int, ...], dtype: np.dtype[Any], has_q: bool) -> da.Array:
    """One task per block of rows (the axis is one chunk: map_blocks's
    concatenation of the dropped axis gathers nothing)."""
    nlead = len(lead)
    return da.map_blocks(
        functools.partial(_block_eager, fn, kwargs, nlead, has_q),
        *([pa, qa] if has_q else [pa]), drop_axis=[nlead],
        chunks=_lead_chunks(pa, qa), dtype=dtype,
        meta=np.empty((0,) * nlead, dtype=dtype), token=f"kl-ext-{fn.__name__}")


# ---------------------------------------------------------------------------
# the axis split over chunks: partial statistics, gathered in a tree

def _pieces_chunks(axis_chunks: Iterable[int]) -> tuple[int, ...]:
    return tuple(int(chunked._k.n_pieces(c)) for c in axis_chunks)


def _first_block(spec_: _Sp, normalize: bool, smoothing: float, nlead: int, has_q: bool,
                 *arrays: _Arr, block_info: Any = None) -> _F64A:
    p = arrays[0]
    q = arrays[1] if has_q else None
    offset = block_info[0]["array-location"][-1][0]
    with _threads.limit(NTHREADS):
        pb, qb, _ = chunked.prepare(spec_, p, q, -1, smoothing)
        return chunked.first_pieces(spec_, pb, qb, offset, normalize)


def _gather(parts: da.Array, split_every: int) -> da.Array:
    """Rechunk the pieces axis (-2) into one chunk, `split_every` blocks at a
    time (a tree of concatenations of the small partial statistics)."""
    ax = parts.ndim - 2
    while parts.numblocks[ax] > 1:
        c = parts.chunks[ax]
        merged = tuple(sum(c[i:i + split_every]) for i in range(0, len(c), split_every))
        parts = parts.rechunk({ax: merged})
    return parts


def _split_every() -> int:
    s = dask.config.get("split_every", None)
    return int(s) if isinstance(s, int) and s >= 2 else 8


def _first_pass(spec_: _Sp, pa: da.Array, qa: da.Array, lead: tuple[int, ...], normalize: bool,
                smoothing: float, has_q: bool) -> da.Array:
    nlead = len(lead)
    out_chunks = _lead_chunks(pa, qa) + (_pieces_chunks(pa.chunks[-1]), (chunked.NCOL1,))
    parts = da.map_blocks(
        functools.partial(_first_block, spec_, normalize, smoothing, nlead, has_q),
        *([pa, qa] if has_q else [pa]), chunks=out_chunks, new_axis=[nlead + 1],
        dtype=_F64, meta=np.empty((0,) * (nlead + 2)),
        token=f"kl-ext-{spec_.name}-pass1")
    return _gather(parts, _split_every())


def _finish_one_block(spec_: _Sp, normalize: bool, nlead: int, split: bool, parts: _F64A,
                      block_info: Any = None) -> _F64A:
    with _threads.rows_from(_origin(block_info, nlead)):
        return chunked.finish_one(spec_, parts, normalize, split=split)


def _totals_block(spec_: _Sp, normalize: bool, nlead: int, split: bool, parts: _F64A,
                  block_info: Any = None) -> _F64A:
    with _threads.rows_from(_origin(block_info, nlead)):
        return chunked.pair_totals(spec_, parts, normalize, split=split)


def _second_block(spec_: _Sp, smoothing: float, has_q: bool, *arrays: _Arr) -> _F64A:
    p = arrays[0]
    q = arrays[1] if has_q else None
    totals = arrays[-1]
    with _threads.limit(NTHREADS):
        pb, qb, _ = chunked.prepare(spec_, p, q, -1, smoothing)
        lead = np.broadcast_shapes(pb.shape[:-1], totals.shape[:-1])
        pb = np.broadcast_to(pb, lead + pb.shape[-1:])
        return chunked.second_pieces(spec_, pb, qb, totals)


def _finish_pair_block(spec_: _Sp, normalize: bool, parts2: _F64A, totals: _F64A) -> _F64A:
    return chunked.finish_pair(spec_, parts2, totals, normalize)


def _split_nats(spec_: _Sp, pa: da.Array, qa: da.Array, lead: tuple[int, ...], normalize: bool,
                smoothing: float, has_q: bool) -> da.Array:
    """float64 nats of a measure over a split axis (a lazy array of shape lead)."""
    nlead = len(lead)
    split = pa.numblocks[-1] > 1
    parts = _first_pass(spec_, pa, qa, lead, normalize, smoothing, has_q)
    if spec_.passes == 1:
        return parts.map_blocks(  # type: ignore[call-arg]  # (see _scalar)
            functools.partial(_finish_one_block, spec_, normalize,  # type: ignore[arg-type]
                              nlead, split),
            drop_axis=[nlead, nlead + 1], dtype=_F64, meta=np.empty((0,) * nlead),
            token=f"kl-ext-{spec_.name}-finish")
    totals = parts.map_blocks(  # type: ignore[call-arg]  # (see _scalar)
        functools.partial(_totals_block, spec_, normalize, nlead, split),  # type: ignore[arg-type]
        drop_axis=[nlead + 1], chunks=parts.chunks[:nlead] + ((chunked.NTOT,),), dtype=_F64,
        meta=np.empty((0,) * (nlead + 1)), token=f"kl-ext-{spec_.name}-totals")
    # the second pass recomputes its chunks after the totals instead of
    # holding every first-pass chunk in memory until then (dask/dask#874)
    pa2 = bind(pa, totals)
    qa2 = bind(qa, totals) if has_q else None
    lead_ind = _LETTERS[:nlead]
    full = lead_ind + "y"
    args = [pa2, full] + ([qa2, full] if has_q else []) + [totals, lead_ind + "x"]
    parts2 = da.blockwise(
        functools.partial(_second_block, spec_, smoothing, has_q), full + "z", *args,
        new_axes={"z": chunked.NCOL2}, adjust_chunks={"y": _pieces_chunks(pa.chunks[-1])},
        dtype=_F64, concatenate=True, meta=np.empty((0,) * (nlead + 2)),
        token=f"kl-ext-{spec_.name}-pass2")
    parts2 = _gather(parts2, _split_every())
    return da.blockwise(
        functools.partial(_finish_pair_block, spec_, normalize), lead_ind,
        parts2, lead_ind + "yz", totals, lead_ind + "x", dtype=_F64, concatenate=True,
        meta=np.empty((0,) * nlead), token=f"kl-ext-{spec_.name}-finish")


def _finish_lazy(spec_: _Sp, nats: da.Array, dtype: np.dtype[Any], base: float | None) -> da.Array:
    """Nats -> the public result (base, square root, dtype), elementwise."""
    lb = _m._log_base(base) if spec_.base else None
    if lb is not None:
        nats = nats / lb
    if spec_.sqrt:
        nats = da.sqrt(nats)
    return nats.astype(dtype, copy=False)


def _measure(name: str, p: _In, q: _In | None, *, base: float | None, axis: SupportsIndex,
             normalize: bool, smoothing: float) -> da.Array:
    spec_ = chunked.spec(name)
    fn = getattr(_m, name)
    if spec_.base:
        lb = _m._log_base(base)
        if spec_.sqrt and lb is not None and lb < 0:
            raise ValueError(f"js_distance needs base > 1 (the divergence is negative "
                             f"in base {base!r}, so it has no real square root)")
    alpha = _m._smoothing(smoothing)
    p = _as_dask(p)
    dp = _dtype_of(p, "p")
    if spec_.has_q:
        q = _as_dask(q)
        dq = _dtype_of(q, "q")
        dtype = dp if dp == dq else _F64
    else:
        q, dtype = p, dp
    pa, qa, lead, n = _align(p, q, axis)
    if 0 in lead:
        return _empty(lead, dtype)
    kwargs: dict[str, Any] = dict(normalize=normalize, smoothing=smoothing)
    if spec_.base:
        kwargs["base"] = base
    if pa.numblocks[-1] == 1 and (not spec_.has_q or qa.numblocks[-1] == 1):
        out = _rowwise(fn, kwargs, pa, qa, lead, dtype, spec_.has_q)
    else:
        nats = _split_nats(spec_, pa, qa, lead, normalize, alpha, spec_.has_q)
        out = _finish_lazy(spec_, nats, dtype, base)
    return out if lead else _scalar(out)


# ---------------------------------------------------------------------------
# the public functions: the in-memory docstrings, with the Dask notes

def _public(info: _table.MeasureInfo) -> Callable[..., da.Array]:
    """kl_ext.dask's version of the table's measure `info`."""
    name = info.name
    if info.takes_q and info.has_base:
        def f(p: _In, q: _In, *, base: float | None = None, axis: SupportsIndex = -1,
              normalize: bool = True, smoothing: float = 0.0) -> da.Array:
            return _measure(name, p, q, base=base, axis=axis, normalize=normalize,
                            smoothing=smoothing)
    elif info.takes_q:
        def f(p: _In, q: _In, *, axis: SupportsIndex = -1,  # type: ignore[misc]
              normalize: bool = True, smoothing: float = 0.0) -> da.Array:
            return _measure(name, p, q, base=None, axis=axis, normalize=normalize,
                            smoothing=smoothing)
    else:
        def f(p: _In, *, base: float | None = None,  # type: ignore[misc]
              axis: SupportsIndex = -1, normalize: bool = True,
              smoothing: float = 0.0) -> da.Array:
            return _measure(name, p, None, base=base, axis=axis, normalize=normalize,
                            smoothing=smoothing)
    f.__name__ = f.__qualname__ = name
    f.__module__ = __name__
    f.__doc__ = _dask_doc(getattr(_m, name).__doc__, name, info.takes_q)
    return f


def _dask_doc(doc: str, name: str, takes_q: bool = True) -> str:
    """The in-memory function's docstring, with a note on Dask and an example
    showing that the lazy result equals the in-memory one."""
    head, sep, rest = doc.partition("\n")
    note = (f"\n    Lazy Dask version of :func:`kl_ext.{name}`: Dask arrays in, a lazy\n"
            "    Dask array out (see :mod:`kl_ext.dask` for how chunks are handled);\n"
            "    NumPy input is accepted too.  The rest is the in-memory function's\n"
            "    documentation, whose values, conventions and errors hold here too;\n"
            "    errors are raised at compute time.  Its accuracy contract holds\n"
            "    where the distribution axis is one chunk (each block of rows is\n"
            "    computed by the in-memory function) and over a split axis, near\n"
            "    p = q and for long histograms too (per-piece double-double sums\n"
            "    and exact terms): see the Limits of :mod:`kl_ext.chunked`.\n")
    body = rest.split("    Examples\n    --------")[0]
    args = "p, q" if takes_q else "p"
    field = ".kl_pq" if name == "compare" else ""
    eager = "kl_ext.report.compare" if name == "compare" else (
        "kl_ext.wasserstein.wasserstein_hist" if name == "wasserstein_hist" else f"kl_ext.{name}")
    example = ("    Examples\n    --------\n"
               "    The axis split in two chunks (partial statistics), against the\n"
               "    in-memory call:\n\n"
               "    >>> import numpy as np, dask.array as da\n"
               "    >>> import kl_ext, kl_ext.dask, kl_ext.report, kl_ext.wasserstein\n"
               "    >>> p = da.from_array([[1.0, 3.0], [2.0, 2.0]], chunks=(1, 1))\n"
               "    >>> q = [1.0, 1.0]\n"
               f"    >>> lazy = kl_ext.dask.{name}({args}){field}\n"
               f"    >>> want = {eager}(p.compute(){', q' if takes_q else ''}){field}\n"
               "    >>> bool(np.allclose(lazy.compute(), want, rtol=1e-15, atol=0))\n"
               "    True\n")
    return head + sep + note + body.rstrip() + "\n\n" + example


for _info in _table.MEASURES:
    globals()[_info.name] = _public(_info)
del _info

# The functions made above, as a type checker sees them (it cannot follow
# the globals() assignment); tests/test_typing_usage.py checks them.
if TYPE_CHECKING:
    def entropy(p: _In, *, base: float | None = None, axis: SupportsIndex = -1,
                normalize: bool = True, smoothing: float = 0.0) -> da.Array: ...
    def cross_entropy(p: _In, q: _In, *, base: float | None = None, axis: SupportsIndex = -1,
                      normalize: bool = True, smoothing: float = 0.0) -> da.Array: ...
    def kl_divergence(p: _In, q: _In, *, base: float | None = None, axis: SupportsIndex = -1,
                      normalize: bool = True, smoothing: float = 0.0) -> da.Array: ...
    def js_divergence(p: _In, q: _In, *, base: float | None = None, axis: SupportsIndex = -1,
                      normalize: bool = True, smoothing: float = 0.0) -> da.Array: ...
    def js_distance(p: _In, q: _In, *, base: float | None = None, axis: SupportsIndex = -1,
                    normalize: bool = True, smoothing: float = 0.0) -> da.Array: ...
    def total_variation(p: _In, q: _In, *, axis: SupportsIndex = -1,
                        normalize: bool = True, smoothing: float = 0.0) -> da.Array: ...
    def hellinger_distance(p: _In, q: _In, *, axis: SupportsIndex = -1,
                           normalize: bool = True, smoothing: float = 0.0) -> da.Array: ...
    def jeffreys_divergence(p: _In, q: _In, *, base: float | None = None, axis: SupportsIndex = -1,
                            normalize: bool = True, smoothing: float = 0.0) -> da.Array: ...


# ---------------------------------------------------------------------------
# compare: every measure at once

def _compare_stacked(p: _Arr, q: _Arr, **kwargs: Any) -> _Arr:
    """kl_ext.compare's fields stacked along a last axis (one task's output)."""
    from .report import compare as eager_compare
    return np.stack([np.asarray(f) for f in eager_compare(p, q, **kwargs)], axis=-1)


def compare(p: _In, q: _In, *, base: float | None = None, axis: SupportsIndex = -1,
            normalize: bool = True, smoothing: float = 0.0) -> Comparison:
    from .report import Comparison
    lb = _m._log_base(base)
    if lb is not None and lb < 0:
        raise ValueError(f"compare needs base > 1 (the Jensen-Shannon distance has "
                         f"no real value in base {base!r})")
    alpha = _m._smoothing(smoothing)
    p, q = _as_dask(p), _as_dask(q)
    dp, dq = _dtype_of(p, "p"), _dtype_of(q, "q")
    dtype = dp if dp == dq else _F64
    pa, qa, lead, n = _align(p, q, axis)
    nlead = len(lead)
    nf = len(Comparison._fields)
    if 0 in lead:
        return Comparison(*(_empty(lead, dtype) for _ in range(nf)))
    if pa.numblocks[-1] == 1 and qa.numblocks[-1] == 1:
        kwargs = dict(base=base, normalize=normalize, smoothing=smoothing)
        out = da.map_blocks(
            functools.partial(_block_eager, _compare_stacked, kwargs, nlead, True), pa, qa,
            chunks=_lead_chunks(pa, qa) + ((nf,),), dtype=dtype,
            meta=np.empty((0,) * (nlead + 1), dtype=dtype), token="kl-ext-compare")
        return Comparison(*(_scalar(out[..., i]) if not lead else out[..., i]
                            for i in range(nf)))
    cols = {}
    for col, name, swap in _table.COMPARE_COLUMNS:
        a, b = (qa, pa) if swap else (pa, qa)
        spec_ = chunked.spec(name)
        v = _split_nats(spec_, a, b if spec_.has_q else a, lead, normalize, alpha, spec_.has_q)
        cols[col] = v if v.shape == lead else da.broadcast_to(v, lead)
    out = chunked.compare_fields(cols, lb, dtype, xp=da)
    return Comparison(*(_scalar(f) if not lead else f for f in out))


def _scalar(x: da.Array) -> da.Array:
    """A 0-d lazy result that computes to a NumPy scalar, as in kl_ext."""
    # (dask types Array.map_blocks as da.map_blocks)
    return x.map_blocks(lambda a: a[()], dtype=x.dtype,  # type: ignore[call-arg, arg-type]
                        meta=x.dtype.type(0))


compare.__doc__ = _dask_doc(__import__("kl_ext.report", fromlist=["compare"]).compare.__doc__,
                            "compare")


# ---------------------------------------------------------------------------
# Wasserstein distances

def _hist_eager(p: _Arr, q: _Arr, *support: _Arr, **kwargs: Any) -> Any:
    """kl_ext's wasserstein_hist, the support (if any) as a third array."""
    from .wasserstein import wasserstein_hist as eager_hist
    if support:
        kwargs["support"] = support[0]
    return eager_hist(p, q, **kwargs)


def _hist_pass2(starts: Sequence[int], n: int, has_x: bool, ids: _Arr, p: _Arr, q: _Arr,
                totals: _F64A, *x: _Arr) -> _F64A:
    # x: the chunk's bin positions and the first position of every later chunk
    c = int(ids[0])
    m = p.shape[-1]
    last = starts[c] + m == n
    nxt = None if last or not has_x else float(np.asarray(x[1])[c])
    with _threads.limit(NTHREADS):
        pb, qb = np.broadcast_arrays(p, q)
        t = totals[..., 0, :]
        out = chunked.hist_pieces(pb, qb, t, x[0] if has_x else None, nxt, last)
    return np.broadcast_to(out, t.shape[:-1])[..., None]


def wasserstein_hist(p: _In, q: _In, *, support: ArrayLike | None = None, order: float = 1,
                     axis: SupportsIndex = -1, normalize: bool = True) -> da.Array:
    from .wasserstein import _order, _support
    _order(order)  # validates
    p, q = _as_dask(p), _as_dask(q)
    dp, dq = _dtype_of(p, "p"), _dtype_of(q, "q")
    dtype = dp if dp == dq else _F64
    if p.ndim == 0 and q.ndim == 0:
        raise ValueError("p and q must have at least one dimension (the bins)")
    pa, qa, lead, n = _align(p, q, axis)
    nlead = len(lead)
    if 0 in lead:
        return _empty(lead, dtype)
    xs = None
    if support is not None and not isinstance(support, da.Array):
        xs = _support(support, n)
    elif support is not None and support.shape != (n,):
        raise ValueError(f"support must be 1-D with one position per bin "
                         f"({n}), got shape {support.shape}")
    if pa.numblocks[-1] == 1 and qa.numblocks[-1] == 1:
        kwargs: dict[str, Any] = dict(order=order, normalize=normalize)
        arrays = [pa, qa]
        if isinstance(support, da.Array):
            arrays.append(support.rechunk(-1))
        elif xs is not None:
            kwargs["support"] = xs
        out = da.map_blocks(
            functools.partial(_block_eager, _hist_eager, kwargs, nlead, True), *arrays,
            drop_axis=[nlead],
            chunks=_lead_chunks(pa, qa), dtype=dtype,
            meta=np.empty((0,) * nlead, dtype=dtype), token="kl-ext-wasserstein_hist")
        return out if lead else _scalar(out)
    if order != 1:
        raise ValueError("wasserstein_hist over a split axis supports order=1 only (the "
                         "other orders walk the quantiles of the whole row); put the bins "
                         "in one chunk (rows may stay chunked) or use order=1")
    spec_ = chunked.spec("total_variation")
    axis_chunks = pa.chunks[-1]
    counts = _pieces_chunks(axis_chunks)
    starts = tuple(int(s) for s in np.cumsum((0,) + axis_chunks[:-1]))
    parts = _first_pass(spec_, pa, qa, lead, normalize, 0.0, True)
    totals = parts.map_blocks(  # type: ignore[call-arg]  # (see _scalar)
        lambda a, block_info=None: _hist_totals_block(  # type: ignore[arg-type]
            a, counts, normalize, nlead, block_info),
        chunks=parts.chunks[:nlead] + ((len(counts),), (chunked.NHIST,)), dtype=_F64,
        meta=np.empty((0,) * (nlead + 2)), token="kl-ext-wasserstein_hist-totals")
    totals = totals.rechunk({nlead: 1})
    lead_chunks = _lead_chunks(pa, qa)
    full = lead_chunks + (axis_chunks,)
    pb = da.broadcast_to(bind(pa, totals), lead + (n,), chunks=full)
    qb = da.broadcast_to(bind(qa, totals), lead + (n,), chunks=full)
    ids = da.arange(len(axis_chunks), chunks=1)
    lead_ind = _LETTERS[:nlead]
    args = [ids, "y", pb, lead_ind + "y", qb, lead_ind + "y", totals, lead_ind + "yv"]
    has_x = support is not None
    if has_x:
        xd = support if isinstance(support, da.Array) else da.from_array(xs, chunks=-1)
        xd = xd.rechunk((axis_chunks,))
        args += [xd, "y"]
        if len(starts) > 1:
            args += [xd[list(starts[1:])], "w"]
    contribs = da.blockwise(
        functools.partial(_hist_pass2, starts, n, has_x), lead_ind + "y", *args,
        adjust_chunks={"y": (1,) * len(axis_chunks)}, align_arrays=False, concatenate=True,
        dtype=_F64, meta=np.empty((0,) * (nlead + 1)),
        token="kl-ext-wasserstein_hist-pass2")
    contribs = contribs.rechunk({nlead: -1})
    w = da.blockwise(chunked.hist_finish, lead_ind, contribs, lead_ind + "y",
                     totals.rechunk({nlead: -1}), lead_ind + "yv", concatenate=True,
                     dtype=_F64, meta=np.empty((0,) * nlead),
                     token="kl-ext-wasserstein_hist-finish")
    w = w.astype(dtype)
    return w if lead else _scalar(w)


def _hist_totals_block(parts: _F64A, counts: Sequence[int], normalize: bool, nlead: int,
                       block_info: Any) -> _F64A:
    with _threads.rows_from(_origin(block_info, nlead)):
        return chunked.hist_totals(parts, counts, normalize, split=len(counts) > 1)


wasserstein_hist.__doc__ = _dask_doc(
    __import__("kl_ext.wasserstein", fromlist=["wasserstein_hist"]).wasserstein_hist.__doc__,
    "wasserstein_hist")


def _binned_block(mids: _F64A, lo: float, hi: float, values: _Arr,
                  weights: _Arr | None = None) -> _F64A:
    v = np.asarray(values, dtype=np.float64)
    bad = ~((v >= lo) & (v <= hi))  # NaN counts as outside
    idx = np.searchsorted(mids, v[~bad], side="left")
    if weights is None:
        w = None
    else:
        w = np.asarray(weights, dtype=np.float64)
        if not (np.isfinite(w).all() and (w >= 0).all()):
            raise ValueError("weights must be finite and non-negative")
        w = w[~bad]
    h = np.bincount(idx, weights=w, minlength=len(mids) + 1).astype(np.float64)
    return np.append(h, float(bad.sum()))[None, :]


def _binned_finish(grid: _F64A, hu: _F64A, hv: _F64A) -> Any:
    from .wasserstein import wasserstein_hist as eager_hist
    hu, hv = hu.sum(axis=0), hv.sum(axis=0)
    if hu[-1] or hv[-1]:
        raise ValueError(f"{int(hu[-1] + hv[-1])} value(s) lie outside the grid "
                         f"[{grid[0]!r}, {grid[-1]!r}] or are NaN")
    return eager_hist(hu[:-1], hv[:-1], support=grid)


def wasserstein_1d_binned(u_values: _In, v_values: _In, grid: ArrayLike,
                          u_weights: _In | None = None,
                          v_weights: _In | None = None) -> da.Array:
    r"""Order-1 Wasserstein distance between two huge 1-D samples, binned.

    Each value moves to the nearest point of `grid` (per chunk, on the
    workers); the per-chunk histograms are summed in a tree and
    :func:`kl_ext.wasserstein_hist` measures the two histograms on the grid.
    No sample is sorted or gathered: memory is one histogram per task.

    Parameters
    ----------
    u_values, v_values : dask.array.Array or array_like, 1-D
        The two samples (any chunks, any lengths).
    grid : array_like of shape (m,)
        Sorted, finite, distinct bin positions covering every value
        (``grid[0] <= value <= grid[-1]``), e.g. ``np.linspace(lo, hi, 4097)``.
    u_weights, v_weights : dask.array.Array or array_like, optional
        Non-negative, finite weights with the chunks of their values
        (default: 1 for every value).

    Returns
    -------
    w : dask.array.Array (0-d, float64)
        Lazy; computes to a NumPy float64.

    Raises
    ------
    ValueError
        At build time: a grid that is not 1-D, sorted, distinct and finite,
        or with fewer than 2 points; samples that are not 1-D.  At compute
        time: values outside the grid or NaN (their count is given),
        negative or non-finite weights, or an empty or zero-weight sample.

    Notes
    -----
    Moving every value of a sample by at most :math:`h/2`, with
    :math:`h = \max_k (g_{k+1} - g_k)` the largest gap of the grid, changes
    its W1 distance to anything by at most :math:`h/2` (W1 is a metric, and
    the move is a transport plan of cost :math:`\le h/2`), so

    .. math:: |W_1^{binned}(u, v) - W_1(u, v)| \le h,

    and the result is exact when every value lies on the grid.  This is the
    form distributed drift monitors use (Evidently's Spark engine bins into
    1000 bins); an exact distributed sort of both samples is not.

    Examples
    --------
    >>> import numpy as np, dask.array as da, kl_ext.dask
    >>> u = da.from_array(np.array([0.0, 1.0, 3.0]), chunks=2)
    >>> v = da.from_array(np.array([5.0, 6.0, 8.0]), chunks=2)
    >>> kl_ext.dask.wasserstein_1d_binned(u, v, np.arange(9.0)).compute()
    np.float64(5.0)
    """
    g = _m._coerce(grid, "grid").astype(_F64, copy=False)
    if g.ndim != 1 or g.shape[0] < 2:
        raise ValueError(f"grid must be 1-D with at least 2 points, got shape {g.shape}")
    if not (np.isfinite(g).all() and (np.diff(g) > 0).all()):
        raise ValueError("grid must be finite, sorted and without repeated points")
    mids = (g[:-1] + g[1:]) / 2
    hists = []
    for values, weights in ((u_values, u_weights), (v_values, v_weights)):
        values = _as_dask(values)
        if values.ndim != 1:
            raise ValueError("wasserstein_1d_binned takes 1-D samples")
        args = [values]
        if weights is not None:
            args.append(_as_dask(weights).rechunk(values.chunks))
        hists.append(da.map_blocks(
            functools.partial(_binned_block, mids, g[0], g[-1]), *args,
            chunks=((1,) * values.numblocks[0], (len(g) + 1,)), new_axis=[1],
            dtype=_F64, meta=np.empty((0, 0)), token="kl-ext-binned-hist"))
    hu, hv = (h.sum(axis=0, keepdims=True, split_every=_split_every()) for h in hists)
    w = da.blockwise(functools.partial(_binned_finish, g), "", hu, "ij", hv, "ij",
                     concatenate=True, dtype=_F64, meta=np.float64(0),
                     token="kl-ext-binned-w1")
    return w


# ---------------------------------------------------------------------------
# reading .npy files where the tasks run

def _npy_block(path: str, block_info: Any = None) -> _Arr:
    # a read-only view of the memory map: the scoring task on the same worker
    # reads the page cache directly (no copy); it is pickled as an array only
    # if it has to move to another worker
    loc = block_info[None]["array-location"]
    mm = np.load(path, mmap_mode="r")
    return mm[tuple(slice(a, b) for a, b in loc)]


def read_npy(path: str | os.PathLike[str], chunks: Any = "auto") -> da.Array:
    """A Dask array over a ``.npy`` file, each task reading its own block.

    Every task memory-maps the file itself (``np.load(mmap_mode="r")``) and
    hands on a read-only view of its block (no copy), so nothing travels
    from the client and memory stays at a few blocks per worker whatever
    the file size (the file must be readable at `path` by every worker).
    ``dask.array.from_npy_stack`` reads only directories written by
    ``to_npy_stack``.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.npy`` file (C or Fortran order; not an object array).
    chunks : int, tuple or "auto", default "auto"
        Dask chunks (rows of ~128 MiB by default, the last axis whole).

    Returns
    -------
    dask.array.Array
        Of the file's shape and dtype; lazy.

    Raises
    ------
    ValueError
        If the file is not a ``.npy`` file or holds an object array (read
        at build time: only its header).

    Examples
    --------
    >>> import numpy as np, tempfile, os, kl_ext.dask
    >>> path = os.path.join(tempfile.mkdtemp(), "p.npy")
    >>> np.save(path, np.arange(12.0).reshape(4, 3))
    >>> x = kl_ext.dask.read_npy(path, chunks=(2, 3))
    >>> x.chunks
    ((2, 2), (3,))
    >>> float(x.sum().compute())
    66.0
    """
    path = str(path)
    mm = np.load(path, mmap_mode="r")
    if mm.dtype.hasobject:
        raise ValueError(f"{path!r} holds an object array")
    if chunks == "auto" and mm.ndim >= 2:
        chunks = ("auto",) + tuple(mm.shape[1:])
    chunks = da.core.normalize_chunks(chunks, mm.shape, dtype=mm.dtype)
    return da.map_blocks(functools.partial(_npy_block, path), chunks=chunks,
                         dtype=mm.dtype, meta=np.empty((0,) * mm.ndim, dtype=mm.dtype),
                         token="kl-ext-read-npy")
