"""Notices in the recipient's language and time zone: a user chooses Spanish and a zone and
reads their notifications and mail so; a language lacking a kind's template writes it in
English; message.sent tells who wrote to whom, never what."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from chassis.ids import new_id
from chassis.money import Money
from estuary.booking.v1 import events_pb2 as booking_pb
from services.messaging import events
from services.messaging.domain.contacts import ContactSettings
from services.messaging.domain.notifications import Kind
from services.messaging.templates import ROOT, Templates
from tests.builders import outbox_messages, person
from tests.integration.messaging.test_conversations import practitioner
from tests.integration.messaging.world import snapshot, world


async def test_a_user_who_chose_spanish_and_a_zone_reads_their_notices_so(empty_database_url):
    async with world(empty_database_url) as w:
        client = await w.register("c@example.com")
        await w.send_mail()
        await w.desk.update_contact_settings(
            person(client),
            ContactSettings(locale="es", time_zone="America/Mexico_City"),
            ["locale", "time_zone"],
        )
        # The session starts 2026-12-02 09:00 UTC: 03:00 in Mexico City, 09:00 in Lisbon
        # (the booking's own zone, which the user's choice overrides).
        await w.publish(
            events.BOOKING_CONFIRMED,
            booking_pb.BookingConfirmed(booking=snapshot(client, new_id())),
        )
        page = await w.desk.page(person(client), 10, "", unread_only=False)
        booked = next(n for n in page.items if n.kind is Kind.BOOKING_CONFIRMED)
        assert booked.title == "Reservado: Deep tissue massage"
        assert booked.body == (
            "Deep tissue massage, miércoles 2 de diciembre de 2026, 03:00 (America/Mexico_City)."
        )
        await w.send_mail()
        mail = w.mailer.sent[-1]
        assert mail["Subject"] == "Reservado: Deep tissue massage"
        text = mail.get_body(("plain",)).get_content()
        assert text.startswith("Hola, Ana Sousa:")
        assert "Tu reserva de Deep tissue massage está confirmada." in text
        html = mail.get_body(("html",)).get_content()
        assert '<html lang="es">' in html and "Ver la reserva" in html


async def test_without_a_choice_notices_are_english_in_the_bookings_zone(empty_database_url):
    async with world(empty_database_url) as w:
        client = await w.register("c@example.com")
        await w.publish(
            events.BOOKING_CONFIRMED,
            booking_pb.BookingConfirmed(booking=snapshot(client, new_id())),
        )
        page = await w.desk.page(person(client), 10, "", unread_only=False)
        booked = next(n for n in page.items if n.kind is Kind.BOOKING_CONFIRMED)
        assert booked.body == (
            "Deep tissue massage, Wednesday 02 December 2026, 09:00 (Europe/Lisbon)."
        )


def test_every_english_template_has_its_spanish_twin():
    english = {p.name for p in (ROOT / "en").iterdir()}
    assert english == {p.name for p in (ROOT / "es").iterdir()}
    assert {f"{k.value}.txt.j2" for k in Kind} <= english


def test_a_kind_a_language_lacks_is_written_in_english(tmp_path: Path):
    for locale in ("en", "es"):
        (tmp_path / locale).mkdir()
        for name in ("mail.txt.j2", "mail.html.j2"):
            (tmp_path / locale / name).write_text((ROOT / locale / name).read_text())
    for name in ("refund_issued.txt.j2", "payout_paid.txt.j2"):
        (tmp_path / "en" / name).write_text((ROOT / "en" / name).read_text())
    (tmp_path / "es" / "payout_paid.txt.j2").write_text(
        (ROOT / "es" / "payout_paid.txt.j2").read_text()
    )
    templates = Templates(tmp_path)
    context = {"name": "Ana", "zone": "", "app_url": "x", "link": "l"}
    amount = {"amount": Money(123450, "EUR")}
    refund = templates.render(Kind.REFUND_ISSUED, "es", {**context, **amount})
    assert refund.subject == "A refund of 1,234.50 EUR is on its way"
    assert refund.text.startswith("Hello Ana,")
    assert '<html lang="en">' in refund.html
    paid = templates.render(Kind.PAYOUT_PAID, "es-MX", {**context, **amount})
    assert paid.subject == "Tu pago de 1.234,50 EUR está en camino"
    assert templates.render(Kind.PAYOUT_PAID, "fr", {**context, **amount}).subject == (
        "Your payout of 1,234.50 EUR is on its way"
    )


def test_spanish_words_its_times_and_amounts_as_spanish_readers_do():
    templates = Templates()
    start = datetime(2027, 3, 28, 9, 30, tzinfo=UTC)
    reminder = templates.render(
        Kind.BOOKING_REMINDER,
        "es",
        {
            "name": "",
            "zone": "Europe/Madrid",
            "app_url": "x",
            "link": "l",
            "title": "Yoga",
            "start": start,
            "soon": True,
            "attendees": 3,
        },
    )
    # The day clocks move forward in Madrid: 09:30 UTC is 11:30 there, summer time.
    assert reminder.subject == "Empieza pronto: Yoga"
    assert reminder.summary == "Yoga empieza el domingo 28 de marzo de 2027, 11:30 (Europe/Madrid)."
    assert "Hay 3 clientes apuntados." in reminder.text
    assert reminder.text.startswith("Hola:")


async def test_message_sent_names_who_wrote_to_whom_never_what(empty_database_url):
    async with world(empty_database_url) as w:
        desk = w.service.conversations
        pat, ana = await practitioner(w), new_id()
        conversation = await desk.start(person(ana), pat)
        name = f"conversations/{conversation.id}"
        first = await desk.send(person(ana), name, "My secret is blue", "")
        answer = await desk.send(person(pat), name, "Noted", f"{name}/messages/{first.id}")
        sent = await outbox_messages(w.service.runtime.database, events.MESSAGE_SENT, name)
        assert [(s.message, s.sender_user_id, list(s.recipient_user_ids)) for s in sent] == [
            (f"{name}/messages/{first.id}", ana, [pat]),
            (f"{name}/messages/{answer.id}", pat, [ana]),
        ]
        assert sent[1].reply_to == f"{name}/messages/{first.id}"
        assert sent[0].conversation == name and sent[0].attachment_count == 0
        assert "blue" not in str(sent[0]) and "Noted" not in str(sent[1])


def test_a_digest_names_an_unknown_sender_in_the_readers_language():
    lines = [{"sender": "", "count": 2, "latest": "Hola"}]
    context = {"name": "", "zone": "", "app_url": "x", "link": "l", "total": 2}
    for locale, line in (("es", '- Alguien (2): "Hola"'), ("en", '- Someone (2): "Hola"')):
        digest = Templates().render(
            Kind.MESSAGE_DIGEST, locale, {**context, "conversations": lines}
        )
        assert line in digest.text
