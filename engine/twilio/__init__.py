"""Twilio's wire contract, pure: error codes, resource shapes, request parameters, the
webhook signature and TwiML.  Nothing here does I/O, reads a clock or imports asyncio or
aiohttp; the REST routes and the webhook client in ``engine/aio/`` use these modules.
"""
