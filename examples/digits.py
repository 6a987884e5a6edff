"""kl_ext on real data: scikit-learn's bundled handwritten digits
==============================================================

Run from anywhere (needs the ``examples`` extra: scikit-learn, matplotlib)::

    python examples/digits.py [--out-dir DIR]

The data are the 1797 8×8 images of ``sklearn.datasets.load_digits`` (UCI
optical recognition of handwritten digits; pixel values 0..16), shipped
inside scikit-learn, so nothing is downloaded.  The script

(a) fits a ``LogisticRegression`` on a stratified 70 % split and checks that
    the mean ``kl_ext.cross_entropy(onehot, proba)`` over the held-out 30 %
    equals ``sklearn.metrics.log_loss(y_test, proba)`` to 1e-12;
(b) computes the 10×10 matrix of ``kl_ext.js_distance`` (base 2, so every
    entry lies in [0, 1]) between the classes' mean pixel-intensity
    histograms, prints it and saves it as a heat map PNG;
(c) writes ``onehot.npy`` and ``proba.npy``, runs
    ``kl-ext score onehot.npy proba.npy --measure cross_entropy --out
    scores.npy`` in a subprocess and checks the scores equal the in-process
    ones exactly.

Mean pixel-intensity histogram of class c: for each image, the histogram of
its 64 pixel values over the 17 possible intensities 0, 1, ..., 16, divided
by 64; then the mean of these over every image of class c (all 1797 images
are used).  Equivalently, the fraction of all pixels of class-c images that
have intensity v, for v = 0..16.

Exits with status 1 if a check fails.
"""

import argparse
import inspect
import os
import subprocess
import sys
import time

import numpy as np

import kl_ext

N_LEVELS = 17  # pixel intensities 0..16


def intensity_histograms(images, labels):
    """(10, 17) array: row c is the mean pixel-intensity histogram of class c."""
    x = np.asarray(images, dtype=np.int64).reshape(len(images), -1)
    per_image = np.stack([np.bincount(row, minlength=N_LEVELS) for row in x]) / x.shape[1]
    return np.stack([per_image[labels == c].mean(axis=0) for c in range(10)])


def log_loss(y_true, proba):
    """sklearn.metrics.log_loss on probabilities, old and new keyword spelling."""
    from sklearn.metrics import log_loss as sk_log_loss
    kw = "y_proba" if "y_proba" in inspect.signature(sk_log_loss).parameters else "y_pred"
    return sk_log_loss(y_true, **{kw: proba}, labels=np.arange(10))


def save_heatmap(matrix, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 5.4), dpi=100)
    im = ax.imshow(matrix, cmap="viridis", vmin=0.0)
    ax.set_xticks(range(10))
    ax.set_yticks(range(10))
    ax.set_xlabel("digit class")
    ax.set_ylabel("digit class")
    ax.set_title("Jensen-Shannon distance (base 2) between the classes'\n"
                 "mean pixel-intensity histograms (sklearn digits)")
    top = matrix.max()
    for i in range(10):
        for j in range(10):
            ax.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", fontsize=7,
                    color="black" if matrix[i, j] > 0.6 * top else "white")
    fig.colorbar(im, ax=ax, label="js_distance, base 2")
    fig.tight_layout()
    fig.savefig(path)
    # (the figure stays open: sphinx-gallery shows the open figures)


