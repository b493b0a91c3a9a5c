"""Compress to a budget: ``search(model, AutoConfig(latency_b1="0.5x", max_drop=1.0), data)`` tries the methods,
measures every candidate and returns the best one within the budget (``torchshrink auto``, recipe step ``auto``).
"""
from .budget import Budget, Constraint, describe, parse_amount
from .candidate import Candidate, Trunk, recipe_of
from .config import AutoConfig, parse_duration
from .families import FAMILIES
from .search import SearchResult, search
from . import step  # noqa: E402,F401  (registers the recipe step `auto`)

__all__ = ["AutoConfig", "Budget", "Candidate", "Constraint", "FAMILIES", "SearchResult", "Trunk", "describe",
           "parse_amount", "parse_duration", "recipe_of", "search"]
