"""Entry point of the pipe: variables -> action -> report.

Runs as a ``pipe:`` step, with ``docker run -e ...`` of its image, or as ``python3 pipe/pipe.py`` from
a checkout. This is the only module that exits the process; everything below raises. The green (or
red) line is the last line of the output: everything else is logged, and flushed, before it.
"""

from __future__ import annotations

import base64
import logging
import os
import sys
from pathlib import Path
from typing import Any


def _import_path() -> None:
    # Run as a script, sys.path[0] is this file's directory, where "pipe" would be this module: put the
    # directory above it first so "pipe" is the package and "vocab" is found beside it.
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    sys.path.insert(0, str(here.parent))


def _secrets(env: dict[str, str]) -> list[str]:
    secrets = [env.get(name, "") for name in ("BITBUCKET_PACKAGES_TOKEN", "ATLASSIAN_API_TOKEN")]
    # and the encodings files and headers carry them in (.npmrc _password, docker auth, Basic)
    users = [env.get(name, "") for name in ("BITBUCKET_PACKAGES_USERNAME", "ATLASSIAN_ACCOUNT_EMAIL")]
    others = [env[name] for name in ("COSIGN_PRIVATE_KEY", "COSIGN_PASSWORD", "SOURCE_PASSWORD") if env.get(name)]
    return secrets + others + [base64.b64encode(text.encode()).decode() for secret in secrets if secret
                               for text in [secret, *(f"{user}:{secret}" for user in users if user)]]


def _flush(logger: logging.Logger) -> None:
    for handler in logger.handlers:
        handler.flush()
    sys.stderr.flush()
    sys.stdout.flush()


