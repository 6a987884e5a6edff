"""Accuracy benchmark: relative error against exact arithmetic (``kl-ext accuracy``).

    python benchmarks/accuracy.py                      # the default run (~1-2 min)
    python benchmarks/accuracy.py --quick              # a few seconds
    python benchmarks/accuracy.py --json acc.json --plot acc.png
    python benchmarks/accuracy.py --regime near --measure kl_divergence

The same command as ``kl-ext accuracy`` (every option of it is accepted;
see ``kl-ext accuracy --help`` and :mod:`kl_ext.accuracy`): kl_ext beside
kl_ext.reference, SciPy, NumKong and torch (those installed) on random,
nearly identical, proportional, long, wide-range and count rows and on
Wasserstein histograms and samples, each against an exact reference
(mpmath at 160 bits on the exact float inputs; exact integers for
Wasserstein).  The docs' table and plot (docs/user_guide/accuracy_table.txt,
docs/_static/accuracy.png) are the output of the default run.
"""
import sys

from kl_ext.cli import main

if __name__ == "__main__":
    sys.exit(main(["accuracy", *sys.argv[1:]]))
