"""Tolerant parsing of the richer document fields, and what a change says (pure)."""

from __future__ import annotations

from bot.precoro.models import parse_document
from bot.slack import messages
from tests.support.blocks import validate_blocks

BASE = {"idn": "PO-7", "sum": "10", "currency": "USD", "creator": {"fullName": "Ann", "email": "ann@x.test"}}


def test_custom_fields_attachments_comments_in_other_shapes() -> None:
    doc = parse_document("purchaseorders", {
        **BASE,
        "dataDocumentCustomFields": [{"documentCustomField": {"name": "Department"}, "value": {"name": "Ops"}},
                                     {"name": "Empty", "value": ""}, "junk",
                                     {"customField": {"title": "Tags"}, "value": ["a", "b"]}],
        "attachments": ["invoice.pdf", {"fileName": "x.png", "url": "javascript:alert(1)"}, 3],
        "comments": {"data": [{"comment": "Please hurry", "author": {"email": "ann@x.test"}}, {"text": ""}]},
        "description": "  Urgent  ",
    })
    assert doc is not None
    assert [(f.name, f.value) for f in doc.custom_fields] == [("Department", "Ops"), ("Tags", "a, b")]
    assert [(a.name, a.url) for a in doc.attachments] == [("invoice.pdf", ""), ("x.png", "")]
    assert [c.text for c in doc.comments] == ["Please hurry"]
    assert doc.note == "Urgent" and doc.requester_comment == "Urgent"


def test_requester_comment_falls_back_to_their_latest_comment() -> None:
    doc = parse_document("invoices", {**BASE, "comments": [
        {"text": "first", "user": {"email": "ANN@x.test"}}, {"text": "from someone else", "user": {"email": "b@x"}}]})
    assert doc is not None and doc.requester_comment == "first"


def test_garbage_in_the_new_fields_still_renders_valid_blocks() -> None:
    doc = parse_document("invoices", {**BASE, "dataDocumentCustomFields": {"data": [{"name": "<!here>" * 50,
                                                                                      "value": "&" * 5000}]},
                                      "attachments": [{"name": "<b>" * 100, "url": "https://e.test/a|b>"}] * 20,
                                      "note": "> quote\n" * 300})
    assert doc is not None
    body = messages.document_message(doc, ref="1", link="https://app.precoro.test/x")
    validate_blocks(body["blocks"])
    assert "<!here>" not in str(body)


def test_change_note_says_only_what_changed() -> None:
    old = parse_document("purchaseorders", BASE)
    assert old is not None
    assert messages.change_note(old, old) == ""
    new = parse_document("purchaseorders", {**BASE, "sum": "12.5", "attachments": [{"name": "q.pdf"}],
                                            "comments": [{"text": "ok?", "user": {"fullName": "Bo"}}]})
    assert new is not None
    note = messages.change_note(old, new)  # the file name is not auto-linked: q\u2024pdf
    assert "10.00 USD → *12.50 USD*" in note and "New comment from Bo: ok?" in note and "q\u2024pdf" in note


def test_a_new_comment_changes_the_fingerprint_and_it_fits_its_column() -> None:
    old = parse_document("invoices", BASE)
    new = parse_document("invoices", {**BASE, "comments": [{"text": "hi"}]})
    assert old is not None and new is not None and old.fingerprint() != new.fingerprint()
    long = parse_document("invoices", {**BASE, "supplier": "S" * 1000})
    assert long is not None and len(long.fingerprint()) <= 200
