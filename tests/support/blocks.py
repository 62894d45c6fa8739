"""A small Block Kit validator: Slack's limits on blocks, texts and elements, and the escaping of mrkdwn."""

from __future__ import annotations

import re
from typing import Any

BLOCK_TYPES = {"header", "section", "context", "actions", "input", "divider"}
ELEMENT_TYPES = {"button", "plain_text_input"}
# mentions, links and date tokens the bot made
MENTION = re.compile(r"<@[UW][A-Z0-9]+>|<https?://[^|<> ]+\|[^<>|]*>|<!date\^\d+\^[^|<>]+\|[^<>|]+>")
ENTITY = re.compile(r"&(amp|lt|gt);")


def text_obj(obj: Any, limit: int, *, plain_only: bool = False) -> None:
    assert isinstance(obj, dict), obj
    assert obj["type"] in (("plain_text",) if plain_only else ("plain_text", "mrkdwn")), obj
    text = obj["text"]
    assert isinstance(text, str) and text.strip(), obj
    assert len(text) <= limit, (len(text), limit, text[:80])
    if obj["type"] == "mrkdwn":
        escaped(text)


def escaped(text: str) -> None:
    """Outside of user mentions, no raw `<`/`>`, and every `&` starts an entity."""
    rest = MENTION.sub("", text)
    assert "<" not in rest and ">" not in rest, text
    assert "&" not in ENTITY.sub("", rest), text


def _confirm(obj: dict[str, Any]) -> None:
    text_obj(obj["title"], 100, plain_only=True)
    text_obj(obj["text"], 300)
    text_obj(obj["confirm"], 30, plain_only=True)
    text_obj(obj["deny"], 30, plain_only=True)


def _element(el: dict[str, Any], action_ids: list[str]) -> None:
    assert el["type"] in ELEMENT_TYPES, el
    assert 0 < len(el["action_id"]) <= 255
    action_ids.append(el["action_id"])
    if el["type"] == "button":
        text_obj(el["text"], 75, plain_only=True)
        assert len(el.get("value", "")) <= 2000
        assert len(el.get("url", "")) <= 3000
        assert el.get("style", "primary") in ("primary", "danger")
        if "confirm" in el:
            _confirm(el["confirm"])
    else:
        low, high = el.get("min_length", 0), el.get("max_length", 3000)
        assert 0 <= low <= high <= 3000
        assert len(el.get("initial_value", "")) <= high
        if "placeholder" in el:
            text_obj(el["placeholder"], 150, plain_only=True)


def validate_blocks(blocks: list[dict[str, Any]], *, max_blocks: int = 50) -> None:
    assert 0 < len(blocks) <= max_blocks
    action_ids: list[str] = []
    block_ids = [b["block_id"] for b in blocks if "block_id" in b]
    assert len(block_ids) == len(set(block_ids)), block_ids
    for block in blocks:
        kind = block["type"]
        assert kind in BLOCK_TYPES, kind
        assert len(block.get("block_id", "")) <= 255
        if kind == "header":
            text_obj(block["text"], 150, plain_only=True)
        elif kind == "section":
            assert "text" in block or "fields" in block
            if "text" in block:
                text_obj(block["text"], 3000)
            fields = block.get("fields", [])
            assert len(fields) <= 10
            for field in fields:
                text_obj(field, 2000)
        elif kind == "context":
            assert 0 < len(block["elements"]) <= 10
            for el in block["elements"]:
                text_obj(el, 3000)
        elif kind == "actions":
            assert 0 < len(block["elements"]) <= 25
            for el in block["elements"]:
                _element(el, action_ids)
        elif kind == "input":
            text_obj(block["label"], 2000, plain_only=True)
            if "hint" in block:
                text_obj(block["hint"], 2000, plain_only=True)
            assert block["element"]["type"] == "plain_text_input"
            _element(block["element"], action_ids)
    assert len(action_ids) == len(set(action_ids)), action_ids
