import asyncio
import base64
import json
import time

import jwt
import pytest

from chatbot_common.errors import AppError, ErrorCode
from gateway.security import Principal, TokenIssuer, hash_password, verify_password
from gateway.sse import event, with_heartbeats

SECRET = "s" * 48


def issuer(**overrides) -> TokenIssuer:
    values = {"secret": SECRET, "issuer": "iss", "audience": "aud", "access_ttl": 60, "refresh_ttl": 600, **overrides}
    return TokenIssuer(**values)


def test_access_token_round_trip():
    token = issuer().access_token(Principal("usr_1", "t1", "member"))
    assert issuer().principal(token) == Principal("usr_1", "t1", "member")


@pytest.mark.parametrize(
    "mutate",
    [
        lambda t: issuer(secret="x" * 48).principal(t),  # signed with another key
        lambda t: issuer(audience="other").principal(t),
        lambda t: issuer(issuer="other").principal(t),
        lambda t: issuer().decode(t, "refresh"),  # an access token is not a refresh token
        lambda t: issuer().principal(t[:-4] + ("AAAA" if not t.endswith("AAAA") else "BBBB")),  # tampered signature
    ],
)
def test_rejected_tokens(mutate):
    token = issuer().access_token(Principal("usr_1", "t1", "member"))
    with pytest.raises(AppError) as info:
        mutate(token)
    assert info.value.code is ErrorCode.AUTHENTICATION_ERROR


def test_alg_none_and_expired_are_rejected():
    now = int(time.time())
    claims = {"iss": "iss", "aud": "aud", "sub": "usr_1", "iat": now, "nbf": now, "exp": now + 60, "jti": "j", "typ": "access"}
    header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "typ": "JWT"}).encode()).rstrip(b"=").decode()
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(AppError):
        issuer().principal(f"{header}.{payload}.")
    expired = jwt.encode({**claims, "exp": now - 60, "iat": now - 120, "nbf": now - 120}, SECRET, algorithm="HS256")
    with pytest.raises(AppError) as info:
        issuer().principal(expired)
    assert info.value.message == "token expired"


def test_password_hashing():
    hashed = hash_password("correct horse")
    assert hashed.startswith("$argon2id$")
    assert verify_password(hashed, "correct horse")
    assert not verify_password(hashed, "wrong horse")
    assert not verify_password(None, "anything")


def test_sse_framing_and_heartbeats():
    assert event("token", {"token": "a", "index": 0}) == b'event: token\ndata: {"token":"a","index":0}\n\n'

    async def slow():
        await asyncio.sleep(0.05)
        yield "first"
        yield "second"

    async def collect():
        return [item async for item in with_heartbeats(slow(), 0.01)]

    items = asyncio.run(collect())
    assert items[-2:] == ["first", "second"]
    assert items[0] is None and set(items[:-2]) == {None}
