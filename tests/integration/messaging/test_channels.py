"""Text messages and push notifications: which kinds reach them, to which number and
devices, once per event however often it comes, retried on a provider's failure and given
up after a bound; the logging adapters keep words and tokens out of the log; a provider
messaging does not know stops it at start."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from pydantic import ValidationError

from chassis.context import principal_var
from chassis.errors import FailedPrecondition, InvalidArgument, NotFound
from chassis.ids import new_id
from estuary.booking.v1 import events_pb2 as booking_pb
from estuary.identity.v1 import events_pb2 as identity_pb
from estuary.messaging.v1 import messaging_pb2 as pb
from services.messaging import events
from services.messaging.channels import (
    ChannelSender,
    LoggingPush,
    LoggingSms,
    PushMessage,
    TextMessage,
)
from services.messaging.domain.contacts import ContactSettings, PushPlatform
from services.messaging.domain.notifications import Channel, Kind
from services.messaging.grpc_api import NotificationServicer
from services.messaging.settings import MessagingSettings
from services.messaging.tables import channel_deliveries
from services.messaging.uow import MessagingUnitOfWork
from tests.builders import outbox_messages, person
from tests.integration.messaging.world import World, snapshot, wire_event, world

NUMBER = "+351912345678"


class RecordingProvider:
    """Keeps what it is given; refuses while `down` is set, as a provider's outage does."""

    def __init__(self) -> None:
        self.sent: list[TextMessage | PushMessage] = []
        self.down = False

    async def send(self, message: TextMessage | PushMessage) -> None:
        if self.down:
            raise ConnectionError("the provider is down")
        self.sent.append(message)


def providers(w: World) -> tuple[RecordingProvider, RecordingProvider]:
    sms, push = RecordingProvider(), RecordingProvider()
    w.service.channels_out.sms = sms
    w.service.channels_out.push = push
    return sms, push


async def with_phone(w: World, user_id: str, *, sms_for: Kind | None = None) -> None:
    """A user who gave their number (and switched text on for one kind)."""
    desk, me = w.desk, person(user_id)
    await desk.update_contact_settings(me, ContactSettings(phone_number=NUMBER), ["phone_number"])
    if sms_for is not None:
        await desk.update_preferences(me, [(sms_for, Channel.SMS, True)])


def confirmed(client: str, practitioner_user_id: str = "") -> booking_pb.BookingConfirmed:
    return booking_pb.BookingConfirmed(booking=snapshot(client, practitioner_user_id or new_id()))


async def test_a_confirmed_booking_is_pushed_to_each_device_once_however_often_it_comes(
    empty_database_url,
):
    async with world(empty_database_url) as w:
        sms, push = providers(w)
        client = await w.register("c@example.com")
        me = person(client)
        phone = await w.desk.register_device(me, PushPlatform.IOS, "apns-token-1")
        tablet = await w.desk.register_device(me, PushPlatform.ANDROID, "fcm-token-2")
        # A number given, but text not switched on: booking news goes to push only.
        await with_phone(w, client)
        event = wire_event(events.BOOKING_CONFIRMED, confirmed(client))
        for _ in range(3):
            assert (await w.deliver(event)).settled == ["ack"]
        assert await w.service.channels_out.send_due() == 1
        assert await w.service.channels_out.send_due() == 0
        [sent] = push.sent
        assert isinstance(sent, PushMessage)
        assert sent.kind is Kind.BOOKING_CONFIRMED
        assert set(sent.device_tokens) == {phone.token, tablet.token}
        assert sent.title == "Booked: Deep tissue massage"
        assert "Deep tissue massage" in sent.body
        assert sent.subject.startswith("bookings/")
        assert sms.sent == []
        delivered = await outbox_messages(w.service.runtime.database, events.NOTIFICATION_DELIVERED)
        # The client's in-app notice and push (the practitioner's in-app notice beside them).
        assert sorted(
            (d.channel, d.cause_event_id) for d in delivered if d.recipient_user_id == client
        ) == [
            (pb.CHANNEL_IN_APP, event.id),
            (pb.CHANNEL_PUSH, event.id),
        ]
        [pushed] = [d for d in delivered if d.channel == pb.CHANNEL_PUSH]
        assert pushed.delivery_id == sent.delivery_id
        assert pushed.recipient_user_id == client
        assert pushed.kind == pb.NOTIFICATION_KIND_BOOKING_CONFIRMED


