"""The end of a denial message: what the credentials allow, and the token scope when that is what limits."""

from __future__ import annotations

from registry.access.models import SCOPE_READ, SCOPE_WRITE, Principal, Right, limit_reason


def test_a_read_scoped_token_is_named_as_the_limit() -> None:
    user = Principal("user", "dev@example.com", scopes=frozenset({SCOPE_READ}))
    assert limit_reason(user, Right.READ, Right.WRITE) == (
        f"your credentials allow read there: the API token lacks the scope {SCOPE_WRITE}.")


def test_a_role_limit_is_a_plain_sentence() -> None:
    user = Principal("user", "dev@example.com", scopes=frozenset({SCOPE_READ, SCOPE_WRITE}))
    assert limit_reason(user, Right.READ, Right.WRITE) == "your credentials allow read there."
    # deleting takes admin: a write scope lets the role through, so the role is what limits
    assert limit_reason(user, Right.WRITE, Right.ADMIN) == "your credentials allow write there."