def main() -> None:
    _import_path()
    from pipe.console import configure_logging, success
    from pipe.errors import PipeError
    from pipe.inputs import InputError, read
    from pipe.report import install_mask

    env = dict(os.environ)
    logger = configure_logging()
    mask = install_mask(logger, _secrets(env))
    try:
        inputs = read(env)
    except InputError as exc:
        _fail(str(exc), env, env, logger, mask)
        return
    for warning in inputs.warnings:
        logger.warning(mask.mask(warning))
    variables = inputs.variables
    debug = bool(variables.get("DEBUG"))
    if debug:
        logger.setLevel(logging.DEBUG)
    else:
        for noisy in ("urllib3", "docker"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    _registry_scheme(variables, logger)

    from pipe import results

    action = variables.get("ACTION") or "publish"
    package_type = variables.get("PACKAGE_TYPE") or "container"
    shared = env.get("BITBUCKET_PIPE_SHARED_STORAGE_DIR")
    try:
        lines, message, document = _run(action, package_type, variables, env, logger)
    except (PipeError, KeyboardInterrupt, Exception) as exc:  # noqa: BLE001 - the one place errors become messages
        if isinstance(exc, PipeError):
            message = str(exc)
        elif isinstance(exc, KeyboardInterrupt):
            message = "Interrupted."
        else:
            message = (f"Unexpected error: {type(exc).__name__}: {exc}. Run again with DEBUG: 'true' for details, "
                       "and include them when you report it.")
        if debug:
            import traceback

            logger.debug(mask.mask(traceback.format_exc()))
        _fail(message, variables, env, logger, mask)
        return
    for line in lines:
        logger.info(mask.mask(line))
    if shared:
        _write_result(Path(shared), results.success(action, package_type, document), logger, mask)
    _flush(logger)
    success(mask.mask(message))


def _run(action: str, package_type: str, variables: dict[str, Any], env: dict[str, str],
         logger: logging.Logger) -> tuple[list[str], str, dict[str, Any]]:
    """Do the call: (lines for the log, the success line, the result document's fields).

    Only the action that runs is imported: a warm re-push is mostly start-up time."""
    if action == "configure":
        from pipe.actions import configure

        done = configure.run(configure.load(variables, env), logger)
    elif action in ("merge", "copy"):
        from pipe.actions import images
        from pipe.supply import attach

        target = images.load_target(variables, env)
        if action == "merge":
            done = images.merge(target, list(variables.get("IMAGES") or []), attach.load(variables, env), logger)
        else:
            if not variables.get("SOURCE_IMAGE"):
                from pipe.errors import PipeError

                raise PipeError("ACTION copy needs SOURCE_IMAGE: the image to copy in.")
            done = images.copy(target, variables["SOURCE_IMAGE"], variables.get("SOURCE_USERNAME"),
                               env.get("SOURCE_PASSWORD"), attach.load(variables, env), logger)
    elif package_type == "npm":
        from pipe.actions import npm

        done = npm.run(npm.load(variables, env), logger)
    elif package_type == "maven":
        from pipe.actions import maven

        done = maven.run(maven.load(variables, env), logger)
    elif package_type == "pypi":
        from pipe.actions import pypi

        done = pypi.run(pypi.load(variables, env), logger)
    else:
        from pipe.actions import container
        from pipe.config import load_settings
        from pipe.report import container_fields
        from pipe.supply import attach

        settings = load_settings(variables, env)
        outcome = container.run(settings, logger, attach.load(variables, env))
        if outcome.result is None:  # PUSH: false
            fields = {"registry": settings.registry.netloc, "name": settings.name, "tags": settings.tags,
                      "pushed": False}
        else:
            fields = container_fields(settings.registry.netloc, outcome.result, outcome.seconds)
            fields.update(attach.result_fields(outcome.attached))
        return outcome.lines, outcome.success, fields
    for warning in done.warnings:
        logger.warning(warning)
    return done.lines, done.success, done.result


def _fail(message: str, variables: dict[str, Any], env: dict[str, str], logger: logging.Logger, mask: Any) -> None:
    """The red last line, after a failure result (so that an older success is never taken for this call)."""
    from pipe import results
    from pipe.console import fail

    message = mask.mask(message)
    shared = env.get("BITBUCKET_PIPE_SHARED_STORAGE_DIR")
    if shared:
        action = variables.get("ACTION") or "publish"
        package_type = variables.get("PACKAGE_TYPE") or "container"
        failed = results.failure(action, package_type, results.identify(variables, env), message)
        _write_result(Path(shared), failed, logger, mask)
    _flush(logger)
    fail(message)


def _registry_scheme(variables: dict[str, Any], logger: logging.Logger) -> None:
    """REGISTRY 127.0.0.1:5090 (no scheme, loopback, no TLS there): use http, and say so."""
    from pipe.endpoints import loopback_scheme

    value = str(variables.get("REGISTRY") or "")
    if value and loopback_scheme(value) == "http":
        variables["REGISTRY"] = f"http://{value.strip()}"
        logger.info(f"REGISTRY {value} has no scheme and does not speak TLS: using {variables['REGISTRY']} "
                    f"(set REGISTRY: '{variables['REGISTRY']}' to say so)")


def _write_result(directory: Path, document: dict[str, Any], logger: logging.Logger, mask: Any) -> None:
    """Result files are for later commands: failing to write them is a warning, never a failed step."""
    from pipe.results import write

    try:
        paths = write(directory, document)
    except OSError as exc:
        logger.warning(mask.mask(f"Could not write the result file under {directory} ({exc}); "
                                 f"the {'call succeeded' if document['status'] == 'success' else 'error is above'}."))
        return
    logger.info(f"Result written to {paths[0]}" + (f" and {paths[1]}" if len(paths) > 1 else ""))


def _leave(code: object) -> None:
    """Exit with ``code`` once the output is flushed, without the interpreter's teardown.

    By now every thread the work started has been joined and every temporary directory removed (pools
    and TemporaryDirectory are context managers), and the output flushed: what is left, freeing a few
    hundred modules one by one, took about 10 ms of a 120 ms warm re-push. Skipping it also means a
    stray thread (an upload cut short by an error) cannot keep the step running after the red line."""
    sys.stdout.flush()
    sys.stderr.flush()
    if code is None:
        code = 0
    elif not isinstance(code, int):
        print(code, file=sys.stderr, flush=True)
        code = 1
    os._exit(code)


if __name__ == "__main__":
    try:
        main()
    except SystemExit as exc:
        _leave(exc.code)
    _leave(0)
