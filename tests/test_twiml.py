"""Messaging TwiML: what the helper library writes, hand-written XML, hostile documents."""

from __future__ import annotations

import hypothesis.strategies as st
import pytest
from hypothesis import given, settings
from twilio.twiml.messaging_response import Message, MessagingResponse

from engine.twilio.twiml import (
    MessageVerb,
    RedirectVerb,
    TwimlError,
    TwimlReply,
    parse_messaging_response,
    parse_webhook_answer,
    twiml_from_text_plain,
)


def codes(reply: TwimlReply) -> list[int]:
    return [w.code for w in reply.warnings]


def error_code(data: bytes | str, **kwargs: int) -> int:
    with pytest.raises(TwimlError) as info:
        parse_messaging_response(data, **kwargs)  # type: ignore[arg-type]
    return info.value.code


# -- the helper library's MessagingResponse output ------------------------------------------


def test_library_single_message() -> None:
    r = MessagingResponse()
    r.message("Thanks, we got your message!")
    reply = parse_messaging_response(str(r))
    assert reply.verbs == [MessageVerb(body="Thanks, we got your message!")]
    assert reply.warnings == []


def test_library_full_message_then_unreachable_verbs() -> None:
    r = MessagingResponse()
    m = Message(
        to="+15558675310",
        from_="+15017122661",
        action="https://example.com/status",
        method="POST",
    )
    m.body("Hello & <welcome>")
    m.media("https://example.com/cat.jpg")
    r.append(m)
    r.message("second message")
    r.redirect("https://example.com/next", method="GET")
    reply = parse_messaging_response(str(r).encode())
    # §8: verbs after a <Message action> are never reached.
    assert reply.verbs == [
        MessageVerb(
            body="Hello & <welcome>",
            to="+15558675310",
            from_="+15017122661",
            action="https://example.com/status",
            method="POST",
            media=("https://example.com/cat.jpg",),
        )
    ]
    assert codes(reply) == [12200]
    assert "2 verb(s)" in reply.warnings[0].message


def test_library_messages_and_redirect() -> None:
    r = MessagingResponse()
    r.message("x", status_callback="https://e.com/cb")
    r.message("Olá 👋 €")
    r.redirect("/next", method="get")
    reply = parse_messaging_response(str(r), base_url="https://app.example/sms?a=1")
    assert reply.verbs == [
        MessageVerb(body="x", status_callback="https://e.com/cb"),
        MessageVerb(body="Olá 👋 €"),
        RedirectVerb(url="https://app.example/next", method="GET"),
    ]
    assert reply.redirect == RedirectVerb(url="https://app.example/next", method="GET")
    assert len(reply.messages) == 2
    assert reply.warnings == []


def test_library_relative_without_base_is_kept() -> None:
    r = MessagingResponse()
    r.message("hi", action="/s", status_callback="/s")
    reply = parse_messaging_response(str(r))
    assert reply.verbs == [MessageVerb(body="hi", action="/s", status_callback="/s")]


@pytest.mark.parametrize("xml_declaration", [True, False])
def test_library_empty_response(xml_declaration: bool) -> None:
    reply = parse_messaging_response(MessagingResponse().to_xml(xml_declaration=xml_declaration))
    assert reply.verbs == []
    assert reply.warnings == []


def test_library_empty_message_is_skipped() -> None:
    r = MessagingResponse()
    r.message("")
    r.message("kept")
    reply = parse_messaging_response(str(r))
    assert reply.verbs == [MessageVerb(body="kept")]
    assert codes(reply) == [14103]


def test_library_media_only_and_unknown_attribute() -> None:
    r = MessagingResponse()
    m = Message(foo="bar")
    m.media("https://e.com/a.png")
    r.append(m)
    reply = parse_messaging_response(str(r))
    assert reply.verbs == [MessageVerb(body="", media=("https://e.com/a.png",))]
    assert codes(reply) == [12200]
    assert "'foo'" in reply.warnings[0].message


