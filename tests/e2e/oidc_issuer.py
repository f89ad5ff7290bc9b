"""A small OpenID Connect issuer over real HTTP on a free port, for the browser sign-in tests:
discovery, an authorization endpoint that approves at once (it has no login page: the person is
already signed in there) or refuses when told, a token endpoint that checks the client's secret,
the redirect URI, the PKCE verifier and that each code is used once, and its JWKS.

What it signs and how it answers can be spoiled on purpose (`misbehave`): a wrong nonce, another
signing key, another audience, an expired ID token."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote_plus, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from fleet import free_port


class OidcIssuer:
    def __init__(self, client_id: str, client_secret: str, redirect_uris: list[str] | None = None) -> None:
        self.client_id, self.client_secret = client_id, client_secret
        self.redirect_uris = list(redirect_uris or [])
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = secrets.token_hex(6)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.person: dict = {"sub": "person-1", "email": "person@example.com", "email_verified": True}
        self.spoil: dict = {}
        self.codes: dict[str, dict] = {}
        self.token_replies: list[tuple[int, str]] = []  # (status, error) of each token request
        self.server: ThreadingHTTPServer | None = None
        self.start()

    # --- control ------------------------------------------------------------------------------

    def sign_in_as(self, **claims) -> None:
        """The person signed in at the issuer, and the claims their ID token carries (an address
        is verified unless `email_verified` says otherwise)."""
        self.person = ({"email_verified": True} if "email" in claims else {}) | dict(claims)

    def misbehave(self, **spoil) -> None:
        """deny=True, nonce=<other>, key=<another private key>, aud=<other>, expired=True; none: behave."""
        self.spoil = dict(spoil)

    def start(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        """Down: nothing listens on the port until `start`."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    # --- the protocol -------------------------------------------------------------------------

    def discovery(self) -> dict:
        return {"issuer": self.url, "authorization_endpoint": f"{self.url}/authorize", "token_endpoint": f"{self.url}/token",
                "jwks_uri": f"{self.url}/jwks", "response_types_supported": ["code"], "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"], "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic"]}

    def jwks(self) -> dict:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**public, "kid": self.kid, "use": "sig", "alg": "RS256"}]}

    def authorize(self, query: dict[str, str]) -> tuple[int, dict[str, str]]:
        redirect = query.get("redirect_uri", "")
        if query.get("client_id") != self.client_id or (self.redirect_uris and redirect not in self.redirect_uris):
            return 400, {}  # never redirect to an unregistered address
        back: dict[str, str] = {"state": query.get("state", ""), "iss": self.url}
        if self.spoil.get("deny"):
            back |= {"error": "access_denied", "error_description": "<script>alert('the user said no')</script>"}
        elif query.get("response_type") != "code" or query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            back |= {"error": "invalid_request"}
        else:
            code = secrets.token_urlsafe(24)
            self.codes[code] = {"redirect_uri": redirect, "challenge": query["code_challenge"], "nonce": query.get("nonce", ""),
                                "person": dict(self.person), "used": False}
            back["code"] = code
        return 302, {"Location": f"{redirect}?{urlencode(back)}"}

    def token(self, form: dict[str, str], authorization: str) -> tuple[int, dict]:
        # RFC 6749 2.3.1: id and secret are form-encoded before they are joined and base64-encoded.
        scheme, _, encoded = authorization.partition(" ")
        try:
            client_id, _, secret = base64.b64decode(encoded).decode().partition(":")
        except ValueError:
            return 401, {"error": "invalid_client"}
        if scheme != "Basic" or (unquote_plus(client_id), unquote_plus(secret)) != (self.client_id, self.client_secret):
            return 401, {"error": "invalid_client"}
        grant = self.codes.get(form.get("code", ""))
        if form.get("grant_type") != "authorization_code" or grant is None or grant["used"]:
            return 400, {"error": "invalid_grant"}
        grant["used"] = True  # a code works once, whatever happens next
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if form.get("redirect_uri") != grant["redirect_uri"] or challenge != grant["challenge"]:
            return 400, {"error": "invalid_grant"}
        now = int(time.time())
        claims = {"iss": self.url, "aud": self.spoil.get("aud", self.client_id), "iat": now, "exp": now + 300,
                  "nonce": self.spoil.get("nonce", grant["nonce"]), "auth_time": now, **grant["person"]}
        if self.spoil.get("expired"):
            claims |= {"iat": now - 900, "exp": now - 600}
        id_token = jwt.encode(claims, self.spoil.get("key", self.key), algorithm="RS256", headers={"kid": self.kid})
        return 200, {"access_token": secrets.token_urlsafe(24), "token_type": "Bearer", "expires_in": 300, "id_token": id_token}

    def _handler(self):
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def _send(self, status: int, body: dict | None = None, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Cache-Control", "no-store")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path == "/.well-known/openid-configuration":
                    self._send(200, issuer.discovery())
                elif url.path == "/jwks":
                    self._send(200, issuer.jwks())
                elif url.path == "/authorize":
                    status, headers = issuer.authorize(query)
                    self._send(status, None, headers)
                else:
                    self._send(404, {"error": "not_found"})

            def do_POST(self) -> None:  # noqa: N802
                if urlsplit(self.path).path != "/token":
                    self._send(404, {"error": "not_found"})
                    return
                length = int(self.headers.get("Content-Length", "0"))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                status, body = issuer.token(form, self.headers.get("Authorization", ""))
                issuer.token_replies.append((status, body.get("error", "")))
                self._send(status, body)

            def log_message(self, *args) -> None:
                pass

        return Handler
