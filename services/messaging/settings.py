"""Messaging's configuration: the chassis's settings plus where and how mail goes out."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from chassis.media import MediaSettings
from chassis.media.settings import MiB, largest_of, sized_types
from chassis.settings import ServiceSettings

SQLITE_PREFIX = "sqlite+aiosqlite:///"
# What a message may carry: images, PDF documents, audio and video (the media store's
# defaults of those kinds).
ATTACHMENT_TYPES = [
    "image/jpeg",
    "image/png",
    "image/webp",
    "image/gif",
    "application/pdf",
    "audio/mpeg",
    "audio/mp4",
    "audio/ogg",
    "video/mp4",
    "video/webm",
]
ATTACHMENT_MAX_BYTES = {
    "image": 20 * MiB,
    "application": 25 * MiB,
    "audio": 50 * MiB,
    "video": 200 * MiB,
}


# The SMS and push providers messaging has adapters for (channels.py builds them).
SMS_PROVIDERS = ("log",)
PUSH_PROVIDERS = ("log",)


class MessagingSettings(ServiceSettings):
    """ESTUARY_* environment variables read by the messaging service."""

    service_name: str = "messaging"
    database_url: str = "sqlite+aiosqlite:///var/data/messaging.db"
    metrics_port: int = 9468
    message_digest_delay_minutes: int = Field(
        15,
        ge=1,
        le=7 * 24 * 60,
        description="How long a message stays unread before a digest mail tells its "
        "recipient of it; also the least time between two digests to one user.",
    )
    message_digest_poll_seconds: float = Field(
        60.0, gt=0, description="How often the digest job looks for unread messages."
    )
    live_check_seconds: float = Field(
        1.0,
        gt=0,
        le=60,
        description="How often an open live stream checks its user's account status and "
        "token: a suspended user's socket closes at most this late.",
    )
    streams_address: str = Field(
        "127.0.0.1:50056",
        description="Where streams' gRPC API is (the followers a new post is news to).",
    )
    live_streams_per_user: int = Field(
        8,
        ge=1,
        le=1000,
        description="Live streams (WebSockets) one user may hold open on one messaging "
        "replica at once; one more is refused (the socket closes 4429 TOO_MANY_STREAMS), so "
        "one account cannot exhaust a replica's memory with idle sockets.",
    )
    live_resume_max_updates: int = Field(
        500,
        ge=1,
        le=10000,
        description="Updates a reconnecting live stream is replayed at most; a client that "
        "missed more is sent RESYNC and lists what changed instead.",
    )
    live_resume_retention_hours: int = Field(
        24,
        ge=1,
        le=30 * 24,
        description="How old a live cursor may be and still be resumed from (an older one "
        "gets RESYNC); the live log keeps its updates an hour longer.",
    )
    smtp_host: str = Field(
        "",
        description="The SMTP server mail is sent through; empty: mail is written to files "
        "in the mail folder instead (the embedded mode).",
    )
    smtp_port: int = Field(587, ge=1, le=65535, description="The SMTP server's port.")
    smtp_username: str = Field("", description="The SMTP login, if the server wants one.")
    smtp_password: str = Field("", description="The SMTP password (a secret).")
    smtp_starttls: bool = Field(
        True, description="Upgrade the SMTP connection with STARTTLS before logging in."
    )
    smtp_timeout_seconds: float = Field(
        30.0, gt=0, le=300, description="How long one SMTP conversation may take."
    )
    mail_from: str = Field(
        "Estuary <no-reply@estuary.local>", description="The From of every mail sent."
    )
    mail_dir: str = Field(
        "",
        description="Where mail is written when no SMTP host is set; empty: the mail/ folder "
        "beside the SQLite database (<data-dir>/mail).",
    )
    app_url: str = Field(
        "http://127.0.0.1:8000",
        description="The public address links in mail point to (verification, reset, bookings).",
    )
    mail_poll_seconds: float = Field(
        1.0, gt=0, le=3600, description="How often queued mail is sent."
    )
    mail_batch_size: int = Field(50, ge=1, le=1000, description="Mails one sending run takes.")
    mail_retry_seconds: float = Field(
        5.0, gt=0, description="The wait after a first failed send; it doubles per failure."
    )
    mail_retry_max_seconds: float = Field(
        3600.0, gt=0, description="The longest wait between two attempts at one mail."
    )
    default_locale: str = Field("en", description="The language of mail to users who chose none.")
    # Named for the service (ESTUARY_MESSAGING_*): other services may send text one day.
    messaging_sms_provider: str = Field(
        "log",
        description="Who sends text messages: log (writes that one was sent, never its "
        "text, to the service log; the only one so far). Another value refuses to start.",
    )
    messaging_push_provider: str = Field(
        "log",
        description="Who sends push notifications: log (as for SMS). Another value refuses "
        "to start.",
    )
    push_devices_per_user: int = Field(
        10, ge=1, le=100, description="Devices one user may register for push at once."
    )
    channel_poll_seconds: float = Field(
        1.0, gt=0, le=3600, description="How often queued text messages and pushes are sent."
    )
    channel_batch_size: int = Field(
        50, ge=1, le=1000, description="Text messages and pushes one sending run takes."
    )
    channel_retry_seconds: float = Field(
        5.0, gt=0, description="The wait after a first failed SMS or push; it doubles per failure."
    )
    channel_retry_max_seconds: float = Field(
        900.0, gt=0, description="The longest wait between two attempts at one SMS or push."
    )
    channel_max_attempts: int = Field(
        8,
        ge=1,
        le=50,
        description="Attempts at one SMS or push before it is given up on (news of a "
        "session is stale after hours, unlike a mail).",
    )
    mail_retention_hours: int = Field(
        168,
        ge=1,
        description="How long a sent mail (whose text may hold a verification or reset "
        "token) is kept; unsent mail is never deleted.",
    )
    partner_webhooks_allow_loopback: bool = Field(
        False,
        description="Accept partner webhook URLs over plain http to a loopback host "
        "(127.0.0.1, ::1, localhost): for tests and the embedded mode, never production.",
    )
    partner_webhook_timeout_seconds: float = Field(
        5.0, gt=0, le=30, description="How long one delivery attempt to a partner may take."
    )
    partner_webhook_poll_seconds: float = Field(
        1.0, gt=0, le=3600, description="How often due partner webhook deliveries are sent."
    )
    partner_webhook_batch_size: int = Field(
        50, ge=1, le=500, description="Deliveries one sending run takes (sent concurrently)."
    )
    partner_webhook_max_attempts: int = Field(
        8, ge=1, le=20, description="Attempts at one delivery before it is given up on."
    )
    partner_webhook_retry_seconds: float = Field(
        600.0,
        gt=0,
        le=86400,
        description="The wait after a delivery's first failed attempt; it doubles per "
        "failure (600 s and 8 attempts: the last about 21 hours after the first).",
    )
    partner_webhook_retry_max_seconds: float = Field(
        43200.0, gt=0, description="The longest wait between two attempts at one delivery."
    )
    partner_webhook_retry_jitter: float = Field(
        0.2,
        ge=0,
        le=1,
        description="Each wait is stretched or shrunk by up to this share, at random, so "
        "retries to a partner back from an outage do not all land at once.",
    )
    partner_webhook_disable_after_failures: int = Field(
        5,
        ge=1,
        le=1000,
        description="Deliveries given up on in a row after which an endpoint is switched "
        "off (until staff enable it again).",
    )
    partner_webhook_retention_hours: int = Field(
        720,
        ge=1,
        description="How long a delivered or failed partner webhook delivery (its body, and "
        "its line in the delivery log) is kept after its last attempt; pending ones are never "
        "deleted.",
    )

    media: MediaSettings = Field(
        default_factory=MediaSettings,
        description="The media store attachments are uploaded to (ESTUARY_MEDIA_*).",
    )
    attachment_types: list[str] = Field(
        default_factory=lambda: list(ATTACHMENT_TYPES),
        min_length=1,
        description="The content types a message's attachment may have, as JSON (each also "
        "one of ESTUARY_MEDIA_ALLOWED_TYPES).",
    )
    attachment_max_bytes: dict[str, int] = Field(
        default_factory=lambda: dict(ATTACHMENT_MAX_BYTES),
        description="The largest attachment per kind of content type (its part before the "
        "slash), in bytes, as JSON; the media store's ESTUARY_MEDIA_MAX_BYTES caps it.",
    )
    attachment_pending_hours: int = Field(
        24,
        ge=1,
        le=30 * 24,
        description="How long an upload slot waits to be sent in a message before it and "
        "its object are deleted.",
    )
    attachment_sweep_seconds: float = Field(
        10.0,
        gt=0,
        le=3600,
        description="How often the objects of deleted messages, erased users and unsent "
        "uploads are deleted from the media store.",
    )

    @model_validator(mode="after")
    def _known_providers(self) -> MessagingSettings:
        for variable, value, known in (
            ("ESTUARY_MESSAGING_SMS_PROVIDER", self.messaging_sms_provider, SMS_PROVIDERS),
            ("ESTUARY_MESSAGING_PUSH_PROVIDER", self.messaging_push_provider, PUSH_PROVIDERS),
        ):
            if value not in known:
                raise ValueError(
                    f"{variable}={value!r} is not a provider messaging knows: "
                    f"use one of {', '.join(known)}"
                )
        return self

    @model_validator(mode="after")
    def _attachments_sized(self) -> MessagingSettings:
        self.attachment_types = sized_types(
            self.attachment_types, self.attachment_max_bytes, "ESTUARY_ATTACHMENT_MAX_BYTES"
        )
        # A slot swept while its form still works would let a file in that nothing deletes.
        if self.attachment_pending_hours * 3600 <= self.media.upload_url_ttl_seconds:
            raise ValueError(
                "ESTUARY_ATTACHMENT_PENDING_HOURS must outlast an upload form "
                "(ESTUARY_MEDIA_UPLOAD_URL_TTL_SECONDS)"
            )
        return self

    def largest_attachment(self, content_type: str) -> int:
        """The largest attachment of a content type: messaging's limit within the store's."""
        return largest_of(self.attachment_max_bytes, self.media, content_type)

    def mail_folder(self) -> Path:
        """Where the file sink writes: mail_dir, else mail/ beside the SQLite database."""
        if self.mail_dir:
            return Path(self.mail_dir)
        if self.database_url.startswith(SQLITE_PREFIX):
            return Path(self.database_url.removeprefix(SQLITE_PREFIX)).parent / "mail"
        return Path("var/data/mail")