def main(argv=None):
    # (sphinx-gallery runs this file with no __file__ and an empty __doc__,
    # from the examples/ folder)
    here = os.path.dirname(os.path.abspath(__file__)) if "__file__" in globals() else os.getcwd()
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--out-dir", default=os.path.join(here, "out"),
                    help="directory for the .npy files and the PNG (default: examples/out/)")
    args = ap.parse_args(argv)
    os.makedirs(args.out_dir, exist_ok=True)
    t0 = time.perf_counter()

    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    X, y = digits.data, digits.target
    X_train, X_test, y_train, y_test = train_test_split(
        X / 16.0, y, test_size=0.3, random_state=0, stratify=y)
    clf = LogisticRegression(max_iter=5000, random_state=0).fit(X_train, y_train)
    proba = clf.predict_proba(X_test)
    onehot = np.eye(10)[y_test]
    print(f"digits: {len(X)} images of 8x8 pixels, {len(X_train)} train / "
          f"{len(X_test)} test; LogisticRegression test accuracy "
          f"{clf.score(X_test, y_test):.4f}")
    ok = True

    # (a) cross-entropy against the one-hot labels == log loss
    scores = kl_ext.cross_entropy(onehot, proba)
    ours = float(np.mean(scores))
    theirs = float(log_loss(y_test, proba))
    diff = abs(ours - theirs)
    good = diff <= 1e-12
    ok &= good
    print("\n(a) mean cross-entropy of the one-hot labels against predict_proba")
    print(f"    kl_ext.cross_entropy (mean) = {ours!r}")
    print(f"    sklearn.metrics.log_loss    = {theirs!r}")
    print(f"    |difference|                = {diff:.3e}  "
          f"({'OK' if good else 'FAIL'}: tolerance 1e-12)")

    # (b) JS distance between the classes' mean pixel-intensity histograms
    hist = intensity_histograms(digits.images, y)
    js = kl_ext.js_distance(hist[:, None, :], hist[None, :, :], base=2)
    # JS is symmetric and JS(p, p) = 0; allow last-bit differences between the
    # two evaluation orders of JS(p, q) and JS(q, p)
    asym = float(np.max(np.abs(js - js.T)))
    symmetric = bool(np.allclose(js, js.T, rtol=1e-12, atol=0)) and not np.diag(js).any()
    ok &= symmetric
    print("\n(b) js_distance (base 2) between the mean pixel-intensity histograms "
          "(17 bins: intensity 0..16)")
    print("     " + "".join(f"{c:>6d}" for c in range(10)))
    for c in range(10):
        print(f"    {c:d}" + "".join(f"{v:6.3f}" for v in js[c]))
    i, j = np.unravel_index(np.argmax(js), js.shape)
    off = js + np.diag(np.full(10, np.inf))
    k, m = np.unravel_index(np.argmin(off), js.shape)
    print(f"    most different classes: {i} and {j} ({js[i, j]:.3f}); "
          f"most alike: {k} and {m} ({js[k, m]:.3f})")
    png = os.path.join(args.out_dir, "digits_js_distance.png")
    save_heatmap(js, png)
    print(f"    symmetric (max |d(i,j) - d(j,i)| = {asym:.1e}) with zero diagonal: "
          f"{'OK' if symmetric else 'FAIL'}")
    print(f"    heat map saved to {png}")

    # (c) the same scores through the kl-ext console script
    p_path = os.path.join(args.out_dir, "onehot.npy")
    q_path = os.path.join(args.out_dir, "proba.npy")
    s_path = os.path.join(args.out_dir, "scores.npy")
    np.save(p_path, onehot)
    np.save(q_path, proba)
    cmd = [sys.executable, "-m", "kl_ext.cli", "score", p_path, q_path,
           "--measure", "cross_entropy", "--out", s_path]
    res = subprocess.run(cmd, capture_output=True, text=True)
    print("\n(c) kl-ext score onehot.npy proba.npy --measure cross_entropy --out scores.npy")
    if res.returncode != 0:
        print(f"    FAIL: exit status {res.returncode}: {res.stderr.strip()}")
        ok = False
    else:
        cli_scores = np.load(s_path)
        same = cli_scores.shape == scores.shape and np.array_equal(cli_scores, scores)
        ok &= same
        print(f"    {len(cli_scores)} scores, identical to the in-process ones: "
              f"{'OK' if same else 'FAIL'}; mean {float(cli_scores.mean())!r}")

    print(f"\n{'all checks passed' if ok else 'A CHECK FAILED'} "
          f"({time.perf_counter() - t0:.1f} s)")
    return 0 if ok else 1


if __name__ == "__main__":
    status = main()
    if status:  # sys.exit(0) would stop sphinx-gallery before it takes the figure
        sys.exit(status)
