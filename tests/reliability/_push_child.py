"""A push to a fake destination in its own process, for the tests to SIGKILL.

Usage: python _push_child.py mailchimp STORE BASE_URL LIST_ID
       python _push_child.py hubspot STORE BASE_URL
       python _push_child.py read-first STORE MAILCHIMP_URL LIST_ID SENDGRID_URL SENDGRID_KEY
(the last reads Mailchimp's then SendGrid's opt-outs, as before a push, and pushes nothing)
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the helpers

from clientela_mailchimp import MailchimpConfig, MailchimpDestination
from destinations.helpers import API_KEY, push_then_close

from clientela.destinations.api import Destination
from clientela.destinations.read_first import read_all
from clientela.store import Store
from reliability.support import hubspot_destination

BATCH = 50
"""Small batches, so each phase of the push spans several calls."""


def opened(name: str, base_url: str, rest: list[str]) -> Destination:
    if name == "hubspot":
        return hubspot_destination(base_url, max_connections=1, batch_size=BATCH)
    config = MailchimpConfig(api_key=API_KEY, list_id=rest[0], base_url=base_url,
                             max_connections=1, batch_size=BATCH)
    return MailchimpDestination(config, sleep=lambda s: None)


def main() -> None:
    name, store_path, base_url, *rest = sys.argv[1:]
    if name == "read-first":
        from reliability.support import sendgrid_destination

        list_id, sendgrid_url, sendgrid_key = rest
        with Store(Path(store_path)) as store:
            read_all(store, {"mailchimp": lambda: opened("mailchimp", base_url, [list_id]),
                             "sendgrid": lambda: sendgrid_destination(sendgrid_url,
                                                                      sendgrid_key)})
        return
    push_then_close(Path(store_path), name, opened(name, base_url, rest))


if __name__ == "__main__":
    main()
