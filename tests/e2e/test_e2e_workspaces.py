"""Several Slack workspaces on one deployment: Slack's OAuth install flow, each workspace's bot
token sealed in the database and used for that workspace only.

The Slack stand-in plays Slack's side of the flow (`oauth.v2.access`) and, like Slack, refuses a
DM to a user of another workspace, so a message that arrives was sent with the right token.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text

from bot.slack.installations import EncryptedInstallationStore, rotate_slack_tokens, unreadable_slack_tokens
from bot.vault import Vault, generate_key
from precoro_devkit.emulator.slack import SlackDriver, dm_channel
from precoro_devkit.emulator.stack import ADMIN, SLACK_USERS, TEAM, LocalStack
from tests.support.stack import install

pytestmark = pytest.mark.asyncio

ALICE = SLACK_USERS["alice"]
OTHER_TEAM, OTHER_ADMIN, ZED = "T0OTHER", "U0ADMIN2", "U0ZED"


@pytest.fixture
def stack(database_url: str) -> Iterator[LocalStack]:
    stack = LocalStack.start(database_url, **{
        "slack.bot_token": "", "slack.admins": [ADMIN, OTHER_ADMIN], "precoro.slack_teams": [TEAM, OTHER_TEAM],
        "slack.oauth": {"client_id": "1111.2222", "client_secret": "standin-client-secret",
                        "authorize_url": "https://slack.test/oauth/v2/authorize"}})
    stack.slack.add_user(OTHER_ADMIN, "Olga Admin", "olga@other.example", team_id=OTHER_TEAM)
    stack.slack.add_user(ZED, "Zed Zee", "zed@example.com", team_id=OTHER_TEAM)
    try:
        yield stack
    finally:
        stack.stop()


async def test_each_workspace_installs_the_app_and_gets_messages_with_its_own_token(stack: LocalStack) -> None:
    await stack.driver.slash_command(ADMIN, "help")
    await stack.slack.wait_for(lambda: any("not installed in this Slack workspace" in r.body.get("text", "")
                                           for r in stack.slack.responses))

    assert (await install(stack, TEAM)).status_code == 200
    assert (await install(stack, OTHER_TEAM)).status_code == 200
    with stack.runtime.store.engine.connect() as conn:
        sealed = conn.execute(text("SELECT team_id, bot_token FROM slack_bots")).all()
    assert {team for team, _ in sealed} == {TEAM, OTHER_TEAM}
    assert all(token.startswith("v1.") for _, token in sealed), "bot tokens are encrypted at rest"

    zed = stack.precoro.add_user("acme", "Zed Zee", "zed@example.com", "acme-zed-token")
    stack.precoro.add_document("acme", "invoices", stack.users["admin"].id, [[zed.id]], sum="77.00")
    other = SlackDriver(stack.bot_url, stack.signing_secret, stack.slack, team_id=OTHER_TEAM)
    await stack.register("alice")
    await other.slash_command(OTHER_ADMIN, f"register <@{ZED}> zed@example.com acme-zed-token")

    def dms_to(user: str) -> list[str]:
        return [str(m.get("text")) for m in stack.slack.messages_in(dm_channel(user)) if m.get("blocks")]

    await stack.slack.wait_for(lambda: dms_to(ALICE) and dms_to(ZED))
    teams = {(c.args.get("channel"), stack.slack.team_of_token(c.token))
             for c in stack.slack.calls_to("chat.postMessage") if c.error is None}
    assert (ALICE, TEAM) in teams and (ZED, OTHER_TEAM) in teams
    assert all(c.token != "xoxb-test" for c in stack.slack.calls), "no configured token in OAuth mode"


async def test_an_install_with_a_forged_state_is_refused(stack: LocalStack) -> None:
    answer = await install(stack, TEAM, state="forged-state")
    assert answer.status_code == 400
    with stack.runtime.store.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM slack_bots")).scalar() == 0


async def test_rotate_keys_reseals_the_workspace_tokens(stack: LocalStack) -> None:
    assert (await install(stack, TEAM)).status_code == 200
    engine, new_key = stack.runtime.store.engine, generate_key()
    only_new, both = Vault([("k2", new_key)]), Vault([("k2", new_key), ("k1", stack.key)])
    assert unreadable_slack_tokens(engine, only_new) == [TEAM], "the old key is still needed"

    rotated, unreadable = rotate_slack_tokens(engine, both)
    assert rotated >= 2 and unreadable == 0  # the installation's and the bot's row
    assert unreadable_slack_tokens(engine, only_new) == []
    bot = await EncryptedInstallationStore("1111.2222", engine, only_new).async_find_bot(enterprise_id=None,
                                                                                           team_id=TEAM)
    assert bot is not None and stack.slack.team_of_token(bot.bot_token) == TEAM
    assert rotate_slack_tokens(engine, both) == (0, 0), "nothing left to re-seal"


async def test_an_uninstalled_workspace_is_forgotten(stack: LocalStack) -> None:
    assert (await install(stack, OTHER_TEAM)).status_code == 200
    other = SlackDriver(stack.bot_url, stack.signing_secret, stack.slack, team_id=OTHER_TEAM)
    answer = await other.event({"type": "app_uninstalled"})
    assert answer.status_code == 200

    def stored() -> int:
        with stack.runtime.store.engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM slack_bots WHERE team_id = :t"),
                                    {"t": OTHER_TEAM}).scalar() or 0)

    await stack.slack.wait_for(lambda: stored() == 0)
    await other.slash_command(OTHER_ADMIN, "help")
    await stack.slack.wait_for(lambda: any("not installed in this Slack workspace" in r.body.get("text", "")
                                           for r in stack.slack.responses))
