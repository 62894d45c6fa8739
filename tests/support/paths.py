"""Paths the tests read: the repository root, the recorded data in tests/data and the public
evidence of Precoro's answers in tests/contract/precoro."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
CONTRACT = ROOT / "tests" / "contract" / "precoro"
