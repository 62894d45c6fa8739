"""The admin's lines about the bot's share of Precoro's quota and other integrations' use of it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.slack.messages.text import format_span, slack_time

_THIS = {3600.0: "this hour", 86400.0: "today", 60.0: "this minute"}


def share_status_text(share: float, limits: Sequence[tuple[float, int, int]],
                      outside: tuple[float, float, datetime] | None) -> str:
    """The bot's share (`limits`: window seconds, the bot's limit, Precoro's limit, per window of a
    minute or more) and, when a 429 showed another integration at work (`outside`: the window,
    its requests then, when), how much it used: the bot then keeps below what is left."""
    caps = " · ".join(f"{mine:,} of {theirs:,} per {format_span(sec)}" for sec, mine, theirs in limits)
    line = f"The bot uses at most {share:.0%} of Precoro's limits: {caps}."
    if outside is not None:
        seconds, requests, at = outside
        when = _THIS.get(seconds, f"in {format_span(seconds)}")
        line += (f"\n:busts_in_silhouette: Another integration used about {requests:,.0f} requests {when} "
                 f"(Precoro said so with a 429 at {slack_time(at)} while the bot was within its share): "
                 "the bot uses less until that wears off.")
    return line
