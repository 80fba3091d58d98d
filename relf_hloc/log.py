"""The package logger, ``logging.getLogger("relf_hloc")``: every step reports through it.

Like hloc's, it prints by default (progress and summaries to stdout, warnings to stderr, message
only), so scripts and notebooks see what the steps do. A caller silences or redirects it as any
logger (``logging.getLogger("relf_hloc").setLevel(logging.WARNING)``, or its own handlers); the
command line sets its level with ``-v`` / ``-q`` (``configure``).
"""

from __future__ import annotations

import logging
import sys

logger = logging.getLogger("relf_hloc")


class ConsoleHandler(logging.Handler):
    """Records below WARNING to stdout, the others to stderr, both looked up at each record (so a
    redirected or captured ``sys.stdout`` receives them)."""

    def emit(self, record: logging.LogRecord) -> None:
        """Write one record to the stream of its level."""
        stream = sys.stderr if record.levelno >= logging.WARNING else sys.stdout
        try:
            stream.write(self.format(record) + "\n")
            stream.flush()
        except Exception:  # noqa: BLE001 -- logging's contract: a failing handler never raises
            self.handleError(record)


if not any(isinstance(h, ConsoleHandler) for h in logger.handlers):
    logger.addHandler(ConsoleHandler())
    logger.setLevel(logging.INFO)
    logger.propagate = False


def configure(verbosity: int = 0) -> None:
    """The command line's level: 0 INFO (the default), 1 or more DEBUG (``-v``), -1 WARNING (``-q``),
    -2 or less ERROR (``-qq``)."""
    levels = {1: logging.DEBUG, 0: logging.INFO, -1: logging.WARNING}
    logger.setLevel(levels.get(max(min(verbosity, 1), -2), logging.ERROR))