# -- hand-written documents ----------------------------------------------------------------

INDENTED = """<?xml version="1.0" encoding="UTF-8"?>
<!-- a comment -->
<Response>
    <Message to="+15550001111" from="+15550002222" method="get"
             statusCallback="https://e.com/cb">
        <Body>
            Hello
        </Body>
        <Body>world</Body>
        <Media>
            https://e.com/1.png
        </Media>
    </Message>
    <Message>
        Plain text, indented.
    </Message>
</Response>
"""


def test_indented_hand_written() -> None:
    reply = parse_messaging_response(INDENTED)
    assert reply.verbs == [
        MessageVerb(
            body="Helloworld",
            to="+15550001111",
            from_="+15550002222",
            method="GET",
            status_callback="https://e.com/cb",
            media=("https://e.com/1.png",),
        ),
        MessageVerb(body="Plain text, indented."),
    ]
    assert reply.warnings == []


def test_compact_and_indented_read_alike() -> None:
    r = MessagingResponse()
    r.message("Hi there")
    indented = "<Response>\n  <Message>\n    Hi there\n  </Message>\n</Response>\n"
    assert parse_messaging_response(indented).verbs == parse_messaging_response(str(r)).verbs


def test_warnings_for_bad_parts() -> None:
    doc = """<Response extra="1">
      <Say>voice only</Say>
      <message>wrong case</message>
      <Message method="PUT" action="ftp://e.com/x" statusCallback="javascript:alert(1)">a</Message>
      <Message><Body>b</Body><Pause/></Message>
      stray text
      <Redirect/>
      <Redirect method="POST">https://e.com/next</Redirect>
      <Message>never reached</Message>
    </Response>"""
    reply = parse_messaging_response(doc)
    assert reply.verbs == [
        MessageVerb(body="a"),
        MessageVerb(body="b"),
        RedirectVerb(url="https://e.com/next", method="POST"),
    ]
    assert sorted(codes(reply)) == sorted(
        [12200, 12200, 14110, 12200, 14104, 14105, 14105, 12200, 12200, 12200]
    )


def test_more_than_ten_messages() -> None:
    r = MessagingResponse()
    for i in range(13):
        r.message(f"m{i}")
    reply = parse_messaging_response(str(r))
    assert [v.body for v in reply.messages] == [f"m{i}" for i in range(10)]
    assert codes(reply) == [14109]
    assert "3 dropped" in reply.warnings[0].message


def test_too_many_media_kept_to_ten() -> None:
    m = Message()
    for i in range(12):
        m.media(f"https://e.com/{i}.png")
    r = MessagingResponse()
    r.append(m)
    reply = parse_messaging_response(str(r))
    assert len(reply.messages[0].media) == 10
    assert codes(reply) == [12200, 12200]


def test_blank_document_is_no_reply() -> None:
    for blank in (b"", b"  \n", ""):
        reply = parse_messaging_response(blank)
        assert reply.verbs == []
        assert codes(reply) == [12200]


# -- fatal documents -----------------------------------------------------------------------


def test_wrong_root() -> None:
    assert error_code("<Reply><Message>x</Message></Reply>") == 12102
    assert error_code('<Response xmlns="urn:x"><Message>x</Message></Response>') == 12102


def test_html_and_garbage() -> None:
    assert error_code(b"<html><body><h1>Welcome</h1></body></html>") == 12102
    assert error_code(b"<!DOCTYPE html>\n<html><body>x</body></html>") == 12100
    assert error_code(b"Internal Server Error") == 12100
    assert error_code(b"<Response><Message>x</Response>") == 12100
    assert error_code(b"\xff\xfe\x00garbage") == 12100
    assert error_code(b'<?xml version="1.0" encoding="bogus"?><Response/>') == 12100
    assert error_code(b'{"Message": "json"}') == 12100


