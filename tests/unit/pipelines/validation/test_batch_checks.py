"""The gate's batch-level checks give Great Expectations' own verdicts: GX's engine runs the same
expectations on the same frames (random defects: nulls, repeated keys, wrong dtypes, object
columns, empty frames) and the success flags and counts must agree."""

from __future__ import annotations

from typing import Any

import great_expectations as gx
import great_expectations.expectations as gxe
import numpy as np
import pandas as pd
import pytest

from pipelines.validation.batch_checks import evaluate_expectation


def gx_results(frame: pd.DataFrame, expectations: list[Any]) -> list[Any]:
    ctx = gx.get_context(mode="ephemeral")
    batch = (ctx.data_sources.add_pandas("oracle").add_dataframe_asset("frame")
             .add_batch_definition_whole_dataframe("all"))
    suite = ctx.suites.add(gx.ExpectationSuite(name="oracle", expectations=expectations))
    vd = ctx.validation_definitions.add(gx.ValidationDefinition(name="v", data=batch,
                                                                suite=suite))
    result = vd.run(batch_parameters={"dataframe": frame}, result_format={"result_format":
                                                                          "BASIC"})
    return result.results


def random_frame(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = int(rng.choice([0, 1, 7, 60]))
    frame = pd.DataFrame({
        "id": rng.integers(0, max(n, 1) * 2, n).astype(str),
        "branch": rng.choice(["a", "b"], n),
        "amount": rng.normal(size=n),
        "count": rng.integers(0, 5, n),
        "when": pd.Timestamp("2025-01-01") + pd.to_timedelta(rng.integers(0, 9, n), unit="D"),
    })
    if n:
        for col in ("id", "amount", "when", "branch"):
            frame.loc[rng.random(n) < rng.uniform(0, 0.3), col] = None
    if seed % 3 == 0:  # numbers read as text: an object column
        frame["amount"] = frame["amount"].astype(object)
        frame.loc[frame.index[:2], "amount"] = "12,5"
    if seed % 4 == 1:
        frame["count"] = frame["count"].astype("Int64")
    return frame


def expectations(frame: pd.DataFrame, mostly: float) -> list[Any]:
    return [
        gxe.ExpectTableRowCountToBeBetween(min_value=1),
        gxe.ExpectTableRowCountToBeBetween(min_value=5, max_value=50),
        gxe.ExpectColumnToExist(column="id"),
        gxe.ExpectColumnValuesToNotBeNull(column="amount", mostly=mostly),
        gxe.ExpectColumnValuesToNotBeNull(column="id"),
        gxe.ExpectColumnValuesToBeUnique(column="id", mostly=mostly),
        gxe.ExpectCompoundColumnsToBeUnique(column_list=["id", "branch"], mostly=mostly),
        gxe.ExpectColumnValuesToBeInTypeList(column="amount",
                                             type_list=["float64", "int64", "Float64"]),
        gxe.ExpectColumnValuesToBeInTypeList(column="count", type_list=["int64", "Int64"]),
        gxe.ExpectColumnValuesToBeInTypeList(column="when", type_list=["datetime64[ns]",
                                                                       "datetime64[us]"]),
        gxe.ExpectColumnValuesToBeInTypeList(column="branch", type_list=["float64"]),
    ]


def config_key(result: Any) -> str:
    config = result.expectation_config
    kwargs = {k: v for k, v in config.kwargs.items() if k != "batch_id"}
    return config.type + repr(sorted(kwargs.items()))


@pytest.mark.parametrize("seed", range(12))
def test_same_verdicts_as_gx_engine(seed: int) -> None:
    frame = random_frame(seed)
    mostly = [1.0, 0.9, 0.5][seed % 3]
    ours = [evaluate_expectation(e, frame) for e in expectations(frame, mostly)]
    theirs = gx_results(frame, expectations(frame, mostly))
    assert len(theirs) == len(ours)
    by_config = {config_key(r): r for r in ours}
    for oracle in theirs:  # GX orders its results its own way
        name = oracle.expectation_config.type
        mine = by_config[config_key(oracle)]
        assert mine.success == oracle.success, (name, mine.result, oracle.result)
        for field in ("observed_value", "unexpected_count", "element_count", "missing_count"):
            if field in oracle.result:
                assert mine.result.get(field) == oracle.result[field], (name, field)


def test_missing_column_fails_without_error() -> None:
    frame = pd.DataFrame({"a": [1, 2]})
    result = evaluate_expectation(gxe.ExpectColumnToExist(column="b"), frame)
    assert result.success is False
    assert evaluate_expectation(gxe.ExpectColumnToExist(column="a"), frame).success is True


def test_unique_counts_every_copy_and_ignores_nulls() -> None:
    frame = pd.DataFrame({"k": ["x", "x", "y", None, None]})
    result = evaluate_expectation(gxe.ExpectColumnValuesToBeUnique(column="k"), frame)
    assert result.success is False
    assert result.result["unexpected_count"] == 2
    assert result.result["missing_count"] == 2
    assert result.result["partial_unexpected_list"] == ["x", "x"]
