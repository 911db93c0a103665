"""PyPI answers to refusals, in the status line (twine and uv print the reason phrase of a failed
upload, as PyPI sends its messages there; twine's --skip-existing looks for "File already exists")."""

from __future__ import annotations

from registry.reason_errors import ReasonPhraseError


class PypiError(ReasonPhraseError):
    pass


def invalid(message: str) -> PypiError:
    return PypiError(400, message)


def not_found(what: str) -> PypiError:
    return PypiError(404, f"{what} not found")


def project_unknown(workspace: str, project: str) -> PypiError:
    # Also the answer to a caller who may not read the project: it must not tell them it exists.
    return PypiError(
        404,
        f"PyPI package {workspace}/{project} not found. If it is yours, create it and link it to a repository "
        f"first: packages-registry package create {workspace}/{project} --type pypi --repository "
        f"{workspace}/<repository> (or the Create package page)",
    )


def unauthorized(realm: str, message: str = "authentication required") -> PypiError:
    return PypiError(401, message, {"WWW-Authenticate": f'Basic realm="{realm}", charset="UTF-8"'})


def denied(message: str) -> PypiError:
    return PypiError(403, message)


def file_exists(filename: str) -> PypiError:
    # PyPI's words: twine --skip-existing, uv publish and Poetry look for "File already exists".
    return PypiError(400, f"File already exists ({filename!r}): a file name can be uploaded only once, "
                          "even after it is deleted. Upload a new version instead.")
