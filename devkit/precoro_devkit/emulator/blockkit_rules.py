"""Slack's Block Kit rules as one pure function, shared by the tests and the Slack stand-in.

`problems(payload, surface)` lists every reason real Slack would refuse a message (`surface`
"message": the chat.postMessage / chat.update / chat.postEphemeral arguments) or a view ("modal",
"home": the `view` of views.open / update / push / publish). An empty list means Slack takes it.

Two layers, because neither is enough alone:

1. Slack's own Python models (`slack_sdk.models`): `Block.parse(block)` and `View(**view)`, serialised
   with `to_dict()`, which runs `validate_json()` on every nested object (`validate_json()` alone
   checks one level only) and raises `SlackObjectFormationError` on most length limits;
2. the documented rules those models skip: an `action_id` unique within its block ("Should be
   unique among all other action_ids in the containing block"), a `block_id` unique within the
   message or view, no empty text object, plain_text where Slack allows only that, option and
   overflow counts, a select's `initial_option` among its options, plain_text_input lengths,
   confirm dialogs, a modal's submit when it has inputs, the 40,000 characters of a message's
   fallback `text`.

Sources: docs.slack.dev/reference/block-kit (blocks, block-elements, composition-objects) and
/reference/surfaces (views). Each problem reads like Slack's own answer: "[ERROR] <what>
[json-pointer:<where>]", so the bot's log shows the same line against the stand-in as against Slack.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

Surface = Literal["message", "modal", "home"]
Json = dict[str, Any]

MESSAGE_BLOCKS_MAX = 50
VIEW_BLOCKS_MAX = 100
MESSAGE_TEXT_MAX = 40_000  # Slack truncates past it; the bot keeps its own, lower limit
SECTION_TEXT_MAX = 3000
FIELD_TEXT_MAX = 2000
FIELDS_MAX = 10
HEADER_TEXT_MAX = 150
CONTEXT_ELEMENTS_MAX = 10
ACTIONS_ELEMENTS_MAX = 25
BUTTON_TEXT_MAX = 75
BUTTON_VALUE_MAX = 2000
URL_MAX = 3000
ID_MAX = 255  # action_id, block_id, callback_id, external_id
PLACEHOLDER_MAX = 150
LABEL_MAX = 2000  # input label and hint
OPTION_TEXT_MAX = 75
OPTION_VALUE_MAX = 150
SELECT_OPTIONS_MAX = 100
CHOICE_OPTIONS_MAX = 10  # checkboxes and radio buttons
OVERFLOW_OPTIONS = (2, 5)
INPUT_LENGTH_MAX = 3000  # plain_text_input max_length and initial_value
CONFIRM_TITLE_MAX = 100
CONFIRM_TEXT_MAX = 300
CONFIRM_BUTTON_MAX = 30
MODAL_TEXT_MAX = 24  # title, submit, close
PRIVATE_METADATA_MAX = 3000

_SELECTS = {"static_select", "multi_static_select", "external_select", "multi_external_select",
            "users_select", "multi_users_select", "conversations_select", "multi_conversations_select",
            "channels_select", "multi_channels_select"}
_TEXT_TYPES = {"plain_text", "mrkdwn"}


def problems(payload: Any, surface: Surface) -> list[str]:
    """Every rule of Slack's that `payload` breaks on `surface` (empty: Slack accepts it)."""
    if not isinstance(payload, dict):
        return [_err("must provide an object", "")]
    if surface == "message":
        return _message(payload)
    return _view(payload, surface)


# --- surfaces -----------------------------------------------------------------------------------

def _message(args: Json) -> list[str]:
    found: list[str] = []
    text = args.get("text")
    if text is not None and not isinstance(text, str):
        found.append(_err("must be a string", "/text"))
    elif isinstance(text, str) and len(text) > MESSAGE_TEXT_MAX:
        found.append(_err(f"must be at most {MESSAGE_TEXT_MAX} characters", "/text"))
    if "blocks" in args:
        found += _blocks(args["blocks"], "/blocks", MESSAGE_BLOCKS_MAX)
    return found


