"""Messaging TwiML: a hardened parser from an application's answer to typed verbs.

The grammar (twilio-compat.md §8): a ``<Response>`` root holding ``<Message>`` and
``<Redirect>`` verbs, executed top to bottom.  ``<Message>`` has the attributes ``to``,
``from``, ``action``, ``method`` and ``statusCallback`` and holds its text directly or in
``<Body>`` elements, plus up to 10 ``<Media>`` URLs.  ``<Redirect method>`` holds a URL.

What the parser does with what it is given:

- XML is read by ``defusedxml`` with DTDs, entity declarations and external references all
  refused, so neither an entity bomb nor an external entity is ever expanded; the document
  is refused before parsing when larger than ``max_bytes`` (Twilio's 64 kB, alert 11750)
  and while parsing when nested deeper than ``max_depth``.
- Fatal problems raise :class:`TwimlError` with Twilio's code: 11750 too large, 12100 not
  well-formed (or refused by the hardening), 12102 root not ``<Response>``.
- Everything else is a :class:`TwimlWarning` on the reply and the offending part is skipped:
  12200 unknown verb, attribute or nesting; 14110 a voice verb; 14104 a method other than
  GET/POST (POST is used); 14105 an ``action``/``statusCallback`` that is not an http(s) URL
  (dropped); 14103 a ``<Message>`` with neither text nor media (skipped); 14109 more than 10
  ``<Message>`` verbs (the rest dropped).  Verbs after a ``<Redirect>`` or after a
  ``<Message action>`` are never reached (Twilio continues with the TwiML that URL returns);
  they are dropped with a 12200 warning.

Bodies are stripped of surrounding whitespace, so the compact XML that the helper library's
``MessagingResponse`` writes and indented hand-written XML read alike; several ``<Body>``
elements are concatenated.  This module is pure.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any, Final
from urllib.parse import urljoin, urlsplit

import msgspec
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from engine.errors import EngineError

__all__ = [
    "MAX_MEDIA",
    "MAX_MESSAGES",
    "MAX_TWIML_BYTES",
    "TWIML_CONTENT_TYPES",
    "MessageVerb",
    "RedirectVerb",
    "TwimlError",
    "TwimlReply",
    "TwimlWarning",
    "parse_messaging_response",
    "parse_webhook_answer",
    "twiml_from_text_plain",
]

MAX_TWIML_BYTES: Final = 65536
"""Twilio's limit on a webhook answer (alert 11750)."""

MAX_DEPTH: Final = 16
"""Deepest nesting accepted; valid messaging TwiML needs 3 (Response/Message/Body)."""

MAX_MESSAGES: Final = 10
"""``<Message>`` verbs acted on per document (alert 14109 beyond)."""

MAX_MEDIA: Final = 10
"""``<Media>`` URLs kept per ``<Message>``."""

TWIML_CONTENT_TYPES: Final = frozenset({"text/xml", "application/xml", "text/html"})
"""Content types whose body is read as TwiML (§5); ``text/plain`` is a literal reply."""

_METHODS: Final = frozenset({"GET", "POST"})
_MESSAGE_ATTRIBUTES: Final = frozenset({"to", "from", "action", "method", "statusCallback"})
# Voice verbs: valid TwiML, but not in a messaging reply (14110 rather than 12200).
_VOICE_VERBS: Final = frozenset(
    {
        "Say", "Play", "Dial", "Gather", "Hangup", "Pause", "Reject", "Record", "Enqueue",
        "Leave", "Connect", "Pay", "Prompt", "Refer", "Start", "Stop", "Queue", "Sms", "Echo",
        "Conference", "Number", "Client", "Sip", "Stream", "Siprec", "Transcription",
    }
)  # fmt: skip


class TwimlError(EngineError, ValueError):
    """A TwiML document that cannot be acted on at all; ``code`` is Twilio's alert code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class TwimlWarning(msgspec.Struct, frozen=True):
    """A part of the document that was skipped or corrected, with Twilio's alert code."""

    code: int
    message: str


