"""Seed and scale data generators (manage.py seed_demo, seed_scale): not domain core; no core
module imports them (import contract in pyproject.toml)."""
