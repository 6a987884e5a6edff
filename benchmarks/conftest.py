"""Seeded benchmark inputs, built once per parameter set outside the timed call.

Inputs are strictly positive, unnormalised uniform draws (every measure
normalises them, as ``normalize=True`` does by default), the same arrays for
every competitor of a group so that pytest-benchmark's ratios mean
something.

Layouts
-------
pair       one pair of 1-D vectors of length n (n = 10, 1e3, 1e5, 1e6)
rows       p and q of shape (1e5, 10): one call reduces every row
broadcast  p of shape (1e5, 10) against one reference row q of shape (10,)
"""

import functools

import numpy as np
import pytest

SEED = 20240229
SIZES = {"10": 10, "1e3": 1_000, "1e5": 100_000, "1e6": 1_000_000}
ROWS, COLS = 100_000, 10
DTYPES = {"float64": np.float64, "float32": np.float32}


@functools.lru_cache(maxsize=8)
def make_inputs(layout, size, dtype):
    """(p, q) for a layout; cached so each parameter set is built once.

    The arrays are made read-only so that a competitor cannot change them
    for the next one.
    """
    rng = np.random.default_rng(SEED)
    if layout == "pair":
        shape_p = shape_q = (SIZES[size],)
    elif layout == "rows":
        shape_p = shape_q = (ROWS, COLS)
    elif layout == "broadcast":
        shape_p, shape_q = (ROWS, COLS), (COLS,)
    else:
        raise ValueError(f"unknown layout {layout!r}")
    p = (rng.random(shape_p) + 1e-3).astype(DTYPES[dtype])
    q = (rng.random(shape_q) + 1e-3).astype(DTYPES[dtype])
    p.flags.writeable = False
    q.flags.writeable = False
    return p, q


@pytest.fixture
def inputs(request):
    """(p, q) for the test's `layout`, `size` and `dtype` parameters."""
    cs = request.node.callspec.params
    return make_inputs(cs["layout"], cs["size"], cs["dtype"])