def test_billion_laughs_is_not_expanded() -> None:
    lol = '<!ENTITY lol0 "lol">' + "".join(
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">' for i in range(1, 10)
    )
    doc = (
        f'<?xml version="1.0"?><!DOCTYPE Response [{lol}]>'
        "<Response><Message>&lol9;</Message></Response>"
    )
    assert error_code(doc) == 12100


def test_external_entity_is_refused() -> None:
    doc = (
        '<?xml version="1.0"?><!DOCTYPE Response [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        "<Response><Message>&xxe;</Message></Response>"
    )
    assert error_code(doc) == 12100
    # An undeclared entity is simply not well-formed.
    assert error_code("<Response><Message>&xxe;</Message></Response>") == 12100


def test_deep_nesting_is_refused() -> None:
    deep = "<Response>" + "<a>" * 5000 + "</a>" * 5000 + "</Response>"
    assert error_code(deep) == 12100
    assert (
        error_code("<Response><Message><Body><b>x</b></Body></Message></Response>", max_depth=3)
        == 12100
    )
    ok = parse_messaging_response(
        "<Response><Message><Body>x</Body></Message></Response>", max_depth=3
    )
    assert ok.verbs == [MessageVerb(body="x")]


def test_huge_body() -> None:
    r = MessagingResponse()
    r.message("x" * 70_000)
    assert error_code(str(r)) == 11750
    r = MessagingResponse()
    r.message("é" * 40_000)  # 80 kB of UTF-8, 40 k characters
    assert error_code(str(r)) == 11750
    assert error_code("<Response/>", max_bytes=5) == 11750


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200) | st.text(max_size=200))
def test_any_input_parses_or_raises_twiml_error(data: bytes | str) -> None:
    try:
        reply = parse_messaging_response(data)
    except TwimlError as exc:
        assert exc.code in (11750, 12100, 12102)
    else:
        assert isinstance(reply, TwimlReply)


@settings(max_examples=200, deadline=None)
@given(st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1))
def test_any_library_body_round_trips(body: str) -> None:
    r = MessagingResponse()
    r.message(body)
    reply = parse_messaging_response(str(r))
    if body.strip():
        assert reply.verbs == [MessageVerb(body=body.strip())]
    else:
        assert reply.verbs == []
        assert codes(reply) == [14103]


# -- text/plain and content types ----------------------------------------------------------


def test_text_plain() -> None:
    assert twiml_from_text_plain(b"  Thanks!\n").verbs == [MessageVerb(body="Thanks!")]
    assert twiml_from_text_plain("Olá").verbs == [MessageVerb(body="Olá")]
    assert twiml_from_text_plain(b"caf\xe9", charset="latin-1").verbs == [MessageVerb(body="café")]
    assert twiml_from_text_plain(b"x", charset="no-such-charset").verbs == [MessageVerb(body="x")]
    empty = twiml_from_text_plain(b"   ")
    assert empty.verbs == [] and codes(empty) == [14103]
    with pytest.raises(TwimlError) as info:
        twiml_from_text_plain(b"x" * 70_000)
    assert info.value.code == 11750


def test_parse_webhook_answer_by_content_type() -> None:
    r = MessagingResponse()
    r.message("hi")
    xml = str(r).encode()
    for ctype in ("text/xml", "application/xml", "text/html", "TEXT/XML; charset=utf-8"):
        assert parse_webhook_answer(ctype, xml).verbs == [MessageVerb(body="hi")]
    assert parse_webhook_answer("text/plain", b"hello").verbs == [MessageVerb(body="hello")]
    assert parse_webhook_answer("application/json", b"").verbs == []
    assert parse_webhook_answer(None, b"").verbs == []
    for ctype in ("application/json", None, "image/png"):
        with pytest.raises(TwimlError) as info:
            parse_webhook_answer(ctype, b"{}")
        assert info.value.code == 12300
    with pytest.raises(TwimlError) as info:
        parse_webhook_answer("text/html", b"<html><body>Oops</body></html>")
    assert info.value.code == 12102
