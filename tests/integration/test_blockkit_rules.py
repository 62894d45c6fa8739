"""The Block Kit rules checker: each documented rule refuses what Slack refuses, and lets through
what Slack takes, for messages and views; the Slack stand-in answers with it as Slack does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from precoro_devkit.emulator.blockkit_rules import problems
from precoro_devkit.emulator.slack import SlackStandIn

Json = dict[str, Any]


def text(kind: str, value: str) -> Json:
    return {"type": kind, "text": value}


def button(action_id: str, label: str = "Go", **extra: Any) -> Json:
    return {"type": "button", "action_id": action_id, "text": text("plain_text", label), **extra}


def option(label: str, value: str) -> Json:
    return {"text": text("plain_text", label), "value": value}


def message(*blocks: Json, fallback: str = "hello") -> Json:
    return {"text": fallback, "blocks": list(blocks)}


def section(value: str, **extra: Any) -> Json:
    return {"type": "section", "text": text("mrkdwn", value), **extra}


def modal(*blocks: Json, **extra: Any) -> Json:
    return {"type": "modal", "title": text("plain_text", "Reject"), "submit": text("plain_text", "Reject"),
            "blocks": list(blocks), **extra}


INPUT = {"type": "input", "block_id": "reason", "label": text("plain_text", "Why"),
         "element": {"type": "plain_text_input", "action_id": "reason_input"}}


def test_a_well_formed_message_modal_and_home_pass() -> None:
    select = {"type": "static_select", "action_id": "pick", "options": [option("A", "a"), option("B", "b")],
              "initial_option": option("B", "b")}
    msg = message({"type": "header", "text": text("plain_text", "PO-1")},
                  section("*Total* 5 USD", fields=[text("mrkdwn", "a"), text("mrkdwn", "b")]),
                  {"type": "actions", "block_id": "d",
                   "elements": [button("ok", style="primary"), button("no"), select]},
                  {"type": "context", "elements": [text("mrkdwn", "note")]})
    assert problems(msg, "message") == []
    assert problems(modal(INPUT, callback_id="cb", private_metadata="x"), "modal") == []
    assert problems({"type": "home", "blocks": [section("hi")]}, "home") == []


@pytest.mark.parametrize("hours", [[2, 24], [1, 2, 3]])
def test_two_buttons_with_one_action_id_in_a_block_are_refused(hours: list[int]) -> None:
    """The reminder of issue 23: "Remind me in 2 h" and "in 24 h" shared `precoro_snooze`."""
    same = [button("precoro_snooze", f"Remind me in {h} h", value=f"1:{h}") for h in hours]
    found = problems(message({"type": "actions", "block_id": "remind_1", "elements": same}), "message")
    assert found and all("duplicate action_id 'precoro_snooze'" in p for p in found)
    distinct = [button(f"precoro_snooze_{i}", value=f"1:{h}") for i, h in enumerate(hours)]
    assert problems(message({"type": "actions", "elements": distinct}), "message") == []


def test_the_same_action_id_in_two_blocks_is_allowed() -> None:
    """Slack: unique "among all other action_ids in the containing block", not the message."""
    blocks = [{"type": "actions", "block_id": f"b{i}", "elements": [button("approve")]} for i in range(2)]
    assert problems(message(*blocks), "message") == []


def test_block_ids_are_unique_in_a_message_and_a_view() -> None:
    twice = [section("a", block_id="x"), section("b", block_id="x")]
    assert "duplicate block_id 'x'" in " ".join(problems(message(*twice), "message"))
    assert "duplicate block_id 'x'" in " ".join(problems({"type": "home", "blocks": twice}, "home"))


def test_block_counts_per_surface() -> None:
    assert problems(message(*[section("a")] * 50), "message") == []
    assert problems(message(*[section("a")] * 51), "message")
    assert problems({"type": "home", "blocks": [section("a")] * 100}, "home") == []
    assert problems({"type": "home", "blocks": [section("a")] * 101}, "home")
    assert problems({"type": "home", "blocks": []}, "home"), "a view holds at least one block"


@pytest.mark.parametrize(("block", "limit"), [
    (lambda n: section("x" * n), 3000),
    (lambda n: {"type": "section", "fields": [text("mrkdwn", "x" * n)]}, 2000),
    (lambda n: {"type": "header", "text": text("plain_text", "x" * n)}, 150),
    (lambda n: {"type": "actions", "elements": [button("a", "x" * n)]}, 75),
    (lambda n: {"type": "actions", "elements": [button("a", value="x" * n)]}, 2000),
    (lambda n: {"type": "actions", "elements": [button("a", url="https://x/" + "x" * (n - 10))]}, 3000),
    (lambda n: {"type": "actions", "elements": [{"type": "static_select", "action_id": "s",
                                                 "options": [option("x" * n, "v")]}]}, 75),
    (lambda n: {"type": "actions", "elements": [{"type": "static_select", "action_id": "s",
                                                 "options": [option("o", "v" * n)]}]}, 150),
    (lambda n: {"type": "actions", "elements": [{"type": "static_select", "action_id": "s",
                                                 "placeholder": text("plain_text", "x" * n),
                                                 "options": [option("o", "v")]}]}, 150),
    (lambda n: {"type": "actions", "elements": [button("a", confirm={
        "title": text("plain_text", "x" * n), "text": text("mrkdwn", "t"),
        "confirm": text("plain_text", "y"), "deny": text("plain_text", "n")})]}, 100),
    (lambda n: {"type": "context", "elements": [text("mrkdwn", "x")] * n}, 10),
    (lambda n: {"type": "section", "fields": [text("mrkdwn", "x")] * n}, 10),
    (lambda n: {"type": "actions", "elements": [{"type": "static_select", "action_id": "s",
                                                 "options": [option("o", str(i)) for i in range(n)]}]}, 100),
])
def test_lengths_and_counts_at_and_past_each_limit(block: Any, limit: int) -> None:
    assert problems(message(block(limit)), "message") == []
    assert problems(message(block(limit + 1)), "message")


def test_fallback_text_up_to_40000_characters() -> None:
    assert problems({"text": "x" * 40_000}, "message") == []
    assert problems({"text": "x" * 40_001}, "message")


def test_overflow_takes_two_to_five_options() -> None:
    def overflow(n: int) -> Json:
        return {"type": "actions", "elements": [{"type": "overflow", "action_id": "o",
                                                 "options": [option(str(i), str(i)) for i in range(n)]}]}
    assert [bool(problems(message(overflow(n)), "message")) for n in (1, 2, 5, 6)] == [True, False, False, True]


def test_empty_text_and_mrkdwn_where_only_plain_text_goes() -> None:
    assert problems(message(section("")), "message"), "Slack refuses an empty text object"
    assert problems(message({"type": "header", "text": text("mrkdwn", "PO")}), "message")
    assert problems(message({"type": "actions", "elements": [
        {"type": "button", "action_id": "a", "text": text("mrkdwn", "*Go*")}]}), "message")
    assert problems(message({"type": "section", "text": {"type": "mrkdwn", "text": "a", "emoji": True}}), "message")


def test_initial_option_must_be_one_of_the_options() -> None:
    def select(initial: Json) -> Json:
        return {"type": "actions", "elements": [{"type": "static_select", "action_id": "s",
                                                 "options": [option("A", "a")], "initial_option": initial}]}
    assert problems(message(select(option("A", "a"))), "message") == []
    assert problems(message(select(option("Z", "z"))), "message")


def test_plain_text_input_lengths() -> None:
    def form(**element: Any) -> Json:
        return modal({**INPUT, "element": {"type": "plain_text_input", "action_id": "r", **element}})
    assert problems(form(max_length=3000, initial_value="x" * 3000), "modal") == []
    assert problems(form(max_length=3001), "modal")
    assert problems(form(min_length=5, max_length=4), "modal")
    assert problems(form(max_length=10, initial_value="x" * 11), "modal")


def test_modal_title_submit_close_and_metadata() -> None:
    assert problems(modal(INPUT, title=text("plain_text", "x" * 25)), "modal")
    assert problems(modal(INPUT, close=text("plain_text", "x" * 25)), "modal")
    assert problems({k: v for k, v in modal(INPUT).items() if k != "submit"}, "modal"), "inputs need a submit"
    assert problems(modal(INPUT, private_metadata="x" * 3001), "modal")
    assert problems(modal(INPUT, callback_id="x" * 256), "modal")
    assert problems({"type": "home", "title": text("plain_text", "x"), "blocks": [section("a")]}, "home")


def test_slack_sdk_models_have_their_say() -> None:
    """What only slack_sdk's own models know (here: an unknown style and an unknown block type)."""
    assert problems(message({"type": "actions", "elements": [button("a", style="blue")]}), "message")
    assert problems(message({"type": "no_such_block"}), "message")
    assert problems(message({"type": "actions", "elements": [
        {"type": "datepicker", "action_id": "d", "initial_date": "06/01/2025"}]}), "message")


