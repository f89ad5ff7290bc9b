"""What the sign-in screen learns before anyone is signed in."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ExternalSignIn(BaseModel):
    name: str = Field(description="the identity provider's name, for a 'Sign in with <name>' button")
    login_url: str = Field(description="where the browser goes to sign in (add return_to=<a path of this app>)")


class AuthConfig(BaseModel):
    oidc: ExternalSignIn | None = Field(description="sign-in through the configured external OpenID Connect issuer; null: none")
