"""Password hashing (argon2id) and the password policy (length and a list of common ones)."""

from __future__ import annotations

import gzip
from functools import cache
from importlib import resources

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app


def _hasher() -> PasswordHasher:
    ext = current_app.extensions
    if "portal.hasher" not in ext:
        cfg = current_app.config
        ext["portal.hasher"] = PasswordHasher(
            time_cost=cfg["ARGON2_TIME_COST"],
            memory_cost=cfg["ARGON2_MEMORY_COST"],
            parallelism=cfg["ARGON2_PARALLELISM"],
            type=Type.ID,
        )
    return ext["portal.hasher"]


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Check a password in about the same time whether or not the account exists."""
    known = password_hash is not None
    try:
        stored = password_hash if password_hash is not None else _dummy_hash()
        matched = _hasher().verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False
    return matched and known


def needs_rehash(password_hash: str) -> bool:
    return _hasher().check_needs_rehash(password_hash)


def _dummy_hash() -> str:
    ext = current_app.extensions
    if "portal.dummy_hash" not in ext:
        ext["portal.dummy_hash"] = hash_password("dummy password for unknown accounts")
    return ext["portal.dummy_hash"]


@cache
def common_passwords() -> frozenset[str]:
    """The 19,640 most common passwords (the list Django bundles, by Royce Williams)."""
    data = resources.files("portal").joinpath("data/common-passwords.txt.gz").read_bytes()
    return frozenset(gzip.decompress(data).decode().split())


def password_problem(password: str, *, email: str = "", display_name: str = "") -> str | None:
    """Why this password is refused, or None. Any characters are allowed; no composition rules."""
    cfg = current_app.config
    if len(password) < cfg["PASSWORD_MIN_LENGTH"]:
        return f"Use at least {cfg['PASSWORD_MIN_LENGTH']} characters."
    if len(password) > cfg["PASSWORD_MAX_LENGTH"]:
        return f"Use at most {cfg['PASSWORD_MAX_LENGTH']} characters."
    lowered = password.lower()
    if lowered in common_passwords() or lowered.strip() in common_passwords():
        return "This password is one of the most common ones and is easy to guess. Choose another."
    personal = {email.lower(), email.lower().partition("@")[0], display_name.lower()}
    if lowered in personal - {""}:
        return "Your password must not be your email address or your name."
    return None
