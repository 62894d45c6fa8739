"""The Slack stand-in answers like Slack, and the driver signs like Slack."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import pytest_asyncio
import uvicorn
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from precoro_devkit.emulator.slack import SlackDriver, SlackStandIn, sign

TOKEN = "xoxb-test"
SECRET = "shhh-signing-secret"
BUTTONS = [
    {"type": "section", "text": {"type": "mrkdwn", "text": "*PO-1*"}},
    {"type": "actions", "block_id": "decision", "elements": [
        {"type": "button", "text": {"type": "plain_text", "text": "Approve"},
         "action_id": "precoro_approve", "value": "po:1"},
        {"type": "button", "text": {"type": "plain_text", "text": "Reject"},
         "action_id": "precoro_reject", "value": "po:1"},
    ]},
]
MODAL = {"type": "modal", "callback_id": "precoro_reject_reason", "private_metadata": "po:1",
         "title": {"type": "plain_text", "text": "Reject"},
         "submit": {"type": "plain_text", "text": "Reject"},
         "blocks": [{"type": "input", "block_id": "reason", "label": {"type": "plain_text", "text": "Why"},
                     "element": {"type": "plain_text_input", "action_id": "reason_input"}}]}


def _serve(app: Any) -> Iterator[str]:
    """Serve an ASGI app over real HTTP from a daemon thread; yield its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        sock.close()


@pytest.fixture
def standin() -> SlackStandIn:
    s = SlackStandIn(bot_token=TOKEN)
    s.add_user("U1", "Alice Approver", "alice@example.com")
    return s


