"""The shipped reason-code table: valid, and it names every built-in feature except the ones no
notice may name (policy outputs and prohibited bases)."""

from __future__ import annotations

from pathlib import Path

import pytest

from features import FEATURES
from pipelines.core.settings import Settings
from pipelines.scoring.models import scoring_policy
from pipelines.scoring.reason_codes import ReasonCodesError, reason_table


def test_the_shipped_table_covers_every_feature_a_notice_may_name(tmp_path: Path) -> None:
    covered = reason_table(Settings(home=tmp_path)).code_of()
    for spec in FEATURES:
        if spec.protected or spec.policy_output:
            assert spec.name not in covered, spec.name
        else:
            assert spec.name in covered, f"{spec.name} has no reason code"


def test_the_policy_carries_the_table_and_an_edited_file_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "codes.yaml"
    path.write_text("codes:\n  - {code: X1, text: Bureau score too low, features: [bureau_score]}\n")
    settings = Settings(home=tmp_path, scoring={"reason_codes_file": path})
    assert scoring_policy(settings).reason_table == (("X1", "Bureau score too low",
                                                      ("bureau_score",)),)
    path.write_text("codes:\n  - {code: X1, features: [bureau_score]}\n")
    with pytest.raises(ReasonCodesError, match=f"{path}.*X1: the notice text is missing"):
        reason_table(settings)
