"""Kept only while two stages still import scoring's model helpers from here (promotion:
``CHAMPION``, ``SHADOW``, ``model_specs``; training: ``scoring_policy``): they live in
``pipelines.scoring.models``. Delete this module once those imports point there."""

from pipelines.scoring.models import CHAMPION, SHADOW, model_specs, scoring_policy

__all__ = ["CHAMPION", "SHADOW", "model_specs", "scoring_policy"]
