"""The errors that mean "what you asked for is not right", shared by the API and the CLI.

They live outside `clientela.cli` so that the module that finds out (the registry, the
identity decisions, the follow-up tasks) can say so itself, and the CLI can then end every
one of them with one line and exit code 2, while any other exception (a `KeyError` from a
bug included) is reported as a bug.
"""

from __future__ import annotations

EXIT_USAGE = 2


class UserError(Exception):
    """A mistake the user can fix; shown as one line, exit code 2."""

    exit_code = EXIT_USAGE


class NotFound(UserError, LookupError):
    """Something the user named does not exist (a customer, a task, a plugin's item).

    Still a `LookupError`, so API callers that catch that keep working; only the user-facing
    lookups raise it, never a dict or list access."""
