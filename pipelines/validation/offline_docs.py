"""A GX Data Docs page made to open offline: GX's templates load Bootstrap, jQuery, Font Awesome,
Vega and logos from CDNs, so on a worker with no network the page rendered unstyled with blank
status icons, and its "Home" link pointed at an index that is never built (see
``pipelines.validation.datadocs``).

``make_offline`` rewrites a rendered page: every external stylesheet, script and image goes,
a small stylesheet of the Bootstrap classes GX uses is inlined (status icons drawn as text
glyphs), the jQuery filter buttons get a plain-JavaScript equivalent, links to pages that are
not rendered (the suite page) become plain text, and "Home" points at the reports index.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

_EXTERNAL = re.compile(
    r"<(?:link|script|img)\b[^>]*?(?:href|src)\s*=\s*[\"']https?://[^>]*>(?:\s*</script>)?",
    re.IGNORECASE)
_CSS_URL = re.compile(r"url\(\s*['\"]?https?://[^)]*\)", re.IGNORECASE)
_FAVICON = re.compile(r"<link\b[^>]*rel=\"shortcut icon\"[^>]*>", re.IGNORECASE)
_INLINE_SCRIPT = re.compile(r"<script>.*?</script>", re.IGNORECASE | re.DOTALL)
_OUTSIDE_HREF = re.compile(r"href=\"(?:https?://[^\"]*|[^\"]*expectations/[^\"]*)\"",
                           re.IGNORECASE)
_HOME_HREF = re.compile(r"href=\"(?:\.\./)*index\.html\"")
_MARKER = "<!-- creditflow: offline -->"

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;margin:0;
color:#212529;line-height:1.4;font-size:14px}
.container-fluid{padding:0 15px}.row{display:flex;flex-wrap:wrap}
.col-12{flex:0 0 100%;max-width:100%}
@media(min-width:768px){.col-md-2{flex:0 0 20%;max-width:20%}
.col-md-10{flex:0 0 80%;max-width:80%}}
.table{border-collapse:collapse;width:100%;margin-bottom:1rem}
.table td,.table th{border-top:1px solid #dee2e6;padding:.3rem .5rem;vertical-align:top;
text-align:left}
.card{border:1px solid #dee2e6;border-radius:4px;margin-bottom:1rem}
.card-header{background:#f7f7f9;padding:.5rem .75rem;border-bottom:1px solid #dee2e6}
.card-body{padding:.75rem}
.badge{display:inline-block;padding:.1em .4em;border-radius:3px;font-size:85%}
.badge-secondary{background:#6c757d;color:#fff}.badge-info{background:#17a2b8;color:#fff}
.alert{padding:.5rem .75rem;border-radius:4px;margin:0 0 .5rem 0}
.alert-secondary{background:#e2e3e5}
.nav{list-style:none;padding-left:0}.nav-link{display:block;padding:.15rem .5rem}
.d-none{display:none}.text-success{color:#1e7e34}.text-danger{color:#c82333}
.btn{display:inline-block;border:1px solid #6c757d;border-radius:3px;padding:.2rem .5rem;
background:#fff;cursor:pointer}
.fas{font-style:normal;font-weight:bold}
.fa-check-circle::before{content:"\\2714"}.fa-times::before{content:"\\2718"}
.fa-exclamation-triangle::before{content:"\\26A0"}.fa-question-circle::before{content:"?"}
a{color:#0b5ea8}
.navbar{display:flex;align-items:center;padding:0 15px;background:#fff}
.navbar-brand a::before{content:"creditflow: all pages";font-weight:bold}
.breadcrumb{list-style:none;display:flex;padding:0;margin:0 0 0 1rem}
.breadcrumb-item+.breadcrumb-item::before{content:"/";padding:0 .5rem;color:#6c757d}
@media(min-width:768px){.d-md-inline-flex{display:inline-flex!important}}
footer{display:none}
"""

_FILTER_SCRIPT = """<script>
function _succeeded(show){
  document.querySelectorAll('.hide-succeeded-validation-target-child').forEach(function(e){
    e.parentElement.style.display = show ? '' : 'none';});
  document.querySelectorAll('.hide-succeeded-validation-target').forEach(function(e){
    e.style.display = show ? '' : 'none';});
}
function showAllValidations(){_succeeded(true);}
function hideSucceededValidations(){_succeeded(false);}
</script>"""


def make_offline(text: str, home_href: str) -> str:
    """The page with no external asset, a working "Home" link (``home_href``, relative to the
    page) and the inline stylesheet; applying it twice changes nothing."""
    if _MARKER in text:
        return text
    text = _EXTERNAL.sub("", text)
    text = _FAVICON.sub("", text)
    text = _CSS_URL.sub("none", text)
    text = _INLINE_SCRIPT.sub(lambda _m: _FILTER_SCRIPT, text)
    text = _HOME_HREF.sub(f'href="{home_href}"', text)
    text = _OUTSIDE_HREF.sub("", text)
    return text.replace("</head>", f"{_MARKER}<style>{STYLE}</style></head>", 1)


def rewrite_page(page: Path, index: Path) -> None:
    """Rewrite a rendered Data Docs page in place for offline reading, linking home to
    ``index`` (the reports index)."""
    home = Path(os.path.relpath(index, page.parent)).as_posix()
    page.write_text(make_offline(page.read_text(encoding="utf-8"), home), encoding="utf-8")
