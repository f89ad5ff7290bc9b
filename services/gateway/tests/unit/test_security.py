import time

import jwt
import pytest
from jwt_mutations import CASES as JWT_CASES, Forge

from chatbot_common.errors import AppError, ErrorCode
from gateway.keys import KeyRing
from gateway.security import Principal, TokenIssuer, hash_password, verify_password


@pytest.fixture(autouse=True)
def ring(tmp_path):
    global RING, OTHER_RING
    RING = KeyRing(tmp_path / "keys", create=True)
    OTHER_RING = KeyRing(tmp_path / "other", create=True)
    return RING


def issuer(**overrides) -> TokenIssuer:
    values = {"keys": RING, "issuer": "iss", "audience": "aud", "access_ttl": 60, "refresh_ttl": 600, **overrides}
    return TokenIssuer(**values)


def test_access_token_round_trip():
    token = issuer().access_token(Principal("usr_1", "t1", "member"))
    assert issuer().principal(token) == Principal("usr_1", "t1", "member")


@pytest.mark.parametrize(
    "mutate",
    [
        lambda t: issuer(keys=OTHER_RING).principal(t),  # verified with another key ring
        lambda t: issuer(audience="other").principal(t),
        lambda t: issuer(issuer="other").principal(t),
        lambda t: issuer().decode(t, "refresh"),  # an access token is not a refresh token
    ],
)
def test_a_verifier_configured_otherwise_rejects_the_token(mutate):
    token = issuer().access_token(Principal("usr_1", "t1", "member"))
    with pytest.raises(AppError) as info:
        mutate(token)
    assert info.value.code is ErrorCode.AUTHENTICATION_ERROR


def forge() -> Forge:
    return Forge(RING.active.kid, RING.active.private, issuer="iss", audience="aud", subject="usr_1",
                 extra={"tid": "t1", "role": "member", "sep": 0})


def test_the_unmutated_forged_token_is_accepted():
    assert issuer().principal(forge().valid()) == Principal("usr_1", "t1", "member")


# The same cases run over HTTP against a running gateway: tests/e2e/test_identity.py.
@pytest.mark.parametrize("case", JWT_CASES)
def test_jwt_mutations_are_all_rejected(case):
    with pytest.raises(AppError) as info:
        issuer().principal(JWT_CASES[case](forge()))
    assert info.value.code is ErrorCode.AUTHENTICATION_ERROR


def test_rotation_keeps_old_tokens_valid_until_retired():
    old = issuer().access_token(Principal("usr_1", "t1", "member"))
    old_kid = RING.active.kid
    RING.rotate()
    new = issuer().access_token(Principal("usr_1", "t1", "member"))
    assert jwt.get_unverified_header(new)["kid"] == RING.active.kid != old_kid
    assert issuer().principal(old).user_id == issuer().principal(new).user_id == "usr_1"
    assert {k["kid"] for k in RING.jwks()["keys"]} == {old_kid, RING.active.kid}
    assert all(k["kty"] == "OKP" and k["alg"] == "EdDSA" and "d" not in k for k in RING.jwks()["keys"])  # public only
    assert RING.retire(old_kid)
    with pytest.raises(AppError):
        issuer().principal(old)
    assert issuer().principal(new).user_id == "usr_1"


def test_expired_says_so():
    now = int(time.time())
    f = forge()
    with pytest.raises(AppError) as info:
        issuer().principal(f.sign(f.claims(exp=now - 60, iat=now - 120, nbf=now - 120)))
    assert info.value.message == "token expired"


def test_password_hashing():
    hashed = hash_password("correct horse")
    assert hashed.startswith("$argon2id$")
    assert verify_password(hashed, "correct horse")
    assert not verify_password(hashed, "wrong horse")
    assert not verify_password(None, "anything")


def test_verified_tokens_are_cached_but_expiry_and_retired_keys_still_apply(monkeypatch):
    iss = issuer()
    token = iss.access_token(Principal("usr_1", "t1", "member"))
    assert iss.principal(token).user_id == "usr_1"
    assert token in iss._verified
    kid = RING.active.kid
    RING.rotate()
    assert RING.retire(kid)
    with pytest.raises(AppError):  # its key is gone: the cached verification no longer counts
        iss.principal(token)
    fresh = iss.access_token(Principal("usr_2", "t1", "member"))
    assert iss.principal(fresh).user_id == "usr_2"
    decoded = []
    real_decode = TokenIssuer.decode
    monkeypatch.setattr(TokenIssuer, "decode", lambda self, t, typ: decoded.append(t) or real_decode(self, t, typ))
    iss.principal(fresh)
    assert decoded == []  # served from the cache
    later = time.time() + 3600
    monkeypatch.setattr(time, "time", lambda: later)
    iss.principal(fresh)
    assert decoded == [fresh]  # past its expiry the cached entry is not trusted: verified afresh
