"""Docstring text shared by the measures, written once and filled in.

The pattern of SciPy's ``scipy._lib.doccer`` (and the ``_axis_parameter_doc``
of ``scipy/stats/_axis_nan_policy.py``): a docstring holds a placeholder
``%(key)s`` alone on a line; :func:`fill` replaces it, at import, by
``DOCDICT[key]`` indented like the placeholder.  The functions' ``__doc__``
(and so ``help()``) is the whole text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

_F = TypeVar("_F", bound=Callable[..., Any])

DOCDICT = {
    "pq": """\
p, q : array_like
    Non-negative weights that broadcast against each other (a reference
    row is read in place).  Integer and bool input is treated as float64.""",
    "normalize": """\
normalize : bool, default True
    Divide each row of `p` and `q` by its sum first.""",
    "axis": """\
axis : int, default -1
    Axis along which the distributions lie (of the broadcast shape).""",
    "base": """\
base : float, optional
    Logarithm base; any finite ``base > 0`` other than 1.  Default nats.""",
    "smoothing": """\
smoothing : float, default 0.0
    Additive (Lidstone) smoothing: a finite ``alpha >= 0`` added to
    every entry of each distribution before normalising (``alpha = 1`` is
    Laplace's rule), so an empty category gets probability
    ``alpha / (sum + n * alpha)`` instead of 0 (see Notes).  The default
    0 keeps the exact values at no cost; ``alpha > 0`` works on a float
    copy (the input arrays are never changed).  With
    ``normalize=False`` alpha is still added to the values as given.""",
    "raises_type": """\
TypeError
    For complex, object, string or other non-numeric input.
    Also for a `smoothing` that is not a real number.""",
    "smoothing_notes": r"""With ``smoothing=alpha > 0`` each distribution (counts :math:`c_i`,
:math:`n` categories) is first replaced by

.. math:: \hat p_i = \frac{c_i + \alpha}{\sum_j c_j + n\alpha}

(Lidstone's law, "add-alpha"; Laplace's law for :math:`\alpha = 1`
[MS1999]_), so every category gets a non-zero probability and, e.g.,
:math:`D(p\|q)` is finite even where :math:`q` has zero counts, by an
amount the caller chooses rather than a hidden epsilon.  Smoothing biases
the estimate toward the uniform distribution; negative entries are still
rejected.""",
    "smoothing_ref": """\
.. [MS1999] C. D. Manning and H. Schütze, *Foundations of Statistical
   Natural Language Processing*, MIT Press, 1999, sec. 6.2.2.""",
    "accuracy_near": """\
Accuracy (``normalize=True``): within 1e-13 relative of exact arithmetic on
the given float64 values, normalised exactly, also for nearly equal rows (a
relative difference down to 1e-13, divergences ~1e-27) and proportional
ones (``q = 4 * p`` gives exactly 0, ``q = 3 * p`` rounded its exact
~1e-33); float32 input within one float32 rounding of the exact value.
Method: rows near :math:`p = q` are finished from the row sums as
double-double values (Sum2 [ORO2005]_) and each element's difference
:math:`p_i S_q - q_i S_p` from error-free products (TwoProduct by FMA
[Hig2002]_), which keeps full relative precision; every term is built from
it (KL: :math:`\\sum_i b_i [(1+\\delta_i)\\log(1+\\delta_i) - \\delta_i]`).""",
    "accuracy_ref": """\
.. [ORO2005] T. Ogita, S. M. Rump and S. Oishi, "Accurate sum and dot
   product", *SIAM J. Sci. Comput.* 26(6), 2005, 1955-1988.
.. [Hig2002] N. J. Higham, *Accuracy and Stability of Numerical
   Algorithms*, 2nd ed., SIAM, 2002, sec. 4.3 and 27.7 (TwoProduct:
   T. J. Dekker, *Numer. Math.* 18, 1971).""",
}

_PLACEHOLDER = re.compile(r"^([ \t]*)%\((\w+)\)s[ \t]*$", re.MULTILINE)


def docformat(doc: str, docdict: Mapping[str, str] = DOCDICT) -> str:
    """`doc` with each line ``%(key)s`` replaced by ``docdict[key]``, indented
    like that line (KeyError for an unknown key)."""
    def expand(m: re.Match[str]) -> str:
        indent, key = m.group(1), m.group(2)
        return "\n".join(indent + line if line else line
                         for line in docdict[key].splitlines())
    return _PLACEHOLDER.sub(expand, doc)


def fill(func: _F) -> _F:
    """Decorator: fill the shared text into ``func.__doc__``."""
    if func.__doc__:  # None under python -OO
        func.__doc__ = docformat(func.__doc__)
    return func
