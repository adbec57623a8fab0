"""What an attachment's reference must be, and what the store must hold under it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from chassis.errors import InvalidArgument
from chassis.ids import new_id
from chassis.media import MediaSettings, StoredObject
from services.messaging.domain.attachments import (
    PendingUpload,
    attachment_key,
    attachment_references,
    stored_size,
)
from services.messaging.settings import MessagingSettings

CONVERSATION = new_id()
SLOT = PendingUpload(
    new_id(),
    CONVERSATION,
    new_id(),
    attachment_key(CONVERSATION, new_id()),
    "image/png",
    100,
    datetime(2026, 12, 1, tzinfo=UTC),
)


def refusal(error: pytest.ExceptionInfo[InvalidArgument]) -> tuple[str, str]:
    [violation] = error.value.violations
    return violation.field, violation.code


def test_a_reference_names_an_upload_to_this_conversation():
    ours = attachment_key(CONVERSATION, new_id())
    assert ours == f"messaging/conversations/{CONVERSATION}/attachments/{ours.rsplit('/')[-1]}"
    assert attachment_references(CONVERSATION, [ours]) == (ours,)
    for reference in (
        attachment_key(new_id(), new_id()),
        f"{ours}/more",
        f"messaging/conversations/{CONVERSATION}/attachments/not-an-id",
        f"media/{new_id()}",
        "",
    ):
        with pytest.raises(InvalidArgument) as refused:
            attachment_references(CONVERSATION, [ours, reference])
        assert refusal(refused) == ("attachments[1]", "invalid"), reference


@pytest.mark.parametrize(
    ("stored", "code"),
    [
        (None, "not_uploaded"),
        (StoredObject(SLOT.reference, 10, "image/jpeg"), "wrong_type"),
        (StoredObject(SLOT.reference, 101, "image/png"), "wrong_size"),
        (StoredObject(SLOT.reference, 0, "image/png"), "wrong_size"),
    ],
)
def test_the_store_must_hold_the_slots_type_and_one_to_its_largest_size(stored, code):
    with pytest.raises(InvalidArgument) as refused:
        stored_size("attachments[3]", SLOT, stored)
    assert refusal(refused) == ("attachments[3]", code)


def test_a_file_of_the_slots_type_and_size_is_taken_whatever_the_types_case():
    for size in (1, 100):
        assert (
            stored_size("attachments[0]", SLOT, StoredObject(SLOT.reference, size, "Image/PNG"))
            == size
        )


def test_settings_refuse_slots_swept_before_their_forms_expire_or_a_type_without_a_size():
    week = MediaSettings(upload_url_ttl_seconds=7 * 24 * 3600)
    with pytest.raises(ValidationError, match="ESTUARY_ATTACHMENT_PENDING_HOURS"):
        MessagingSettings(media=week, attachment_pending_hours=24)
    assert MessagingSettings(media=week, attachment_pending_hours=169).attachment_pending_hours
    with pytest.raises(ValidationError, match="no largest size for video"):
        MessagingSettings(attachment_max_bytes={"image": 1, "application": 1, "audio": 1})
    capped = MessagingSettings(
        media=MediaSettings(max_bytes={**MediaSettings().max_bytes, "image": 10})
    )
    assert capped.largest_attachment("image/png") == 10
    assert capped.largest_attachment("application/pdf") == 25 * 1024 * 1024
