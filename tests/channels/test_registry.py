"""The channel plugins register through `register_channels`, beside the built-in channels."""

from __future__ import annotations

import pytest

from clientela import plugins

PLUGINS = ("clientela-channel-twilio", "clientela-channel-meta-whatsapp",
           "clientela-channel-sendgrid-mail", "clientela-channel-mandrill",
           "clientela-channel-zenvia")


def test_every_provider_channel_registers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(plugins.LOAD_ENV, ",".join(PLUGINS))
    plugins.reset()
    pset = plugins.plugin_set()
    assert pset.failures == []
    channels = pset.registry.channels
    senders = {name: (c.medium, c.provider) for name, c in channels.items() if c.can_send}
    assert senders == {
        "twilio_sms": ("sms", "Twilio"), "twilio_whatsapp": ("whatsapp", "Twilio"),
        "meta_whatsapp": ("whatsapp", "Meta"), "sendgrid_mail": ("email", "SendGrid"),
        "mandrill_mail": ("email", "Mailchimp Transactional"),
        "zenvia_sms": ("sms", "Zenvia"), "zenvia_whatsapp": ("whatsapp", "Zenvia")}
    # the built-in channels are unchanged and cannot send by themselves
    assert channels["sms"].consent_field == "consent_sms" and not channels["sms"].can_send
    assert channels["call"].contact_medium == "call"
    assert all(c.verify_webhook is not None and c.parse_webhook is not None
               for n, c in channels.items() if n in senders)
