"""Notifications from events, on the real unit of work and consumer, on both databases:
each event reaches each of its recipients once (in-app and by mail, as they chose), the
verification and reset mail carry their tokens and cannot be switched off, times are
written in the recipient's zone, a user reads and marks only their own notifications, and
an erased user's copies go."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chassis.errors import InvalidArgument, NotFound
from chassis.ids import new_id
from chassis.wire import timestamp
from estuary.booking.v1 import events_pb2 as booking_pb
from estuary.catalog.v1 import events_pb2 as catalog_pb
from estuary.identity.v1 import events_pb2 as identity_pb
from estuary.payments.v1 import events_pb2 as payments_pb
from estuary.type.v1 import money_pb2 as money_pb
from services.messaging import events
from services.messaging.domain.notifications import Channel, Kind
from services.messaging.mail import mail_id_of
from services.messaging.tables import recipients
from tests.builders import person
from tests.integration.messaging.world import START, registered, snapshot, wire_event, world


def text_of(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


async def test_a_newcomer_gets_one_verification_mail_with_the_token_however_often_the_event_comes(
    empty_database_url,
):
    async with world(empty_database_url) as w:
        user_id = new_id()
        event = wire_event(events.USER_REGISTERED, registered(user_id, "ana@example.com"))
        for _ in range(3):
            assert (await w.deliver(event)).settled == ["ack"]
        assert await w.send_mail() == 1
        assert await w.send_mail() == 0
        [mail] = w.mailer.sent
        assert mail["To"] == "ana@example.com"
        assert mail["Subject"] == "Verify your email address"
        text = text_of(mail)
        assert "Vt7Ke2Qw9Lm4Rx8Pz1Hs6Dn3Jb5Fy0Ga" in text
        assert "/verify-email?token=Vt7Ke2Qw9Lm4Rx8Pz1Hs6Dn3Jb5Fy0Ga" in text
        assert "Hello Ana Sousa" in text
        html = mail.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
        assert (
            'href="http://127.0.0.1:8000/verify-email?token=Vt7Ke2Qw9Lm4Rx8Pz1Hs6Dn3Jb5Fy0Ga"'
            in html
        )
        assert mail_id_of(mail)
        # Verification is mail only: nothing in-app.
        assert await w.notifications_of(user_id) == 0


async def test_a_reset_mail_goes_to_the_address_it_was_asked_for_with_its_token(
    empty_database_url,
):
    async with world(empty_database_url) as w:
        user_id = await w.register("ana@example.com")
        reset = identity_pb.UserPasswordResetRequested(
            user_id=user_id, email="ana@example.com", reset_token="Rs4Tn8Wq2Lp6Vz0Xk3Hm7Jd1Fb5Gc9Ya"
        )
        reset.expire_time.CopyFrom(timestamp(START + timedelta(hours=1)))
        event = await w.publish(events.USER_PASSWORD_RESET_REQUESTED, reset)
        await w.deliver(event)
        await w.send_mail()
        resets = [m for m in w.mailer.sent if m["Subject"] == "Reset your password"]
        assert len(resets) == 1
        assert "reset-password?token=Rs4Tn8Wq2Lp6Vz0Xk3Hm7Jd1Fb5Gc9Ya" in text_of(resets[0])
        # The expiry in UTC (no zone known for the user), the zone named.
        assert "Tuesday 01 December 2026, 10:00 (UTC)" in text_of(resets[0])


async def test_transactional_mail_cannot_be_switched_off_and_nothing_changes_when_asked(
    empty_database_url,
):
    async with world(empty_database_url) as w:
        user_id = await w.register()
        ana = person(user_id)
        with pytest.raises(InvalidArgument) as refused:
            await w.desk.update_preferences(
                ana,
                [
                    (Kind.BOOKING_CONFIRMED, Channel.EMAIL, False),
                    (Kind.PASSWORD_RESET, Channel.EMAIL, False),
                ],
            )
        [violation] = refused.value.violations
        assert (violation.field, violation.code) == ("preferences[1].enabled", "required")
        # Refused whole: the booking mail, asked in the same request, is still on.
        chosen = {(p.kind, p.channel): p for p in await w.desk.preferences(ana)}
        assert chosen[Kind.BOOKING_CONFIRMED, Channel.EMAIL].enabled
        assert chosen[Kind.PASSWORD_RESET, Channel.EMAIL].required
        assert (Kind.PASSWORD_RESET, Channel.IN_APP) not in chosen


async def test_bad_preference_changes_name_each_field(empty_database_url):
    async with world(empty_database_url) as w:
        ana = person(new_id())
        with pytest.raises(InvalidArgument) as refused:
            await w.desk.update_preferences(
                ana,
                [
                    (None, Channel.EMAIL, True),
                    (Kind.BOOKING_REMINDER, None, True),
                    (Kind.EMAIL_VERIFICATION, Channel.IN_APP, True),
                    (Kind.BOOKING_REMINDER, Channel.EMAIL, False),
                    (Kind.BOOKING_REMINDER, Channel.EMAIL, True),
                ],
            )
        assert [(v.field, v.code) for v in refused.value.violations] == [
            ("preferences[0].kind", "invalid"),
            ("preferences[1].channel", "invalid"),
            ("preferences[2].channel", "not_offered"),
            ("preferences[4]", "twice"),
        ]
        with pytest.raises(InvalidArgument) as empty:
            await w.desk.update_preferences(ana, [])
        assert empty.value.violations[0].field == "preferences"


async def test_a_confirmed_booking_reaches_client_and_practitioner_as_each_chose(
    empty_database_url,
):
    async with world(empty_database_url) as w:
        client = await w.register("client@example.com")
        practitioner = await w.register("pat@example.com")
        await w.send_mail()
        w.mailer.sent.clear()
        # The practitioner wants no booking mail, only the in-app notice.
        await w.desk.update_preferences(
            person(practitioner), [(Kind.BOOKING_CONFIRMED, Channel.EMAIL, False)]
        )
        confirmed = booking_pb.BookingConfirmed(booking=snapshot(client, practitioner))
        event = await w.publish(events.BOOKING_CONFIRMED, confirmed)
        await w.deliver(event)
        await w.send_mail()
        assert [m["To"] for m in w.mailer.sent] == ["client@example.com"]
        # The client's zone is not known: the practitioner's, named (10:00 UTC is 10:00 in
        # Lisbon in winter).
        assert "Wednesday 02 December 2026, 09:00 (Europe/Lisbon)" in text_of(w.mailer.sent[0])
        assert await w.notifications_of(client) == 1
        assert await w.notifications_of(practitioner) == 1
        page = await w.desk.page(person(practitioner), 0, "", unread_only=False)
        assert page.items[0].title == "New booking: Deep tissue massage"
        assert page.items[0].subject == f"bookings/{confirmed.booking.booking_id}"


async def test_switched_off_in_app_notices_are_not_stored_and_mail_still_goes(
    empty_database_url,
):
    async with world(empty_database_url) as w:
        client = await w.register("client@example.com")
        await w.desk.update_preferences(
            person(client), [(Kind.BOOKING_CANCELLED, Channel.IN_APP, False)]
        )
        cancelled = booking_pb.BookingCancelled(
            booking=snapshot(client, new_id()),
            cancelled_by=booking_pb.ACTOR_PRACTITIONER,
            refund_percent=100,
            reason="I am ill",
        )
        await w.publish(events.BOOKING_CANCELLED, cancelled)
        await w.send_mail()
        assert await w.notifications_of(client) == 0
        [mail] = [m for m in w.mailer.sent if m["Subject"].startswith("Cancelled")]
        text = text_of(mail)
        assert "cancelled by the practitioner" in text
        assert "I am ill" in text
        assert "100% of what you paid is refunded" in text


async def test_each_business_event_makes_its_notice(empty_database_url):
    async with world(empty_database_url) as w:
        client, practitioner = await w.register("c@example.com"), await w.register("p@example.com")
        booking = snapshot(client, practitioner)
        moved = booking_pb.BookingRescheduled(booking=booking)
        moved.previous_times.add(start_time=timestamp(START))
        due = booking_pb.BookingReminderDue(
            booking=booking,
            reminder=booking_pb.REMINDER_HALF_HOUR_BEFORE,
            recipient_user_id=client,
        )
        due.time.start_time.CopyFrom(booking.times[0].start_time)
        sent = [
            (
                events.PRACTITIONER_APPROVED,
                catalog_pb.PractitionerApproved(
                    practitioner_id=new_id(), user_id=practitioner, display_name="Pat Ray"
                ),
            ),
            (
                events.PRACTITIONER_REJECTED,
                catalog_pb.PractitionerRejected(
                    practitioner_id=new_id(), user_id=client, reason="no certificate"
                ),
            ),
            (events.BOOKING_RESCHEDULED, moved),
            (events.BOOKING_REMINDER_DUE, due),
            (events.BOOKING_COMPLETED, booking_pb.BookingCompleted(booking=booking)),
        ]
        for event_type, message in sent:
            await w.publish(event_type, message)
        titles = {
            n.title for n in (await w.desk.page(person(client), 0, "", unread_only=False)).items
        }
        assert titles == {
            "Your practitioner application",
            "Moved: Deep tissue massage",
            "Starting soon: Deep tissue massage",
            "How was Deep tissue massage?",
        }
        theirs = (await w.desk.page(person(practitioner), 0, "", unread_only=False)).items
        # The practitioner hears of the move too; the client's reminder and review are theirs.
        assert {n.kind for n in theirs} == {Kind.PRACTITIONER_APPROVED, Kind.BOOKING_RESCHEDULED}
        approved = next(n for n in theirs if n.kind is Kind.PRACTITIONER_APPROVED)
        assert "Pat Ray" in approved.body
        await w.send_mail()
        review = next(m for m in w.mailer.sent if m["Subject"] == "How was Deep tissue massage?")
        assert f"/bookings/{booking.booking_id}/review" in text_of(review)


async def test_a_user_reads_and_marks_only_their_own_notifications(empty_database_url):
    async with world(empty_database_url) as w:
        client, other = await w.register("c@example.com"), await w.register("o@example.com")
        for _ in range(3):
            await w.publish(
                events.BOOKING_CONFIRMED,
                booking_pb.BookingConfirmed(booking=snapshot(client, new_id())),
            )
        ana, eve = person(client), person(other)
        assert await w.desk.unread(ana) == 3
        first = await w.desk.page(ana, 2, "", unread_only=False)
        assert len(first.items) == 2 and first.total == 3 and first.next_page_token
        rest = await w.desk.page(ana, 2, first.next_page_token, unread_only=False)
        assert len(rest.items) == 1 and not rest.next_page_token
        # Newest first.
        ids = [n.id for n in first.items + rest.items]
        assert ids == sorted(ids, reverse=True)
        name = f"notifications/{ids[0]}"
        with pytest.raises(NotFound):
            await w.desk.mark_read(eve, name)
        assert await w.desk.unread(ana) == 3
        assert (await w.desk.page(eve, 0, "", unread_only=False)).items == []
        read = await w.desk.mark_read(ana, name)
        assert read.read_at == START
        assert await w.desk.unread(ana) == 2
        unread = await w.desk.page(ana, 0, "", unread_only=True)
        assert [n.id for n in unread.items] == ids[1:]
        assert await w.desk.mark_all_read(eve) == 0
        assert await w.desk.mark_all_read(ana) == 2
        assert await w.desk.unread(ana) == 0
        with pytest.raises(InvalidArgument) as bad:
            await w.desk.mark_read(ana, "notifications/nope")
        assert bad.value.violations[0].field == "name"
        with pytest.raises(InvalidArgument) as token:
            await w.desk.page(ana, 1, first.next_page_token, unread_only=True)
        assert token.value.violations[0].field == "page_token"


async def test_an_erased_user_loses_address_notifications_and_mail_and_gets_no_more(
    empty_database_url,
):
    async with world(empty_database_url) as w:
        client = await w.register("c@example.com")
        await w.publish(
            events.BOOKING_CONFIRMED,
            booking_pb.BookingConfirmed(booking=snapshot(client, new_id())),
        )
        assert await w.mails_to(client) == 2
        assert await w.notifications_of(client) == 1
        await w.erase(client)
        assert await w.mails_to(client) == 0
        assert await w.notifications_of(client) == 0
        assert await w.count(recipients, user_id=client) == 0
        await w.publish(
            events.BOOKING_CANCELLED,
            booking_pb.BookingCancelled(booking=snapshot(client, new_id())),
        )
        assert await w.mails_to(client) == 0
        assert await w.notifications_of(client) == 0


async def test_a_review_its_answer_a_failed_payment_and_refunds_reach_whom_they_concern(
    empty_database_url,
):
    async with world(empty_database_url) as w:
        client = await w.register("c@example.com")
        practitioner = await w.register("p@example.com")
        booking_id, review_id, service_id = new_id(), new_id(), new_id()
        sent = [
            (
                events.REVIEW_CREATED,
                catalog_pb.ReviewCreated(
                    review_id=review_id,
                    booking_id=booking_id,
                    service_id=service_id,
                    practitioner_user_id=practitioner,
                    client_id=client,
                    rating=4,
                ),
            ),
            (
                events.REVIEW_REPLIED,
                catalog_pb.ReviewReplied(
                    review_id=review_id,
                    service_id=service_id,
                    practitioner_id=new_id(),
                    client_id=client,
                ),
            ),
            (
                events.PAYMENT_FAILED,
                payments_pb.PaymentFailed(
                    payment_id=new_id(),
                    booking_id=booking_id,
                    user_id=client,
                    reason="card_declined",
                ),
            ),
            (
                events.REFUND_ISSUED,
                payments_pb.RefundIssued(
                    refund_id=new_id(),
                    booking_id=booking_id,
                    user_id=client,
                    amount=money_pb.Money(amount_minor=123450, currency="EUR"),
                ),
            ),
            (
                events.REFUND_ISSUED,
                payments_pb.RefundIssued(
                    refund_id=new_id(),
                    user_id=client,
                    amount=money_pb.Money(amount_minor=5000, currency="JPY"),
                ),
            ),
        ]
        for event_type, message in sent:
            await w.publish(event_type, message)
        theirs = (await w.desk.page(person(practitioner), 0, "", unread_only=False)).items
        assert [(n.kind, n.title) for n in theirs] == [
            (Kind.REVIEW_CREATED, "A new review: 4 stars")
        ]
        mine = (await w.desk.page(person(client), 0, "", unread_only=False)).items
        assert [(n.kind, n.title) for n in mine] == [
            (Kind.REFUND_ISSUED, "A refund of 5,000 JPY is on its way"),
            (Kind.REFUND_ISSUED, "A refund of 1,234.50 EUR is on its way"),
            (Kind.PAYMENT_FAILED, "Your payment did not go through"),
            (Kind.REVIEW_REPLIED, "Your review has an answer"),
        ]
        assert "(card declined)" in mine[2].body
        assert mine[3].subject == f"reviews/{review_id}"
        await w.send_mail()
        subjects = {m["To"]: [] for m in w.mailer.sent}
        for mail in w.mailer.sent:
            subjects[mail["To"]].append(mail["Subject"])
        assert "Your payment did not go through" in subjects["c@example.com"]
        refund = next(m for m in w.mailer.sent if "1,234.50 EUR" in m["Subject"])
        assert "/bookings/" in text_of(refund)
        assert "A new review: 4 stars" in subjects["p@example.com"]
        answered = next(m for m in w.mailer.sent if m["Subject"] == "Your review has an answer")
        assert answered["To"] == "c@example.com"
        assert f"/services/{service_id}/reviews" in text_of(answered)


async def test_payouts_and_tier_changes_reach_the_practitioner(empty_database_url):
    async with world(empty_database_url) as w:
        practitioner = await w.register("p@example.com")
        sent = [
            (
                events.PAYOUT_PAID,
                payments_pb.PayoutPaid(
                    payout_id=new_id(),
                    practitioner_user_id=practitioner,
                    amount=money_pb.Money(amount_minor=8000, currency="EUR"),
                ),
            ),
            (
                events.PAYOUT_FAILED,
                payments_pb.PayoutFailed(
                    payout_id=new_id(),
                    practitioner_user_id=practitioner,
                    amount=money_pb.Money(amount_minor=5000, currency="EUR"),
                    reason="account_closed",
                ),
            ),
            (
                events.SUBSCRIPTION_TIER_CHANGED,
                payments_pb.SubscriptionTierChanged(
                    user_id=practitioner,
                    previous_tier=payments_pb.PLATFORM_TIER_FREE,
                    tier=payments_pb.PLATFORM_TIER_ENTRY,
                ),
            ),
            # A change naming no tier concerns no one: nothing is made of it.
            (events.SUBSCRIPTION_TIER_CHANGED, payments_pb.SubscriptionTierChanged()),
        ]
        for event_type, message in sent:
            await w.publish(event_type, message)
        theirs = (await w.desk.page(person(practitioner), 0, "", unread_only=False)).items
        assert [(n.kind, n.title) for n in theirs] == [
            (Kind.PLATFORM_TIER_CHANGED, "You are now on the Entry plan"),
            (Kind.PAYOUT_FAILED, "Your payout of 50.00 EUR did not go through"),
            (Kind.PAYOUT_PAID, "Your payout of 80.00 EUR is on its way"),
        ]
        assert "Free to Entry: 20 services on sale" in theirs[0].body
        assert "(account closed)" in theirs[1].body
        assert theirs[2].subject.startswith("payouts/")
        await w.send_mail()
        assert sorted(m["Subject"] for m in w.mailer.sent) == [
            "Verify your email address",
            "You are now on the Entry plan",
            "Your payout of 50.00 EUR did not go through",
            "Your payout of 80.00 EUR is on its way",
        ]
        assert all(m["To"] == "p@example.com" for m in w.mailer.sent)


async def test_a_held_seat_reaches_the_first_in_line_with_its_deadline_once(empty_database_url):
    async with world(empty_database_url) as w:
        client = await w.register("c@example.com")
        practitioner = await w.register("p@example.com")
        await w.send_mail()
        offer_id, service_id = new_id(), new_id()
        offered = booking_pb.WaitlistOffered(
            offer_id=offer_id,
            service_id=service_id,
            client_id=client,
            expire_time=timestamp(START - timedelta(hours=20)),
            service_title="Breathwork weekend",
            time_zone="Europe/Lisbon",
        )
        offered.time.start_time.CopyFrom(timestamp(START))
        offered.time.end_time.CopyFrom(timestamp(START + timedelta(hours=2)))
        event = await w.publish(events.WAITLIST_OFFERED, offered)
        assert (await w.deliver(event)).settled == ["ack"]  # delivered again: no second notice
        [notice] = (await w.desk.page(person(client), 0, "", unread_only=False)).items
        assert (notice.kind, notice.subject) == (Kind.WAITLIST_OFFERED, f"waitlist/{offer_id}")
        assert notice.title == "A seat is yours to take: Breathwork weekend"
        # START is 2026-12-01 09:00 UTC; the offer ends 20 hours before, in Lisbon's winter time.
        assert notice.body == (
            "A seat of Breathwork weekend is held for you until "
            "Monday 30 November 2026, 13:00 (Europe/Lisbon)."
        )
        assert (await w.desk.page(person(practitioner), 0, "", unread_only=False)).items == []
        verifications = len(w.mailer.sent)
        await w.send_mail()
        [mail] = w.mailer.sent[verifications:]
        assert (mail["To"], mail["Subject"]) == ("c@example.com", notice.title)
        text = text_of(mail)
        assert "Tuesday 01 December 2026, 09:00 (Europe/Lisbon)" in text
        assert f"/services/{service_id}" in text


async def test_a_client_marked_absent_hears_that_what_they_paid_is_kept(empty_database_url):
    async with world(empty_database_url) as w:
        client, practitioner = await w.register("c@example.com"), await w.register("p@example.com")
        await w.send_mail()
        missed = booking_pb.BookingNoShow(
            booking=snapshot(client, practitioner),
            marked_by=booking_pb.ACTOR_PRACTITIONER,
            amount_paid=money_pb.Money(amount_minor=7000, currency="EUR"),
        )
        event = await w.publish(events.BOOKING_NO_SHOW, missed)
        assert (await w.deliver(event)).settled == ["ack"]  # again: no second notice
        [notice] = (await w.desk.page(person(client), 0, "", unread_only=False)).items
        assert (notice.kind, notice.title) == (Kind.BOOKING_NO_SHOW, "Missed: Deep tissue massage")
        assert notice.subject == f"bookings/{missed.booking.booking_id}"
        assert (await w.desk.page(person(practitioner), 0, "", unread_only=False)).items == []
        free = booking_pb.BookingNoShow(booking=snapshot(client, practitioner))
        await w.publish(events.BOOKING_NO_SHOW, free)
        verifications = len(w.mailer.sent)
        await w.send_mail()
        paid_mail, free_mail = w.mailer.sent[verifications:]
        assert "the 70.00 EUR you paid is not refunded" in text_of(paid_mail)
        assert f"/bookings/{missed.booking.booking_id}" in text_of(paid_mail)
        assert "refunded" not in text_of(free_mail)
