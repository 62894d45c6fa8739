"""Helpers shared by the test tiers (imported by tests; no tests here).

- `paths`: the repository root and `tests/data`.
- `config`: the smallest valid config and one-key variations of it.
- `blocks`: a Block Kit validator (Slack's limits, mrkdwn escaping).
- `views`: Home items and view text for the pure view tests.
- `slack`: what a person reads in the Slack stand-in (message text, buttons, DMs, Home, modals).
- `stack`: driving the real bot of a `LocalStack` (registering, discovery, reminders, installs, quiet).
- `sim`: the invariants every simulated run must keep.
"""
