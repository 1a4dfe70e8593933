"""Tell a person: Slack (a bot token and channel, or an incoming webhook) and/or email; off when nothing is set.

A notification must never cost an alert: a channel that fails is logged in one
line naming its variable, and the caller goes on.
"""

import logging
import smtplib
from email.message import EmailMessage

from dagster import ConfigurableResource
from dagster_slack import SlackResource
from pydantic import Field
from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError
from slack_sdk.webhook import WebhookClient

logger = logging.getLogger(__name__)


class SlackApiResource(SlackResource):
    """dagster-slack's resource, with the API root settable (``SLACK_API_URL``: a proxy, or a double in tests)."""

    base_url: str = WebClient.BASE_URL

    def get_client(self) -> WebClient:
        return WebClient(token=self.token, base_url=self.base_url, timeout=10)


class NotifierResource(ConfigurableResource):
    """Where notifications go (``SLACK_*``, ``SMTP_*``), and the UI's address for links (``DAGSTER_UI_URL``)."""

    slack_token: str = Field(default="", repr=False)
    slack_channel: str = ""
    slack_webhook_url: str = Field(default="", repr=False)
    slack_api_url: str = WebClient.BASE_URL
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_starttls: bool = True
    smtp_username: str = ""
    smtp_password: str = Field(default="", repr=False)
    smtp_from: str = ""
    smtp_to: str = ""
    ui_url: str = ""

    @property
    def configured(self) -> bool:
        return bool((self.slack_token and self.slack_channel) or self.slack_webhook_url or self.smtp_host)

    def link(self, path: str) -> str:
        """A link into the Dagster UI, or ``path`` alone when DAGSTER_UI_URL is not set."""
        return f"{self.ui_url.rstrip('/')}/{path.lstrip('/')}" if self.ui_url else path

    def send(self, subject: str, text: str) -> list[str]:
        """Send to every configured channel; the ones that took it (``slack``, ``slack-webhook``, ``email``)."""
        sent = []
        body = f"*{subject}*\n{text}"
        if self.slack_token and self.slack_channel:
            try:
                SlackApiResource(token=self.slack_token, base_url=self.slack_api_url).get_client().chat_postMessage(
                    channel=self.slack_channel, text=body
                )
                sent.append("slack")
            except (SlackClientError, OSError) as exc:
                logger.error("notification not sent to Slack (SLACK_TOKEN/SLACK_CHANNEL): %s", str(exc)[:200])
        if self.slack_webhook_url:
            try:
                answer = WebhookClient(self.slack_webhook_url, timeout=10).send(text=body)
                if answer.status_code != 200:
                    raise OSError(f"HTTP {answer.status_code}: {answer.body[:200]}")
                sent.append("slack-webhook")
            except (SlackClientError, OSError) as exc:
                logger.error("notification not sent to the Slack webhook (SLACK_WEBHOOK_URL): %s", str(exc)[:200])
        if self.smtp_host:
            try:
                self._email(subject, text)
                sent.append("email")
            except (smtplib.SMTPException, OSError) as exc:
                logger.error("notification not emailed (SMTP_HOST %s): %s", self.smtp_host, str(exc)[:200])
        return sent

    def _email(self, subject: str, text: str) -> None:
        recipients = [a.strip() for a in self.smtp_to.split(",") if a.strip()]
        if not recipients:
            raise OSError("SMTP_TO names no recipient")
        message = EmailMessage()
        message["Subject"] = f"[GWTM listeners] {subject}"
        message["From"] = self.smtp_from or f"gwtm-listeners@{self.smtp_host}"
        message["To"] = ", ".join(recipients)
        message.set_content(text)
        with smtplib.SMTP(self.smtp_host, self.smtp_port, timeout=15) as smtp:
            if self.smtp_starttls:
                smtp.starttls()
            if self.smtp_username:
                smtp.login(self.smtp_username, self.smtp_password)
            smtp.send_message(message)