@pytest_asyncio.fixture
async def api(standin: SlackStandIn) -> AsyncIterator[httpx.AsyncClient]:
    """The stand-in in-process, as the bot's token would call it."""
    transport = httpx.ASGITransport(app=standin.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://slack.test",
                                 headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        yield client


@pytest.fixture
def served(standin: SlackStandIn) -> Iterator[str]:
    for url in _serve(standin.app):
        standin.base_url = url
        yield url


# --- the Web API half ---------------------------------------------------------------------------

@pytest.mark.asyncio
async def test_async_web_client_works_unchanged(standin: SlackStandIn, served: str) -> None:
    client = AsyncWebClient(token=TOKEN, base_url=f"{served}/api/")
    auth = await client.auth_test()
    assert (auth["user_id"], auth["team_id"]) == ("U0BOT", "T0TEAM")

    posted = await client.chat_postMessage(channel="U1", text="PO-1 waits", blocks=BUTTONS)
    assert posted["channel"] == "DU1"
    updated = await client.chat_update(channel="DU1", ts=posted["ts"], text="approved",
                                       blocks=BUTTONS[:1])
    assert updated["ok"]
    [now] = standin.messages_in("DU1")
    assert (now["text"], now["blocks"]) == ("approved", BUTTONS[:1])

    opened = await client.views_open(trigger_id=standin.issue_trigger_id(), view=MODAL)
    assert opened["view"]["id"] in standin.views
    assert standin.calls_to("views.open")[0].args["view"]["callback_id"] == "precoro_reject_reason"

    user = await client.users_info(user="U1")
    assert user["user"]["profile"]["email"] == "alice@example.com"
    assert user["user"]["tz"] == "Europe/Berlin"
    with pytest.raises(SlackApiError) as err:
        await client.users_info(user="U404")
    assert err.value.response["error"] == "user_not_found"

    found = await client.users_lookupByEmail(email="ALICE@example.com")
    assert found["user"]["id"] == "U1"
    standin.add_user("U9", "Olga Other", "olga@other.example", team_id="T0OTHER")
    for email in ("nobody@example.com", "olga@other.example"):  # only users of the caller's workspace
        with pytest.raises(SlackApiError) as err:
            await client.users_lookupByEmail(email=email)
        assert err.value.response["error"] == "users_not_found"

    standin.fail_next("chat.postMessage")
    with pytest.raises(SlackApiError) as err:
        await client.chat_postMessage(channel="U1", text="again")
    assert err.value.response.status_code == 429
    assert err.value.response.headers["Retry-After"] == "1"
    assert [c.token for c in standin.calls] == [TOKEN] * len(standin.calls)


@pytest.mark.asyncio
async def test_form_body_blocks_are_decoded(standin: SlackStandIn, api: httpx.AsyncClient) -> None:
    r = await api.post("/api/chat.postMessage", data={"channel": "C1", "blocks": json.dumps(BUTTONS)})
    assert r.json()["ok"]
    assert standin.calls_to("chat.postMessage")[0].args["blocks"] == BUTTONS


@pytest.mark.asyncio
async def test_ts_are_unique_and_increasing(api: httpx.AsyncClient) -> None:
    stamps = [(await api.post("/api/chat.postMessage", json={"channel": "C1", "text": "x"})).json()["ts"]
              for _ in range(3)]
    assert stamps[0] == "1700000000.000100"
    assert stamps == sorted(stamps, key=float) and len(set(stamps)) == 3


@pytest.mark.asyncio
async def test_auth_and_unknown_method(standin: SlackStandIn, api: httpx.AsyncClient) -> None:
    for headers in ({"Authorization": "Bearer xoxb-wrong"}, {"Authorization": ""}):
        r = await api.post("/api/auth.test", headers=headers)
        assert r.json() == {"ok": False, "error": "invalid_auth"}
    r = await api.post("/api/chat.explode", json={})
    assert r.json() == {"ok": False, "error": "unknown_method"}
    assert [c.error for c in standin.calls] == ["invalid_auth", "invalid_auth", "unknown_method"]


@pytest.mark.asyncio
async def test_update_and_delete_need_a_posted_message(api: httpx.AsyncClient) -> None:
    r = await api.post("/api/chat.update", json={"channel": "C1", "ts": "1.000100", "text": "x"})
    assert r.json()["error"] == "message_not_found"
    ts = (await api.post("/api/chat.postMessage", json={"channel": "C1", "text": "x"})).json()["ts"]
    r = await api.post("/api/chat.update", json={"channel": "C2", "ts": ts, "text": "y"})
    assert r.json()["error"] == "message_not_found"
    assert (await api.post("/api/chat.delete", params={"channel": "C1", "ts": ts})).json()["ok"]
    assert (await api.post("/api/chat.delete", params={"channel": "C1", "ts": ts})).json()["ok"] is False


@pytest.mark.asyncio
async def test_block_kit_limits_are_enforced(api: httpx.AsyncClient) -> None:
    long_value = {"type": "actions", "elements": [
        {"type": "button", "text": {"type": "plain_text", "text": "A"}, "action_id": "a",
         "value": "v" * 2001}]}
    r = await api.post("/api/chat.postMessage", json={"channel": "C1", "blocks": [long_value]})
    assert r.json()["error"] == "invalid_blocks"
    r = await api.post("/api/chat.postMessage", json={"channel": "C1"})
    assert r.json()["error"] == "no_text"


@pytest.mark.asyncio
async def test_views_need_a_fresh_trigger(standin: SlackStandIn, api: httpx.AsyncClient) -> None:
    assert (await api.post("/api/views.open", json={"view": MODAL})).json()["error"] == "invalid_arguments"
    trigger = standin.issue_trigger_id()
    view = (await api.post("/api/views.open", json={"trigger_id": trigger, "view": MODAL})).json()["view"]
    assert view["private_metadata"] == "po:1"
    r = await api.post("/api/views.push", json={"trigger_id": trigger, "view": MODAL})
    assert r.json()["error"] == "exchanged_trigger_id"
    done = [{"type": "section", "text": {"type": "mrkdwn", "text": "Done"}}]
    r = await api.post("/api/views.update", json={"view_id": view["id"], "view": {**MODAL, "blocks": done}})
    assert r.json()["ok"] and standin.views[view["id"]]["blocks"] == done
    r = await api.post("/api/views.update", json={"view_id": view["id"], "view": {**MODAL, "blocks": []}})
    assert r.json()["error"] == "invalid_arguments", "slack_sdk's View: 1 to 100 blocks"


@pytest.mark.asyncio
async def test_dm_ephemeral_and_response_urls(standin: SlackStandIn, api: httpx.AsyncClient) -> None:
    r = await api.post("/api/conversations.open", params={"users": "U1"})
    assert r.json()["channel"]["id"] == "DU1"
    r = await api.post("/api/chat.postEphemeral", json={"channel": "C1", "user": "U1", "text": "psst"})
    assert r.json()["message_ts"]
    assert [e["text"] for e in standin.ephemerals_for("U1")] == ["psst"]

    ts = (await api.post("/api/chat.postMessage", json={"channel": "C1", "text": "PO-1"})).json()["ts"]
    url = standin.response_url(channel="C1", user_id="U1", ts=ts)
    r = await api.post(url.removeprefix(standin.base_url), json={"replace_original": True, "text": "done"})
    assert r.status_code == 200
    assert standin.messages[("C1", ts)]["text"] == "done"
    assert standin.responses[0].body["text"] == "done"


@pytest.mark.asyncio
async def test_fault_injection_counts_down(standin: SlackStandIn, api: httpx.AsyncClient) -> None:
    standin.fail_next("chat.update", error="ratelimited")
    standin.fail_next("chat.postMessage", error="channel_not_found", count=2)
    for _ in range(2):
        r = await api.post("/api/chat.postMessage", json={"channel": "C1", "text": "x"})
        assert (r.status_code, r.json()["error"]) == (200, "channel_not_found")
    assert (await api.post("/api/chat.postMessage", json={"channel": "C1", "text": "x"})).json()["ok"]
    r = await api.post("/api/chat.update", json={"channel": "C1", "ts": "1", "text": "x"})
    assert (r.status_code, r.headers["retry-after"]) == (429, "1")
    assert r.json() == {"ok": False, "error": "ratelimited"}


@pytest.mark.asyncio
async def test_wait_for_polls_until_state_changes(standin: SlackStandIn, api: httpx.AsyncClient) -> None:
    async def post_later() -> None:
        await asyncio.sleep(0.1)
        await api.post("/api/chat.postMessage", json={"channel": "C9", "text": "late"})

    task = asyncio.create_task(post_later())
    [msg] = await standin.wait_for(lambda: standin.messages_in("C9"), timeout=2)
    assert msg["text"] == "late"
    await task
    with pytest.raises(TimeoutError):
        await standin.wait_for(lambda: standin.messages_in("C404"), timeout=0.05)


# --- the driver half ----------------------------------------------------------------------------

class _FakeBot:
    """Records what reaches /slack/events and checks signatures the way Bolt does."""

    def __init__(self) -> None:
        self.verifier = SignatureVerifier(SECRET)
        self.requests: list[tuple[bytes, dict[str, str]]] = []
        self.app = Starlette(routes=[Route("/slack/events", self._events, methods=["POST"])])

    async def _events(self, request: Request) -> JSONResponse:
        body = await request.body()
        self.requests.append((body, dict(request.headers)))
        if not self.verifier.is_valid_request(body, dict(request.headers)):
            return JSONResponse({"error": "invalid request"}, status_code=401)
        return JSONResponse({})

    def last_form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.requests[-1][0].decode()).items()}

    def last_payload(self) -> dict[str, Any]:
        return json.loads(self.last_form()["payload"])


