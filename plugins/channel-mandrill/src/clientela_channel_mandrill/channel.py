"""Mailchimp Transactional: `messages/send`, `messages/search`, signed `mandrill_events`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from clientela.channels import (
    ChannelEvent,
    LookupUnavailable,
    OutgoingMessage,
    SendResult,
    WebhookRequest,
)
from clientela.channels.providers import ErrorClasses, call, json_of, session
from clientela.channels.signing import same, url_form_signature
from clientela.privacy import mask_text

API = "https://mandrillapp.com/api/1.0"
KEY_FIELD = "clientela_key"
ERRORS = ErrorClasses(opted_out=frozenset({"unsub"}),
                      retry=frozenset({"soft-bounce", "GeneralError"}),
                      final=frozenset({"hard-bounce", "spam", "custom", "invalid-sender",
                                       "invalid", "test-mode-limit", "unsigned", "rule",
                                       "Invalid_Key", "ValidationError", "PaymentRequired"}))
EVENTS = {"send": "sent", "deferral": None, "hard_bounce": "failed", "soft_bounce": None,
          "open": "read", "click": "read", "spam": "delivered", "unsub": "delivered",
          "reject": "failed", "delivered": "delivered"}
OPT_OUTS = frozenset({"spam", "unsub"})


class MandrillConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    api_key: SecretStr
    from_email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    from_name: str | None = None
    webhook_key: SecretStr | None = None
    webhook_url: str | None = Field(default=None, description="The URL Mandrill posts to, as "
                                    "registered (it is part of the signature)")
    base_url: str = API
    per_second: float | None = Field(default=None, gt=0)


class MandrillSender:
    def __init__(self, config: MandrillConfig) -> None:
        self.config = config
        self.session = session(headers={"Content-Type": "application/json"})
        self.base = config.base_url.rstrip("/")

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        payload = {"key": self.config.api_key.get_secret_value(), **body}
        return call(self.session, "POST", f"{self.base}/{path}", data=json.dumps(payload))

    def send(self, message: OutgoingMessage) -> SendResult:
        response = self._post("messages/send", {"message": {
            "text": message.text or "", "subject": message.subject or "",
            "from_email": self.config.from_email, "from_name": self.config.from_name,
            "to": [{"email": message.to, "type": "to"}], "metadata": {KEY_FIELD: message.key},
            "tags": [message.purpose]}})
        if isinstance(response, SendResult):
            return response
        body = json_of(response)
        if response.status_code != 200 or not isinstance(body, list) or not body:
            error = body if isinstance(body, dict) else {}
            name = error.get("name")
            outcome = ERRORS.classify(response.status_code if name is None else 400, name)
            return SendResult(outcome, code=name or str(response.status_code),
                              detail=mask_text(str(error.get("message", "")))[:200] or None)
        first = body[0]
        status = first.get("status")
        if status in ("sent", "queued", "scheduled"):
            return SendResult("sent", provider_id=first.get("_id"))
        reason = first.get("reject_reason") or status or "rejected"
        return SendResult(ERRORS.classify(400, reason), provider_id=first.get("_id"),
                          code=reason)

    def lookup(self, message: OutgoingMessage) -> SendResult | None:
        response = self._post("messages/search", {"query": f"u_{KEY_FIELD}:{message.key}",
                                                  "limit": 1})
        if isinstance(response, SendResult) or response.status_code != 200:
            raise LookupUnavailable("Mandrill's search did not answer")
        found = json_of(response) or []
        return SendResult("sent", provider_id=found[0].get("_id")) if found else None

    def close(self) -> None:
        self.session.close()


def verify_webhook(config: MandrillConfig, request: WebhookRequest) -> bool:
    if config.webhook_key is None:
        return False
    url = config.webhook_url or request.url
    expected = url_form_signature(config.webhook_key.get_secret_value(), url, request.form)
    return same(request.header("X-Mandrill-Signature"), expected)


def parse_webhook(config: MandrillConfig, request: WebhookRequest) -> list[ChannelEvent]:
    try:
        items = json.loads(request.form.get("mandrill_events", "[]"))
    except ValueError:
        return []
    events: list[ChannelEvent] = []
    for item in items if isinstance(items, list) else []:
        kind = item.get("event")
        status = EVENTS.get(kind)
        if status is None:
            continue
        msg = item.get("msg") or {}
        events.append(ChannelEvent(
            "status", f"{item.get('_id')}:{kind}:{item.get('ts')}",
            datetime.fromtimestamp(int(item.get("ts", 0)), UTC), provider_id=msg.get("_id"),
            key=(msg.get("metadata") or {}).get(KEY_FIELD), status=status,  # type: ignore[arg-type]
            reason=f"mandrill {kind}: {msg.get('bounce_description') or ''}".strip()
            if status == "failed" else None, opted_out=kind in OPT_OUTS))
    return events
