"""The App Home: each approver's own queue (rendered from the database, no Precoro request) with
paging and "Approve selected", their reminder and digest choices, the admins' section, the other
features' parts (away mode, connect), and "Decided by me" with its filters.

- `service.py`: `HomeService`, gathering and publishing the Home (coalesced per user), the
  controls' changes and "Approve selected" (through the decision service the runtime gives it);
- `extras.py`: `HomeExtras`, the features' parts and "Decided by me" (used by the service);
- `listeners.py`: the tab opened, the checkboxes, "Approve selected", the pager, the reminder and
  digest choices;
- `history_listeners.py`: "Decided by me": its selects, the number input, "Clear filters", pager;
- `messages.py`: the Home view (pure); `history_messages.py`: "Decided by me" (pure).

A document of a queue (`HomeItem`) is `bot.slack.messages.document`'s: the digests list it too.
"""
