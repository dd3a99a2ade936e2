"""Consent models (requests, grants, revocations) live here; categories are in categories.py."""

from consent.categories import Category

__all__ = ["Category"]
