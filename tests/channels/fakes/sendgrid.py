"""A fake SendGrid Mail Send API (v3) on 127.0.0.1.

* `POST /v3/mail/send` with `Authorization: Bearer <key>` (else 401): at
  most 1,000 personalizations (else 400), a `from` address, a subject and
  content; a body over 20 MB is 413. Accepted: 202, empty body, and an
  `X-Message-Id` header. Addresses in `bounces` are accepted and later
  answered with a `bounce` event, as SendGrid does.
* `GET /v3/messages?query=unique_args['k']="v"&limit=N`: the Email Activity
  API, for finding a message by its custom argument.
* `events()` builds Event Webhook deliveries signed with ECDSA (P-256,
  SHA-256) over timestamp + body, like SendGrid's signed event webhook.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import time
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from clientela.testing.fake_server import Reply, Request

from .common import Accepted, MessagingFake

API_KEY = "SG.fake-mail-key"
MAX_PERSONALIZATIONS = 1_000
QUERY = re.compile(r"unique_args\['([^']+)'\]=\"([^\"]+)\"")


def errors(status: int, message: str, field: str | None = None) -> Reply:
    return Reply(status, {"errors": [{"message": message, "field": field, "help": None}]})


class FakeSendGridMail(MessagingFake):
    def __init__(self, per_second: float = 10_000.0) -> None:
        super().__init__(per_second)
        self.private_key = ec.generate_private_key(ec.SECP256R1())
        der = self.private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.public_key = base64.b64encode(der).decode()
        self.bounces: set[str] = set()
        self._ids = itertools.count(1)

    def __enter__(self) -> FakeSendGridMail:
        self.start()
        return self

    def route(self, request: Request) -> Reply:
        if request.header("Authorization") != f"Bearer {API_KEY}":
            return errors(401, "The provided authorization grant is invalid, expired, or revoked")
        if request.method == "GET" and request.path == "/v3/messages":
            return self._activity(request)
        if request.method != "POST" or request.path != "/v3/mail/send":
            return errors(404, "not found")
        self.send_calls += 1
        body: dict[str, Any] = request.body if isinstance(request.body, dict) else {}
        people = body.get("personalizations") or []
        if not people:
            return errors(400, "The personalizations field is required and must have at least "
                               "one personalization.", "personalizations")
        if len(people) > MAX_PERSONALIZATIONS:
            return errors(400, "The personalizations field may not have more than 1000 items",
                          "personalizations")
        if not (body.get("from") or {}).get("email"):
            return errors(400, "The from object must be provided for every email send.", "from")
        if not body.get("subject") and not all(p.get("subject") for p in people):
            return errors(400, "The subject is required.", "subject")
        if not body.get("content"):
            return errors(400, "Unless a valid template_id is provided, the content parameter "
                               "is required.", "content")
        if self.over_rate():
            return Reply(429, {"errors": [{"field": None, "message": "too many requests"}]},
                         {"Retry-After": "1", "X-RateLimit-Remaining": "0"})
        message_id = f"sgmsg{next(self._ids):016d}"
        args = body.get("custom_args") or {}
        with self.lock:
            for person in people:
                for to in person.get("to", []):
                    self.accepted.append(Accepted(
                        message_id, str(to.get("email")), args.get("clientela_key"),
                        body["content"][0].get("value"), extra={"subject": body.get("subject"),
                                                                 "args": args}))
        return Reply(202, b"", {"X-Message-Id": message_id}, content_type="text/plain")

    def _activity(self, request: Request) -> Reply:
        match = QUERY.search(request.query.get("query", ""))
        if match is None:
            return errors(400, "invalid query")
        name, value = match.groups()
        found = [m for m in self.accepted if m.extra.get("args", {}).get(name) == value]
        limit = int(request.query.get("limit", "10"))
        return Reply(200, {"messages": [{"msg_id": m.id, "to_email": m.to, "status": "delivered"}
                                        for m in found[:limit]]})

    # -- webhooks ---------------------------------------------------------------------

    def sign(self, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        signature = self.private_key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        return {"X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
                "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
                "Content-Type": "application/json"}

    def events(self, *, seed: int = 0, drop: float = 0.0) -> list[bytes]:
        """One delivery per event (processed, delivered or bounce, open), out of order."""
        deliveries = []
        counter = itertools.count(1)
        for message in self.accepted:
            kinds = ["processed", "bounce"] if message.to in self.bounces \
                else ["processed", "delivered", "open"]
            for kind in kinds:
                item = {"email": message.to, "timestamp": 1_765_000_000 + next(counter),
                        "event": kind, "sg_event_id": f"ev{message.id}{kind}",
                        "sg_message_id": f"{message.id}.filter0001", **message.extra["args"]}
                if kind == "bounce":
                    item.update(reason="550 5.1.1 The email account does not exist", type="bounce")
                deliveries.append(json.dumps([item]).encode())
        return self.shuffled(deliveries, seed=seed, drop=drop)

    def unsubscribe(self, message: Accepted) -> bytes:
        return json.dumps([{"email": message.to, "timestamp": int(time.time()) + 1,
                            "event": "unsubscribe", "sg_event_id": f"unsub{message.id}",
                            "sg_message_id": f"{message.id}.filter0001",
                            **message.extra["args"]}]).encode()
