"""The experiments' headlines at their full budget, measured once (scripts/full_budget.py) and kept
with the package: the report at the quick budget shows each beside its own, since a network trained
in seconds on a few hundred images can tell another story than the full experiment."""

from __future__ import annotations

import json
from pathlib import Path

RECORD = Path(__file__).with_name("full_budget.json")


def full_budget_note(name: str) -> str:
    """ "; at the full budget (HARDWARE, DATE): HEADLINE" for experiment `name`, or "" when no
    full-budget record holds it."""
    try:
        record = json.loads(RECORD.read_text())
        return (f"; at the full budget ({record['hardware']}, {record['date']}): "
                f"{record['headlines'][name]['text']}")  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError):
        return ""
