"""Reading an Agile CRM contact object.

Agile CRM keeps a contact's e-mail among its `properties` list rather than as a
field, and keeps it as typed (its searches are case-sensitive). The store keeps
addresses trimmed and lower-cased, so the push's lookup table and the opt-outs read
back both key by the same normal form, through this one function.
"""

from __future__ import annotations

from typing import Any


def email_of(contact: Any) -> str | None:
    """The contact's e-mail property, trimmed and lower-cased; None when it has none."""
    if not isinstance(contact, dict):
        return None
    for prop in contact.get("properties") or []:
        if isinstance(prop, dict) and prop.get("name") == "email" and prop.get("value"):
            return str(prop["value"]).strip().lower()
    return None
