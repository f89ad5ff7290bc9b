"""Roles, API-key scopes and the permissions they grant. The README's role table is this file."""

from __future__ import annotations

from typing import Literal

Role = Literal["admin", "member", "viewer"]
Scope = Literal["chat", "documents:read", "documents:write", "admin"]
ROLES: tuple[str, ...] = ("admin", "member", "viewer")
SCOPES: tuple[str, ...] = ("chat", "documents:read", "documents:write", "admin")

CHAT = "chat"
DOCUMENTS_READ = "documents:read"
DOCUMENTS_WRITE = "documents:write"
DOCUMENTS_SHARE = "documents:share"  # upload with visibility=tenant, or share (unshare) later
ADMIN = "admin"

ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": frozenset({CHAT, DOCUMENTS_READ, DOCUMENTS_WRITE, DOCUMENTS_SHARE, ADMIN}),
    "member": frozenset({CHAT, DOCUMENTS_READ, DOCUMENTS_WRITE, DOCUMENTS_SHARE}),
    "viewer": frozenset({CHAT, DOCUMENTS_READ}),
}

SCOPE_PERMISSIONS: dict[str, frozenset[str]] = {
    "chat": frozenset({CHAT}),
    "documents:read": frozenset({DOCUMENTS_READ}),
    "documents:write": frozenset({DOCUMENTS_WRITE, DOCUMENTS_SHARE}),
    "admin": frozenset({ADMIN}),
}


def role_permissions(role: str) -> frozenset[str]:
    return ROLE_PERMISSIONS.get(role, frozenset())


def key_permissions(scopes: list[str], owner_role: str) -> frozenset[str]:
    """A key never grants more than the account it acts for holds."""
    granted = frozenset().union(*(SCOPE_PERMISSIONS.get(s, frozenset()) for s in scopes)) if scopes else frozenset()
    return granted & role_permissions(owner_role)
