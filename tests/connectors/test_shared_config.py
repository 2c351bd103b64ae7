from __future__ import annotations

from clientela_woocommerce.config import WooCommerceConfig

SECRET = "whsec_abcdefghijklmnop"


def test_a_sources_section_may_hold_the_webhook_secret_without_showing_it() -> None:
    config = WooCommerceConfig.model_validate({
        "base_url": "https://shop.example.com", "consumer_key": "ck_x", "consumer_secret": "cs_y",
        "webhook_secret": SECRET,
    })
    assert config.webhook_secret is not None
    assert not isinstance(config.webhook_secret, list)
    assert config.webhook_secret.get_secret_value() == SECRET
    assert SECRET not in repr(config) and SECRET not in str(config.model_dump())
