"""Messaging's handlers: notices from events become in-app notifications and queued mail,
text messages and pushes, once per event, recipient, kind and channel; a user reads and
marks their notifications, chooses what reaches them where, in which language and zone,
and at which number and devices."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chassis.accounts import recorded_status
from chassis.auth.principal import AccountStatus, Principal
from chassis.bus.envelope import ReceivedEvent
from chassis.clock import Clock
from chassis.errors import FailedPrecondition, InvalidArgument, NotFound
from chassis.ids import is_uuid, new_id
from chassis.pagination import KeyPart, Page, page_request
from services.messaging import events
from services.messaging.domain.contacts import (
    PUSH_DEVICE_PREFIX,
    ContactSettings,
    PushDevice,
    PushPlatform,
    device_token_in,
)
from services.messaging.domain.notifications import (
    NOTIFICATION_PREFIX,
    Channel,
    Kind,
    Notice,
    Notification,
    Preference,
    Recipient,
    validate_changes,
)
from services.messaging.followers import Followers
from services.messaging.live import LiveHub
from services.messaging.notices import new_post_notices, notices_for
from services.messaging.settings import MessagingSettings
from services.messaging.templates import Templates
from services.messaging.uow import MessagingUnitOfWork

log = logging.getLogger(__name__)


async def keep_recipient(uow: MessagingUnitOfWork, event: ReceivedEvent[Any]) -> None:
    """user.registered and user.email_verified: the address (and name) to write to."""
    message = event.message
    changed: dict[str, str] = {"email": message.email}
    if event.type == events.USER_REGISTERED.name:
        changed["full_name"] = message.full_name
    await uow.recipients.remember(Recipient(message.user_id), uow.clock.now(), **changed)


async def keep_relations(uow: MessagingUnitOfWork, event: ReceivedEvent[Any]) -> None:
    """practitioner.approved: anyone may write to them; booking.confirmed: the practitioner
    may write to the client."""
    now = uow.clock.now()
    if event.type == events.PRACTITIONER_APPROVED.name:
        await uow.relations.practitioner(event.message.user_id, event.message.practitioner_id, now)
    elif event.type == events.BOOKING_CONFIRMED.name:
        booking = event.message.booking
        if booking.practitioner_user_id and booking.client_id:
            await uow.relations.client(booking.practitioner_user_id, booking.client_id, now)


def post_notices_lock(owner_user_id: str) -> str:
    """The lock a creator's erasure and the notices of their new posts take."""
    return f"messaging.post_notices.{owner_user_id}"


async def forget_recipient(uow: MessagingUnitOfWork, user_id: str) -> None:
    """user.deleted: the address, name, phone, devices, notifications, choices, mail, text
    messages and pushes of the user go; their messages stay in the others' conversations,
    without their words; what their followers were told of their posts goes too."""
    await uow.recipients.erase(user_id)
    await uow.notifications.erase(user_id)
    await uow.preferences.erase(user_id)
    await uow.mails.erase(user_id)
    await uow.push_devices.erase(user_id)
    await uow.channel_deliveries.erase(user_id)
    await uow.serialize(post_notices_lock(user_id))
    await uow.post_notices.erase_of_owner(user_id)
    # Deliveries told of but not yet published name them: they go too.
    await uow.forget_subject(f"users/{user_id}")
    await uow.conversations.erase_sender(user_id)
    # The sweep job deletes their objects from the media store.
    await uow.attachments.discard_of_uploader(user_id)


