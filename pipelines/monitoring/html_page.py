"""Self-contained HTML for the risk team's pages: one stylesheet inlined, figures embedded as
base64 PNG with alt text, tables as HTML tables, every text from data escaped. A page opens
offline and prints (no script, no external asset)."""

from __future__ import annotations

import base64
import html
import io
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from threading import Lock

import pandas as pd
from matplotlib.figure import Figure

_DPI = 80
_MEMO_SIZE = 16  # a few figures per page kind; entries are one PNG each (~30-60 kB)
_MEMO: OrderedDict[tuple[Hashable, str], str] = OrderedDict()
_MEMO_LOCK = Lock()  # Prefect runs tasks in worker threads
STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;margin:0;
color:#1f2933;background:#fff;line-height:1.4}
header{background:#123a5c;color:#fff;padding:14px 28px}
header a{color:#cfe3f5}
header h1{margin:0 0 4px 0;font-size:1.5em}
main{padding:8px 28px 28px 28px;max-width:1100px}
section{margin:22px 0;page-break-inside:avoid}
h2{border-bottom:2px solid #123a5c;padding-bottom:3px;font-size:1.2em}
table{border-collapse:collapse;margin:8px 0;font-size:.9em}
th,td{border:1px solid #cbd2d9;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#eef2f6}
td.num{text-align:right;font-variant-numeric:tabular-nums}
img{max-width:100%;height:auto;border:1px solid #e4e7eb}
.band-shift,.band-alert,.flag{background:#fde2e1}
.band-watch{background:#fff4d6}
.band-stable,.band-ok{background:#e3f4e8}
.note{color:#52606d;font-size:.9em}
.cards{display:flex;flex-wrap:wrap;gap:10px}
.card{border:1px solid #cbd2d9;border-radius:4px;padding:8px 14px;min-width:130px}
.card b{display:block;font-size:1.4em}
@media print{header{background:#fff;color:#000}header a{color:#000}a{color:#000}}
"""


@dataclass(frozen=True)
class Section:
    """One titled part of a page; ``body`` is HTML already escaped by this module's helpers."""

    key: str
    title: str
    body: str


def esc(value: object) -> str:
    return html.escape("" if value is None else str(value))


def figure_img(fig: Figure, alt: str) -> str:
    """The figure as an embedded PNG with its alt text."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{esc(alt)}">'


def memo_figure_img(key: Hashable, build: Callable[[], Figure], alt: str) -> str:
    """``figure_img(build(), alt)``, drawn once per process for the same ``key``: the key must
    hold everything the figure is drawn from (its data, exactly, and its title). The week's and
    the month's pages show the same roll-rate and vintage figures, and they change only when a
    tape arrives, while drawing one costs ~0.1 s."""
    memo_key = (key, alt)
    with _MEMO_LOCK:
        img = _MEMO.get(memo_key)
        if img is not None:
            _MEMO.move_to_end(memo_key)
            return img
    img = figure_img(build(), alt)
    with _MEMO_LOCK:
        _MEMO[memo_key] = img
        if len(_MEMO) > _MEMO_SIZE:
            _MEMO.popitem(last=False)
    return img


def frame_key(frame: pd.DataFrame) -> tuple[Hashable, ...]:
    """A frame's labels and values, exactly, as a hashable key for ``memo_figure_img``."""
    values = frame.to_numpy()
    # object arrays' bytes are pointers, not values: compare those cell by cell
    cells = values.tobytes() if values.dtype != object else tuple(map(tuple, values.tolist()))
    return (tuple(frame.index.tolist()), str(frame.index.dtype), tuple(frame.columns.tolist()),
            str(frame.columns.dtype), str(values.dtype), values.shape, cells)


def table(frame: pd.DataFrame, formats: dict[str, str] | None = None,
          row_class: Sequence[str] | None = None, empty: str = "none") -> str:
    """An HTML table of ``frame``; ``formats`` maps a column to a format spec, ``row_class``
    gives each row a CSS class (e.g. a band). An empty frame is a sentence, not a bare
    header."""
    if frame.empty:
        return f'<p class="note">{esc(empty)}</p>'
    formats = formats or {}
    head = "".join(f"<th>{esc(c)}</th>" for c in frame.columns)
    rows = []
    for i, record in enumerate(frame.itertuples(index=False)):
        cells = []
        for column, value in zip(frame.columns, record, strict=True):
            numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
            text = _format(value, formats.get(column))
            cells.append(f'<td class="num">{text}</td>' if numeric else f"<td>{text}</td>")
        css = f' class="{esc(row_class[i])}"' if row_class is not None and row_class[i] else ""
        rows.append(f"<tr{css}>{''.join(cells)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _format(value: object, spec: str | None) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    if spec and isinstance(value, (int, float)):
        return esc(format(value, spec))
    return esc(value)


def cards(items: Sequence[tuple[str, str]]) -> str:
    """Headline figures as a row of cards (label, value already formatted)."""
    inner = "".join(f'<div class="card">{esc(label)}<b>{esc(value)}</b></div>'
                    for label, value in items)
    return f'<div class="cards">{inner}</div>'


def page(title: str, subtitle: str, sections: Sequence[Section], home: str | None) -> str:
    """The whole page: header (with a link home when ``home`` is given), a table of contents
    and the sections."""
    nav = f'<a href="{esc(home)}">Home: all pages</a> · ' if home else ""
    toc = " · ".join(f'<a href="#{esc(s.key)}">{esc(s.title)}</a>' for s in sections)
    body = "".join(f'<section id="{esc(s.key)}"><h2>{esc(s.title)}</h2>{s.body}</section>'
                   for s in sections)
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>"
            f"<header><h1>{esc(title)}</h1><div>{nav}{esc(subtitle)}</div></header>"
            f'<main><nav class="note">{toc}</nav>{body}</main></body></html>')
