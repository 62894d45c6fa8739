"""The sandbox page in a real browser (issue 23): a headless Chromium drives `precoro-bot sandbox`
as a person would. Add a document, see the direct message drawn as Slack draws it (bold, emoji,
the person's name for `<@U…>`, the date in the viewer's zone, fields in two columns, green and red
buttons), Approve, Reject with a reason, Approve with comment, and see a form's errors by its
field. The browser's console must stay free of errors; a screenshot is kept in test-artifacts/.

Needs Debian's `chromium` and `chromium-driver` (scripts/test installs them when run as root);
without them the tests skip, unless BOT_TEST_REQUIRE_BROWSER=1 (set by scripts/test) makes that a
failure.
"""

from __future__ import annotations

import ast
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from precoro_devkit.emulator.process import free_port
from tests.support.paths import ROOT
from tests.support.webdriver import Chromium, find_browser

ARTIFACTS = ROOT / "test-artifacts"
ZONE = "America/New_York"  # the viewer's zone: neither the server's (UTC) nor the demo users' (Berlin)
HOSTILE_SUPPLIER = '<img src=x onerror="window.pwned=1"> & <b>Co</b>'


@pytest.fixture(scope="module")
def browser() -> Iterator[Chromium]:
    found = find_browser()
    if found is None:
        reason = ("no headless Chromium: install Debian's chromium and chromium-driver "
                  "(scripts/test does when run as root)")
        if os.environ.get("BOT_TEST_REQUIRE_BROWSER") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    chromium = Chromium.start(*found, tz=ZONE)
    yield chromium
    chromium.quit()


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = tmp_path_factory.mktemp("sandbox") / "sandbox.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "bot", "sandbox", "--port", str(port)], stdout=out,
                                stderr=subprocess.STDOUT, cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                if httpx.get(f"{url}/api/state", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield url
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, log.read_text()
        assert "Traceback" not in log.read_text(), log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def _no_js_errors(browser: Chromium) -> None:
    errors = [e for e in browser.console() if e.get("level") == "SEVERE"]
    assert not errors, errors


def _column(browser: Chromium, user: str) -> str:
    return browser.wait(lambda: browser.find(f'.user[data-user="{user}"]'), message=f"no column for {user}")


def _message(browser: Chromium, user: str, idn: str, *, containing: str = "") -> str:
    """The top-level DM of `user` about document `idn` (once its text contains `containing`)."""
    def found() -> str | None:
        for msg in browser.find_all(f'.user[data-user="{user}"] .messages .msg:not(.reply)'):
            shown = browser.text(msg)
            if idn in shown and containing in shown:
                return msg
        return None
    return browser.wait(found, timeout=45, message=f"no message about {idn} with {containing!r} for {user}")


def _add_document(browser: Chromium, user: str, amount: str, supplier: str = "Sandbox Supplies") -> str:
    """Precoro side of the page: pick the approver, type the amount (and supplier), click Add."""
    browser.click(browser.find(f'#approver option:nth-child({["alice", "bob", "carol"].index(user) + 1})'))
    for field, value in (("#amount", amount), ("#supplier", supplier)):
        browser.clear(browser.find(field))
        browser.type(browser.find(field), value)
    before = browser.text(browser.find("#added"))
    browser.click(browser.find("#add"))
    added = browser.wait(lambda: (t := browser.text(browser.find("#added"))) != before and t)
    match = re.search(r"added (\S+);", added)
    assert match, added
    return match.group(1)


def _form(browser: Chromium, user: str, title: str) -> str:
    def found() -> str | None:
        form = browser.find(f'.user[data-user="{user}"] .form .modal')
        return form if form and title in browser.text(browser.find(".title", form)) else None
    return browser.wait(found, message=f"no form {title!r} for {user}")


def _submit(browser: Chromium, form: str) -> None:
    browser.click(browser.find('[data-role="submit"]', form))


def _error_by(browser: Chromium, form: str, block_id: str) -> str:
    return browser.text(browser.find(f'[data-error-for="{block_id}"]', form))


def _style(browser: Chromium, element: str, prop: str) -> str:
    return str(browser.execute("return getComputedStyle(arguments[0])[arguments[1]]", browser.ref(element), prop))


def _expected_time(epoch: int) -> tuple[str, str]:
    """How `{time}` reads in the viewer's zone: ("2:05", "PM") for en-US."""
    local = datetime.fromtimestamp(epoch, ZoneInfo(ZONE))
    return f"{local.hour % 12 or 12}:{local.minute:02d}", "AM" if local.hour < 12 else "PM"


def test_document_message_reads_as_in_slack(browser: Chromium, sandbox: str) -> None:
    browser.open(sandbox)
    _column(browser, "alice")
    idn = _add_document(browser, "alice", "1234.50", HOSTILE_SUPPLIER)
    msg = _message(browser, "alice", idn)
    shown = browser.text(msg)

    # Markup drawn, not shown: no raw mentions, date tokens, shortcodes, asterisks around labels.
    for raw in ("<@U", "<!date", ":white_check_mark:", ":arrow_forward:", "*Supplier*", "&lt;", "&amp;"):
        assert raw not in shown, (raw, shown)
    labels = [browser.text(b) for b in browser.find_all(".fields b", msg)]
    assert {"Requester", "Supplier", "Total"} <= set(labels), labels
    # Outside text is text: the hostile supplier is shown as typed, and no element came of it.
    # Shown as the literal text Slack would show: the bot neutralises outside text (a look-alike
    # dot keeps `window.pwned` from being auto-linked), so compare through that one substitution.
    assert HOSTILE_SUPPLIER in shown.replace("\u2024", "."), shown
    assert not browser.find_all("img", msg) and browser.execute("return window.pwned === undefined")
    # Section fields in two columns: Requester and Supplier side by side.
    fields = browser.find_all(".fields > div", msg)
    first, second = (browser.execute("const r = arguments[0].getBoundingClientRect(); return [r.top, r.left]",
                                      browser.ref(f)) for f in fields[:2])
    assert first[0] == second[0] and first[1] < second[1], (first, second)
    # Styled buttons: Approve green (primary), Reject red (danger), the others plain.
    approve = browser.find('[data-action-id="precoro_approve"]', msg)
    reject = browser.find('[data-action-id="precoro_reject"]', msg)
    assert _style(browser, approve, "backgroundColor") == "rgb(0, 122, 90)"
    assert _style(browser, reject, "backgroundColor") == "rgb(224, 30, 90)"
    assert _style(browser, browser.find('[data-action-id="precoro_approve_comment"]', msg),
                  "backgroundColor") == "rgb(255, 255, 255)"

    # Approve asks first (the button's confirm), as Slack does; then the message says who and when.
    browser.click(approve)
    dialog = browser.wait(lambda: browser.find("#overlay.open .dialog"))
    assert idn in browser.text(dialog)
    browser.click(browser.find('[data-confirm="yes"]', dialog))
    msg = _message(browser, "alice", idn, containing="Approved by")
    shown = browser.text(msg)
    assert "\u2705 Approved by @Alice Archer at today, " in shown, shown
    assert not browser.find_all('[data-action-id="precoro_approve"]', msg)
    when = browser.find("time", msg)
    epoch = int(datetime.fromisoformat(str(browser.execute("return arguments[0].getAttribute('datetime')",
                                                           browser.ref(when))).replace("Z", "+00:00")).timestamp())
    clock, half = _expected_time(epoch)
    assert clock in browser.text(when) and half in browser.text(when), (browser.text(when), clock, half)
    assert browser.find(".mention", msg)
    _no_js_errors(browser)


def test_approve_reject_and_comment_forms(browser: Chromium, sandbox: str) -> None:
    browser.open(sandbox)
    _column(browser, "bob")

    # Approve (one click and the confirmation).
    first = _add_document(browser, "bob", "42.00")
    msg = _message(browser, "bob", first)
    browser.click(browser.find('[data-action-id="precoro_approve"]', msg))
    browser.click(browser.wait(lambda: browser.find('#overlay.open [data-confirm="yes"]')))
    assert "Approved by @Bob Baker" in browser.text(_message(browser, "bob", first, containing="Approved by"))

    # Reject: the reason form; empty is refused by the field (as Slack does), blank by the bot.
    second = _add_document(browser, "bob", "43.00")
    msg = _message(browser, "bob", second)
    browser.click(browser.find('[data-action-id="precoro_reject"]', msg))
    form = _form(browser, "bob", "Reject document")
    assert second in browser.text(form)
    _submit(browser, form)
    assert "required" in _error_by(browser, form, "reason")
    reason = browser.find('textarea[data-block-id="reason"]', form)
    browser.type(reason, "   ")
    _submit(browser, form)
    form = browser.wait(lambda: (f := _form(browser, "bob", "Reject document"))
                        and "Write a reason" in _error_by(browser, f, "reason") and f,
                        message="the bot's error is not shown by the reason field")
    reason = browser.find('textarea[data-block-id="reason"]', form)
    assert browser.execute("return arguments[0].value", browser.ref(reason)) == "   "  # kept across the redraw
    browser.execute("arguments[0].scrollIntoView()", browser.ref(form))
    print("screenshot:", browser.screenshot(ARTIFACTS / "sandbox-form-error.png"))
    browser.clear(reason)
    browser.type(reason, "Wrong cost center <!channel>")
    _submit(browser, form)
    browser.wait(lambda: not browser.find('.user[data-user="bob"] .form .modal'), message="the form stayed open")
    shown = browser.text(_message(browser, "bob", second, containing="Rejected by"))
    assert "\u274c Rejected by @Bob Baker" in shown and "Wrong cost center <!channel>" in shown, shown

    # Approve with comment.
    third = _add_document(browser, "bob", "44.00")
    msg = _message(browser, "bob", third)
    browser.click(browser.find('[data-action-id="precoro_approve_comment"]', msg))
    form = _form(browser, "bob", "Approve document")
    browser.type(browser.find('textarea[data-block-id="comment"]', form), "Fine by me")
    _submit(browser, form)
    shown = browser.text(_message(browser, "bob", third, containing="Approved by"))
    assert "Fine by me" in shown, shown

    # Precoro got each decision with Bob's own token.
    writes = browser.text(browser.find("#writes"))
    for idn, verb in ((first, "approve"), (second, "reject"), (third, "approve")):
        assert re.search(rf"POST /\w+/{re.escape(idn)}/{verb}\s+200\s+bob", writes), writes
    browser.execute("window.scrollTo(0, 0)")
    print("screenshot:", browser.screenshot(ARTIFACTS / "sandbox.png"))
    _no_js_errors(browser)


def test_admin_register_form_shows_the_bots_errors(browser: Chromium, sandbox: str) -> None:
    """A form a command opens (`/precoro register @carol`) submits too, and shows the bot's errors."""
    browser.open(sandbox)
    cmd = browser.find("#cmd")
    browser.clear(cmd)
    browser.type(cmd, "register <@U0CAROL>")
    browser.click(browser.find("#send"))
    form = browser.wait(lambda: browser.find("#admin-form .modal"))
    assert "Register approver" in browser.text(form) and "@Carol Chen" in browser.text(form)
    email = browser.find('input[data-block-id="email"]', form)
    browser.clear(email)
    browser.type(email, "carol@example.com")
    browser.type(browser.find('input[data-block-id="token"]', form), "not a token!")
    _submit(browser, form)
    browser.wait(lambda: (f := browser.find("#admin-form .modal")) and _error_by(browser, f, "token"),
                 message="the bot's token error is not shown")
    browser.click(browser.find('#admin-form [data-role="close"]'))
    browser.wait(lambda: not browser.find("#admin-form .modal"))
    _no_js_errors(browser)


MRKDWN_CASES = {
    "*bold* _it_ ~st~ `co*de*`": '<b>bold</b> <i>it</i> <s>st</s> <code>co*de*</code>',
    "a*b*c snake_case_name": "a*b*c snake_case_name",
    "<https://example.com/a?b=1&amp;c=2|the *link*> <mailto:x@example.com>":
        '<a href="https://example.com/a?b=1&amp;c=2" target="_blank" rel="noopener noreferrer">the *link*</a> '
        '<a href="mailto:x@example.com" target="_blank" rel="noopener noreferrer">mailto:x@example.com</a>',
    "<javascript:alert(1)|click>": "click",
    "&lt;script&gt;alert(1)&lt;/script&gt; &amp;amp;": "&lt;script&gt;alert(1)&lt;/script&gt; &amp;amp;",
    "<@U0BOB> <@U0NOBODY> <!here>": '<span class="mention" data-user-id="U0BOB">@Bob Baker</span> '
                                    '<span class="mention" data-user-id="U0NOBODY">@U0NOBODY</span> '
                                    '<span class="mention">@here</span>',
    ":white_check_mark: :x: :not_an_emoji:": "\u2705 \u274c :not_an_emoji:",
    "<!date^1700000000^{date_num} {time}|fallback> <!date^nope^{date}|fallback>":
        None,  # checked below: the zone's date, and the fallback for a broken token
    ">quoted *line*\nnext": "<blockquote>quoted <b>line</b></blockquote>next",
    "```pre *x*```": '<pre class="pre">pre *x*</pre>',
}


def test_mrkdwn_drawn_with_dom_nodes(browser: Chromium, sandbox: str) -> None:
    """The page's mrkdwn renderer on its own (window.BlockKit), edge cases Slack's own rules decide."""
    browser.open(sandbox)
    browser.wait(lambda: browser.execute("return !!window.BlockKit"))
    people = {"U0BOB": "Bob Baker"}
    for source, expected in MRKDWN_CASES.items():
        html = browser.execute("const d = document.createElement('div');"
                               "d.append(...BlockKit.mrkdwn(arguments[0], arguments[1])); return d.innerHTML",
                               source, people)
        if expected is None:
            assert "2023-11-14 5:13\u202fPM" in html or "2023-11-14 5:13 PM" in html, html
            assert html.endswith(" fallback"), html
        else:
            assert html == expected, (source, html)
    _no_js_errors(browser)


def test_every_emoji_the_bot_uses_is_drawn() -> None:
    """Each `:shortcode:` in the bot's messages has its emoji in the page's table."""
    page = (ROOT / "devkit" / "precoro_devkit" / "sandbox.html").read_text()
    table = page[page.index("const EMOJI = {"):page.index("};", page.index("const EMOJI = {"))]
    known = set(re.findall(r'"?([a-z0-9_+]+)"?:\s*"', table))
    used = {code for path in (ROOT / "bot").rglob("*.py") for text in _string_literals(path)
            for code in re.findall(r":([a-z][a-z0-9_+-]*):", text)}
    assert used and used <= known, sorted(used - known)


def _string_literals(path: Path) -> list[str]:
    """The string constants of a module that can reach a message: not docstrings, not comments."""
    tree = ast.parse(path.read_text())
    docstrings = {id(node.value) for node in ast.walk(tree)
                  if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)}
    return [node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings]


def test_state_carries_blocks_and_names() -> None:
    """The JSON the page draws from: each message's blocks as sent, and the people's names."""
    from precoro_devkit.sandbox import _message

    message = {"channel": "D1", "ts": "1.0", "text": "fallback",
               "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*Hi* <@U0BOB>"}},
                          {"type": "actions", "elements": [{"type": "button", "action_id": "a",
                                                            "text": {"type": "plain_text", "text": "Go"}}]}]}
    shown = _message(message)
    assert shown["blocks"] == message["blocks"] and shown["text"] == "fallback"
    assert shown["buttons"] == [{"action_id": "a", "label": "Go", "url": None}]
    assert json.dumps(shown)
