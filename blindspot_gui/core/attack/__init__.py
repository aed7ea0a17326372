"""Blind-spot search (the paper's box-constrained L-BFGS): settings, objective, engines, batched solver, noise, transfer, 8-bit export."""

from blindspot_gui.core.attack.search import AttackConfig, AttackResult, SearchProgress, blindspot_search

__all__ = ["AttackConfig", "AttackResult", "SearchProgress", "blindspot_search"]
