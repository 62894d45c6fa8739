"""Every test file sits in a tier folder, and every collected test carries its tier's marker."""

from __future__ import annotations

import pytest

from tests.conftest import TESTS, TIERS


def test_every_test_file_is_in_a_tier_folder() -> None:
    files = [p.relative_to(TESTS) for p in TESTS.rglob("test_*.py")]
    outside = [str(p) for p in files if p.parts[0] not in TIERS]
    assert not outside, f"move these into tests/unit, integration, e2e or faults (git mv): {outside}"


def test_this_test_is_marked_unit(request: pytest.FixtureRequest) -> None:
    assert request.node.get_closest_marker("unit") is not None
    assert not any(request.node.get_closest_marker(t) for t in TIERS if t != "unit")
