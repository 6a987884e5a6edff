"""kl_ext on PySpark: the two recipes of docs/user_guide/spark_ray.md
==================================================================

1. ``score_rows`` -- one score per row: ``DataFrame.mapInArrow`` hands
   each Python worker Arrow record batches; a column of probability vectors
   becomes one (rows, n) NumPy array per batch and one kl_ext call scores
   the whole batch.
2. ``histogram_measure`` -- one measure of two histograms whose bins are
   the rows of a DataFrame (spread over partitions, never collected):
   every batch gives the partial statistics of :mod:`kl_ext.chunked`, the
   driver merges them (a few numbers per 65,536 bins) and finishes.

Run ``python examples/spark_kl.py`` for a demonstration on a local session
(needs pyspark and a Java runtime); tests/test_spark.py runs the same code.
"""

import functools
import pickle

import numpy as np


def score_rows(df, reference, *, column="probs", measure="kl_divergence", base=None,
               keep=("id",), out="score"):
    """Score every row's probability vector against one reference row.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
        With an ``array<double>`` (or ``array<float>``) column `column`
        holding one distribution of length ``len(reference)`` per row.
    reference : array_like of shape (n,)
        The reference distribution (shipped to the workers in the closure).
    column : str
        The column of distributions.
    measure : str
        A kl_ext function taking (p, q): ``kl_divergence``,
        ``js_divergence``, ``js_distance``, ``cross_entropy``,
        ``total_variation``.
    base : float, optional
        Logarithm base (not for ``total_variation``).
    keep : tuple of str
        Columns copied to the result next to the score (e.g. a key).
    out : str
        Name of the score column (``double``).

    Returns
    -------
    pyspark.sql.DataFrame
        Columns `keep` + `out`; lazy, like any Spark transformation.
    """
    ref = np.asarray(reference, dtype=np.float64)
    n = ref.shape[-1]
    kwargs = {} if measure == "total_variation" else {"base": base}
    fields = [df.schema[k].simpleString() for k in keep]
    schema = ", ".join(fields + [f"{out} double"])

    def score(batches):
        import pyarrow as pa
        import pyarrow.compute as pc

        import kl_ext
        fn = getattr(kl_ext, measure)
        for batch in batches:
            col = batch.column(column)
            if col.null_count or pc.any(pc.not_equal(pc.list_value_length(col), n)).as_py():
                raise ValueError(f"{column}: every row must hold {n} values (no nulls)")
            rows = col.flatten().to_numpy(zero_copy_only=False).reshape(-1, n)
            try:
                scores = fn(rows, ref, **kwargs)
            except ValueError as exc:   # "in row k" counts from the batch's first row
                first = {k: batch.column(k)[0].as_py() for k in keep}
                raise ValueError(f"{exc} of the batch starting at {first}") from None
            cols = [batch.column(k) for k in keep]
            yield pa.RecordBatch.from_arrays(
                cols + [pa.array(np.asarray(scores, dtype=np.float64))],
                names=list(keep) + [out])

    return df.mapInArrow(score, schema)


def histogram_measure(df, measure="js_divergence", *, bin_col="bin", p_col="p", q_col="q",
                      base=None):
    """One measure between two histograms stored one bin per row.

    The bins are the rows of `df` (bin index ``0 .. n-1`` in `bin_col`,
    the two histograms' weights in `p_col` and `q_col`), in any number of
    partitions.  The rows are range-partitioned and sorted by bin, each
    Arrow batch (a run of consecutive bins) gives its partial statistics
    (:func:`kl_ext.chunked.partial_stats`, offset = its first bin), and the
    driver merges them and finishes.  JS divergence and distance and total
    variation take a second pass with the totals of the first (the
    DataFrame is computed twice: ``cache()`` it if its source is slow).

    Returns
    -------
    float
        The measure of the whole histograms, as ``kl_ext.<measure>(p, q)``
        on the collected arrays returns it (to ~1e-16 relative; bit for bit
        where the batches' boundaries fall on multiples of 65,536 bins).
    """
    from kl_ext import chunked
    spec = chunked.MEASURES[measure]
    ordered = (df.select(bin_col, p_col, q_col)
               .repartitionByRange(bin_col).sortWithinPartitions(bin_col))

    def partials(totals):
        def fn(batches):
            import pyarrow as pa

            from kl_ext import chunked
            for batch in batches:
                if not len(batch):
                    continue
                bins = batch.column(bin_col).to_numpy()
                start = int(bins[0])
                if not np.array_equal(bins, np.arange(start, start + len(bins))):
                    i = int(np.flatnonzero(bins != np.arange(start, start + len(bins)))[0])
                    raise ValueError(f"{bin_col} must run 0 .. n-1 once each; "
                                     f"found {bins[i]} after {bins[i - 1]}")
                p = batch.column(p_col).to_numpy(zero_copy_only=False)
                q = batch.column(q_col).to_numpy(zero_copy_only=False)
                st = chunked.partial_stats(measure, p, q, offset=start, totals=totals)
                yield pa.RecordBatch.from_arrays([pa.array([pickle.dumps(st)], pa.binary())],
                                                 names=["stats"])
        return fn

    def combined(totals=None):
        rows = ordered.mapInArrow(partials(totals), "stats binary").collect()
        if not rows:
            raise ValueError("the DataFrame has no rows")
        return functools.reduce(lambda a, b: a.merge(b),
                                (pickle.loads(r.stats) for r in rows))

    stats = combined()
    if spec.passes == 2:
        stats = combined(stats.totals())
    kwargs = {} if not spec.base else {"base": base}
    return stats.result(**kwargs)


def local_session(app="kl_ext", batch_rows=10_000):
    """A Spark session on this machine only: master local[1], no UI."""
    import sys

    from pyspark.sql import SparkSession
    return (SparkSession.builder.master("local[1]").appName(app)
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.ui.enabled", "false")
            .config("spark.sql.shuffle.partitions", "4")
            .config("spark.sql.execution.arrow.maxRecordsPerBatch", str(batch_rows))
            .config("spark.pyspark.python", sys.executable)
            .config("spark.pyspark.driver.python", sys.executable)
            .getOrCreate())


def main():
    import kl_ext
    spark = local_session()
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(10), size=50_000)
    ref = np.full(10, 0.1)
    df = spark.createDataFrame([(i, row.tolist()) for i, row in enumerate(p)],
                               "id long, probs array<double>")
    scores = score_rows(df, ref).orderBy("id").toPandas()["score"].to_numpy()
    print("rows scored:", len(scores), "identical to kl_ext.kl_divergence:",
          np.array_equal(scores, kl_ext.kl_divergence(p, ref)))
    hp, hq = rng.random(300_000), rng.random(300_000)
    hist = spark.createDataFrame([(i, float(a), float(b)) for i, (a, b)
                                  in enumerate(zip(hp, hq))], "bin long, p double, q double")
    for m in ("kl_divergence", "js_divergence"):
        got, want = histogram_measure(hist, m), getattr(kl_ext, m)(hp, hq)
        print(f"{m}: {got!r} (in memory {want!r}, relative difference "
              f"{abs(got - want) / want:.1e})")
    spark.stop()


if __name__ == "__main__":
    main()
