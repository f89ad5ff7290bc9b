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

# Under TLS the cookie is `__Host-` prefixed (Secure, Path=/, no Domain), so that a sibling
# subdomain cannot plant one of the same name for the browser to send with ours; over plain HTTP
# (development on loopback) the prefix is not allowed, and the cookie is scoped to the auth routes.
COOKIE = "chatbot_refresh"
SECURE_COOKIE = "__Host-chatbot_refresh"
COOKIE_PATH = "/api/v1/auth"
MODE_HEADER = "x-auth-session"


def _cookie(request: Request, hsts: str) -> tuple[str, str, bool]:
    """(name, path, secure) of the refresh cookie for this request."""
    return (SECURE_COOKIE, "/", True) if _tls(request, hsts) else (COOKIE, COOKIE_PATH, False)


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


def cookie_token(request: Request, hsts: str) -> str:
    """The refresh token of a cookie-authenticated refresh, after the CSRF checks. Two cookies
    of the name (one planted by a sibling site) are refused rather than guessed between."""
    check_same_origin(request)
    name, _, _ = _cookie(request, hsts)
    sent = [part.split("=", 1)[1].strip() for part in request.headers.get("cookie", "").split(";")
            if part.strip().startswith(name + "=")]
    if len(sent) > 1:
        raise AppError(ErrorCode.AUTHENTICATION_ERROR, "more than one session cookie; sign in again")
    if not sent or not sent[0]:
        raise AppError(ErrorCode.AUTHENTICATION_ERROR, "no session cookie; sign in")
    return sent[0]


def set_refresh(response: Response, request: Request, token: str, max_age: int, hsts: str) -> None:
    name, path, secure = _cookie(request, hsts)
    response.set_cookie(name, token, max_age=max_age, path=path, httponly=True, samesite="strict", secure=secure)


def clear_refresh(response: Response, request: Request, hsts: str) -> None:
    name, path, secure = _cookie(request, hsts)
    response.delete_cookie(name, path=path, httponly=True, samesite="strict", secure=secure)


# The browser that starts an external sign-in holds this until the issuer sends it back, so that
# the callback counts only there (a callback URL sent to someone else signs nobody in). Lax, not
# Strict: the callback is a top-level navigation from the issuer's site.
SIGN_IN_COOKIE = "chatbot_oidc"
SECURE_SIGN_IN_COOKIE = "__Host-chatbot_oidc"
SIGN_IN_COOKIE_PATH = "/api/v1/auth/oidc"


def _sign_in_cookie(request: Request, hsts: str) -> tuple[str, str, bool]:
    return (SECURE_SIGN_IN_COOKIE, "/", True) if _tls(request, hsts) else (SIGN_IN_COOKIE, SIGN_IN_COOKIE_PATH, False)


def sign_in_binding(request: Request, hsts: str) -> str | None:
    name, _, _ = _sign_in_cookie(request, hsts)
    return request.cookies.get(name) or None


def set_sign_in_binding(response: Response, request: Request, value: str, max_age: int, hsts: str) -> None:
    name, path, secure = _sign_in_cookie(request, hsts)
    response.set_cookie(name, value, max_age=max_age, path=path, httponly=True, samesite="lax", secure=secure)

