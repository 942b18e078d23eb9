"""User-facing errors: one line that names the field and what is allowed."""

from __future__ import annotations


class LearndynError(Exception):
    """An error caused by user input; the CLI prints it as one line, without a traceback."""


class ConfigError(LearndynError):
    """A recipe or argument field has a value that is not allowed."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(f"{field}: {message}")
