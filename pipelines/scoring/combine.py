"""The champion's decisions combined with the early-payment-default model scored beside it
(``models.combine``, rules from ``settings.epd.rules``): the champion's rows get the final
decision with the rule's reason leading their reasons; the EPD model's own rows (role ``epd``:
its probability in ``pd``, its points in ``score``) carry the same final decision. Without an
EPD champion the PD decides alone."""

from __future__ import annotations

import pandas as pd

from models.combine import combine, lead_reason
from models.policy import REASON_COLUMNS, REASON_TEXT_COLUMNS
from pipelines.core.settings import Settings
from pipelines.scoring.models import CHAMPION, EPD


def combine_scores(frames: dict[str, pd.DataFrame], settings: Settings) -> None:
    """In place: ``frames`` by role, as one chunk scored them."""
    if CHAMPION not in frames or EPD not in frames:
        return
    champ, epd = frames[CHAMPION], frames[EPD]
    rules = settings.epd.rules
    by_id = epd.set_index("application_id")["pd"]
    value = by_id.reindex(champ["application_id"]).to_numpy(dtype=float)
    held = champ["holdout"].to_numpy() == 1 if "holdout" in champ else None
    final, fired = combine(champ["decision"].to_numpy(), value, rules, exempt=held)
    champ["decision"] = final
    for columns, texts in ((REASON_COLUMNS, False), (REASON_TEXT_COLUMNS, True)):
        champ[list(columns)] = lead_reason(champ[list(columns)].to_numpy(), fired, rules, texts)
    # every chunk application either model scored passed the same gate: both hold its row
    decided = pd.Series(final, index=champ["application_id"].to_numpy())
    epd["decision"] = decided.reindex(epd["application_id"].to_numpy()).to_numpy()
