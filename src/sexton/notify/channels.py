"""Where notifications go: a webhook (JSON POST) or e-mail (SMTP). Each ``send`` either
delivers or raises; retrying is the deliverer's job."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from typing import Protocol

import httpx

from ..config.models import EmailSettings, NotifySettings, WebhookSettings
from .message import Notification

SEND_TIMEOUT = 10.0  # seconds; a hung receiver must not hold the delivery thread for long


class Channel(Protocol):
    @property
    def name(self) -> str: ...

    def send(self, notification: Notification) -> None: ...


class Webhook:
    def __init__(self, settings: WebhookSettings) -> None:
        self.settings = settings

    @property
    def name(self) -> str:
        return f"webhook {self.settings.url}"

    def send(self, notification: Notification) -> None:
        response = httpx.post(
            self.settings.url,
            json=notification.to_json(),
            headers=self.settings.headers,
            timeout=SEND_TIMEOUT,
        )
        response.raise_for_status()


class Email:
    def __init__(self, settings: EmailSettings) -> None:
        self.settings = settings

    @property
    def name(self) -> str:
        return f"e-mail to {', '.join(self.settings.to)}"

    def send(self, notification: Notification) -> None:
        message = EmailMessage()
        message["Subject"] = notification.subject
        message["From"] = self.settings.sender
        message["To"] = ", ".join(self.settings.to)
        lines = [notification.text, ""]
        lines += [f"{key}: {value}" for key, value in notification.details]
        message.set_content("\n".join(lines))
        host, _, port = self.settings.smtp.rpartition(":")
        with smtplib.SMTP(
            host or self.settings.smtp, int(port or 25), timeout=SEND_TIMEOUT
        ) as smtp:
            if self.settings.starttls:
                smtp.starttls()
            if self.settings.username:
                smtp.login(self.settings.username, self.settings.password or "")
            smtp.send_message(message)


def channels_of(settings: NotifySettings) -> list[Channel]:
    found: list[Channel] = [Webhook(hook) for hook in settings.webhooks]
    if settings.email is not None:
        found.append(Email(settings.email))
    return found
