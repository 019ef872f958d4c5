"""models.reason_table and models.reasons.top_codes: the reason-code table as data, and reasons
that only ever name what raised an applicant's risk."""

from __future__ import annotations

import numpy as np
import pytest

from models.reason_table import ReasonTable, ReasonTableError, parse_reason_table
from models.reasons import agreement, top_codes

KNOWN = {"ltv": False, "down_payment_share": False, "pti": False, "bureau_score": False,
         "applicant_age": True}
GOOD = {"codes": [
    {"code": "R01", "text": "Amount financed high for the vehicle",
     "features": ["ltv", "down_payment_share"]},
    {"code": "R02", "text": "Payment high for the income", "features": ["pti"]},
    {"code": "R05", "text": "Bureau score too low", "features": ["bureau_score"]},
]}


def table() -> ReasonTable:
    return parse_reason_table(GOOD, KNOWN)


def test_a_valid_table_parses_and_round_trips_as_rows() -> None:
    t = table()
    assert t.code_of() == {"ltv": "R01", "down_payment_share": "R01", "pti": "R02",
                           "bureau_score": "R05"}
    assert t.texts()["R02"] == "Payment high for the income"
    assert ReasonTable.from_rows(t.as_rows()) == t


@pytest.mark.parametrize("change, message", [
    (lambda d: d["codes"][1]["features"].append("income"), "unknown feature 'income'"),
    (lambda d: d["codes"][2]["features"].append("pti"), "'pti' is covered twice: by R02 and R05"),
    (lambda d: d["codes"][1].pop("text"), "R02: the notice text is missing"),
    (lambda d: d["codes"][1].update(text="  "), "R02: the notice text is missing"),
    (lambda d: d["codes"][2].update(code="R01"), "R01 is declared twice"),
    (lambda d: d["codes"][1]["features"].append("applicant_age"), "applicant_age' is a prohibited"),
    (lambda d: d["codes"][0].update(notes="x"), "unknown key"),
    (lambda d: d["codes"][0].update(features=[]), "list the features"),
    (lambda d: d.update(codes=[]), "non-empty list"),
])
def test_an_inconsistent_table_is_refused_by_name(change, message: str) -> None:
    data = {"codes": [dict(c, features=list(c["features"])) for c in GOOD["codes"]]}
    change(data)
    with pytest.raises(ReasonTableError, match=message):
        parse_reason_table(data, KNOWN)


NAMES = ["ltv", "down_payment_share", "pti", "bureau_score", "applicant_age"]


def test_a_reason_never_names_a_risk_lowering_feature() -> None:
    contribs = np.array([
        [0.4, -0.9, -0.2, 0.1, 0.0, -1.0],   # ltv raised: R01 despite the down payment
        [-0.3, -0.1, -0.2, -0.5, 0.0, 2.0],  # nothing raised the risk: no reason at all
        [-0.3, 0.0, 0.6, -0.5, 0.9, 0.0],    # age raised it most, but is never a reason
        [0.1, 0.1, 0.15, 0.0, 0.0, 0.0],     # R01 adds 0.2 (two features) above R02's 0.15
    ])
    got = top_codes(contribs, NAMES, table(), k=3)
    assert got.tolist() == [["R01", "R05", None], [None, None, None], ["R02", None, None],
                            ["R01", "R02", None]]
    code_of = table().code_of()
    for row, named in zip(contribs, got, strict=True):  # every code covers a feature that raised
        for code in (c for c in named if c is not None):
            assert any(row[i] > 0 for i, f in enumerate(NAMES) if code_of.get(f) == code)


def test_codes_of_features_the_model_lacks_are_skipped() -> None:
    got = top_codes(np.array([[0.2, 0.3, 0.0]]), ["pti", "bureau_score"], table(), k=2)
    assert got.tolist() == [["R05", "R02"]]
    with pytest.raises(ValueError, match="do not match"):
        top_codes(np.zeros((1, 7)), NAMES, table(), k=1)


def test_agreement_counts_top1_and_topk_sets() -> None:
    a = np.array([["R1", "R2"], ["R1", None], ["R3", "R1"]], dtype=object)
    b = np.array([["R1", "R3"], ["R1", None], ["R1", "R3"]], dtype=object)
    assert agreement(a, b) == {"rows": 3.0, "top1": pytest.approx(2 / 3),
                               "topk": pytest.approx(2 / 3)}
    assert agreement(a[:0], b[:0])["rows"] == 0.0
