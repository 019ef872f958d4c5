"""Stage: champion/challenger promotion on evidence from the same out-of-time window.

- ``promote``: judge, apply (alias moves under a lock), audit, settle and roll back.
"""
