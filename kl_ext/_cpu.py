"""Runtime choice of the CPU tier of a compiled kernel module.

Each kernel module is built three times (see setup.py): the baseline
x86-64 build ``kl_ext._name`` that runs everywhere, ``kl_ext._name_v3``
(x86-64-v3: AVX2 and FMA) and ``kl_ext._name_v4`` (x86-64-v4: AVX-512), the
last two with the branch-free SIMD loops.  At import the best tier that both
exists and is supported by this CPU (as NumPy's CPU dispatcher reports it) is
chosen.  All tiers compute the same values to within rounding (the SIMD
logarithm is accurate to < 1 ulp) and keep every convention at zeros,
infinities and NaN.

Set the environment variable ``KL_EXT_CPU_TIER`` to ``baseline``, ``v3`` or
``v4`` before importing kl_ext to force a tier (for testing, or to compare
tiers); asking for a tier the CPU lacks raises ImportError rather than
crashing with an illegal instruction.
"""

from __future__ import annotations

import functools
import importlib
import os
from types import ModuleType

from . import _threads

TIERS = ("v4", "v3", "baseline")
_FEATURE = {"v4": "X86_V4", "v3": "X86_V3", "baseline": None}


def cpu_supports(tier: str) -> bool:
    """True if this CPU can run kernels built for `tier`."""
    feature = _FEATURE[tier]
    if feature is None:
        return True
    try:
        from numpy._core._multiarray_umath import (  # type: ignore[import-not-found,unused-ignore]
            __cpu_features__)
    except ImportError:  # pragma: no cover - NumPy layout changed
        return False
    return bool(__cpu_features__.get(feature, False))


def available_tiers(name: str) -> list[str]:
    """Tiers of kernel module `name` that are built and that this CPU runs."""
    out = []
    for tier in TIERS:
        if not cpu_supports(tier):
            continue
        try:
            _import(_module(name, tier))
        except ImportError:
            continue
        out.append(tier)
    return out


def _module(name: str, tier: str) -> str:
    return name if tier == "baseline" else f"{name}_{tier}"


def _import(module: str) -> ModuleType:
    # every kernel module runs at most cpu_budget() threads (affinity, cgroup quota)
    mod = importlib.import_module(module)
    if hasattr(mod, "set_thread_cap"):
        mod.set_thread_cap(_budget())
    return mod


@functools.cache
def _budget() -> int:
    return _threads.cpu_budget()


def load(name: str) -> tuple[ModuleType, str]:
    """Import the best tier of kernel module `name`: (module, tier)."""
    forced = os.environ.get("KL_EXT_CPU_TIER", "").strip().lower()
    if forced:
        if forced not in _FEATURE:
            raise ImportError(f"KL_EXT_CPU_TIER must be one of {', '.join(TIERS)}, "
                              f"got {forced!r}")
        if not cpu_supports(forced):
            raise ImportError(f"KL_EXT_CPU_TIER={forced}: this CPU lacks "
                              f"{_FEATURE[forced]}")
        return _import(_module(name, forced)), forced
    for tier in TIERS:
        if cpu_supports(tier):
            try:
                return _import(_module(name, tier)), tier
            except ImportError:
                continue
    raise ImportError(f"no build of {name} found")  # pragma: no cover
