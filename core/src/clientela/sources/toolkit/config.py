"""Settings every connector shares, so each platform's config only adds its own."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from clientela.http.retry import RetryPolicy


class ConnectorConfig(BaseModel):
    """Common keys of a `[sources.<platform>]` section. Credentials are `SecretStr` in subclasses,
    so a printed config never shows them."""

    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(description="The API root; point it at a proxy or a local fake.")
    lookback_minutes: float = Field(
        default=10.0, ge=0,
        description="Re-read this much before the cursor, to catch late-visible changes.")
    connect_timeout: float = Field(default=10.0, gt=0)
    read_timeout: float = Field(default=60.0, gt=0)
    max_attempts: int = Field(default=6, ge=1, description="Tries for 5xx, timeouts and resets.")
    max_throttled_attempts: int = Field(default=30, ge=1, description="Tries for 429s.")
    user_agent: str | None = None
    batch_rows: int = Field(default=5_000, ge=1,
                            description="Rows per store transaction (pages are grouped).")
    webhook_secret: SecretStr | list[SecretStr] | None = Field(
        default=None,
        description="Read by `clientela serve` to verify this platform's webhooks; the sync "
                    "ignores it. A list accepts the old secret during a rotation.")

    @property
    def lookback(self) -> timedelta:
        return timedelta(minutes=self.lookback_minutes)

    @property
    def timeout(self) -> tuple[float, float]:
        return (self.connect_timeout, self.read_timeout)

    def retry_policy(self, **overrides: object) -> RetryPolicy:
        options: dict[str, object] = {"attempts": self.max_attempts,
                                      "throttle_attempts": self.max_throttled_attempts}
        options.update(overrides)
        return RetryPolicy(**options)  # type: ignore[arg-type]
