"""The ``X-Twilio-Signature`` webhook signature (twilio-compat.md §7).

What :class:`twilio.request_validator.RequestValidator` checks, restated:

1. the string to sign starts with the URL that was requested: scheme, host, the port if one
   was configured, path and the full query string, without ``user:pass@`` and without the
   ``#fragment`` (Twilio reads connection overrides from the fragment and never signs it);
2. for a form POST, every parameter name in plain code-point order (Python ``sorted``),
   and for each name every *distinct* value in code-point order, each appended as
   ``name + value`` with no separator; for a GET nothing is appended (the parameters are
   already in the query of the URL);
3. HMAC-SHA1 of the UTF-8 bytes, keyed with the UTF-8 Auth Token, Base64 with padding.

The URL is signed exactly as configured, port included: the validator tries the URL both
without its port and with the scheme's default port, so ``http://host:8080/x`` and
``https://host/x`` both validate.  Nothing here parses and re-assembles the URL (that would
re-case the scheme or drop an empty ``?``): the userinfo and the fragment are cut out of the
string and the rest is kept byte for byte, so the caller must request that same string.

This module is pure: no I/O, no clock.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Iterable, Mapping, Sequence
from urllib.parse import urlencode

__all__ = [
    "SIGNATURE_HEADER",
    "Params",
    "compute_signature",
    "signing_url",
    "url_userinfo",
    "url_with_query",
    "validate_signature",
]

SIGNATURE_HEADER = "X-Twilio-Signature"
"""The HTTP header that carries the signature."""

Params = Mapping[str, str | Sequence[str]] | Sequence[tuple[str, str]]
"""Form parameters: a mapping of name to one value or to several (repeated names), or a
sequence of ``(name, value)`` pairs in which a name may repeat."""


def _authority_bounds(url: str) -> tuple[int, int] | None:
    """The [start, end) indexes of the authority of ``url`` (after ``//``), if it has one."""
    scheme_end = url.find("://")
    if scheme_end < 0:
        return None
    start = scheme_end + 3
    end = len(url)
    for stop in "/?#":
        i = url.find(stop, start)
        if 0 <= i < end:
            end = i
    return start, end


def signing_url(url: str) -> str:
    """``url`` as it is signed and requested: without ``user:pass@`` and ``#fragment``.

    Everything else is kept exactly (case, port, an empty query), since the receiver
    validates against the URL it was asked for.
    """
    hash_at = url.find("#")
    if hash_at >= 0:
        url = url[:hash_at]
    bounds = _authority_bounds(url)
    if bounds is not None:
        start, end = bounds
        at = url.rfind("@", start, end)
        if at >= 0:
            url = url[:start] + url[at + 1 :]
    return url


def url_userinfo(url: str) -> tuple[str, str] | None:
    """The ``(user, password)`` of a ``scheme://user:pass@host`` URL, still percent-encoded,
    or None.  Twilio turns these into HTTP Basic credentials and never signs them."""
    bounds = _authority_bounds(url.split("#", 1)[0])
    if bounds is None:
        return None
    start, end = bounds
    at = url.rfind("@", start, end)
    if at < 0:
        return None
    user, _, password = url[start:at].partition(":")
    return user, password


def _pairs(params: Params | None) -> Iterable[tuple[str, str]]:
    """Every (name, value) pair of ``params``, repeated names included."""
    if not params:
        return ()
    if isinstance(params, Mapping):
        out: list[tuple[str, str]] = []
        for name, value in params.items():
            if isinstance(value, str):
                out.append((name, value))
            else:
                out.extend((name, v) for v in value)
        return out
    return params


def compute_signature(url: str, params: Params | None, auth_token: str) -> str:
    """The ``X-Twilio-Signature`` Twilio would send for a request to ``url``.

    ``params`` are the form parameters of a POST; pass None (or nothing) for a GET, whose
    ``url`` must then already carry the parameters (see :func:`url_with_query`).  ``url`` is
    taken as configured; its userinfo and fragment are removed (see :func:`signing_url`).
    """
    parts = [signing_url(url)]
    if type(params) is dict and all(type(v) is str for v in params.values()):
        # The common case, a plain dict of strings: one value per name.
        for name in sorted(params):
            parts.append(name)
            parts.append(params[name])
    else:
        values: dict[str, set[str]] = {}
        for name, value in _pairs(params):
            values.setdefault(name, set()).add(value)
        # Names and values in code-point order; identical duplicates collapse to one, as
        # the validator takes sorted(set(values)) for each name.
        for name in sorted(values):
            for value in sorted(values[name]):
                parts.append(name)
                parts.append(value)
    digest = hmac.digest(auth_token.encode("utf-8"), "".join(parts).encode("utf-8"), "sha1")
    return base64.b64encode(digest).decode("ascii")


def validate_signature(url: str, params: Params | None, auth_token: str, signature: str) -> bool:
    """Whether ``signature`` is the signature of this request, compared in constant time.

    Unlike the helper library's validator this does not also try the URL with its port
    removed or the default port added: it checks the URL exactly as given.
    """
    expected = compute_signature(url, params, auth_token).encode("ascii")
    return hmac.compare_digest(expected, signature.encode("utf-8", "replace"))


def url_with_query(url: str, params: Params | None) -> str:
    """``url`` with ``params`` appended to its query, as a GET webhook requests it.

    The fragment is dropped; the userinfo is kept (the caller strips it for signing).
    Parameters are form-encoded (``+`` for space, UTF-8 percent escapes) in the order given.
    """
    url = url.split("#", 1)[0]
    pairs = list(_pairs(params))
    if not pairs:
        return url
    query = urlencode(pairs)
    if "?" not in url:
        return f"{url}?{query}"
    if url.endswith(("?", "&")):
        return url + query
    return f"{url}&{query}"
