"""Errors raised at the boundaries, each naming the file (and row and column where there is one)."""

from __future__ import annotations

from pathlib import Path


class SafetynetError(Exception):
    """Base class: the message is one line a user can act on."""


class DeliveryError(SafetynetError):
    """A delivered file that is unusable as a whole (empty, binary, no header, ...)."""

    def __init__(self, path: Path | str, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class LandingError(SafetynetError):
    """The landing folder or the month folder cannot be used at all."""


class RulesError(SafetynetError):
    """A rule or contract file that does not load; names the file and the key."""


class SetupError(SafetynetError):
    """The machine lacks something a run needs (for example the Chinese font for the reports)."""
