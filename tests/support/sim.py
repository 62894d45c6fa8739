"""What every short simulated run must show."""

from __future__ import annotations


def assert_clean(result) -> None:  # type: ignore[no-untyped-def]
    assert result.too_many == 0
    assert result.errors == []
    assert result.arrivals > 20
    assert result.unposted == 0  # every document of the measured window was posted...
    assert result.duplicate_posts == 0  # ...exactly once
    assert result.ledger_missing == 0  # every request Precoro saw is in the ledger