def _view(view: Json, surface: Surface) -> list[str]:
    found: list[str] = []
    if view.get("type") != surface:
        found.append(_err(f"type must be {surface!r}", "/view/type"))
    blocks = view.get("blocks")
    found += _blocks(blocks, "/view/blocks", VIEW_BLOCKS_MAX)
    if isinstance(blocks, list) and not blocks:
        found.append(_err("must provide at least 1 block", "/view/blocks"))
    for key, limit in (("callback_id", ID_MAX), ("external_id", ID_MAX),
                       ("private_metadata", PRIVATE_METADATA_MAX)):
        value = view.get(key)
        if value is not None and (not isinstance(value, str) or len(value) > limit):
            found.append(_err(f"must be a string of at most {limit} characters", f"/view/{key}"))
    if surface == "modal":
        if not isinstance(view.get("title"), dict):
            found.append(_err("title is required", "/view/title"))
        for key in ("title", "submit", "close"):
            if key in view:
                found += _text(view[key], f"/view/{key}", MODAL_TEXT_MAX, plain_only=True)
        has_input = any(isinstance(b, dict) and b.get("type") == "input" for b in blocks or [])
        if has_input and "submit" not in view:
            found.append(_err("submit is required when a view has input blocks", "/view/submit"))
    else:
        found += [_err("a Home tab has no title, submit or close", f"/view/{k}")
                  for k in ("title", "submit", "close") if k in view]
    if not found:
        found += _sdk(lambda: View(**view).to_dict(), "/view")
    return found


# --- blocks -------------------------------------------------------------------------------------

def _blocks(blocks: Any, where: str, limit: int) -> list[str]:
    if not isinstance(blocks, list):
        return [_err("must provide an array", where)]
    found = [_err(f"no more than {limit} items allowed", where)] if len(blocks) > limit else []
    block_ids: set[str] = set()
    for i, block in enumerate(blocks):
        at = f"{where}/{i}"
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            found.append(_err("must provide an object with a type", at))
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            if not isinstance(block_id, str) or not 0 < len(block_id) <= ID_MAX:
                found.append(_err(f"block_id must be 1..{ID_MAX} characters", f"{at}/block_id"))
            elif block_id in block_ids:
                found.append(_err(f"duplicate block_id {block_id!r}", f"{at}/block_id"))
            else:
                block_ids.add(block_id)
        own = _block(block, at)
        found += own
        if not own:  # Slack's models on a block our rules let through (their errors are less precise)
            found += _sdk(lambda b=block: _parsed(b).to_dict(), at)
    return found


def _parsed(block: Json) -> Block:
    parsed = Block.parse(block)
    if parsed is None:
        raise SlackObjectFormationError(f"unknown block type {block.get('type')!r}")
    return parsed


def _block(block: Json, at: str) -> list[str]:
    kind = block["type"]
    found: list[str] = []
    if kind == "header":
        found += _text(block.get("text"), f"{at}/text", HEADER_TEXT_MAX, plain_only=True)
    elif kind == "section":
        if "text" not in block and "fields" not in block:
            found.append(_err("a section needs text or fields", at))
        if "text" in block:
            found += _text(block["text"], f"{at}/text", SECTION_TEXT_MAX)
        fields = block.get("fields")
        if fields is not None and (not isinstance(fields, list) or not 0 < len(fields) <= FIELDS_MAX):
            found.append(_err(f"fields must be 1..{FIELDS_MAX} text objects", f"{at}/fields"))
        elif fields is not None:
            for j, obj in enumerate(fields):
                found += _text(obj, f"{at}/fields/{j}", FIELD_TEXT_MAX)
        if "accessory" in block:
            found += _element(block["accessory"], f"{at}/accessory")
    elif kind == "context":
        elements = block.get("elements")
        if not isinstance(elements, list) or not 0 < len(elements) <= CONTEXT_ELEMENTS_MAX:
            found.append(_err(f"elements must be 1..{CONTEXT_ELEMENTS_MAX} items", f"{at}/elements"))
        else:
            for j, obj in enumerate(elements):
                if isinstance(obj, dict) and obj.get("type") in _TEXT_TYPES:
                    found += _text(obj, f"{at}/elements/{j}", SECTION_TEXT_MAX)
    elif kind == "actions":
        elements = block.get("elements")
        if not isinstance(elements, list) or not 0 < len(elements) <= ACTIONS_ELEMENTS_MAX:
            found.append(_err(f"elements must be 1..{ACTIONS_ELEMENTS_MAX} items", f"{at}/elements"))
        else:
            for j, element in enumerate(elements):
                found += _element(element, f"{at}/elements/{j}")
    elif kind == "input":
        found += _text(block.get("label"), f"{at}/label", LABEL_MAX, plain_only=True)
        if "hint" in block:
            found += _text(block["hint"], f"{at}/hint", LABEL_MAX, plain_only=True)
        found += _element(block.get("element"), f"{at}/element")
    found += _unique_action_ids(block, at)
    return found