class MessageVerb(msgspec.Struct, frozen=True, kw_only=True):
    """A ``<Message>``: one reply to send.

    ``to``/``from_`` are None when not given (the caller defaults them to the reverse of the
    inbound message).  ``action`` and ``status_callback`` are URLs, resolved against the
    document's URL when one was given to the parser.  ``method`` is for ``action``.
    """

    body: str
    to: str | None = None
    from_: str | None = None
    action: str | None = None
    method: str = "POST"
    status_callback: str | None = None
    media: tuple[str, ...] = ()


class RedirectVerb(msgspec.Struct, frozen=True, kw_only=True):
    """A ``<Redirect>``: fetch ``url`` with ``method`` and continue with its TwiML."""

    url: str
    method: str = "POST"


Verb = MessageVerb | RedirectVerb


class TwimlReply(msgspec.Struct, frozen=True):
    """The verbs to act on, in order, and the warnings met while reading them.

    At most one :class:`RedirectVerb` appears and only last, and no verb follows a
    :class:`MessageVerb` that has an ``action``.
    """

    verbs: list[Verb]
    warnings: list[TwimlWarning]

    @property
    def messages(self) -> list[MessageVerb]:
        """The ``<Message>`` verbs."""
        return [v for v in self.verbs if isinstance(v, MessageVerb)]

    @property
    def redirect(self) -> RedirectVerb | None:
        """The final ``<Redirect>``, if the document ends with one."""
        last = self.verbs[-1] if self.verbs else None
        return last if isinstance(last, RedirectVerb) else None


class _TooDeep(Exception):
    pass


class _BoundedTreeBuilder(ET.TreeBuilder):
    """A TreeBuilder that stops the parse when elements nest deeper than ``max_depth``."""

    def __init__(self, max_depth: int) -> None:
        super().__init__()
        self._depth = 0
        self._max_depth = max_depth

    def start(self, tag: Any, attrs: Any) -> ET.Element:
        self._depth += 1
        if self._depth > self._max_depth:
            raise _TooDeep
        return super().start(tag, attrs)

    def end(self, tag: Any) -> ET.Element:
        self._depth -= 1
        return super().end(tag)


def _name(tag: str) -> str:
    """An element or attribute name as it may appear in a message (bounded, quoted)."""
    return repr(tag[:40] + ("..." if len(tag) > 40 else ""))


def _parse_xml(data: bytes | str, max_depth: int) -> ET.Element:
    parser = DefusedXMLParser(
        target=_BoundedTreeBuilder(max_depth),
        forbid_dtd=True,
        forbid_entities=True,
        forbid_external=True,
    )
    try:
        parser.feed(data)
        root: ET.Element = parser.close()
    except _TooDeep:
        raise TwimlError(12100, f"elements nested deeper than {max_depth}") from None
    except DefusedXmlException as exc:
        # DTDs are refused outright: they are the carrier of entity bombs and external
        # entities, and TwiML never needs one.
        raise TwimlError(12100, f"refused: {type(exc).__name__}") from None
    except ET.ParseError as exc:
        raise TwimlError(12100, f"not well-formed XML: {exc}") from None
    except (ValueError, LookupError) as exc:  # unknown or unsupported declared encoding
        raise TwimlError(12100, f"unreadable XML: {exc}") from None
    return root


def _is_blank(text: str | None) -> bool:
    return text is None or not text.strip()


def _resolve(url: str, base_url: str | None) -> str:
    return urljoin(base_url, url) if base_url else url


def _is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    if parts.scheme in ("http", "https"):
        return bool(parts.netloc)
    # Without a document URL a relative reference stays as written: the caller resolves it.
    return not parts.scheme and not parts.netloc and bool(parts.path or parts.query)


def _method(element: ET.Element, verb: str, warnings: list[TwimlWarning]) -> str:
    raw = element.get("method")
    if raw is None:
        return "POST"
    method = raw.strip().upper()
    if method in _METHODS:
        return method
    warnings.append(TwimlWarning(14104, f"<{verb} method={_name(raw)}> is not GET or POST"))
    return "POST"