async def test_text_goes_only_to_those_who_switched_it_on_and_gave_a_number(empty_database_url):
    async with world(empty_database_url) as w:
        sms, push = providers(w)
        opted, silent, numberless = [await w.register(f"{n}@example.com") for n in "abc"]
        await with_phone(w, opted, sms_for=Kind.BOOKING_CONFIRMED)
        await with_phone(w, silent)
        await w.desk.update_preferences(
            person(numberless), [(Kind.BOOKING_CONFIRMED, Channel.SMS, True)]
        )
        for user_id in (opted, silent, numberless):
            await w.publish(events.BOOKING_CONFIRMED, confirmed(user_id))
        assert await w.service.channels_out.send_due() == 1
        [text] = sms.sent
        assert isinstance(text, TextMessage)
        assert text.to == NUMBER
        assert text.text.startswith("Booked: Deep tissue massage\n")
        # Nobody registered a device: nothing to push, nothing queued for it.
        assert push.sent == []
        assert await w.count(channel_deliveries) == 1


async def test_a_number_removed_before_the_send_gets_nothing(empty_database_url):
    async with world(empty_database_url) as w:
        sms, _ = providers(w)
        client = await w.register("c@example.com")
        await with_phone(w, client, sms_for=Kind.BOOKING_CONFIRMED)
        await w.publish(events.BOOKING_CONFIRMED, confirmed(client))
        await w.desk.update_contact_settings(
            person(client), ContactSettings(phone_number=""), ["phone_number"]
        )
        assert await w.service.channels_out.send_due() == 0
        assert sms.sent == []
        assert await w.count(channel_deliveries, state="dropped") == 1


async def test_a_failing_provider_is_retried_with_backoff_then_given_up(empty_database_url):
    async with world(empty_database_url, channel_max_attempts=3) as w:
        sms, _ = providers(w)
        sender = w.service.channels_out
        client = await w.register("c@example.com")
        await with_phone(w, client, sms_for=Kind.BOOKING_CONFIRMED)
        await w.publish(events.BOOKING_CONFIRMED, confirmed(client))
        sms.down = True
        assert await sender.send_due() == 0
        # Not due again before the first wait.
        w.clock.advance(sender.schedule.delay(1) - timedelta(seconds=1))
        assert await sender.send_due() == 0
        assert await w.count(channel_deliveries, attempts=1) == 1
        sms.down = False
        w.clock.advance(timedelta(seconds=1))
        assert await sender.send_due() == 1
        assert len(sms.sent) == 1
        assert await w.count(channel_deliveries, state="sent", attempts=2) == 1

        await w.publish(events.BOOKING_CONFIRMED, confirmed(client))
        sms.down = True
        for attempt in range(1, 4):
            assert await sender.send_due() == 0
            w.clock.advance(sender.schedule.delay(attempt))
        assert await w.count(channel_deliveries, state="failed", attempts=3) == 1
        sms.down = False
        w.clock.advance(timedelta(days=1))
        assert await sender.send_due() == 0
        assert len(sms.sent) == 1


def test_retry_waits_double_up_to_the_cap():
    settings = MessagingSettings(channel_retry_seconds=5, channel_retry_max_seconds=30)
    sender = ChannelSender(None, LoggingSms(), LoggingPush(), settings, None)  # type: ignore[arg-type]
    assert [sender.schedule.delay(n).total_seconds() for n in range(1, 6)] == [5, 10, 20, 30, 30]


async def test_the_logging_adapters_log_the_delivery_but_not_its_words_number_or_token(caplog):
    secret = "Vt7Ke2Qw9Lm4Rx8Pz1Hs6Dn3Jb5Fy0Ga"
    with caplog.at_level(logging.INFO, logger="services.messaging.channels"):
        await LoggingSms().send(
            TextMessage("d-1", Kind.BOOKING_REMINDER, NUMBER, f"Your code {secret}")
        )
        await LoggingPush().send(
            PushMessage(
                "d-2", Kind.BOOKING_REMINDER, ("device-token-abc",), f"Code {secret}", secret, ""
            )
        )
    logged = caplog.text
    assert "d-1" in logged and "d-2" in logged and "booking_reminder" in logged
    assert "+35********78" in logged
    for hidden in (secret, NUMBER, "device-token-abc"):
        assert hidden not in logged


@pytest.mark.parametrize(
    ("variable", "field"),
    [
        ("ESTUARY_MESSAGING_SMS_PROVIDER", "messaging_sms_provider"),
        ("ESTUARY_MESSAGING_PUSH_PROVIDER", "messaging_push_provider"),
    ],
)
def test_a_provider_messaging_does_not_know_refuses_to_start(variable, field, monkeypatch):
    monkeypatch.setenv(variable, "carrier-pigeon")
    with pytest.raises(ValidationError) as refused:
        MessagingSettings()
    assert f"{variable}='carrier-pigeon' is not a provider messaging knows" in str(refused.value)
    monkeypatch.setenv(variable, "log")
    assert getattr(MessagingSettings(), field) == "log"


