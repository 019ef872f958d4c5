"""GX Data Docs open offline: a rendered page keeps no external asset, inlines its stylesheet
(status icons drawn as glyphs) and links "Home" to the reports index."""

from __future__ import annotations

import re
from pathlib import Path

from pipelines.core.settings import Settings
from pipelines.validation.offline_docs import make_offline
from tests.unit.pipelines.validation.test_validate import clean_apps, gate


def test_rendered_page_has_no_external_asset_and_links_home(settings: Settings) -> None:
    df = clean_apps()
    df.loc[1, "applicant_age"] = 7.0
    page = Path(gate(df, settings, batch_id="b-offline", data_docs=True).report_path or "")
    html = page.read_text()
    assert not re.search(r"https?://", html)
    assert ".fa-check-circle::before" in html and "fa-check-circle" in html
    homes = set(re.findall(r'href="([^"#]*index\.html)"', html))
    assert len(homes) == 1
    assert (page.parent / homes.pop()).resolve() == (settings.reports_dir / "index.html").resolve()
    assert "expectations/" not in html  # the suite page is never rendered: no dead link


def test_make_offline_is_idempotent_and_keeps_the_filter_buttons() -> None:
    raw = ('<html><head><link rel="stylesheet" href="https://cdn.example/b.css">'
           '<script src="https://cdn.example/jq.js"></script></head><body>'
           '<a href="../../index.html">Home</a><script>function f(){$(".x")}</script>'
           "<button onclick=\"hideSucceededValidations()\">hide</button></body></html>")
    once = make_offline(raw, "../../../index.html")
    assert make_offline(once, "../../../index.html") == once
    assert "cdn.example" not in once and "$(" not in once
    assert 'href="../../../index.html"' in once and "function hideSucceededValidations" in once
