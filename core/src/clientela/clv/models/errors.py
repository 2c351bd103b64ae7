"""The one exception the CLV models raise when data cannot support a fit."""

from __future__ import annotations


class ClvFitError(ValueError):
    """A CLV model could not be fitted, or its fit cannot be used for a prediction.

    It subclasses ``ValueError`` because the cause is always the data handed in
    (too few repeat buyers, no purchases at all, an optimiser that found no
    maximum) rather than a bug, so callers that already catch bad input catch
    it too. Every message says what went wrong and what the user can change.
    """