def test_malformed_payloads_are_problems_not_crashes() -> None:
    for bad in ({"blocks": "nope"}, {"blocks": [1]}, {"blocks": [{"type": "section", "text": "raw"}]},
                {"blocks": [{"type": "actions", "elements": None}]}, {"text": 5}):
        assert problems(bad, "message"), bad
    assert problems(None, "message")


# --- the stand-in answers with the same rules ----------------------------------------------------

@pytest.fixture
def standin() -> SlackStandIn:
    standin = SlackStandIn()
    standin.add_user("U1", "Ann", "ann@example.com")
    return standin


@pytest_asyncio.fixture
async def api(standin: SlackStandIn) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=standin.app), base_url="http://slack",
                                 headers={"Authorization": "Bearer xoxb-test"}) as client:
        yield client


@pytest.mark.asyncio
@pytest.mark.parametrize("method", ["chat.postMessage", "chat.postEphemeral", "chat.update"])
async def test_stand_in_refuses_a_message_as_slack_does(api: httpx.AsyncClient, method: str) -> None:
    ts = (await api.post("/api/chat.postMessage", json={"channel": "C1", "text": "x"})).json()["ts"]
    same = [button("precoro_snooze", f"in {h} h") for h in (2, 24)]
    args = {"channel": "C1", "user": "U1", "ts": ts, "text": "reminder",
            "blocks": [{"type": "actions", "block_id": "remind", "elements": same}]}
    body = (await api.post(f"/api/{method}", json=args)).json()
    assert body["ok"] is False and body["error"] == "invalid_blocks"
    assert body["response_metadata"]["messages"] == [
        "[ERROR] duplicate action_id 'precoro_snooze' in block 0 [json-pointer:/blocks/0/elements/1/action_id]"]


@pytest.mark.asyncio
@pytest.mark.parametrize("method", ["views.open", "views.push", "views.update", "views.publish"])
async def test_stand_in_refuses_a_view_as_slack_does(standin: SlackStandIn, api: httpx.AsyncClient,
                                                     method: str) -> None:
    opened = (await api.post("/api/views.open", json={"trigger_id": standin.issue_trigger_id(),
                                                       "view": modal(INPUT)})).json()["view"]
    kind = "home" if method == "views.publish" else "modal"
    bad = {**modal(INPUT), "type": kind, "blocks": [section("a", block_id="x"), section("b", block_id="x")]}
    if kind == "home":
        bad = {"type": "home", "blocks": bad["blocks"]}
    args = {"trigger_id": standin.issue_trigger_id(), "view_id": opened["id"], "user_id": "U1", "view": bad}
    body = (await api.post(f"/api/{method}", json=args)).json()
    assert body["ok"] is False and body["error"] == "invalid_arguments"
    assert body["response_metadata"]["messages"] == [
        "[ERROR] duplicate block_id 'x' [json-pointer:/view/blocks/1/block_id]"]
