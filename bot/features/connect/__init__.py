"""Connect: approvers connect their own Precoro key (under `connect_policy: self` or
`self-with-approval`, the admins approving or denying the request), disconnect it, and admins
invite the approvers named in waiting documents to connect themselves.

- `service.py`: `ConnectService`, checking and storing a key, disconnecting, the admins' decision
  and invitations;
- `invitations.py`: finding the unconnected approvers in Slack and inviting each once (used by
  the service);
- `listeners.py`: the Connect and Invite buttons, the connect form, Approve / Deny, and
  `/precoro connect`, `disconnect`, `invite` (handed to `bot/features/admin/listeners.py`);
- `messages.py`: the form, its answers, the admins' request, invitations and their summary.

Tokens themselves (`bot/tokens.py`, which the engine's sync reaches only through the
`bot/sync/tokens.py` protocol that `bot/runtime.py` wires) and the CLI's key rotation
(`bot/keys.py`) are not moved yet.
"""
