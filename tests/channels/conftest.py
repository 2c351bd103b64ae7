"""Fixtures for the channel tests: the provider fakes on 127.0.0.1 (defined in fixtures.py)."""

from .fixtures import mandrill, meta, sendgrid, twilio, zenvia

__all__ = ["mandrill", "meta", "sendgrid", "twilio", "zenvia"]