async def test_bad_contact_settings_name_each_field_and_change_nothing(empty_database_url):
    async with world(empty_database_url) as w:
        me = person(await w.register())
        desk = w.desk
        await desk.update_contact_settings(
            me,
            ContactSettings("es", "Europe/Madrid", NUMBER),
            ["locale", "time_zone", "phone_number"],
        )
        kept = await desk.contact_settings(me)
        assert kept == ContactSettings("es", "Europe/Madrid", NUMBER)
        cases = [
            (ContactSettings(locale="fr"), ["locale"], ["locale"]),
            (ContactSettings(time_zone="Mars/Olympus"), ["time_zone"], ["time_zone"]),
            (ContactSettings(phone_number="0912345678"), ["phone_number"], ["phone_number"]),
            (ContactSettings(phone_number="+351 912 345"), ["phone_number"], ["phone_number"]),
            (ContactSettings(), [], ["update_mask"]),
            (ContactSettings(), ["email"], ["update_mask"]),
            (
                ContactSettings("xx", "Nowhere", "+1"),
                ["locale", "time_zone", "phone_number"],
                ["locale", "time_zone", "phone_number"],
            ),
        ]
        for values, paths, fields in cases:
            with pytest.raises(InvalidArgument) as refused:
                await desk.update_contact_settings(me, values, paths)
            assert [v.field for v in refused.value.violations] == fields, (values, paths)
        assert await desk.contact_settings(me) == kept
        # "" removes the number; the others stay.
        await desk.update_contact_settings(me, ContactSettings(), ["phone_number"])
        assert await desk.contact_settings(me) == ContactSettings("es", "Europe/Madrid", "")
        # A user messaging has not heard of reads the default language.
        assert await desk.contact_settings(person()) == ContactSettings("en")


async def test_push_devices_one_per_token_bounded_and_only_their_owner_removes_them(
    empty_database_url,
):
    async with world(empty_database_url, push_devices_per_user=2) as w:
        desk = w.desk
        ana, ben = person(await w.register("a@example.com")), person(new_id())
        first = await desk.register_device(ana, PushPlatform.IOS, "token-1")
        assert (await desk.register_device(ana, PushPlatform.IOS, "token-1")).id == first.id
        second = await desk.register_device(ana, PushPlatform.WEB, "token-2")
        with pytest.raises(FailedPrecondition) as refused:
            await desk.register_device(ana, PushPlatform.WEB, "token-3")
        assert refused.value.reason == "TOO_MANY_PUSH_DEVICES"
        # Registering one of the devices again is no more of them.
        await desk.register_device(ana, PushPlatform.IOS, "token-1")
        assert [d.id for d in await desk.devices(ana)] == [second.id, first.id]
        for token, field in (("", "token"), ("with space", "token"), ("x" * 4097, "token")):
            with pytest.raises(InvalidArgument) as bad:
                await desk.register_device(ana, PushPlatform.IOS, token)
            assert [v.field for v in bad.value.violations] == [field]
        with pytest.raises(InvalidArgument) as bad:
            await desk.register_device(ana, None, "token-9")
        assert [v.field for v in bad.value.violations] == ["platform"]

        with pytest.raises(NotFound):
            await desk.unregister_device(ben, f"pushDevices/{first.id}")
        with pytest.raises(InvalidArgument):
            await desk.unregister_device(ana, "pushDevices/nope")
        # A phone handed on: its token now pushes to its new owner only.
        handed = await desk.register_device(ben, PushPlatform.IOS, "token-1")
        assert handed.id == first.id and handed.user_id == ben.user_id
        assert [d.id for d in await desk.devices(ana)] == [second.id]
        await desk.unregister_device(ana, f"pushDevices/{second.id}")
        assert await desk.devices(ana) == []
        with pytest.raises(NotFound):
            await desk.unregister_device(ana, f"pushDevices/{second.id}")


async def test_sms_and_push_are_offered_and_on_by_default_as_documented(empty_database_url):
    async with world(empty_database_url) as w:
        shown = {
            (p.kind, p.channel): p.enabled
            for p in await w.desk.preferences(person(await w.register()))
        }
        assert shown[(Kind.BOOKING_REMINDER, Channel.PUSH)] is True
        assert shown[(Kind.BOOKING_CONFIRMED, Channel.PUSH)] is True
        assert shown[(Kind.BOOKING_REMINDER, Channel.SMS)] is False
        assert shown[(Kind.PAYOUT_PAID, Channel.PUSH)] is False
        assert shown[(Kind.PAYMENT_FAILED, Channel.SMS)] is False
        assert (Kind.PAYOUT_PAID, Channel.SMS) not in shown
        # Transactional kinds stay mail only, and required.
        for kind in (Kind.EMAIL_VERIFICATION, Kind.PASSWORD_RESET):
            assert [c for k, c in shown if k is kind] == [Channel.EMAIL]
        with pytest.raises(InvalidArgument) as refused:
            await w.desk.update_preferences(
                person(new_id()), [(Kind.PASSWORD_RESET, Channel.SMS, True)]
            )
        assert refused.value.violations[0].code == "not_offered"


