"""Approving and rejecting from Slack: the Approve / Reject buttons, "Approve with comment", the
reject-reason and comment forms, and the typed confirmation a company's amount rule asks for
above its limit.

- `service.py`: `DecisionService`, the one decision path (authorization, the durable outbox, the
  POST with the clicker's own token, the message's new state); the Home's "Approve selected"
  decides through it too, and the engine's tick retries due decisions through it as a
  `bot.sync.scheduler.DueDecisions` (a protocol: the engine never imports a feature);
- `amount_hold.py`: which document its company's amount rule holds back (blocking, database);
- `listeners.py`: the buttons and forms; `amount_listeners.py`: the amount confirmation form;
- still outside the folder (`NOT_YET_MOVED`): the pure rule `bot/amounts.py`, which the
  platform's notifier also reads, and the amount texts `bot/slack/messages/amounts.py`, which the
  Home shows too.
"""
