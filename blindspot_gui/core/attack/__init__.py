"""Blind-spot search (the paper's box-constrained L-BFGS), its batched solver and the noise companions."""

from blindspot_gui.core.attack.search import AttackConfig, AttackResult, SearchProgress, blindspot_search

__all__ = ["AttackConfig", "AttackResult", "SearchProgress", "blindspot_search"]