async def deliver(
    uow: MessagingUnitOfWork,
    notice: Notice,
    templates: Templates,
    settings: MessagingSettings,
    live: LiveHub | None = None,
) -> None:
    """Makes a notice's in-app notification (pushed live to the recipient's open streams
    once committed) and queues its mail, text message and push, as the recipient's
    preferences allow; a second delivery of the same event changes nothing."""
    if await recorded_status(uow.connection, notice.recipient_user_id) is AccountStatus.DELETED:
        return
    recipient = await uow.recipients.get(notice.recipient_user_id) or Recipient(
        notice.recipient_user_id
    )
    channels = (await uow.preferences.of(recipient.user_id)).channels_for(notice.kind)
    if not channels:
        return
    rendered = templates.render(
        notice.kind,
        recipient.locale or settings.default_locale,
        {
            "name": recipient.full_name,
            "zone": recipient.time_zone or notice.context.get("time_zone", ""),
            "app_url": settings.app_url,
            **notice.context,
        },
    )
    now = uow.clock.now()
    if Channel.IN_APP in channels:
        made = await uow.notifications.add(notice, rendered.subject, rendered.summary, now)
        if made is not None:
            # Stored is delivered, for the app: it lists it from now on.
            uow.emit(
                events.NOTIFICATION_DELIVERED,
                events.notification_delivered(
                    made.id,
                    made.recipient_user_id,
                    notice.kind,
                    Channel.IN_APP,
                    notice.event_id,
                    now,
                ),
                subject=f"users/{made.recipient_user_id}",
            )
            if live is not None:
                live.notification_made(uow, made)
    # Text and push go only to those who gave a number or a device; the sender reads the
    # number and devices again when it sends, so one removed since is not written to.
    if Channel.SMS in channels and recipient.phone_number:
        await uow.channel_deliveries.queue(
            notice, Channel.SMS, rendered.subject, rendered.summary, now
        )
    if Channel.PUSH in channels and await uow.push_devices.count(recipient.user_id):
        await uow.channel_deliveries.queue(
            notice, Channel.PUSH, rendered.subject, rendered.summary, now
        )
    if Channel.EMAIL in channels:
        address = notice.email or recipient.email
        if not address:
            log.warning(
                "no address known for %s: %s mail not sent",
                notice.recipient_user_id,
                notice.kind.value,
                extra={"event_id": notice.event_id},
            )
            return
        await uow.mails.queue(notice, address, rendered.subject, rendered.text, rendered.html, now)


def notifying(
    templates: Templates,
    settings: MessagingSettings,
    live: LiveHub | None = None,
    followers: Followers | None = None,
) -> Callable[[MessagingUnitOfWork, ReceivedEvent[Any]], Any]:
    """The consumer's handler: the event's copies of users kept, then its notices (a new
    post's to the followers streams names, who may read it)."""

    async def handle(uow: MessagingUnitOfWork, event: ReceivedEvent[Any]) -> None:
        if event.type in (events.USER_REGISTERED.name, events.USER_EMAIL_VERIFIED.name):
            await keep_recipient(uow, event)
        await keep_relations(uow, event)
        notices = notices_for(event, settings.app_url)
        if event.type == events.POST_PUBLISHED.name and followers is not None:
            owner = event.message.owner_user_id
            # Published just before its creator's erasure, heard just after: nobody is told.
            # The lock orders this with the erasure's (forget_recipient), so that one of the
            # two sees the other's rows.
            await uow.serialize(post_notices_lock(owner))
            if await recorded_status(uow.connection, owner) is AccountStatus.DELETED:
                return
            await uow.post_notices.record(event.id, owner, uow.clock.now())
            readers = await followers.of(event.message.stream, event.message.level)
            notices = new_post_notices(event, readers, settings.app_url)
        for notice in notices:
            await deliver(uow, notice, templates, settings, live)

    return handle


def _notification_id(name: str) -> str:
    notification_id = name.removeprefix(NOTIFICATION_PREFIX)
    if not name.startswith(NOTIFICATION_PREFIX) or not is_uuid(notification_id):
        raise InvalidArgument.field("name", "must be notifications/{id}", "invalid")
    return notification_id


def _device_id(name: str) -> str:
    device_id = name.removeprefix(PUSH_DEVICE_PREFIX)
    if not name.startswith(PUSH_DEVICE_PREFIX) or not is_uuid(device_id):
        raise InvalidArgument.field("name", "must be pushDevices/{id}", "invalid")
    return device_id


