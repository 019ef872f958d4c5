"""creditflow: stages as plain functions."""
