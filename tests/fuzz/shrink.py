"""Shrinking a failing program: drop calls one at a time while it still fails, until no call can go."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

REGRESSIONS = Path(__file__).with_name("regressions.json")


def shrink(program: dict, fails: Callable[[dict], bool], budget: int = 200) -> dict:
    """The smallest program found (by dropping calls) for which `fails` still holds; `budget` caps the runs."""
    best = program
    changed = True
    while changed and budget > 0:
        changed = False
        for i in reversed(range(len(best["calls"]))):
            if budget <= 0:
                break
            candidate = {**best, "calls": best["calls"][:i] + best["calls"][i + 1 :]}
            budget -= 1
            if fails(candidate):
                best, changed = candidate, True
    return best


def load_regressions() -> list[dict]:
    """Shrunk programs that once failed, with what they found ("found") and the fix ("fixed")."""
    return json.loads(REGRESSIONS.read_text()) if REGRESSIONS.is_file() else []
