"""The PySpark recipes of docs/user_guide/spark_ray.md (examples/spark_kl.py)
on a local Spark session: master local[1], bound to 127.0.0.1, no UI.

Skipped unless pyspark (with pandas and pyarrow: ``pip install
"kl_ext[spark]"``) and a Java runtime are installed.
"""

import importlib.util
import os
import shutil

import numpy as np
import pytest

import kl_ext

pytest.importorskip("pyspark")
pytest.importorskip("pandas")
pytest.importorskip("pyarrow")
if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
    pytest.skip("needs a Java runtime for Spark", allow_module_level=True)

pytestmark = pytest.mark.timeout(600)

EXAMPLE = os.path.join(os.path.dirname(__file__), os.pardir, "examples", "spark_kl.py")


def _recipes():
    spec = importlib.util.spec_from_file_location("spark_kl", EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


recipes = _recipes()


@pytest.fixture(scope="module")
def spark():
    session = recipes.local_session("kl_ext-tests", batch_rows=700)
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.mark.parametrize("measure, base", [("kl_divergence", None), ("js_distance", 2)])
def test_score_rows_equals_the_eager_call(spark, measure, base):
    rng = np.random.default_rng(3)
    p = rng.random((3000, 6))
    p[5, 2] = 0.0
    ref = rng.random(6) + 0.01
    df = spark.createDataFrame([(i, r.tolist()) for i, r in enumerate(p)],
                               "id long, probs array<double>").repartition(3)
    out = recipes.score_rows(df, ref, measure=measure, base=base).toPandas()
    assert list(out.columns) == ["id", "score"] and len(out) == len(p)
    got = out.sort_values("id")["score"].to_numpy()
    # batches of 700 rows in 3 partitions: the rows' values do not depend on it
    np.testing.assert_array_equal(got, getattr(kl_ext, measure)(p, ref, base=base))


def test_score_rows_reports_a_bad_row(spark):
    from pyspark.errors import PySparkException
    rows = [(i, [0.5, 0.5]) for i in range(100)]
    rows[42] = (42, [0.5, -0.5])
    df = spark.createDataFrame(rows, "id long, probs array<double>").coalesce(1)
    with pytest.raises((PySparkException, Exception), match="non-negative") as info:
        recipes.score_rows(df, [0.5, 0.5]).collect()
    assert "in row 42 of the batch starting at {'id': 0}" in str(info.value)


@pytest.mark.parametrize("measure", ["entropy", "kl_divergence", "js_divergence",
                                     "total_variation"])
def test_histogram_measure_equals_the_eager_call(spark, measure):
    rng = np.random.default_rng(4)
    n = 200_000
    hp, hq = rng.random(n), rng.random(n) + 1e-3
    hp[::97] = 0.0
    df = spark.createDataFrame(
        [(i, float(a), float(b)) for i, (a, b) in enumerate(zip(hp, hq))],
        "bin long, p double, q double").repartition(4)      # bins shuffled over partitions
    if measure == "entropy":
        got = recipes.histogram_measure(df.withColumn("q", df.p), "entropy")
        want = kl_ext.entropy(hp)
    else:
        got = recipes.histogram_measure(df, measure)
        want = getattr(kl_ext, measure)(hp, hq)
    assert got == pytest.approx(want, rel=1e-13, abs=0)


def test_histogram_measure_needs_every_bin(spark):
    from pyspark.errors import PySparkException
    rows = [(i, 1.0, 1.0) for i in range(50) if i != 17]
    df = spark.createDataFrame(rows, "bin long, p double, q double").coalesce(1)
    with pytest.raises((PySparkException, ValueError), match="found 18 after 16"):
        recipes.histogram_measure(df, "kl_divergence")
