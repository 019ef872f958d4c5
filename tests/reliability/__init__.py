"""Reliability and security suite (issue 10): faults, conservation, hostile input, loopback.
Run alone with `pytest -m reliability`."""
