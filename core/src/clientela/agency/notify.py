"""Tell someone when a scheduled job failed: a JSON POST to `[agency] on_failure_webhook`,
an e-mail to `[agency] on_failure_email`, or both.

The body lists the failed jobs (workspace, job, error), which fits a Slack or
Teams incoming webhook relay or any small HTTP endpoint, or a person's inbox.
The URL often holds a token and the SMTP password is a secret, so neither is
ever printed; a webhook or mail server that cannot be reached is reported as a
warning and does not change the run's outcome or exit code.
"""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
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


def notify_failures(report: RunReport, notify: NotifySection) -> list[str]:
    """Send the failures, if there are any, by every means configured; returns the warnings."""
    if not report.failed:
        return []
    warnings = [post_failures(report, notify), email_failures(report, notify)]
    return [warning for warning in warnings if warning]


def failure_email(report: RunReport, notify: NotifySection) -> EmailMessage:
    """A plain-text e-mail: one line per failed job, errors already masked by the runner."""
    failed = report.failed
    message = EmailMessage()
    message["Subject"] = (f"clientela: {len(failed)} scheduled job(s) failed: "
                          + ", ".join(sorted({o.workspace for o in failed})))
    message["From"] = notify.email_from or ""
    message["To"] = ", ".join(notify.on_failure_email)
    lines = [f"{len(failed)} of {len(report.outcomes)} scheduled job(s) failed.", ""]
    for outcome in failed:
        started = outcome.started_at.isoformat() if outcome.started_at else "not started"
        lines.append(f"- {outcome.workspace} / {outcome.job} (started {started}): {outcome.error}")
    lines += ["", "A failed job runs again on the next `clientela run --due`; "
              "`clientela workspaces` shows each workspace's last run."]
    message.set_content("\n".join(lines) + "\n")
    return message


def email_failures(report: RunReport, notify: NotifySection) -> str | None:
    """E-mail the failures if recipients are set; returns a warning or None."""
    if not report.failed or not notify.on_failure_email or not notify.smtp_host:
        return None
    message = failure_email(report, notify)
    smtp_class = smtplib.SMTP_SSL if notify.smtp_security == "ssl" else smtplib.SMTP
    try:
        with smtp_class(notify.smtp_host, notify.smtp_port, timeout=notify.smtp_timeout) as smtp:
            if notify.smtp_security == "starttls":
                smtp.starttls()
            if notify.smtp_username and notify.smtp_password:
                try:
                    smtp.login(notify.smtp_username, notify.smtp_password.get_secret_value())
                except smtplib.SMTPException as error:
                    # a server may hang up after a refused login rather than answer 535
                    code = getattr(error, "smtp_code", None)
                    return ("the failure e-mail was refused: SMTP login failed"
                            + (f" ({code})" if code else f" ({type(error).__name__})"))
            smtp.send_message(message)
    except smtplib.SMTPException as error:
        return f"the failure e-mail could not be sent ({type(error).__name__})"
    except (TimeoutError, OSError) as error:
        return f"the SMTP server could not be reached ({type(error).__name__})"
    return None


def post_failures(report: RunReport, notify: NotifySection) -> str | None:
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