def _unique_action_ids(block: Json, at: str) -> list[str]:
    """An action_id is unique among the action_ids of its block (Slack refuses the payload)."""
    seen: set[str] = set()
    found: list[str] = []
    for path, element in _interactive(block, at):
        action_id = element.get("action_id")
        if action_id is None:
            continue
        if action_id in seen:
            found.append(_err(f"duplicate action_id {action_id!r} in block {at.rsplit('/', 1)[-1]}",
                              f"{path}/action_id"))
        seen.add(action_id)
    return found


def _interactive(block: Json, at: str) -> Iterator[tuple[str, Json]]:
    if block.get("type") in ("actions", "context_actions") and isinstance(block.get("elements"), list):
        for j, element in enumerate(block["elements"]):
            if isinstance(element, dict):
                yield f"{at}/elements/{j}", element
    for key in ("accessory", "element"):
        if isinstance(block.get(key), dict):
            yield f"{at}/{key}", block[key]


# --- elements -----------------------------------------------------------------------------------

def _element(element: Any, at: str) -> list[str]:
    if not isinstance(element, dict) or not isinstance(element.get("type"), str):
        return [_err("must provide an element object with a type", at)]
    kind = element["type"]
    found: list[str] = []
    action_id = element.get("action_id")
    if action_id is not None and (not isinstance(action_id, str) or not 0 < len(action_id) <= ID_MAX):
        found.append(_err(f"action_id must be 1..{ID_MAX} characters", f"{at}/action_id"))
    if "placeholder" in element:
        found += _text(element["placeholder"], f"{at}/placeholder", PLACEHOLDER_MAX, plain_only=True)
    if "confirm" in element:
        found += _confirm(element["confirm"], f"{at}/confirm")
    if kind == "button":
        found += _text(element.get("text"), f"{at}/text", BUTTON_TEXT_MAX, plain_only=True)
        found += _string(element, "value", BUTTON_VALUE_MAX, at)
        found += _string(element, "url", URL_MAX, at)
        if element.get("style") not in (None, "primary", "danger"):
            found.append(_err("style must be primary or danger", f"{at}/style"))
    elif kind == "overflow":
        found += _options(element.get("options"), f"{at}/options", OVERFLOW_OPTIONS, plain_only=True)
    elif kind in ("checkboxes", "radio_buttons"):
        found += _options(element.get("options"), f"{at}/options", (1, CHOICE_OPTIONS_MAX), plain_only=False)
        found += _initial(element, at)
    elif kind in _SELECTS:
        static = "options" in element or kind in ("static_select", "multi_static_select")
        if static and "option_groups" not in element:
            found += _options(element.get("options"), f"{at}/options", (1, SELECT_OPTIONS_MAX),
                                  plain_only=True)
        found += _initial(element, at)
    elif kind == "plain_text_input":
        found += _text_input(element, at)
    return found


def _text_input(element: Json, at: str) -> list[str]:
    low, high = element.get("min_length", 0), element.get("max_length", INPUT_LENGTH_MAX)
    if not (isinstance(low, int) and isinstance(high, int) and 0 <= low <= high <= INPUT_LENGTH_MAX):
        return [_err(f"min_length and max_length must be 0 <= min <= max <= {INPUT_LENGTH_MAX}", at)]
    initial = element.get("initial_value")
    if initial is not None and (not isinstance(initial, str) or len(initial) > high):
        return [_err(f"initial_value must be at most {high} characters", f"{at}/initial_value")]
    return []


