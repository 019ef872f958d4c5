"""The one alert function: monitoring and flow-failure hooks both call ``send_alert``.

Rules
-----
- Every alert is stored in the ``alerts`` table, one row per (condition_key, business_date):
  rerunning a day finds the row and sends nothing again once it was delivered or suppressed
  (an undelivered one is retried, see below).
- Cool-down: a condition that was delivered within ``alerts.cooldown_days`` business days
  before is stored with ``suppressed=1`` and not sent. Only delivered alerts start a cool-down,
  so a receiver that was down is tried again by the next day's alert instead of going quiet for
  a week. With no receiver configured, every raised (unsuppressed) alert starts one, so the
  table still reads as one alert per episode.
- Delivery goes through Apprise to every URL in ``alerts.urls``, each bounded by
  ``alerts.timeout_s``. A receiver that is down, slow or refuses is a logged delivery failure
  (``delivered=0``), never an exception in the caller. ``delivered`` counts receivers reached.
- Webhook URLs carry tokens: they are only ever logged through ``mask_secret``.

The row is claimed (inserted) before anything is sent, so two processes raising the same
condition for the same day cannot both send: the unique key lets exactly one insert win.

No lost alert: a stored row that reached no receiver (``delivered=0``, not suppressed: the
sender was killed between claim and delivery, or every receiver failed) is delivered again when
the condition is raised again for that day (a rerun), once its claim is older than one delivery
attempt (``timeout_s`` + a grace), so a sender still at work is never doubled. The retry
re-claims the row by compare-and-set on ``created_at`` (then: when the row was last claimed), so
one process retries. Delivery is at least once: a sender killed after a receiver accepted but
before ``delivered`` was stored is sent again by the rerun.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from pipelines.core.settings import Settings, mask_secret, redact
from pipelines.warehouse import alerts as table
from pipelines.warehouse.engine import Warehouse

log = logging.getLogger(__name__)
SEVERITIES = ("info", "warning", "error", "critical")
_TITLE_MAX = 120
_CLAIM_GRACE_S = 2.0  # beyond timeout_s: a live sender has stored its outcome by then


@dataclass(frozen=True)
class AlertOutcome:
    condition_key: str
    business_date: date
    severity: str
    delivered: int  # receivers that accepted the alert (0: none, or not sent)
    suppressed: bool  # inside the cool-down: stored, not sent
    already_stored: bool  # this condition was already raised for this day: nothing sent again
    receivers: int  # receivers configured
    alert_id: int | None = None

    @property
    def sent(self) -> bool:
        """A delivery was attempted by this call."""
        return not self.suppressed and not self.already_stored and self.receivers > 0


def send_alert(settings: Settings, wh: Warehouse, condition_key: str, business_date: date,
               message: str, severity: str = "warning") -> AlertOutcome:
    """Store and (unless cooled down or already raised today) deliver one alert."""
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {SEVERITIES}, got {severity!r}")
    if not condition_key or len(condition_key) > 128:
        raise ValueError(f"condition_key must be 1-128 characters, got {condition_key!r}")
    day = _as_date(business_date)
    urls = settings.alerts.targets()
    try:
        return _store_and_send(settings, wh, condition_key, day, message, severity, urls)
    except table.DatabaseFailure as exc:  # the warehouse is down: tell people anyway, unrecorded
        return _send_unrecorded(settings, condition_key, day, message, severity, urls, exc)


def _store_and_send(settings: Settings, wh: Warehouse, condition_key: str, day: date,
                    message: str, severity: str, urls: list[str]) -> AlertOutcome:
    existing = table.stored_alert(wh, condition_key, day)
    if existing is not None:
        if not urls or not _reclaim(wh, existing, settings.alerts.timeout_s):
            return _outcome(condition_key, day, existing, already=True, receivers=len(urls))
        # nobody was told: deliver what is on record for the day
        alert_id, suppressed = int(existing["id"]), False
        severity, message = str(existing["severity"]), str(existing["message"])
    else:
        suppressed = _in_cooldown(wh, condition_key, day, settings.alerts.cooldown_days,
                                  anchor_on_delivered=bool(urls))
        alert_id = _claim(wh, condition_key, day, severity, message, suppressed)
        if alert_id is None:  # another process claimed the same condition and day first
            stored = table.stored_alert(wh, condition_key, day)
            return _outcome(condition_key, day, stored, already=True, receivers=len(urls))
    delivered = 0
    if not suppressed and urls:
        delivered = _deliver(urls, _title(condition_key, day, severity), message, severity,
                             settings.alerts.timeout_s)
        try:
            table.set_delivered(wh, alert_id, delivered)
        except table.DatabaseFailure as exc:  # sent already: a rerun may send it once more
            log.error("alert %s on %s delivered to %d receiver(s) but not recorded as "
                      "delivered: %s", condition_key, day, delivered, redact(str(exc))[:300])
    if suppressed:
        outcome = "stored, suppressed (cool-down)"
    elif not urls:
        outcome = "stored (no receiver configured in alerts.urls)"
    else:
        outcome = f"delivered to {delivered}/{len(urls)} receiver(s)"
    log.info("alert %s on %s: %s", condition_key, day, outcome)
    return AlertOutcome(condition_key, day, severity, delivered, suppressed, False, len(urls),
                        alert_id)


def _send_unrecorded(settings: Settings, condition_key: str, day: date, message: str,
                     severity: str, urls: list[str], exc: Exception) -> AlertOutcome:
    """Deliver without the alerts table (no de-duplication, no cool-down): a warehouse that
    cannot be written is itself what the people on call must hear about, often through the
    very failure hook that is calling."""
    why = redact(f"{type(exc).__name__}: {exc}").splitlines()[0][:300]
    log.error("alert %s on %s cannot be recorded (warehouse unreachable: %s); sending it "
              "unrecorded", condition_key, day, why)
    delivered = 0
    if urls:
        delivered = _deliver(urls, _title(condition_key, day, severity),
                             f"{message}\n\n(Not recorded: the warehouse is unreachable: {why})",
                             severity, settings.alerts.timeout_s)
    return AlertOutcome(condition_key, day, severity, delivered, False, False, len(urls), None)


# ---------------------------------------------------------------------------------------------
# the alerts table


def _as_date(value: date | datetime) -> date:
    """A plain ``date``: Prefect hands over pendulum dates, which the sqlite3 driver refuses."""
    return date(value.year, value.month, value.day)


def _in_cooldown(wh: Warehouse, key: str, day: date, cooldown_days: int,
                 anchor_on_delivered: bool) -> bool:
    if cooldown_days <= 0:
        return False
    return table.raised_between(wh, key, day - timedelta(days=cooldown_days), day,
                                anchor_on_delivered)


def _claim(wh: Warehouse, key: str, day: date, severity: str, message: str,
           suppressed: bool) -> int | None:
    row = {"condition_key": key, "business_date": day, "severity": severity,
           "message": redact(message), "delivered": 0, "suppressed": int(suppressed),
           "created_at": datetime.now(UTC).replace(tzinfo=None)}
    return table.insert_alert(wh, row)


def _reclaim(wh: Warehouse, row: dict, timeout_s: float) -> bool:
    """Take over an undelivered, unsuppressed row whose claim is older than one delivery
    attempt; True for the one process whose compare-and-set on ``created_at`` wins."""
    if row["delivered"] or row["suppressed"]:
        return False
    now = datetime.now(UTC).replace(tzinfo=None)
    if row["created_at"] > now - timedelta(seconds=timeout_s + _CLAIM_GRACE_S):
        return False  # its sender may still be delivering
    return table.reclaim_alert(wh, int(row["id"]), row["created_at"], now)


def _outcome(key: str, day: date, row: dict | None, already: bool,
             receivers: int) -> AlertOutcome:
    row = row or {}
    return AlertOutcome(key, day, str(row.get("severity", "warning")),
                        int(row.get("delivered") or 0), bool(row.get("suppressed") or 0),
                        already, receivers, row.get("id"))


# ---------------------------------------------------------------------------------------------
# delivery


def _title(key: str, day: date, severity: str) -> str:
    return f"[creditflow {severity}] {key} on {day.isoformat()}"[:_TITLE_MAX]


def _deliver(urls: list[str], title: str, body: str, severity: str, timeout_s: float) -> int:
    """Receivers that accepted; each URL in its own thread so one slow receiver cannot hold
    the others, and the whole call bounded by the timeout whatever a plugin does."""
    # No ``with`` on the pool: leaving it would join a thread stuck on a slow receiver.
    pool = ThreadPoolExecutor(max_workers=len(urls), thread_name_prefix="alert")
    with _quiet_apprise():
        futures = {pool.submit(_notify_one, u, title, body, severity, timeout_s): u
                   for u in urls}
        done, _ = wait(futures, timeout=timeout_s + 1.0)
    pool.shutdown(wait=False, cancel_futures=True)
    reached = 0
    for future, url in futures.items():
        ok = future in done and future.exception() is None and bool(future.result())
        if not ok:
            log.warning("alert delivery to %s failed (down, slow or refused)",
                        mask_secret(url, keep_path=False))
        reached += int(ok)
    return reached


def _notify_one(url: str, title: str, body: str, severity: str, timeout_s: float) -> bool:
    import apprise

    plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    if plugin is None:
        log.warning("alert URL %s is not a valid Apprise URL", mask_secret(url, keep_path=False))
        return False
    plugin.socket_connect_timeout = timeout_s
    plugin.socket_read_timeout = timeout_s
    notify_type = {"info": apprise.NotifyType.INFO, "warning": apprise.NotifyType.WARNING,
                   "error": apprise.NotifyType.FAILURE,
                   "critical": apprise.NotifyType.FAILURE}[severity]
    try:
        return bool(plugin.notify(body=body, title=title, notify_type=notify_type))
    except Exception as exc:  # a plugin bug must not crash monitoring
        log.warning("alert delivery to %s raised %s", mask_secret(url, keep_path=False),
                    type(exc).__name__)
        return False


@contextmanager
def _quiet_apprise() -> Iterator[None]:
    """Apprise, and urllib3 under it (its request line), log full request URLs (tokens
    included) at DEBUG: keep their loggers at INFO or above while we deliver."""
    loggers = [logging.getLogger(name) for name in ("apprise", "urllib3")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        if logger.getEffectiveLevel() < logging.INFO:
            logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
