"""Stage: monitoring that acts, one business date at a time.

- ``day``: ``monitor_day``, the day's monitoring in sequence (measure, write, draw, alert,
  decide, log to MLflow).
- ``context``: the day's typed parts: what it is asked, what each step found, its metric rows
  and its result.
- ``window``: the applications of the trailing window, read one date at a time.
- ``measure``: the day's drift, performance and portfolio steps, each adding metric rows.
- ``drift``: score PSI, feature CSI and the Evidently drift report.
- ``performance``: performance estimated from calibrated PDs, realised once labels mature.
- ``portfolio``: roll rates, vintage curves and early delinquency by dealer.
- ``loss``: the next months' charge-offs projected from the trailing roll rates, and the
  back-test of the projection made that many months ago.
- ``auxiliary``: the auxiliary families judged: the roll-forward model against the next month's
  tape, the EPD model's score drift and realised rate; ``auxiliary_page`` their report section.
- ``conditions``: the alert conditions that hold and their messages; the policy's inputs.
- ``retrain_rules``: when monitoring asks for a response, and which (by the kind of drift), as
  pure rules.
- ``policy``: those rules applied and recorded (once per episode, with a cool-down).
- ``early``: the early-performance target per early-matured vintage and its bridge.
- ``reference``: the drift reference in force, and its reset after a reviewed population shift.
- ``alerts``: the one alert function (stored, de-duplicated, delivered through Apprise).
- ``report``: the day's figures and its summary for people.
- ``plots``: the monitoring figures.
"""
