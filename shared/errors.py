"""The one error type every route raises for a client's mistake or an unavailable dependency."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error answered as JSON ``{"error": {"code", "message", ...}}`` with an HTTP status."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        **details: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.details = details

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, **self.details}}


def bad_request(code: str, message: str, **details: Any) -> ApiError:
    return ApiError(400, code, message, **details)


def at_capacity(retry_after: int = 30) -> ApiError:
    """503 for a store that refuses writes for memory: backpressure, nothing was stored."""
    return ApiError(
        503,
        "at_capacity",
        f"Tumorscope's job store is full; nothing was stored; retry in {retry_after} s",
        headers={"Retry-After": str(retry_after)},
    )


def unavailable(what: str, retry_after: int = 5) -> ApiError:
    """503 for a dependency (Redis, the event sink) that cannot be reached right now."""
    return ApiError(
        503,
        "unavailable",
        f"{what} is unavailable; retry in {retry_after} s",
        headers={"Retry-After": str(retry_after)},
    )
