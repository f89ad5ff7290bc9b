"""Accounts (the `users` table): sign-up, reading and changing an account, the password policy,
and the rule that an organisation keeps an admin.

Password hashing never holds a database connection: a caller hashes (`PasswordHashing.hash`)
before its session takes one, or reads in a short session of its own, releases it, then hashes."""

from __future__ import annotations

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from chatbot_common.db import utcnow
from chatbot_common.errors import AppError, ErrorCode
from chatbot_common.ids import new_id
from gateway import audit
from gateway.identity import tenants
from gateway.models import User
from gateway.security import PasswordHashing


def check_password_policy(password: str, min_length: int) -> None:
    if len(password) < min_length:
        raise AppError(ErrorCode.VALIDATION_ERROR, f"password must be at least {min_length} characters", {"field": "password"})


async def create(session: AsyncSession, email: str, password_hash: str, tenant_id: str, role: str) -> User:
    """Adds the account to the session's transaction (flushed, so a taken e-mail is a CONFLICT now)."""
    user = User(id=new_id("usr"), email=email, password_hash=password_hash,
                tenant_id=tenant_id, role=role, is_active=True, session_epoch=0, created_at=utcnow())
    session.add(user)
    try:
        await session.flush()
    except IntegrityError:
        await session.rollback()
        raise AppError(ErrorCode.CONFLICT, "an account with this email already exists") from None
    return user


async def register(session: AsyncSession, passwords: PasswordHashing, *, email: str, password: str, organization: str | None,
                   open_signup: bool, min_length: int, request: audit.Origin) -> User:
    """Open sign-up. It never joins an existing organisation: naming one creates it, naming none
    creates a personal one; in both the registrant is its admin. People join an organisation
    only when its admin adds them."""
    if not open_signup:
        raise AppError(ErrorCode.PERMISSION_DENIED, "sign-up is closed; ask your organisation's admin for an account")
    check_password_policy(password, min_length)
    password_hash = await passwords.hash(password)
    tenant = tenants.create(session, organization)
    role = "admin"
    user = await create(session, email, password_hash, tenant.id, role)
    audit.add(session, audit.event(tenant_id=tenant.id, actor_id=user.id, actor_kind="user", action="user.register",
                                   target_type="user", target_id=user.id, request=request,
                                   details={"role": role, "organization": "named" if organization else "personal"}))
    await session.commit()
    return user


async def get(session: AsyncSession, user_id: str) -> User | None:
    return await session.get(User, user_id)


async def by_email(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(User.email == email))


async def in_tenant(session: AsyncSession, tenant_id: str, user_id: str) -> User:
    """An account of the tenant; one of another tenant is answered exactly like one that does not exist."""
    user = await session.get(User, user_id)
    if user is None or user.tenant_id != tenant_id:
        raise AppError(ErrorCode.NOT_FOUND, "user not found")
    return user


async def page(session: AsyncSession, tenant_id: str, limit: int, offset: int) -> tuple[int, list[User]]:
    where = User.tenant_id == tenant_id
    total = await session.scalar(select(func.count()).select_from(User).where(where)) or 0
    rows = (await session.scalars(select(User).where(where).order_by(User.created_at, User.id).limit(limit).offset(offset))).all()
    return total, list(rows)


async def count(session: AsyncSession, tenant_id: str, *, besides: str | None = None) -> int:
    where = [User.tenant_id == tenant_id] + ([User.id != besides] if besides else [])
    return await session.scalar(select(func.count()).select_from(User).where(*where)) or 0


async def active_admins(session: AsyncSession, tenant_id: str, *, besides: str | None = None) -> int:
    where = [User.tenant_id == tenant_id, User.role == "admin", User.is_active.is_(True)] + ([User.id != besides] if besides else [])
    return await session.scalar(select(func.count()).select_from(User).where(*where)) or 0


async def ensure_not_last_admin(session: AsyncSession, user: User) -> None:
    """An account leaving for good may not leave its organisation's other people without an admin."""
    if user.role != "admin":
        return
    admins = await active_admins(session, user.tenant_id, besides=user.id)
    others = await count(session, user.tenant_id, besides=user.id)
    if others and not admins:
        raise AppError(ErrorCode.CONFLICT, "the organisation's last admin cannot be erased while it has other users; appoint another admin first")


async def profile(session: AsyncSession, user_id: str) -> tuple[User, str]:
    """The caller's account and the name of its organisation."""
    user = await session.get(User, user_id)
    if user is None:
        raise AppError(ErrorCode.AUTHENTICATION_ERROR, "account not found")
    tenant = await tenants.load(session, user.tenant_id)
    return user, tenant.name if tenant else user.tenant_id


async def password_hash(session: AsyncSession, user_id: str) -> str | None:
    return await session.scalar(select(User.password_hash).where(User.id == user_id))


async def replace_password_hash(session: AsyncSession, user_id: str, verified: str, new: str) -> bool:
    """Only over the hash that was verified: a change made meanwhile wins, this one is refused."""
    changed = await session.execute(update(User).where(User.id == user_id, User.password_hash == verified).values(password_hash=new))
    return changed.rowcount == 1


async def raise_epoch(session: AsyncSession, user_id: str) -> None:
    """Every access token issued to the account so far stops working."""
    await session.execute(update(User).where(User.id == user_id).values(session_epoch=User.session_epoch + 1))


async def remove(session: AsyncSession, user_id: str) -> int:
    return (await session.execute(delete(User).where(User.id == user_id))).rowcount
