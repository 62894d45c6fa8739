"""One folder per feature, over the thin Slack platform (`bot/slack`) and the engine
(`bot/precoro`, `bot/quota`, `bot/store`, `bot/sync`).

Each feature has the same roles:

- `rules.py`: pure decisions (no I/O; the instant comes in as an argument);
- `service.py`: the I/O (store, Precoro clients, notifier), built by `bot/runtime.py`;
- `listeners.py`: `register(app, service)`, the Bolt listeners, which take their own feature's
  service (never the whole Runtime) and never call the store;
- `messages.py`: what people read, as Block Kit or mrkdwn. Pure.

A feature uses another one only through that feature's `service` module; the platform never
imports a feature (`bot/slack/app.py` registers their listeners, `bot/runtime.py` wires them).
`tests/unit/test_layers.py` checks these rules.
"""
