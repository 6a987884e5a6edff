"""Type aliases of kl_ext's public API (for annotations; no runtime role).

``Value`` is what a measure returns: a NumPy scalar (``np.float64``, or
``np.float32`` for float32/float16 input) when the result has no
dimensions (1-D input), else an ndarray of that dtype.  The dtype follows
the input's, so it is not known statically: ``np.floating[Any]``.
"""

from typing import Any, Union

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["ArrayLike", "FloatArray", "Value", "Scalar"]

#: an ndarray of float32 or float64
FloatArray = NDArray[np.floating[Any]]
#: a NumPy float scalar (np.float64 or np.float32)
Scalar = np.floating[Any]
#: a measure's result: a NumPy float scalar for 1-D input, else an ndarray
Value = Union[np.floating[Any], NDArray[np.floating[Any]]]
