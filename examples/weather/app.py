"""The weather example's webhook: answers an inbound "weather 94107" with a TwiML forecast.

Run it next to ``smpp-engine serve`` and point a number's SmsUrl at it::

    python -m examples.weather.app --port 8081 --auth-token "$TWILIO_AUTH_TOKEN"

With ``--auth-token`` (or ``WEATHER_AUTH_TOKEN``) every request must carry a valid
``X-Twilio-Signature`` (checked with the helper library's RequestValidator); others get 403.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

from aiohttp import web
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from examples.weather.forecasts import answer

MAX_BODY = 16 * 1024


def make_app(auth_token: str | None = None, public_url: str | None = None) -> web.Application:
    """The webhook app: ``POST /sms`` (form fields as Twilio sends them).  ``public_url``:
    the URL the gateway calls when it differs from what this server sees (a proxy)."""
    validator = RequestValidator(auth_token) if auth_token else None

    async def sms(request: web.Request) -> web.Response:
        form = await request.post()
        params = {k: str(v) for k, v in form.items()}
        if validator is not None:
            url = public_url or str(request.url)
            signature = request.headers.get("X-Twilio-Signature", "")
            if not validator.validate(url, params, signature):
                return web.Response(status=403, text="bad signature")
        reply = MessagingResponse()
        reply.message(answer(params.get("Body", "")))
        return web.Response(text=str(reply), content_type="application/xml")

    app = web.Application(client_max_size=MAX_BODY)
    app.router.add_post("/sms", sms)
    return app


def main(argv: Sequence[str] | None = None) -> None:
    """Run the webhook app until Ctrl-C."""
    parser = argparse.ArgumentParser(description="The weather example's SMS webhook")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument(
        "--auth-token", help="check signatures with it (default: $WEATHER_AUTH_TOKEN)"
    )
    parser.add_argument("--public-url", help="the URL the gateway calls, if not what we see")
    ns = parser.parse_args(argv)
    token = ns.auth_token or os.environ.get("WEATHER_AUTH_TOKEN")
    web.run_app(make_app(token, ns.public_url), host=ns.host, port=ns.port)


if __name__ == "__main__":
    main()
