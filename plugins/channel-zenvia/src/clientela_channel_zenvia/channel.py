"""Zenvia API v2: send, classify, and read MESSAGE_STATUS and MESSAGE webhooks."""

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
from clientela.channels.providers import ErrorClasses, call, failure, json_of, session
from clientela.channels.signing import same

API = "https://api.zenvia.com/v2"
ERRORS = ErrorClasses(final=frozenset({"UNAUTHORIZED", "VALIDATION_ERROR", "NOT_FOUND",
                                       "FORBIDDEN"}))
STATUSES = {"SENT": "sent", "DELIVERED": "delivered", "READ": "read", "NOT_DELIVERED": "failed",
            "REJECTED": "failed"}


class ZenviaConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    api_token: SecretStr
    sender: str = Field(min_length=1, description="The account's sender id (from)")
    webhook_token: SecretStr | None = None
    webhook_header: str = "X-Clientela-Token"
    base_url: str = API
    per_second: float | None = Field(default=None, gt=0)


def _digits(address: str) -> str:
    return address.lstrip("+")


class ZenviaSender:
    can_lookup = False

    def __init__(self, config: ZenviaConfig, medium: str) -> None:
        self.config = config
        self.medium = medium
        self.session = session(headers={"X-API-TOKEN": config.api_token.get_secret_value(),
                                        "Content-Type": "application/json"})
        self.url = f"{config.base_url.rstrip('/')}/channels/{medium}/messages"

    def body(self, message: OutgoingMessage) -> dict[str, Any]:
        if message.template:
            content: dict[str, Any] = {"type": "template", "templateId": message.template,
                                       "fields": dict(message.variables)}
        else:
            content = {"type": "text", "text": message.text or ""}
        return {"from": self.config.sender, "to": _digits(message.to), "contents": [content]}

    def send(self, message: OutgoingMessage) -> SendResult:
        response = call(self.session, "POST", self.url, data=json.dumps(self.body(message)))
        if isinstance(response, SendResult):
            return response
        body = json_of(response) or {}
        if response.status_code in (200, 201):
            return SendResult("sent", provider_id=body.get("id"))
        return failure(response, ERRORS, body.get("code"), body.get("message"))

    def lookup(self, message: OutgoingMessage) -> SendResult | None:
        raise LookupUnavailable("Zenvia has no lookup by our key")

    def close(self) -> None:
        self.session.close()


def verify_webhook(config: ZenviaConfig, request: WebhookRequest) -> bool:
    if config.webhook_token is None:
        return False
    return same(request.header(config.webhook_header), config.webhook_token.get_secret_value())


def _when(value: Any) -> datetime:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return datetime.now(UTC)


def parse_webhook(config: ZenviaConfig, request: WebhookRequest) -> list[ChannelEvent]:
    try:
        item = json.loads(request.body)
    except ValueError:
        return []
    if not isinstance(item, dict):
        return []
    if item.get("type") == "MESSAGE_STATUS":
        status = item.get("messageStatus") or {}
        mapped = STATUSES.get(str(status.get("code")))
        if mapped is None:
            return []
        return [ChannelEvent("status", str(item.get("id")), _when(status.get("timestamp")),
                             provider_id=item.get("messageId"), status=mapped,  # type: ignore[arg-type]
                             reason=f"zenvia {status.get('code')}: {status.get('description', '')}"
                             if mapped == "failed" else None)]
    if item.get("type") == "MESSAGE":
        message = item.get("message") or {}
        if message.get("direction") != "IN":
            return []
        texts = [c.get("text") for c in message.get("contents", []) if c.get("type") == "text"]
        sender = str(message.get("from", ""))
        return [ChannelEvent("inbound", str(item.get("id")), _when(item.get("timestamp")),
                             address="+" + sender if sender and not sender.startswith("+")
                             else sender, text=texts[0] if texts else None)]
    return []
