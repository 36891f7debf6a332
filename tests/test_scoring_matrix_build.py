"""The vectorised one-hot matrix build (codes, then a scatter) gives exactly what the per-category comparisons gave,
for every column type a table can hold, and scores stay those of the scikit-learn pipeline."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from test_onnx_parity import _fit_small

from engine.scoring import ScoringModel
from engine.scoring.fastpath import MatrixFeed
from engine.scoring.fastpath.feeds import canonical_integer
from engine.spec import TableSpec
from models.onnx_export import input_metadata, output_metadata, prepare_features, to_onnx_bytes


def _odd_frame() -> pl.DataFrame:
    """Every column type a categorical can arrive as, with nulls, unknowns and values only a cast tells apart."""
    return pl.DataFrame(
        {
            "amount": [1.5, None, float("nan"), -2.0, 1e6, 0.0],
            "visits": pl.Series([1, 2, None, 4, 5, 6], dtype=pl.Int32),
            "channel": ["ads", None, "", "tiktok", "mail", "ads"],
            "region": pl.Series([3, None, -1, 99, 10, 3], dtype=pl.Int64),
            "os": pl.Series([1, 2, 3, None, 1, 255], dtype=pl.UInt8),
            "weekend": [True, False, None, True, False, None],
            "segment": pl.Series(["a", "b", None, "a", "c", "b"], dtype=pl.Categorical),
            "ratio_code": [3.0, 1.5, None, 3.0, 2.0, 1.0],
            "big": pl.Series([3, 2**64 - 1, None, 3, 0, 1], dtype=pl.UInt64),  # beyond Int64: the String path
        }
    )


SEGMENTS = (
    ("amount", None),
    ("channel", "ads"),
    ("channel", "mail"),
    ("channel", ""),
    ("visits", None),
    ("region", "3"),
    ("region", "-1"),
    ("region", "03"),  # never the cast of an integer: always 0
    ("region", "10"),
    ("os", "1"),
    ("os", "255"),
    ("os", ""),
    ("weekend", "true"),
    ("weekend", "false"),
    ("weekend", "True"),  # not polars' cast of a boolean: always 0
    ("segment", "a"),
    ("segment", "c"),
    ("ratio_code", "3.0"),
    ("ratio_code", "1.5"),
    ("big", "3"),
    ("big", "18446744073709551615"),
    ("channel", "ads"),  # the same category twice: both positions get their 1
)


@pytest.mark.parametrize("missing_category", ["", "missing"])
def test_matrix_build_equals_the_per_category_comparisons(missing_category: str) -> None:
    frame = _odd_frame()
    matrix = MatrixFeed("m", SEGMENTS)
    expected = frame.select(matrix.expressions(frame.schema, missing_category)).to_numpy(order="c")
    actual = matrix.build(frame, missing_category)
    assert actual.dtype == np.float32 and actual.flags["C_CONTIGUOUS"]
    assert actual.shape == (frame.height, len(SEGMENTS))
    np.testing.assert_array_equal(actual, expected)  # NaN where expected has NaN, every other value equal
    # Spot checks that do not lean on the old path: a null region is the missing category (listed only as "").
    assert actual[1, SEGMENTS.index(("os", ""))] == 0.0
    assert actual[3, SEGMENTS.index(("os", ""))] == (1.0 if missing_category == "" else 0.0)
    assert actual[0, [1, 19]].tolist() == [1.0, 1.0]
    assert actual[:, SEGMENTS.index(("region", "03"))].sum() == 0.0
    assert actual[:, SEGMENTS.index(("weekend", "True"))].sum() == 0.0


def test_matrix_build_of_rows_with_nothing_known_and_of_an_empty_frame() -> None:
    frame = pl.DataFrame({"channel": ["x", "y"], "region": pl.Series([7, 8], dtype=pl.Int16)})
    matrix = MatrixFeed("m", (("channel", "ads"), ("region", "3")))
    assert matrix.build(frame, "").tolist() == [[0.0, 0.0], [0.0, 0.0]]
    assert matrix.build(frame.head(0), "").shape == (0, 2)


def test_canonical_integer_is_exactly_the_string_cast() -> None:
    assert [canonical_integer(text) for text in ["3", "-12", "0", "03", "+3", "3.0", "", "x", "-0"]] == [
        3, -12, 0, None, None, None, None, None, None,
    ]  # fmt: skip
    for value in (0, 7, -7, 2**40):
        assert canonical_integer(pl.Series([value]).cast(pl.String)[0]) == value


@pytest.mark.parametrize("candidate", ["logistic", "hgb", "mlp", "stack"])
def test_integer_and_boolean_categories_score_as_the_sklearn_pipeline(candidate: str) -> None:
    spec = TableSpec(
        numeric=("amount", "visits", "ratio"),
        categorical=("channel", "region", "weekend"),
        target="label",
        task="binary",
    )
    rng = np.random.default_rng(3)

    def table(rows: int) -> pl.DataFrame:
        weekend = rng.random(rows) < 0.3
        region = rng.integers(1, 8, rows)
        amount = rng.lognormal(3, 1, rows)
        logit = 0.02 * amount + weekend * 1.0 - (region == 3) * 1.5 - 1.0
        return pl.DataFrame(
            {
                "amount": amount,
                "visits": rng.poisson(3, rows).astype(float),
                "ratio": rng.random(rows),
                "channel": rng.choice(["ads", "mail", "direct"], rows).tolist(),
                "region": region,
                "weekend": weekend,
                "label": (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int),
            }
        )

    pipeline = _fit_small(candidate, spec, table(600))
    scoring = table(
        200
    ).with_columns(
        pl.Series("region", [None, 99, 3] + table(200)["region"].to_list()[3:]),  # null, unknown code
        pl.Series("weekend", [None, True, False] + table(200)["weekend"].to_list()[3:]),
        pl.Series("channel", ["tiktok", None, ""] + table(200)["channel"].to_list()[3:]),
    )
    model = ScoringModel(
        to_onnx_bytes(pipeline, spec),
        {"inputs": input_metadata(spec), "output": output_metadata("binary")},
        name="m",
    )
    assert model._plan.matrices  # the build under test is the path taken
    expected = pipeline.predict_proba(prepare_features(scoring, spec))[:, 1]
    assert np.abs(model.predict(scoring) - expected).max() < 1e-5
    assert np.array_equal(model.predict(scoring), model.predict(scoring.to_dicts()))
