"""Transitional: the data categories live in koordinointi.vocabulary."""

from koordinointi.vocabulary import Category, view_permission

__all__ = ["Category", "view_permission"]
