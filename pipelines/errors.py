"""The failures a job reports to its user, each with the exit code the CLI gives it."""

from __future__ import annotations

from typing import Any

MAX_ROWS_SHOWN = 5


class InputError(ValueError):
    """Bad input: the message names the file, column, offending rows and what was expected.
    The CLI turns it into exit code 2."""

    def __init__(
        self,
        source: str,
        problem: str,
        *,
        column: str | None = None,
        rows: list[int] | None = None,
        expected: str | None = None,
        examples: list[Any] | None = None,
    ) -> None:
        self.source = source
        self.column = column
        self.rows = rows or []
        parts = [source]
        if column is not None:
            parts.append(f"column '{column}'")
        message = ": ".join(parts) + f": {problem}"
        if self.rows:
            shown = ", ".join(str(r) for r in self.rows[:MAX_ROWS_SHOWN])
            more = (
                f" and {len(self.rows) - MAX_ROWS_SHOWN} more"
                if len(self.rows) > MAX_ROWS_SHOWN
                else ""
            )
            message += f" at data row {shown}{more} (row 1 = first row after the header)"
        if examples:
            message += f"; found {', '.join(repr(e) for e in examples[:MAX_ROWS_SHOWN])}"
        if expected:
            message += f"; expected {expected}"
        super().__init__(message)


class SourceUnavailable(RuntimeError):
    """A database could not be reached or queried (exit code 1): the message names it with
    the password hidden."""


class TargetExists(RuntimeError):
    """Scores for this as-of time are already in the target and ``--force`` was not given
    (exit code 2: a refused invocation writes nothing)."""


class TargetBusy(RuntimeError):
    """Another run holds the target's lock and did not let go in time (exit code 1)."""


class StorageFull(RuntimeError):
    """A write was refused for lack of room: the disk is full (ENOSPC), a quota is used up
    (EDQUOT) or a file reached the size limit (EFBIG). Exit code 1; nothing was published,
    a previous output is left as it was."""
