"""Local fakes of messaging providers (Twilio, Meta WhatsApp Cloud API, SendGrid Mail Send).

Each runs real HTTP on 127.0.0.1 on top of the connectors' `FakeServer`,
follows the provider's documented API (paths, auth, bodies, error codes,
429 with Retry-After) and builds the provider's signed webhooks, with
statuses out of order and some never sent.
"""
