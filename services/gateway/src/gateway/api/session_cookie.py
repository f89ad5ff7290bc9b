"""The browser's refresh token as a cookie, beside the JSON flow: a request carrying
`X-Auth-Session: cookie` gets its refresh token in an httpOnly, SameSite=Strict cookie (Secure
under TLS) scoped to the auth routes, and never in the body, where injected script could read it.

CSRF: the cookie alone never refreshes. The header is a custom one, so a cross-site page cannot
send it without a CORS preflight that the gateway does not grant; SameSite=Strict keeps the
cookie off cross-site requests anyway; and a request that says it comes from elsewhere (Origin,
Sec-Fetch-Site) is refused."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import Request, Response

from chatbot_common.errors import AppError, ErrorCode

COOKIE = "chatbot_refresh"
COOKIE_PATH = "/api/v1/auth"
MODE_HEADER = "x-auth-session"


def wants_cookie(request: Request) -> bool:
    return request.headers.get(MODE_HEADER, "").lower() == "cookie"


def _tls(request: Request, hsts: str) -> bool:
    # hsts=always: TLS ends at a proxy in front of us, whatever the scheme we see.
    return request.url.scheme == "https" or hsts == "always"


def check_same_origin(request: Request) -> None:
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        raise AppError(ErrorCode.PERMISSION_DENIED, "cross-site session requests are refused", {"reason": "cross-site"})
    origin = request.headers.get("origin")
    # Host against host, not scheme: behind a TLS proxy the browser says https and we may see http.
    if origin is not None and urlsplit(origin).netloc != request.headers.get("host", ""):
        raise AppError(ErrorCode.PERMISSION_DENIED, "cross-origin session requests are refused", {"reason": "origin"})


def cookie_token(request: Request) -> str:
    """The refresh token of a cookie-authenticated refresh, after the CSRF checks."""
    check_same_origin(request)
    token = request.cookies.get(COOKIE, "")
    if not token:
        raise AppError(ErrorCode.AUTHENTICATION_ERROR, "no session cookie; sign in")
    return token


def set_refresh(response: Response, request: Request, token: str, max_age: int, hsts: str) -> None:
    response.set_cookie(COOKIE, token, max_age=max_age, path=COOKIE_PATH, httponly=True, samesite="strict",
                        secure=_tls(request, hsts))


def clear_refresh(response: Response, request: Request, hsts: str) -> None:
    response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict", secure=_tls(request, hsts))