@dataclass
class NotificationDesk:
    """What a signed-in user does with their notifications, preferences, contact settings
    and push devices."""

    unit_of_work: Callable[..., MessagingUnitOfWork]
    clock: Clock
    # The locales with templates: the languages a user may choose.
    locales: frozenset[str]
    default_locale: str
    devices_per_user: int

    async def page(
        self, caller: Principal, page_size: int, page_token: str, *, unread_only: bool
    ) -> Page[Notification]:
        request = page_request(
            page_size,
            page_token,
            query={"user": caller.user_id, "unread_only": unread_only},
            key=[KeyPart.ID],
        )
        async with self.unit_of_work(write=False) as uow:
            found, total = await uow.notifications.page(
                caller.user_id,
                unread_only=unread_only,
                before=request.after[0] if request.after else None,
                fetch=request.fetch,
            )
        return request.page(found, total, lambda n: [n.id])

    async def mark_read(self, caller: Principal, name: str) -> Notification:
        notification_id = _notification_id(name)
        async with self.unit_of_work() as uow:
            await uow.notifications.mark_read(caller.user_id, self.clock.now(), notification_id)
            found = await uow.notifications.get(caller.user_id, notification_id)
            if found is None:
                raise NotFound(f"{name} was not found", reason="NOTIFICATION_NOT_FOUND")
            await uow.commit()
        return found

    async def mark_all_read(self, caller: Principal) -> int:
        async with self.unit_of_work() as uow:
            marked = await uow.notifications.mark_read(caller.user_id, self.clock.now())
            await uow.commit()
        return marked

    async def unread(self, caller: Principal) -> int:
        async with self.unit_of_work(write=False) as uow:
            return await uow.notifications.unread(caller.user_id)

    async def preferences(self, caller: Principal) -> list[Preference]:
        async with self.unit_of_work(write=False) as uow:
            return (await uow.preferences.of(caller.user_id)).all()

    async def update_preferences(
        self, caller: Principal, changes: list[tuple[Kind | None, Channel | None, bool]]
    ) -> list[Preference]:
        accepted = validate_changes(changes)
        async with self.unit_of_work() as uow:
            await uow.preferences.save(caller.user_id, accepted, self.clock.now())
            chosen = await uow.preferences.of(caller.user_id)
            await uow.commit()
        return chosen.all()

    async def contact_settings(self, caller: Principal) -> ContactSettings:
        async with self.unit_of_work(write=False) as uow:
            return _contact(await uow.recipients.get(caller.user_id), self.default_locale)

    async def update_contact_settings(
        self, caller: Principal, values: ContactSettings, paths: list[str]
    ) -> ContactSettings:
        async with self.unit_of_work() as uow:
            held = _contact(await uow.recipients.get(caller.user_id), self.default_locale)
            changed = held.changed(paths, values, self.locales)
            await uow.recipients.remember(
                Recipient(caller.user_id),
                self.clock.now(),
                **{path: getattr(changed, path) for path in paths},
            )
            await uow.commit()
        return changed

    async def register_device(
        self, caller: Principal, platform: PushPlatform | None, token: str
    ) -> PushDevice:
        if platform is None:
            raise InvalidArgument.field("platform", "must be ios, android or web", "invalid")
        token = device_token_in("token", token)
        digest = hashlib.sha256(token.encode()).hexdigest()
        async with self.unit_of_work() as uow:
            # Concurrent registrations of one user's devices, one at a time: the bound holds.
            await uow.serialize(f"push-devices/{caller.user_id}")
            held = await uow.push_devices.of(caller.user_id)
            if len(held) >= self.devices_per_user and not any(d.token == token for d in held):
                raise FailedPrecondition(
                    f"at most {self.devices_per_user} devices receive push notifications: "
                    "unregister one first",
                    reason="TOO_MANY_PUSH_DEVICES",
                )
            device = await uow.push_devices.register(
                PushDevice(new_id(), caller.user_id, platform, token, self.clock.now()), digest
            )
            await uow.commit()
        return device

    async def devices(self, caller: Principal) -> list[PushDevice]:
        async with self.unit_of_work(write=False) as uow:
            return await uow.push_devices.of(caller.user_id)

    async def unregister_device(self, caller: Principal, name: str) -> None:
        device_id = _device_id(name)
        async with self.unit_of_work() as uow:
            if not await uow.push_devices.unregister(caller.user_id, device_id):
                raise NotFound(f"{name} was not found", reason="PUSH_DEVICE_NOT_FOUND")
            await uow.commit()


def _contact(recipient: Recipient | None, default_locale: str) -> ContactSettings:
    """A user's contact settings as messaging holds them; the default language if none."""
    if recipient is None:
        return ContactSettings(locale=default_locale)
    return ContactSettings(
        recipient.locale or default_locale, recipient.time_zone, recipient.phone_number
    )
