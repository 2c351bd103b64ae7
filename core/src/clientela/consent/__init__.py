"""The consent ledger: who may be contacted, on which channel, for what, and since when.

Consent is kept as append-only events per person, channel (`email`, `sms`,
`whatsapp`) and purpose (`marketing`, `relationship`), each with its time,
its source (an import, a store platform, a destination, a channel reply,
`forget`) and the evidence given. The current state is derived: the newest
event wins, and an opt-in counts only for the address it was given for, so a
changed e-mail or phone starts without consent. Nothing overwrites history,
which is what a store must be able to show under LGPD.
"""

from clientela.consent.ledger import (
    CHANNELS,
    EVENTS_TABLE,
    PURPOSES,
    ConsentEvent,
    can_contact,
    current,
    current_sql,
    event_key,
    history,
    normalise_address,
    record,
)

__all__ = [
    "CHANNELS",
    "EVENTS_TABLE",
    "PURPOSES",
    "ConsentEvent",
    "can_contact",
    "current",
    "current_sql",
    "event_key",
    "history",
    "normalise_address",
    "record",
]
