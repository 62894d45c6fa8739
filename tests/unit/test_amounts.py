"""Amount rules, pure: which documents need a typed confirmation and what counts as one; the
config key that sets them."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.amounts import confirm_limit, confirmation_matches
from bot.config import ConfigError, parse_config
from bot.precoro.models import Document
from tests.support.config import minimal

RULES = (("EUR", Decimal("10000")), ("USD", Decimal("12000")))


def doc(total: str | None, currency: str, idn: str = "PO-1001") -> Document:
    return Document("purchaseorders", 1, idn, total=Decimal(total) if total is not None else None, currency=currency)


def test_only_the_documents_own_currency_counts() -> None:
    assert confirm_limit(RULES, doc("10000.01", "EUR")) == Decimal("10000")
    assert confirm_limit(RULES, doc("10000.00", "EUR")) is None, "at the limit is not above it"
    assert confirm_limit(RULES, doc("11000", "USD")) is None, "the EUR limit is not the USD one"
    assert confirm_limit(RULES, doc("12000.5", "usd")) == Decimal("12000")
    assert confirm_limit(RULES, doc("999999", "GBP")) is None, "no rule for GBP: unaffected"
    assert confirm_limit(RULES, doc(None, "EUR")) is None


@pytest.mark.parametrize("text", ["15000", "15,000", "15,000.00", "15 000 EUR", "EUR 15000.00", "po-1001", " PO-1001 "])
def test_the_amount_or_the_number_confirms(text: str) -> None:
    assert confirmation_matches(text, doc("15000.00", "EUR"))


@pytest.mark.parametrize("text", ["", "1500", "15000.01", "150000", "PO-100", "yes", "15000 USD", "1e4"])
def test_anything_else_does_not(text: str) -> None:
    assert not confirmation_matches(text, doc("15000.00", "EUR"))


def test_config_reads_and_checks_confirm_above() -> None:
    raw = minimal()
    raw["precoro"]["confirm_above"] = {"eur": 10000, "USD": 12000.5}
    company = parse_config(raw, env={}).companies[0]
    assert company.confirm_above == (("EUR", Decimal("10000")), ("USD", Decimal("12000.5")))
    for bad, key in (({"EURO": 5}, "confirm_above.EURO"), ({"EUR": -1}, "confirm_above.EUR"),
                     ({"EUR": "lots"}, "confirm_above.EUR"), ([10000], "confirm_above")):
        raw["precoro"]["confirm_above"] = bad
        with pytest.raises(ConfigError) as err:
            parse_config(raw, env={})
        assert key in str(err.value)
