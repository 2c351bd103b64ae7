"""A push to the fake Mailchimp in its own process, for the tests to SIGKILL.

Usage: python _push_child.py STORE BASE_URL LIST_ID
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the helpers

from clientela_mailchimp import MailchimpConfig, MailchimpDestination
from destinations.helpers import API_KEY, AS_OF

from clientela.destinations.contacts import Segmentation
from clientela.destinations.push import push
from clientela.store import Store

BATCH = 50
"""Small batches, so each phase of the push spans several calls."""


def main() -> None:
    store_path, base_url, list_id = sys.argv[1:4]
    config = MailchimpConfig(api_key=API_KEY, list_id=list_id, base_url=base_url,
                             max_connections=1, batch_size=BATCH)
    destination = MailchimpDestination(config, sleep=lambda s: None)
    try:
        with Store(store_path) as store:
            push(store, "mailchimp", destination, Segmentation.rfm(), as_of=AS_OF)
    finally:
        destination.close()


if __name__ == "__main__":
    main()
