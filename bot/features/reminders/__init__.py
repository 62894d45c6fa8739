"""Reminders: an approver is reminded of a document that waited too long (in their working
hours), may snooze it, and gets a morning digest of what waits; each approver's own choices (Home
tab) override the configured defaults.

- `rules.py`: when a reminder or the digest is due (the working-time calendar is `bot/workdays.py`);
- `service.py`: `ReminderService`, the run that sends what is due (its own interval job), the
  snooze, and the policy and claims away mode uses (through this module);
- `listeners.py`: the reminder's snooze buttons;
- `messages.py`: the reminder, the digest and the snooze replies.
"""
