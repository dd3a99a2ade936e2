"""Sign-in throttling: failed attempts per username and client address, counted in the cache.

After `PORTAL_LOGIN_MAX_FAILURES` failures the pair is locked for `PORTAL_LOGIN_LOCK_SECONDS`,
during which no password is even checked. A successful sign-in clears the count. The cache must
be shared by all app servers in production (Django's CACHES, e.g. Redis or the database cache);
the default local-memory cache counts per process.
"""

import hashlib

from django.conf import settings
from django.core.cache import cache

DEFAULT_MAX_FAILURES = 5
DEFAULT_LOCK_SECONDS = 15 * 60


def max_failures() -> int:
    return getattr(settings, "PORTAL_LOGIN_MAX_FAILURES", DEFAULT_MAX_FAILURES)


def lock_seconds() -> int:
    return getattr(settings, "PORTAL_LOGIN_LOCK_SECONDS", DEFAULT_LOCK_SECONDS)


def _key(username: str, address: str | None) -> str:
    # Hashed: usernames and addresses do not show in the cache's keys.
    raw = f"{username.strip().casefold()}|{address or ''}".encode()
    return "portal-login-failures:" + hashlib.sha256(raw).hexdigest()


def client_address(request) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def is_locked(username: str, address: str | None) -> bool:
    return cache.get(_key(username, address), 0) >= max_failures()


def record_failure(username: str, address: str | None) -> None:
    key = _key(username, address)
    if not cache.add(key, 1, lock_seconds()):
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, lock_seconds())
            return
        if count >= max_failures():
            cache.touch(key, lock_seconds())  # the lock lasts its full time from now


def clear(username: str, address: str | None) -> None:
    cache.delete(_key(username, address))
