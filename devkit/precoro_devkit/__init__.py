"""precoro-bot's dev kit: what runs the bot with no accounts, kept out of the service's package.

- `precoro_devkit.emulator`: the Precoro emulator, the Slack and Socket Mode stand-ins, the local
  stack (`LocalStack`) the tests and `demo` run the real bot in, and the Block Kit rules.
- `precoro_devkit.sim`: `precoro-bot simulate`, the real bot on a virtual clock (the benchmark).
- `precoro_devkit.sandbox`: `precoro-bot sandbox`, the bot behind a local page (sandbox.html).
- `precoro_devkit.demo`: `precoro-bot demo`, one document from waiting to approved.

The service (`bot`) never imports it at import time; `bot/cli.py` imports it inside those commands
and, when it is missing, says how to install it: `pip install -e ./devkit` from a checkout.
"""
