"""Sign-up, sign-in and token shapes, and the account as the API shows it."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

from gateway.identity.sessions import IssuedTokens
from gateway.models import User


class Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr
    password: str = Field(min_length=1, max_length=256)

    @field_validator("email")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.strip().lower()


class Registration(Credentials):
    organization: str | None = Field(
        None, min_length=1, max_length=200, description="Create a new organisation (tenant) with you as its admin"
    )


class UserOut(BaseModel):
    id: str
    email: str
    name: str = ""
    tenant_id: str
    role: str
    is_active: bool = True
    created_at: datetime


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int


class AccessToken(BaseModel):
    """The cookie flow's answer: the refresh token went into an httpOnly cookie."""

    access_token: str
    token_type: str = "bearer"
    expires_in: int


class RefreshIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: str = Field(min_length=1, max_length=4096)


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: str = Field(min_length=1, max_length=256)
    new_password: str = Field(min_length=1, max_length=256)


def user_out(user: User) -> UserOut:
    return UserOut(id=user.id, email=user.email, name=user.name or "", tenant_id=user.tenant_id, role=user.role, is_active=user.is_active,
                   created_at=user.created_at)


def token_pair(tokens: IssuedTokens) -> TokenPair:
    return TokenPair(access_token=tokens.access_token, refresh_token=tokens.refresh_token, expires_in=tokens.expires_in)


def access_token(tokens: IssuedTokens) -> AccessToken:
    return AccessToken(access_token=tokens.access_token, expires_in=tokens.expires_in)
