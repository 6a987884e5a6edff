"""Seeded benchmark inputs, built once per parameter set outside the timed call.

Inputs are strictly positive uniform draws, normalised so that every row sums
to 1 (in float64, before the cast to float32): kl_ext, the reference and
SciPy normalise anyway, and NumKong and POT, which do not, then compute the
same quantity.  The same arrays go to every competitor of a group so that
pytest-benchmark's ratios mean something.

Layouts
-------
pair       one pair of 1-D vectors of length n (n = 10, 1e3, 1e5, 1e7)
rows       p and q of shape (1e5, 10) or (1e3, 1e4): one call reduces every row
broadcast  p of shape (1e5, 10) against one reference row q of shape (10,)
"""

import functools

import numpy as np
import pytest

SEED = 20240229
SIZES = {"10": 10, "1e3": 1_000, "1e5": 100_000, "1e7": 10_000_000}
ROW_SHAPES = {"1e5x10": (100_000, 10), "1e3x1e4": (1_000, 10_000)}
DTYPES = {"float64": np.float64, "float32": np.float32}


def _normalised(rng, shape, dtype):
    a = rng.random(shape) + 1e-3
    a /= a.sum(axis=-1, keepdims=True)
    return a.astype(DTYPES[dtype], copy=False)


@functools.lru_cache(maxsize=4)
def make_inputs(layout, size, dtype):
    """(p, q) for a layout; cached so each parameter set is built once.

    The arrays are made read-only so that a competitor cannot change them
    for the next one.
    """
    rng = np.random.default_rng(SEED)
    if layout == "pair":
        shape_p = shape_q = (SIZES[size],)
    elif layout == "rows":
        shape_p = shape_q = ROW_SHAPES[size]
    elif layout == "broadcast":
        shape_p, shape_q = ROW_SHAPES[size], ROW_SHAPES[size][1:]
    else:
        raise ValueError(f"unknown layout {layout!r}")
    p = _normalised(rng, shape_p, dtype)
    q = _normalised(rng, shape_q, dtype)
    p.flags.writeable = False
    q.flags.writeable = False
    return p, q


@pytest.fixture
def inputs(request):
    """(p, q) for the test's `layout`, `size` and `dtype` parameters."""
    cs = request.node.callspec.params
    return make_inputs(cs["layout"], cs["size"], cs["dtype"])
