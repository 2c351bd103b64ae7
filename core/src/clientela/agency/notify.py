"""Tell someone when a scheduled job failed: a JSON POST to `[agency] on_failure_webhook`.

The body lists the failed jobs (workspace, job, error), which fits a Slack or
Teams incoming webhook relay or any small HTTP endpoint. The URL often holds a
token, so it is never printed; a webhook that cannot be reached is reported
as a warning and does not change the run's outcome or exit code.
"""

from __future__ import annotations

from typing import Any

import requests

from clientela.agency.runner import RunReport
from clientela.agency.workspaces import NotifySection


def failure_payload(report: RunReport) -> dict[str, Any]:
    failed = report.failed
    return {
        "text": f"clientela: {len(failed)} scheduled job(s) failed: "
                + "; ".join(f"{o.workspace}/{o.job}" for o in failed),
        "failed": [{"workspace": o.workspace, "job": o.job, "error": o.error,
                    "started_at": o.started_at.isoformat() if o.started_at else None}
                   for o in failed],
    }


def notify_failures(report: RunReport, notify: NotifySection) -> str | None:
    """POST the failures if there are any and a webhook is set; returns a warning or None."""
    if not report.failed or not notify.on_failure_webhook:
        return None
    try:
        response = requests.post(notify.on_failure_webhook, json=failure_payload(report),
                                 timeout=notify.webhook_timeout)
    except requests.RequestException as error:
        return f"the failure webhook could not be reached ({type(error).__name__})"
    if response.status_code >= 300:
        return f"the failure webhook answered HTTP {response.status_code}"
    return None
