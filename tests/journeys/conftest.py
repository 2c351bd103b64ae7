"""Fixtures for the journey tests: the provider fakes of the channel tests."""

from channels.fixtures import meta, sendgrid, twilio

__all__ = ["meta", "sendgrid", "twilio"]