def _url_attribute(
    element: ET.Element, attribute: str, base_url: str | None, warnings: list[TwimlWarning]
) -> str | None:
    raw = element.get(attribute)
    if raw is None or not raw.strip():
        return None
    url = _resolve(raw.strip(), base_url)
    if not _is_http_url(url):
        warnings.append(TwimlWarning(14105, f"<Message {attribute}> is not a valid URL"))
        return None
    return url


def _text_of(element: ET.Element, verb: str, warnings: list[TwimlWarning]) -> str:
    """The text of an element that should hold text only (children warned about)."""
    if len(element):
        warnings.append(TwimlWarning(12200, f"<{verb}> may hold only text"))
        return "".join(element.itertext())
    return element.text or ""


def _message(
    element: ET.Element, base_url: str | None, warnings: list[TwimlWarning]
) -> MessageVerb | None:
    for attribute in element.attrib:
        if attribute not in _MESSAGE_ATTRIBUTES:
            warnings.append(TwimlWarning(12200, f"unknown <Message> attribute {_name(attribute)}"))
    pieces: list[str] = []
    direct = not _is_blank(element.text)
    if direct:
        pieces.append((element.text or "").strip())
    bodies = False
    media: list[str] = []
    for child in element:
        if child.tag == "Body":
            bodies = True
            for attribute in child.attrib:
                warnings.append(TwimlWarning(12200, f"unknown <Body> attribute {_name(attribute)}"))
            text = _text_of(child, "Body", warnings).strip()
            if text:
                pieces.append(text)
        elif child.tag == "Media":
            url = _text_of(child, "Media", warnings).strip()
            if not url:
                warnings.append(TwimlWarning(12200, "empty <Media> skipped"))
            elif len(media) >= MAX_MEDIA:
                warnings.append(
                    TwimlWarning(12200, f"more than {MAX_MEDIA} <Media>; extra skipped")
                )
            else:
                media.append(_resolve(url, base_url))
        else:
            warnings.append(TwimlWarning(12200, f"<{child.tag}> is not allowed in <Message>"))
        if not _is_blank(child.tail):
            direct = True
            pieces.append((child.tail or "").strip())
    if direct and bodies:
        warnings.append(TwimlWarning(12200, "<Message> mixes text with <Body>; both kept"))
    body = "".join(pieces)
    if not body and not media:
        warnings.append(TwimlWarning(14103, "<Message> has no body or media; skipped"))
        return None
    to = element.get("to")
    from_ = element.get("from")
    return MessageVerb(
        body=body,
        to=to.strip() or None if to is not None else None,
        from_=from_.strip() or None if from_ is not None else None,
        action=_url_attribute(element, "action", base_url, warnings),
        method=_method(element, "Message", warnings),
        status_callback=_url_attribute(element, "statusCallback", base_url, warnings),
        media=tuple(media),
    )


def _redirect(
    element: ET.Element, base_url: str | None, warnings: list[TwimlWarning]
) -> RedirectVerb | None:
    for attribute in element.attrib:
        if attribute != "method":
            warnings.append(TwimlWarning(12200, f"unknown <Redirect> attribute {_name(attribute)}"))
    raw = _text_of(element, "Redirect", warnings).strip()
    url = _resolve(raw, base_url) if raw else ""
    if not url or not _is_http_url(url):
        warnings.append(TwimlWarning(12200, "<Redirect> without a valid URL skipped"))
        return None
    return RedirectVerb(url=url, method=_method(element, "Redirect", warnings))


