"""The admins' side of the bot: `/precoro` itself (its routing, the help, and which subcommands need
an admin), registering and removing approvers (the command and the registration form), the
approver list, `/precoro status` and `resume`, company discovery on and off, the audit log, and a
workspace that leaves (uninstalled, or its bot token revoked).

- `service.py`: `AdminService`, everything above that reads or writes (store, tokens, the
  scheduler's snapshot, Slack profiles); `precoro-bot resume` uses it too;
- `discovery_status.py`: the company discovery lines of `/precoro status` (blocking, database);
- `listeners.py`: `/precoro` and the registration form; the other features' subcommands come in
  as callbacks, wired by `bot/slack/app.py`;
- `leaving_listeners.py`: `app_uninstalled` and `tokens_revoked`;
- `messages.py`: the admins' replies. What the engine tells admins by DM (a token refused,
  discovery lost, a finding) is the platform's `bot/slack/messages/notices.py`.
"""