def _options(options: Any, at: str, count: tuple[int, int], *, plain_only: bool) -> list[str]:
    low, high = count
    if not isinstance(options, list) or not low <= len(options) <= high:
        return [_err(f"must provide {low}..{high} options", at)]
    found: list[str] = []
    values: set[str] = set()
    for j, option in enumerate(options):
        where = f"{at}/{j}"
        if not isinstance(option, dict):
            found.append(_err("must provide an option object", where))
            continue
        found += _text(option.get("text"), f"{where}/text", OPTION_TEXT_MAX, plain_only=plain_only)
        if "description" in option:
            found += _text(option["description"], f"{where}/description", OPTION_TEXT_MAX, plain_only=plain_only)
        value = option.get("value")
        if not isinstance(value, str) or not 0 < len(value) <= OPTION_VALUE_MAX:
            found.append(_err(f"value must be 1..{OPTION_VALUE_MAX} characters", f"{where}/value"))
        elif value in values:
            found.append(_err(f"duplicate option value {value!r}", f"{where}/value"))
        else:
            values.add(value)
        found += _string(option, "url", URL_MAX, where)
    return found


def _initial(element: Json, at: str) -> list[str]:
    """A select's or choice's initial option(s) must be among its options (Slack compares them whole)."""
    options = element.get("options")
    if not isinstance(options, list):
        return []
    chosen = [element["initial_option"]] if "initial_option" in element else element.get("initial_options", [])
    if not isinstance(chosen, list):
        return [_err("initial_options must be an array", f"{at}/initial_options")]
    return [_err("initial option must be one of the options", f"{at}/initial_option")
            for option in chosen if option not in options]


def _confirm(obj: Any, at: str) -> list[str]:
    if not isinstance(obj, dict):
        return [_err("must provide a confirm object", at)]
    return [*_text(obj.get("title"), f"{at}/title", CONFIRM_TITLE_MAX, plain_only=True),
            *_text(obj.get("text"), f"{at}/text", CONFIRM_TEXT_MAX),
            *_text(obj.get("confirm"), f"{at}/confirm", CONFIRM_BUTTON_MAX, plain_only=True),
            *_text(obj.get("deny"), f"{at}/deny", CONFIRM_BUTTON_MAX, plain_only=True)]


# --- text objects -------------------------------------------------------------------------------

def _text(obj: Any, at: str, limit: int, *, plain_only: bool = False) -> list[str]:
    """A text object: plain_text (or mrkdwn where allowed), 1..`limit` characters."""
    if not isinstance(obj, dict):
        return [_err("must provide a text object", at)]
    kind = obj.get("type")
    allowed = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
    if kind not in allowed:
        return [_err(f"type must be {' or '.join(allowed)}", f"{at}/type")]
    if "emoji" in obj and kind != "plain_text":
        return [_err("emoji is allowed on plain_text only", f"{at}/emoji")]
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        return [_err("must be more than 0 characters", f"{at}/text")]
    if len(text) > limit:
        return [_err(f"must be less than {limit + 1} characters", f"{at}/text")]
    return []


def _string(obj: Json, key: str, limit: int, at: str) -> list[str]:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, str) or not 0 < len(value) <= limit:
        return [_err(f"{key} must be 1..{limit} characters", f"{at}/{key}")]
    return []


# --- helpers ------------------------------------------------------------------------------------

def _sdk(validate: Any, at: str) -> list[str]:
    """Slack's own model's verdict: its `SlackObjectFormationError` (or a shape it cannot read)."""
    try:
        validate()
    except SlackObjectFormationError as exc:
        return [_err(f"slack_sdk: {exc}", at)]
    except (TypeError, ValueError, AttributeError, KeyError) as exc:  # a shape the model cannot read
        return [_err(f"slack_sdk cannot read it ({type(exc).__name__}: {exc})", at)]
    return []


def _err(what: str, where: str) -> str:
    return f"[ERROR] {what} [json-pointer:{where or '/'}]"
