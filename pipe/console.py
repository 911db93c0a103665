"""What the pipe prints, as bitbucket-pipes-toolkit prints it: colorlog's ``LEVEL: message`` lines (INFO in
blue), then a green ``✔ message`` or a red ``✖ message`` as the last line.

The toolkit itself is not imported: its package imports requests, cerberus, PyYAML and the docker SDK
on import, a good part of a warm re-push that needs none of them. Its logging set-up and its last lines
are these few calls of colorlog, done the same way.
"""

from __future__ import annotations

import logging
import sys

import colorlog
from colorlog.escape_codes import escape_codes

FORMAT = "%(log_color)s%(levelname)s: %(message)s"
LOG_COLORS = {**colorlog.default_log_colors, "INFO": "blue"}  # the toolkit's colours


def configure_logging() -> logging.Logger:
    """The root logger at INFO, writing coloured lines (colours kept without a TTY, as in Pipelines).

    Log lines go to stdout, like the green and red lines: docker (and so Pipelines) reads a container's
    stdout and stderr separately, so lines on two streams can reach the log out of order, and a summary on
    stderr could land after the success line."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(colorlog.ColoredFormatter(FORMAT, log_colors=LOG_COLORS))
    logger = logging.getLogger()
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return logger


def success(message: str) -> None:
    print(f"{escape_codes['green']}✔ {message}{escape_codes['reset']}", flush=True)


def fail(message: str) -> None:
    """The red line, then exit 1."""
    print(f"{escape_codes['red']}✖ {message}{escape_codes['reset']}", flush=True)
    sys.exit(1)