def parse_messaging_response(
    data: bytes | str,
    *,
    max_bytes: int = MAX_TWIML_BYTES,
    max_depth: int = MAX_DEPTH,
    base_url: str | None = None,
) -> TwimlReply:
    """Read a messaging TwiML document into verbs and warnings.

    ``base_url`` is the URL the document was fetched from; relative ``action``,
    ``statusCallback``, ``<Media>`` and ``<Redirect>`` URLs are resolved against it (without
    it they are returned as written).  An empty or blank document is an empty reply (no
    verbs) with a 12200 warning, as Twilio acknowledges it without replying.

    Raises :class:`TwimlError` (11750, 12100, 12102) when the document cannot be used.
    """
    size = len(data.encode("utf-8", "surrogatepass")) if isinstance(data, str) else len(data)
    if size > max_bytes:
        raise TwimlError(11750, f"document of {size} bytes is larger than {max_bytes}")
    if not data.strip():
        warning = TwimlWarning(12200, "empty document treated as an empty <Response/>")
        return TwimlReply([], [warning])
    root = _parse_xml(data, max_depth)
    if root.tag != "Response":
        raise TwimlError(12102, f"root element is {_name(str(root.tag))}, not 'Response'")
    warnings: list[TwimlWarning] = []
    for attribute in root.attrib:
        warnings.append(TwimlWarning(12200, f"unknown <Response> attribute {_name(attribute)}"))
    if not _is_blank(root.text) or any(not _is_blank(c.tail) for c in root):
        warnings.append(TwimlWarning(12200, "text directly in <Response> ignored"))
    verbs: list[Verb] = []
    messages = dropped = 0
    children = list(root)
    for index, child in enumerate(children):
        tag = str(child.tag)
        verb: Verb | None
        if tag == "Message":
            if messages >= MAX_MESSAGES:
                dropped += 1
                continue
            verb = _message(child, base_url, warnings)
            if verb is not None:
                messages += 1
        elif tag == "Redirect":
            verb = _redirect(child, base_url, warnings)
        elif tag in _VOICE_VERBS:
            warnings.append(TwimlWarning(14110, f"<{tag}> is not allowed in a messaging reply"))
            continue
        else:
            warnings.append(TwimlWarning(12200, f"unknown verb {_name(tag)} ignored"))
            continue
        if verb is None:
            continue
        verbs.append(verb)
        ends = isinstance(verb, RedirectVerb) or verb.action is not None
        if ends and index + 1 < len(children):
            # Twilio continues with the TwiML that the Redirect or action URL returns; what
            # follows in this document is never executed.
            warnings.append(
                TwimlWarning(12200, f"{len(children) - index - 1} verb(s) after it unreachable")
            )
            break
    if dropped:
        warnings.append(
            TwimlWarning(14109, f"more than {MAX_MESSAGES} <Message> verbs; {dropped} dropped")
        )
    return TwimlReply(verbs, warnings)


def twiml_from_text_plain(
    body: bytes | str, *, charset: str = "utf-8", max_bytes: int = MAX_TWIML_BYTES
) -> TwimlReply:
    """The reply for a ``text/plain`` answer: its text, stripped, as one message (§5).

    Undecodable bytes become U+FFFD; a blank answer is no reply (14103 warning).
    """
    size = len(body) if isinstance(body, bytes) else len(body.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise TwimlError(11750, f"answer of {size} bytes is larger than {max_bytes}")
    if isinstance(body, bytes):
        try:
            text = body.decode(charset, "replace")
        except LookupError:
            text = body.decode("utf-8", "replace")
    else:
        text = body
    text = text.strip()
    if not text:
        return TwimlReply([], [TwimlWarning(14103, "text/plain answer is empty; no reply")])
    return TwimlReply([MessageVerb(body=text)], [])


def parse_webhook_answer(
    content_type: str | None,
    body: bytes,
    *,
    charset: str | None = None,
    base_url: str | None = None,
    max_bytes: int = MAX_TWIML_BYTES,
) -> TwimlReply:
    """Interpret a 2xx webhook answer by its Content-Type (§5).

    XML and HTML types are parsed as TwiML, ``text/plain`` is a literal reply, an empty body
    is no reply whatever its type, and anything else raises :class:`TwimlError` 12300.
    ``content_type`` is the media type without parameters, e.g. ``"text/xml"``.
    """
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if not body.strip():
        return TwimlReply([], [TwimlWarning(12200, "empty answer; no reply")])
    if media_type in TWIML_CONTENT_TYPES:
        return parse_messaging_response(body, max_bytes=max_bytes, base_url=base_url)
    if media_type == "text/plain":
        return twiml_from_text_plain(body, charset=charset or "utf-8", max_bytes=max_bytes)
    raise TwimlError(12300, f"unsupported Content-Type {_name(media_type or '(none)')}")
