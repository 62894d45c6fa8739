"""Outcomes: the requester hears by DM that their document was approved, rejected (with the
reason) or sent back, once per outcome; the finance channel gets a line per final decision and
per document waiting too long. Per company opt-in (`notify_requesters`, `finance_channel`).

- `rules.py`: which status is an outcome, its reason and decider, may an approval be the last
  step, the finance channel's threshold and waiting time;
- `service.py`: `OutcomeService`, the paths that learn an outcome (hooks the runtime wires into
  decisions, discovery and the poller), telling the requester, muting;
- `finance.py`: `FinanceService`, the finance channel's threaded lines (used by the service);
- `listeners.py`: the DM's Mute button and `/precoro mute-outcomes` / `unmute-outcomes`;
- `messages.py`: the outcome DM, the finance lines, the replies and the status line.
"""
