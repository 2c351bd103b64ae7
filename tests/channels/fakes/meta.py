"""A fake Meta WhatsApp Cloud API on 127.0.0.1.

* `POST /{phone-number-id}/messages` with `Authorization: Bearer` (else 401,
  code 190): `messaging_product` must be `whatsapp`; a template must be
  approved (else 400, 132001) and carry as many body parameters as it
  declares (else 400, 132000); free text outside the person's 24-hour
  window fails with 131047; a person who stopped marketing gets 131050;
  beyond `per_second` messages a second, 400 with 130429; two messages to
  one person within `pair_gap` seconds, 400 with 131056.
* `statuses()` builds the signed webhook payloads (sent, delivered, read;
  out of order, some never) with `biz_opaque_callback_data` echoed back.
"""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

from clientela.channels.signing import body_sha256_hex
from clientela.testing.fake_server import Reply, Request

from .common import Accepted, MessagingFake

PHONE_ID = "106540352242922"
TOKEN = "EAAG-meta-token-0123456789"
APP_SECRET = "meta-app-secret-0123456789"
VERIFY_TOKEN = "meta-verify-token"


def error(status: int, code: int, message: str) -> Reply:
    return Reply(status, {"error": {"message": message, "type": "OAuthException", "code": code,
                                    "fbtrace_id": "Az8or2yhqkZfEZ-_4Qn_Bam"}})


class FakeMeta(MessagingFake):
    def __init__(self, per_second: float = 80.0, pair_gap: float = 0.0) -> None:
        super().__init__(per_second)
        self.pair_gap = pair_gap
        self.templates: dict[str, int] = {"pontos_boas_vindas": 2, "lembrete_resgate": 2,
                                          "pontos_expirando": 3, "campanha": 1,
                                          "pos_venda": 1}
        """Approved template -> number of body parameters."""
        self.windows: set[str] = set()
        self.marketing_stopped: set[str] = set()
        self.last_to: dict[str, float] = {}
        self._ids = itertools.count(1)

    def __enter__(self) -> FakeMeta:
        self.start()
        return self

    def route(self, request: Request) -> Reply:
        if request.header("Authorization") != f"Bearer {TOKEN}":
            return error(401, 190, "Invalid OAuth access token.")
        if request.method != "POST" or request.path != f"/{PHONE_ID}/messages":
            return error(400, 100, "Unsupported request")
        self.send_calls += 1
        body: dict[str, Any] = request.body if isinstance(request.body, dict) else {}
        if body.get("messaging_product") != "whatsapp":
            return error(400, 100, "The parameter messaging_product is required.")
        to = str(body.get("to", ""))
        kind = body.get("type")
        params: list[str] = []
        name = None
        if kind == "template":
            template = body.get("template") or {}
            name = template.get("name")
            if name not in self.templates:
                return error(404, 132001, "Template name does not exist in the translation")
            for component in template.get("components", []):
                params += [p.get("text") for p in component.get("parameters", [])]
            if len(params) != self.templates[name]:
                return error(400, 132000, "Number of parameters does not match the expected "
                                          "number of params")
            if to in self.marketing_stopped:
                return error(400, 131050, "User has stopped marketing messages")
        elif kind == "text":
            if to not in self.windows:
                return error(400, 131047, "Re-engagement message: more than 24 hours have "
                                          "passed since the recipient last replied")
        else:
            return error(400, 100, "Invalid parameter: type")
        if self.over_rate():
            return error(400, 130429, "Rate limit hit")
        now = time.monotonic()
        with self.lock:
            if self.pair_gap and now - self.last_to.get(to, -1e9) < self.pair_gap:
                return error(400, 131056, "(Business Account, Consumer Account) pair rate "
                                          "limit hit")
            self.last_to[to] = now
            wamid = f"wamid.HBgM{next(self._ids):020d}"
            self.accepted.append(Accepted(wamid, to, body.get("biz_opaque_callback_data"),
                                          (body.get("text") or {}).get("body"), name, params))
        return Reply(200, {"messaging_product": "whatsapp",
                           "contacts": [{"input": to, "wa_id": to.lstrip("+")}],
                           "messages": [{"id": wamid}]})

    # -- webhooks ---------------------------------------------------------------------

    @staticmethod
    def sign(body: bytes, secret: str = APP_SECRET) -> dict[str, str]:
        return {"X-Hub-Signature-256": "sha256=" + body_sha256_hex(secret, body),
                "Content-Type": "application/json"}

    @staticmethod
    def envelope(value: dict[str, Any]) -> bytes:
        value = {"messaging_product": "whatsapp",
                 "metadata": {"display_phone_number": "5511999990000",
                              "phone_number_id": PHONE_ID}, **value}
        return json.dumps({"object": "whatsapp_business_account", "entry": [
            {"id": "WABA_ID", "changes": [{"field": "messages", "value": value}]}]}).encode()

    def statuses(self, *, seed: int = 0, drop: float = 0.0, base_ts: int = 1_765_000_000
                 ) -> list[bytes]:
        """One webhook body per status (sent, delivered, read), out of order."""
        events = []
        for offset, message in enumerate(self.accepted):
            for step, status in enumerate(("sent", "delivered", "read")):
                events.append(self.envelope({"statuses": [{
                    "id": message.id, "status": status, "timestamp": str(base_ts + offset + step),
                    "recipient_id": message.to.lstrip("+"),
                    "biz_opaque_callback_data": message.key}]}))
        return self.shuffled(events, seed=seed, drop=drop)

    def reply(self, from_number: str, text: str, message_id: str = "wamid.IN1",
              ts: int = 1_765_000_000) -> bytes:
        return self.envelope({"contacts": [{"profile": {"name": "Cliente"},
                                            "wa_id": from_number.lstrip("+")}],
                              "messages": [{"from": from_number.lstrip("+"), "id": message_id,
                                            "timestamp": str(ts), "type": "text",
                                            "text": {"body": text}}]})
