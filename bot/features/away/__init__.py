"""Away mode: an approver away until a day (in their own time zone) gets no reminder and no
digest; a covering colleague gets a daily FYI digest, and one return digest lists what arrived.

- `rules.py`: is an approver away at an instant, reading the day they give;
- `service.py`: `AwayService`, setting and ending a period, the Home's "Away" part, and the sends
  the reminder run asks for each approver who has a period;
- `listeners.py`: `/precoro away …`, `/precoro back` and the Home's date picker, colleague select
  and "I'm back" button;
- `messages.py`: the replies, the Home's part, the FYI and return digests.
"""
