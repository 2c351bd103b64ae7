"""Fixtures for the persons tests: the provider fakes of the channel tests."""

from channels.fixtures import sendgrid, twilio

__all__ = ["sendgrid", "twilio"]
