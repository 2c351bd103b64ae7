"""WooCommerce webhooks: the body is the record itself, in the REST v3 shape a sync reads.

`clientela serve` verifies a delivery against `X-WC-Webhook-Signature` (base64
HMAC-SHA256 of the raw body), deduplicates it by `X-WC-Webhook-Delivery-ID`
and hands it to the mapper built here, which is the sync's own `WooMapper`,
so a webhook and a sync of the same order land the same row. Deleted records
are ignored (a sync never deletes either). When a shop saves a new webhook it
checks the URL with an unsigned `webhook_id=N` form post; that is answered
'pong' and never stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from clientela.webhooks.mappers import EventMapper, PayloadEvents
from clientela_woocommerce.config import WooCommerceConfig
from clientela_woocommerce.mapping import WooMapper


def webhook_mapper(section: Mapping[str, Any]) -> EventMapper:
    config = WooCommerceConfig.model_validate(dict(section))
    mapper = WooMapper(config)
    return PayloadEvents(config.source_name, mapper.order, mapper.customer)

