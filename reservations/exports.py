"""Spreadsheet exports (UTF-8 CSV for Excel): one way to write a cell that cannot run."""

from __future__ import annotations

# Spreadsheet programs run a cell that starts with one of these as a formula (CSV injection);
# tab and carriage return count too, because Excel drops them and reads what follows.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """`value` as text for a CSV cell, quoted with ' where a spreadsheet would run it."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text
