"""Stage: monitoring that acts, one business date at a time.

- ``day``: ``monitor_day``, the day's monitoring end to end (metrics, plots, alerts, policy).
- ``window``: the scored applications of the trailing window, read one date at a time.
- ``drift``: score PSI, feature CSI and the Evidently drift report.
- ``performance``: performance estimated from calibrated PDs, realised once labels mature.
- ``portfolio``: roll rates, vintage curves and early delinquency by dealer.
- ``policy``: when monitoring asks for a retraining (once per episode, with a cool-down).
- ``alerts``: the one alert function (stored, de-duplicated, delivered through Apprise).
- ``plots``: the monitoring figures.
"""
