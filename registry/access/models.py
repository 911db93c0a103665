"""The access model of Bitbucket Packages, as values."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from vocab.scopes import SCOPE_READ, SCOPE_WRITE


class Right(IntEnum):
    """What a principal may do on a package; each right includes the ones below it."""

    NONE = 0
    READ = 1  # pull / install / download
    WRITE = 2  # push / publish
    ADMIN = 3  # create, delete


ROLES = {"read": Right.READ, "write": Right.WRITE, "admin": Right.ADMIN}

SCOPES = (SCOPE_READ, SCOPE_WRITE)

PACKAGE_TYPES = ("container", "npm", "maven", "pypi")


def scope_ceiling(scopes: frozenset[str]) -> Right:
    """The most a token's scopes allow: write scope lets the user's role through whole
    (pushing needs pulls too), read scope caps it at READ."""
    if SCOPE_WRITE in scopes:
        return Right.ADMIN
    if SCOPE_READ in scopes:
        return Right.READ
    return Right.NONE


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts for.

    ``kind`` is ``anonymous``, ``user`` (an email with an API token or a UI
    session) or ``pipeline`` (a pipeline token, bound to one repository).
    """

    kind: str
    name: str = ""
    credential_id: str | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)
    repository_id: int | None = None  # pipeline tokens only
    workspace: str | None = None  # pipeline tokens only
    expires_at: float | None = None  # when the credential stops working (None: not known to expire)
    # How the audit log names the credential ("api token ID (NAME)"), when the lookup that authenticated it
    # read that already (never anything secret); else the audit log looks it up.
    credential_label: str | None = None

    @property
    def is_anonymous(self) -> bool:
        return self.kind == "anonymous"


ANONYMOUS = Principal(kind="anonymous")


def api_token_label(token_id: str, name: str) -> str:
    """An API token as the audit log names it (its id and name, never its secret)."""
    return f"api token {token_id} ({name})"


def pipeline_token_label(token_id: str, repository: str) -> str:
    """A pipeline token as the audit log names it (its id and its repository, workspace/slug)."""
    return f"pipeline token {token_id} of repository {repository}"


@dataclass(frozen=True, slots=True)
class Package:
    id: int
    workspace: str
    type: str
    name: str
    repository_id: int
    repository: str  # "workspace/slug"
    created_at: float
    updated_at: float

    @property
    def full_name(self) -> str:
        return f"{self.workspace}/{self.name}"


def limit_reason(principal: Principal, right: Right, need: Right) -> str:
    """Why ``principal`` has only ``right`` where it needs ``need``, as the end of a denial message: a token
    scope that caps the user's role is named, since asking for a role would not help."""
    if principal.kind == "user" and scope_ceiling(principal.scopes) < need:
        return (f"your credentials allow {right.name.lower()} there: the API token lacks the scope "
                f"{SCOPE_WRITE}.")
    return f"your credentials allow {right.name.lower()} there."
