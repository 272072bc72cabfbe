"""Twilio's REST error codes and the error body the helper library parses.

An :class:`ApiError` carries Twilio's code, the HTTP status and a message that names the
field at fault; :meth:`ApiError.body` is exactly ``{code, message, more_info, status}``
(never ``type`` and ``title`` together: the helper library would raise a different
exception class, see twilio-compat.md §2).
"""

from __future__ import annotations

from typing import Final

from engine.errors import EngineError

__all__ = ["MORE_INFO", "ApiError", "not_found", "unauthorized"]

MORE_INFO: Final = "https://www.twilio.com/docs/errors/{code}"

# Code -> HTTP status for the synchronous errors this API returns.
HTTP_STATUS: Final[dict[int, int]] = {
    20001: 400,  # invalid parameter value
    20003: 401,  # authentication failed
    20004: 405,  # method not allowed
    20005: 403,  # account not active
    20007: 400,  # page size too large
    20009: 400,  # cannot delete / change in this state
    20404: 404,
    20413: 413,  # request body too large
    20500: 500,
    20503: 503,
    21211: 400,  # To not a valid phone number
    21212: 400,  # From not a valid phone number
    21602: 400,  # no body
    21603: 400,  # no From
    21604: 400,  # no To
    21606: 400,  # From not an SMS-capable number of the account
    21609: 400,  # invalid StatusCallback
    21610: 400,  # recipient opted out
    21611: 400,  # sender's queue is full
    21617: 400,  # body too long
    21624: 400,  # invalid ValidityPeriod
    30409: 400,  # this message cannot be canceled (it is no longer queued)
    21422: 400,  # number not available
    21421: 400,  # invalid phone number to provision
    21451: 400,  # invalid area code
    21452: 400,  # no numbers found in area code
}


class ApiError(EngineError):
    """An error answered to a REST client in Twilio's shape."""

    def __init__(self, code: int, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status if status is not None else HTTP_STATUS.get(code, 400)

    def body(self) -> dict[str, object]:
        """The JSON body: ``{code, message, more_info, status}``."""
        return {
            "code": self.code,
            "message": self.message,
            "more_info": MORE_INFO.format(code=self.code),
            "status": self.status,
        }


def not_found(path: str) -> ApiError:
    """Twilio's 404 (20404), for a missing resource and for another account's alike."""
    return ApiError(20404, f"The requested resource {path} was not found", status=404)


def unauthorized() -> ApiError:
    """Twilio's 401 (20003)."""
    return ApiError(20003, "Authenticate", status=401)