async def test_an_erased_user_loses_number_devices_and_queued_texts(empty_database_url):
    async with world(empty_database_url) as w:
        sms, push = providers(w)
        client = await w.register("c@example.com")
        await with_phone(w, client, sms_for=Kind.BOOKING_CONFIRMED)
        await w.desk.register_device(person(client), PushPlatform.ANDROID, "fcm-token")
        await w.publish(events.BOOKING_CONFIRMED, confirmed(client))
        assert await w.count(channel_deliveries, recipient_user_id=client) == 2
        await w.erase(client)
        assert await w.count(channel_deliveries, recipient_user_id=client) == 0
        assert await w.desk.devices(person(client)) == []
        async with w.service.runtime.unit_of_work(MessagingUnitOfWork)(write=False) as uow:
            assert await uow.recipients.get(client) is None
        # Its in-app notification's delivered event, unpublished, names them: gone too.
        assert (
            await outbox_messages(
                w.service.runtime.database, events.NOTIFICATION_DELIVERED, f"users/{client}"
            )
            == []
        )
        await w.publish(events.BOOKING_CONFIRMED, confirmed(client))
        assert await w.service.channels_out.send_due() == 0
        assert sms.sent == [] and push.sent == []


async def test_a_sent_mail_is_told_as_delivered_once_and_without_its_words(empty_database_url):
    async with world(empty_database_url) as w:
        user_id = await w.register("ana@example.com")
        assert await w.send_mail() == 1
        assert await w.send_mail() == 0
        [mailed] = [
            d
            for d in await outbox_messages(
                w.service.runtime.database, events.NOTIFICATION_DELIVERED
            )
            if d.channel == pb.CHANNEL_EMAIL
        ]
        assert mailed.recipient_user_id == user_id
        assert mailed.kind == pb.NOTIFICATION_KIND_EMAIL_VERIFICATION
        assert mailed.delivery_id in str(w.mailer.sent[0]["Message-ID"])
        # The verification token stays in the mail: the event carries ids alone.
        assert "Vt7Ke2Qw9Lm4Rx8Pz1Hs6Dn3Jb5Fy0Ga" not in str(mailed)


async def test_a_reset_token_never_goes_by_text_or_push(empty_database_url):
    async with world(empty_database_url) as w:
        sms, push = providers(w)
        user_id = await w.register("ana@example.com")
        await with_phone(w, user_id)
        await w.desk.register_device(person(user_id), PushPlatform.WEB, "web-token")
        await w.publish(
            events.USER_PASSWORD_RESET_REQUESTED,
            identity_pb.UserPasswordResetRequested(
                user_id=user_id, email="ana@example.com", reset_token="secret-reset-token"
            ),
        )
        # A reset token goes by mail only, never by text or push.
        assert await w.service.channels_out.send_due() == 0
        assert await w.count(channel_deliveries) == 0
        assert sms.sent == [] and push.sent == []


async def test_the_servicer_reads_and_writes_settings_and_devices_in_proto(empty_database_url):
    async with world(empty_database_url) as w:
        servicer = NotificationServicer(w.desk)
        me = person(await w.register())
        caller = principal_var.set(me)
        try:
            changed = await servicer.UpdateNotificationSettings(
                pb.UpdateNotificationSettingsRequest(
                    settings=pb.NotificationSettings(locale="es", phone_number=NUMBER),
                    update_mask=FieldMask(paths=["locale", "phone_number"]),
                ),
                None,
            )
            assert changed == pb.NotificationSettings(
                name=f"users/{me.user_id}/notificationSettings", locale="es", phone_number=NUMBER
            )
            assert (
                await servicer.GetNotificationSettings(pb.GetNotificationSettingsRequest(), None)
                == changed
            )
            device = await servicer.RegisterPushDevice(
                pb.RegisterPushDeviceRequest(platform=pb.PUSH_PLATFORM_ANDROID, token="fcm-1"),
                None,
            )
            assert device.name.startswith("pushDevices/")
            assert (device.platform, device.token) == (pb.PUSH_PLATFORM_ANDROID, "fcm-1")
            listed = await servicer.ListPushDevices(pb.ListPushDevicesRequest(), None)
            assert list(listed.push_devices) == [device]
            with pytest.raises(InvalidArgument) as refused:
                await servicer.RegisterPushDevice(pb.RegisterPushDeviceRequest(token="fcm-2"), None)
            assert [v.field for v in refused.value.violations] == ["platform"]
            await servicer.UnregisterPushDevice(
                pb.UnregisterPushDeviceRequest(name=device.name), None
            )
            assert not (
                await servicer.ListPushDevices(pb.ListPushDevicesRequest(), None)
            ).push_devices
        finally:
            principal_var.reset(caller)
