"""Entry point of the pipe: variables -> action -> report.

Runs as a ``pipe:`` step, with ``docker run -e ... IMAGE``, or as ``python3 pipe/pipe.py`` from a
checkout. This is the only module that exits the process; everything below raises.
"""

from __future__ import annotations

import base64
import os
import sys
import traceback
from pathlib import Path


def _import_path() -> None:
    # Run as a script, sys.path[0] is this file's directory, where "pipe" would be this module: put the
    # directory above it first so "pipe" is the package and "vocab" is found beside it.
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    sys.path.insert(0, str(here.parent))


def _check_list_counts(env: dict[str, str]) -> str | None:
    """The toolkit crashes on a NAME_COUNT that is not a number; say it like its other validation errors."""
    from pipe.schema import LIST_VARIABLES

    problems = []
    for name in LIST_VARIABLES:
        count = env.get(f"{name}_COUNT")
        if count is not None and not count.strip().isdigit():
            problems.append(f"{name}_COUNT:\n- must be a whole number (the number of {name}_N items)")
    return "\n".join(problems) or None


def main() -> None:
    _import_path()
    from bitbucket_pipes_toolkit import Pipe, fail, get_logger

    from pipe.actions import configure, container, maven, npm, pypi
    from pipe.config import load_settings
    from pipe.errors import PipeError
    from pipe.report import install_mask
    from pipe.schema import SCHEMA, make_validator

    env = dict(os.environ)
    problem = _check_list_counts(env)
    if problem:
        fail(f"Validation errors: \n{problem}")
    pipe = Pipe(schema=SCHEMA, env=env, validator=make_validator(), check_for_newer_version=False)
    logger = get_logger()
    debug = bool(pipe.get_variable("DEBUG"))
    secrets = [env.get(name, "") for name in ("BITBUCKET_PACKAGES_TOKEN", "ATLASSIAN_API_TOKEN")]
    # and the encodings files and headers carry them in (.npmrc _password, docker auth, Basic)
    users = [env.get(name, "") for name in ("BITBUCKET_PACKAGES_USERNAME", "ATLASSIAN_ACCOUNT_EMAIL")]
    secrets += [base64.b64encode(text.encode()).decode() for secret in secrets if secret
                for text in [secret, *(f"{user}:{secret}" for user in users if user)]]
    mask = install_mask(logger, secrets)
    if not debug:
        import logging

        for noisy in ("urllib3", "docker"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    variables = pipe.variables
    package_type = variables.get("PACKAGE_TYPE") or "container"
    try:
        if variables.get("ACTION") == "configure":
            done = configure.run(configure.load(variables, env), logger)
        elif package_type == "npm":
            done = npm.run(npm.load(variables, env), logger)
        elif package_type == "maven":
            done = maven.run(maven.load(variables, env), logger)
        elif package_type == "pypi":
            done = pypi.run(pypi.load(variables, env), logger)
        else:
            settings = load_settings(variables, env)
            outcome = container.run(settings, logger)
            done = None
    except PipeError as exc:
        if debug:
            logger.debug(mask.mask(traceback.format_exc()))
        pipe.fail(mask.mask(str(exc)))
        return
    except KeyboardInterrupt:
        pipe.fail("Interrupted.")
        return
    except Exception as exc:  # noqa: BLE001 - the one place an unexpected error becomes a message
        if debug:
            logger.error(mask.mask(traceback.format_exc()))
        pipe.fail(mask.mask(f"Unexpected error: {type(exc).__name__}: {exc}. Run again with DEBUG: 'true' "
                            "for details, and include them when you report it."))
        return
    if done is not None:
        for line in done.lines:
            logger.info(mask.mask(line))
        pipe.success(mask.mask(done.success))
        return
    for line in outcome.lines:
        logger.info(line)
    pipe.success(f"Pushed {settings.name}@{outcome.result.digest} to {settings.registry.netloc} as "
                 f"{', '.join(settings.tags)}")


if __name__ == "__main__":
    main()