@pytest.fixture
def bot() -> Iterator[tuple[_FakeBot, str]]:
    fake = _FakeBot()
    for url in _serve(fake.app):
        yield fake, url


def test_sign_matches_slack_sdk() -> None:
    body, ts = b"a=1&b=%7B%7D", "1700000000"
    assert sign(SECRET, ts, body) == SignatureVerifier(SECRET).generate_signature(timestamp=ts, body=body)


@pytest.mark.asyncio
async def test_slash_command_is_signed_and_shaped(standin: SlackStandIn, served: str,
                                                  bot: tuple[_FakeBot, str]) -> None:
    fake, url = bot
    driver = SlackDriver(url, SECRET, standin)
    r = await driver.slash_command("U1", "approvals")
    assert r.status_code == 200
    form = fake.last_form()
    assert (form["command"], form["text"], form["user_id"], form["channel_id"]) == \
        ("/precoro", "approvals", "U1", "DU1")
    assert form["response_url"].startswith(served) and form["trigger_id"]


@pytest.mark.asyncio
async def test_forged_and_stale_requests_are_refused(standin: SlackStandIn,
                                                     bot: tuple[_FakeBot, str]) -> None:
    _, url = bot
    driver = SlackDriver(url, SECRET, standin)
    body = b"command=%2Fprecoro&text=hi"
    form = "application/x-www-form-urlencoded"
    assert (await driver.send(body, form)).status_code == 200
    assert (await driver.send(body, form, signature=sign("wrong", int(time.time()), body))).status_code == 401
    assert (await driver.send(body, form, timestamp=int(time.time()) - 600)).status_code == 401


