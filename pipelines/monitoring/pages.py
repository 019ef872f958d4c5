"""Where the risk team's pages live under the home, and how a page is named to a person: its
path, or its URL when ``reports.base_url`` says where the reports folder is served.

- ``reports/index.html``: the index of every page;
- ``reports/risk/week-<ISO year>-W<week>.html`` and ``reports/risk/month-<YYYY-MM>.html``: the
  periodic risk reports (Monday to Sunday weeks, calendar months);
- ``reports/drift/``, ``reports/validation/``: Evidently drift reports, GX Data Docs;
- ``reports/workspace/``: the Evidently workspace (``evidently ui --host 127.0.0.1``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from pipelines.core.calendar import month_end
from pipelines.core.settings import Settings


@dataclass(frozen=True)
class Period:
    """A report's period: ``kind`` week or month, first and last calendar day, its name."""

    kind: str
    start: date
    end: date

    @property
    def name(self) -> str:
        if self.kind == "week":
            year, week, _ = self.start.isocalendar()
            return f"week-{year}-W{week:02d}"
        return f"month-{self.start:%Y-%m}"

    @property
    def title(self) -> str:
        if self.kind == "week":
            return f"Week {self.name[5:]} ({self.start} to {self.end})"
        return f"Month {self.start:%B %Y} ({self.start} to {self.end})"


def week_of(day: date) -> Period:
    start = day - timedelta(days=day.weekday())
    return Period("week", start, start + timedelta(days=6))


def month_of(day: date) -> Period:
    return Period("month", day.replace(day=1), month_end(day))


def risk_dir(settings: Settings) -> Path:
    return settings.reports_dir / "risk"


def index_path(settings: Settings) -> Path:
    return settings.reports_dir / "index.html"


def report_path(settings: Settings, period: Period) -> Path:
    return risk_dir(settings) / f"{period.name}.html"


def link(settings: Settings, path: Path) -> str:
    """``path`` as a person opens it: a URL under ``reports.base_url`` when one is set and the
    path is inside the reports folder, else the path itself."""
    base = settings.reports.base_url
    try:
        relative = path.resolve().relative_to(settings.reports_dir.resolve())
    except ValueError:
        return str(path)
    return f"{base.rstrip('/')}/{relative.as_posix()}" if base else str(path)


def day_page(settings: Settings, day: date) -> str:
    """The page that covers ``day``: the risk report of its week (refreshed by every run of the
    ``risk-report`` flow in that week, final at the week's end)."""
    return link(settings, report_path(settings, week_of(day)))
