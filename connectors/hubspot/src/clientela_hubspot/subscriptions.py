"""HubSpot's e-mail subscription types: which ones stand for clientela's purposes, and the
per-type unsubscribe that carries a store opt-out there.

A subscription type ("Marketing Information", "One to One", a newsletter...) is
HubSpot's legal basis to e-mail a contact for one kind of message; a person can
unsubscribe from one and stay subscribed to the others. The user maps the types
that matter to clientela's purposes (`subscription_types` in the config).

* `GET /communication-preferences/v3/definitions` lists the account's types
  (`subscriptionDefinitions[]`: `id`, `name`, `isActive`...). It is read once
  per push when a mapping is configured, to refuse an id the account does not
  have (a typo would otherwise be a search on a property that does not exist)
  and to name the type in the ledger's evidence.
* `POST /communication-preferences/v3/unsubscribe` with `emailAddress` and
  `subscriptionId` (plus `legalBasis` and `legalBasisExplanation`, which accounts
  with HubSpot's data-privacy settings turned on require) unsubscribes one
  address from one type. HubSpot keeps the status per address and the public API
  cannot resubscribe it afterwards (only the person can), so it is called only
  for an opt-out the store's ledger holds.
* Repeating it for an address already unsubscribed from that type is refused
  with a 400 whose message says the address "is already unsubscribed from
  subscription <id>"; that answer means the work is done, so a re-run after a
  crash neither fails nor changes anything.
"""

from __future__ import annotations

import threading
from typing import Any

from clientela.config import ConfigError
from clientela_hubspot.client import Api, HubSpotError
from clientela_hubspot.config import HubSpotConfig

ALREADY = "already unsubscribed"
"""In HubSpot's 400 answer to an unsubscribe from a type the address already left."""


class SubscriptionTypes:
    """The account's subscription types (read once, on first need) and the unsubscribe call."""

    def __init__(self, api: Api, config: HubSpotConfig) -> None:
        self.api, self.config = api, config
        self._names: dict[str, str] | None = None
        self.unsubscribes = 0
        """Unsubscribe calls made (each a POST), for the cost figures in tests and docs."""
        self._count = threading.Lock()

    def names(self) -> dict[str, str]:
        """Mapped type id -> its name in HubSpot; a `ConfigError` naming `subscription_types`
        when the account has no such type."""
        if self._names is None:
            _, answer = self.api.call(self.api.definitions.get_page)
            known = {str(d.get("id")): d for d in (answer or {}).get("subscriptionDefinitions", [])
                     if isinstance(d, dict)}
            missing = [t for t in self.config.subscription_types if t not in known]
            if missing:
                have = ", ".join(f"{i} ({d.get('name', '')})" for i, d in sorted(known.items()))
                raise ConfigError(
                    "[destinations.hubspot] subscription_types: "
                    f"{', '.join(missing)} {'is not a' if len(missing) == 1 else 'are not'} "
                    f"subscription type{'' if len(missing) == 1 else 's'} of this HubSpot "
                    f"account; it has: {have or 'none'}")
            self._names = {t: str(known[t].get("name") or t) for t in self.config.subscription_types}
        return self._names

    def unsubscribe(self, email: str, type_id: str) -> None:
        """Unsubscribe one address from one type; done too when HubSpot says it already was."""
        body: dict[str, Any] = {"emailAddress": email, "subscriptionId": type_id}
        if self.config.legal_basis is not None:
            body.update(legalBasis=self.config.legal_basis,
                        legalBasisExplanation=self.config.legal_basis_explanation)
        with self._count:  # called from the destination's worker threads
            self.unsubscribes += 1
        try:
            self.api.call(self.api.subscriptions.unsubscribe, body)
        except HubSpotError as error:
            if error.status == 400 and ALREADY in error.message.lower():
                return
            raise