@pytest.mark.asyncio
async def test_click_and_submit_build_slack_payloads(standin: SlackStandIn, api: httpx.AsyncClient,
                                                     bot: tuple[_FakeBot, str]) -> None:
    fake, url = bot
    driver = SlackDriver(url, SECRET, standin)
    posted = (await api.post("/api/chat.postMessage", json={"channel": "U1", "text": "PO-1",
                                                            "blocks": BUTTONS})).json()
    message = standin.messages[("DU1", posted["ts"])]

    assert (await driver.click("U1", message, "precoro_reject")).status_code == 200
    payload = fake.last_payload()
    assert payload["type"] == "block_actions"
    assert payload["actions"][0] | {"action_ts": None, "text": None} == {
        "action_id": "precoro_reject", "block_id": "decision", "value": "po:1", "type": "button",
        "action_ts": None, "text": None}
    assert payload["container"]["message_ts"] == posted["ts"] and payload["channel"]["id"] == "DU1"
    assert payload["message"]["blocks"] == BUTTONS and payload["user"]["id"] == "U1"
    with pytest.raises(LookupError):
        await driver.click("U1", message, "no_such_button")

    view = (await api.post("/api/views.open", json={"trigger_id": payload["trigger_id"],
                                                    "view": MODAL})).json()["view"]
    values = {"reason": {"reason_input": {"type": "plain_text_input", "value": "too pricey"}}}
    assert (await driver.submit_view("U1", view, values)).status_code == 200
    submitted = fake.last_payload()
    assert submitted["type"] == "view_submission"
    sent = submitted["view"]
    assert (sent["id"], sent["private_metadata"]) == (view["id"], "po:1")
    assert sent["callback_id"] == MODAL["callback_id"]
    assert submitted["view"]["state"]["values"] == values


@pytest.mark.asyncio
async def test_lookup_by_email_finds_users_of_the_callers_workspace_only(standin: SlackStandIn,
                                                                          api: httpx.AsyncClient) -> None:
    standin.add_user("U2", "Other Person", "other@example.com", team_id="T0OTHER")
    found = await api.post("/api/users.lookupByEmail", data={"email": "ALICE@example.com"})
    assert found.json()["ok"] and found.json()["user"]["id"] == "U1"
    for email in ("other@example.com", "nobody@example.com"):  # another workspace's user, or nobody
        r = await api.post("/api/users.lookupByEmail", data={"email": email})
        assert r.json() == {"ok": False, "error": "users_not_found"}
