"""Meta WhatsApp Cloud API: `POST /{phone-number-id}/messages` with a bearer token."""

from __future__ import annotations

import json
from collections.abc import Mapping
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
from clientela.channels.providers import ErrorClasses, call, failure, json_of, session
from clientela.channels.signing import body_sha256_hex, same

API = "https://graph.facebook.com/v21.0"
ERRORS = ErrorClasses(
    opted_out=frozenset({"131050"}),
    retry=frozenset({"130429", "131056", "131000", "131016", "4", "80007"}),
    final=frozenset({"131049", "131026", "131047", "132000", "132001", "100", "131008"}),
)


class MetaConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phone_number_id: str = Field(pattern=r"^\d+$")
    access_token: SecretStr
    app_secret: SecretStr | None = Field(default=None, description="Verifies webhook signatures")
    verify_token: SecretStr | None = Field(default=None, description="The GET handshake's token")
    base_url: str = API
    per_second: float | None = Field(default=None, gt=0, le=1000)


class MetaSender:
    can_lookup = False
    """The Cloud API has no message lookup: statuses (with biz_opaque_callback_data) settle."""

    def __init__(self, config: MetaConfig) -> None:
        self.config = config
        self.session = session(headers={
            "Authorization": f"Bearer {config.access_token.get_secret_value()}",
            "Content-Type": "application/json"})
        self.url = f"{config.base_url.rstrip('/')}/{config.phone_number_id}/messages"

    def body(self, message: OutgoingMessage) -> dict[str, Any]:
        payload: dict[str, Any] = {"messaging_product": "whatsapp", "recipient_type": "individual",
                                   "to": message.to, "biz_opaque_callback_data": message.key}
        if message.template:
            template: dict[str, Any] = {"name": message.template,
                                        "language": {"code": message.language}}
            if message.variables:
                template["components"] = [{"type": "body", "parameters": [
                    {"type": "text", "text": value} for value in message.variables.values()]}]
            payload.update(type="template", template=template)
        else:
            payload.update(type="text", text={"body": message.text or ""})
        return payload

    def send(self, message: OutgoingMessage) -> SendResult:
        response = call(self.session, "POST", self.url, data=json.dumps(self.body(message)))
        if isinstance(response, SendResult):
            return response
        body = json_of(response) or {}
        if response.status_code == 200:
            ids = [m.get("id") for m in body.get("messages", [])]
            return SendResult("sent", provider_id=str(ids[0]) if ids else None)
        error = body.get("error") or {}
        code = error.get("code")
        return failure(response, ERRORS, str(code) if code is not None else None,
                       error.get("message"))

    def lookup(self, message: OutgoingMessage) -> SendResult | None:
        raise LookupUnavailable("the Cloud API has no message lookup; the status webhook "
                                "(biz_opaque_callback_data) settles this message")

    def close(self) -> None:
        self.session.close()


def verify_webhook(config: MetaConfig, request: WebhookRequest) -> bool:
    if config.app_secret is None:
        return False
    given = request.header("X-Hub-Signature-256") or ""
    if not given.startswith("sha256="):
        return False
    return same(given.removeprefix("sha256="),
                body_sha256_hex(config.app_secret.get_secret_value(), request.body))


def handshake(config: MetaConfig, query: Mapping[str, str]) -> str | None:
    if config.verify_token is None or query.get("hub.mode") != "subscribe":
        return None
    if not same(query.get("hub.verify_token"), config.verify_token.get_secret_value()):
        return None
    return query.get("hub.challenge")


def _when(value: Any) -> datetime:
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (TypeError, ValueError):
        return datetime.now(UTC)


def parse_webhook(config: MetaConfig, request: WebhookRequest) -> list[ChannelEvent]:
    try:
        payload = json.loads(request.body)
    except ValueError:
        return []
    events: list[ChannelEvent] = []
    for entry in payload.get("entry", []):
        for change in entry.get("changes", []):
            value = change.get("value") or {}
            for status in value.get("statuses", []):
                name = status.get("status")
                if name not in ("sent", "delivered", "read", "failed"):
                    continue
                errors = status.get("errors") or [{}]
                code = str(errors[0].get("code")) if name == "failed" and errors[0] else None
                events.append(ChannelEvent(
                    "status", f"{status.get('id')}:{name}", _when(status.get("timestamp")),
                    provider_id=status.get("id"), key=status.get("biz_opaque_callback_data"),
                    status=name, reason=f"meta {code}" if code else None,
                    opted_out=code == "131050"))
            for message in value.get("messages", []):
                text = (message.get("text") or {}).get("body") \
                    or (message.get("button") or {}).get("text")
                sender = message.get("from", "")
                events.append(ChannelEvent(
                    "inbound", str(message.get("id")), _when(message.get("timestamp")),
                    address="+" + sender.lstrip("+") if sender else None, text=text))
    return events
