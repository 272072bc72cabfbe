"""The Twilio-compatible REST API (aiohttp): Accounts, Keys and Messages.

:func:`make_rest_app` builds the application over a :class:`engine.Store` and a
:class:`engine.store.directory.Directory`; the unmodified ``twilio`` helper library works
against it with only ``client.api.base_url`` changed.  See :mod:`engine.aio.rest.routes`.
"""

from engine.aio.rest.routes import RestHooks, make_rest_app, set_draining

__all__ = ["RestHooks", "make_rest_app", "set_draining"]
