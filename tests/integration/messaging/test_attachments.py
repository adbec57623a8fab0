"""Attachments, in the embedded shape (SQLite, the folder store through the gateway's signed
routes) and the production one (PostgreSQL, S3 on SeaweedFS, which checks the forms
itself): a participant
asks for an upload slot, uploads the file with its form and sends its reference; a message
carries only the sender's own uploads to that conversation that the store holds with the
slot's type and size (anything else is refused naming attachments[i], nothing sent); its
readers, and nobody else, get URLs that read the bytes; a deleted message's files, an erased
sender's and slots never sent are deleted from the store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from chassis.auth.principal import Principal
from chassis.errors import FailedPrecondition, InvalidArgument, NotFound
from chassis.ids import new_id
from chassis.media import MediaSettings, MediaStore, S3MediaStore, UploadForm
from services.messaging.attachments import AttachmentSweeper
from services.messaging.domain.conversations import Message
from services.messaging.uow import MessagingUnitOfWork
from tests.builders import person
from tests.infrastructure import free_port, postgres_database
from tests.integration.messaging.test_conversations import practitioner
from tests.integration.messaging.world import World, world
from tests.integration.test_media import PNG, folder_settings, forms_outlived, gateway_client
from tests.seaweedfs import SeaweedS3

PDF = b"%PDF-1.7\n" + b"%" * 40


@dataclass
class Uploads:
    """Messaging on a media store, with a client that reaches where the store's forms and
    URLs point (S3, or the gateway serving the folder store)."""

    w: World
    http: httpx.AsyncClient

    @property
    def store(self) -> MediaStore:
        return self.w.service.media

    @property
    def desk(self) -> Any:
        return self.w.service.conversations

    async def upload(self, form: UploadForm, body: bytes) -> int:
        """Posts the form as a browser would (its fields, then the file); the status."""
        answer = await self.http.post(
            form.url, data=form.fields, files={"file": ("file", body, form.content_type)}
        )
        return answer.status_code

    async def uploaded(self, who: Principal, name: str, body: bytes = PNG, **slot: Any) -> str:
        """A slot of who's in the conversation, its file uploaded: its reference."""
        form = await self.desk.upload_attachment(who, name, slot.get("content_type", "image/png"))
        assert await self.upload(form, body) == 204
        return form.key

    async def conversation(self, one: Principal, other: Principal) -> str:
        return f"conversations/{(await self.desk.start(one, other.user_id)).id}"

    async def messages(self, reader: Principal, name: str) -> list[Message]:
        return (await self.desk.messages(reader, name, 0, "")).items


@pytest.fixture(params=["embedded", "production"])
def shape(request: pytest.FixtureRequest) -> str:
    return request.param


@asynccontextmanager
async def uploads(
    shape: str, request: pytest.FixtureRequest | None, tmp_path: Path, **settings: Any
) -> AsyncIterator[Uploads]:
    """Messaging in this shape; S3's bucket is shared, so its keys are unique."""
    if shape == "production":
        assert request is not None
        server: SeaweedS3 = request.getfixturevalue("seaweed")
        with postgres_database() as url:
            async with (
                world(url, media=server.media_settings(), **settings) as w,
                httpx.AsyncClient() as http,
            ):
                yield Uploads(w, http)
        return
    folder = tmp_path / "media"
    url = f"sqlite+aiosqlite:///{tmp_path}/messaging.db"
    # The gateway's folder store checks expiries on the service's clock.
    async with (
        world(url, media=folder_settings(folder), **settings) as w,
        gateway_client(folder, w.clock) as http,
    ):
        yield Uploads(w, http)


@pytest.fixture
async def u(shape: str, request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Uploads]:
    async with uploads(shape, request, tmp_path) as made:
        yield made


def refused_field(error: pytest.ExceptionInfo[InvalidArgument]) -> tuple[str, str]:
    [violation] = error.value.violations
    return violation.field, violation.code


async def test_a_file_sent_in_a_message_is_read_by_its_participants_only(u: Uploads):
    pat, ana, eve = person(await practitioner(u.w)), person(new_id()), person(new_id())
    name = await u.conversation(ana, pat)
    form = await u.desk.upload_attachment(ana, name, "image/png")
    assert form.key.startswith(f"messaging/{name}/attachments/")
    assert form.max_bytes == 20 * 1024 * 1024  # ESTUARY_ATTACHMENT_MAX_BYTES' image
    assert await u.upload(form, PNG) == 204
    sent = await u.desk.send(ana, name, "", "", [form.key])
    [attached] = sent.attachments
    assert (attached.reference, attached.content_type, attached.size) == (
        form.key,
        "image/png",
        len(PNG),
    )
    [seen] = await u.messages(pat, name)
    [readable] = seen.attachments
    assert readable.download is not None
    read = await u.http.get(readable.download.url)
    assert (read.status_code, read.content) == (200, PNG)
    assert read.headers["content-type"] == "image/png"
    # A stranger reads nothing of it, nor gets a slot in it.
    with pytest.raises(NotFound):
        await u.desk.messages(eve, name, 0, "")
    with pytest.raises(NotFound):
        await u.desk.upload_attachment(eve, name, "image/png")
    # What a conversation shows of its last message carries no URL.
    last = (await u.desk.get(pat, name)).last_message
    assert last.attachments[0].reference == form.key
    assert last.attachments[0].download is None
    # A block stops new files either way; the blocked side still reads what was sent.
    await u.desk.block(pat, ana.user_id)
    with pytest.raises(FailedPrecondition) as blocked:
        await u.desk.upload_attachment(ana, name, "image/png")
    assert blocked.value.reason == "BLOCKED"
    [still] = await u.messages(ana, name)
    assert still.attachments[0].download is not None
    with pytest.raises(InvalidArgument) as html:
        await u.desk.upload_attachment(pat, name, "text/html")
    assert refused_field(html) == ("content_type", "unsupported_type")


async def test_someone_who_left_a_group_gets_no_more_urls(u: Uploads):
    pat, ana = person(await practitioner(u.w)), person(new_id())
    group = await u.desk.start_group(ana, "Yoga", [pat.user_id])
    name = f"conversations/{group.id}"
    await u.desk.send(ana, name, "The plan", "", [await u.uploaded(ana, name)])
    assert (await u.messages(pat, name))[0].attachments[0].download is not None
    await u.desk.remove_participant(pat, name, pat.user_id)
    with pytest.raises(NotFound):
        await u.desk.messages(pat, name, 0, "")
    assert (await u.desk.search(pat, "plan", 0, "")).items == []
    [found] = (await u.desk.search(ana, "plan", 0, "")).items
    assert found.attachments[0].download is not None


async def test_a_reference_the_sender_may_not_send_is_refused_by_name_and_nothing_is_sent(
    u: Uploads,
):
    pat, ana = person(await practitioner(u.w)), person(new_id())
    other_pat = person(await practitioner(u.w))
    name = await u.conversation(ana, pat)
    elsewhere = await u.conversation(ana, other_pat)
    mine = await u.uploaded(ana, name)
    theirs = await u.uploaded(pat, name)
    other_conversations = await u.uploaded(ana, elsewhere)
    never_uploaded = (await u.desk.upload_attachment(ana, name, "image/png")).key
    never_asked_for = f"messaging/{name}/attachments/{new_id()}"
    for second, refusal in (
        (theirs, "not_found"),
        (other_conversations, "invalid"),
        (never_asked_for, "not_found"),
        (never_uploaded, "not_uploaded"),
        (f"media/{new_id()}", "invalid"),
        (mine, "duplicate"),
    ):
        with pytest.raises(InvalidArgument) as refused:
            await u.desk.send(ana, name, "Look", "", [mine, second])
        assert refused_field(refused) == ("attachments[1]", refusal), second
    with pytest.raises(InvalidArgument) as too_many:
        await u.desk.send(ana, name, "Look", "", [never_asked_for] * 11)
    assert refused_field(too_many) == ("attachments", "too_many")
    assert await u.messages(pat, name) == []
    # Nothing was taken by the refused sends: the slot sends once, and only once.
    assert [a.reference for a in (await u.desk.send(ana, name, "", "", [mine])).attachments] == [
        mine
    ]
    with pytest.raises(InvalidArgument) as again:
        await u.desk.send(ana, name, "Again", "", [mine])
    assert refused_field(again) == ("attachments[0]", "not_found")


async def test_a_file_of_another_type_or_size_than_its_slot_is_refused(
    shape: str, request: pytest.FixtureRequest, tmp_path: Path
):
    limits = {"image": 64, "application": 1024, "audio": 1024, "video": 1024}
    async with uploads(shape, request, tmp_path, attachment_max_bytes=limits) as u:
        pat, ana = person(await practitioner(u.w)), person(new_id())
        name = await u.conversation(ana, pat)
        image = await u.desk.upload_attachment(ana, name, "image/png")
        assert image.max_bytes == 64
        # The store itself refuses a bigger file than the slot's form allows.
        assert await u.upload(image, b"x" * 65) == 400
        assert await u.store.stat(image.key) is None
        # Files put under the slots' keys past their forms (as by a store that did not
        # check, or one another form wrote): messaging's own look refuses them.
        wider = await u.store.presign_upload(image.key, "image/png", max_bytes=1000)
        assert await u.upload(wider, b"x" * 100) == 204
        document = await u.desk.upload_attachment(ana, name, "application/pdf")
        as_image = await u.store.presign_upload(document.key, "image/png")
        assert await u.upload(as_image, PNG) == 204
        for reference, refusal in ((image.key, "wrong_size"), (document.key, "wrong_type")):
            with pytest.raises(InvalidArgument) as refused:
                await u.desk.send(ana, name, "Here", "", [reference])
            assert refused_field(refused) == ("attachments[0]", refusal)
        assert await u.messages(pat, name) == []
        assert await u.upload(document, PDF) == 204
        sent = await u.desk.send(ana, name, "", "", [document.key])
        assert [(a.content_type, a.size) for a in sent.attachments] == [
            ("application/pdf", len(PDF))
        ]


async def test_a_deleted_message_an_erased_sender_and_an_unsent_slot_lose_their_files(
    u: Uploads,
):
    pat, ana = person(await practitioner(u.w)), person(new_id())
    name = await u.conversation(ana, pat)
    photos = [await u.uploaded(ana, name) for _ in range(2)]
    sent = await u.desk.send(ana, name, "Two photos", "", photos)
    link = sent.attachments[0].download
    kept = await u.desk.send(pat, name, "Mine", "", [await u.uploaded(pat, name)])
    await u.desk.delete(ana, f"{name}/messages/{sent.id}")
    assert (await u.messages(pat, name))[1].attachments == ()
    assert await u.w.service.attachments.sweep() == 2
    assert [await u.store.stat(key) for key in photos] == [None, None]
    assert (await u.http.get(link.url)).status_code == 404
    # Their rows go once no form for them can be used (till then each sweep deletes again).
    u.w.clock.advance(forms_outlived(u.store))
    assert await u.w.service.attachments.sweep() == 2
    assert await u.w.service.attachments.sweep() == 0

    later = await u.desk.send(ana, name, "Another", "", [await u.uploaded(ana, name)])
    unsent = await u.uploaded(ana, name)
    await u.w.erase(ana.user_id)
    assert await u.w.service.attachments.sweep() == 2
    assert await u.store.stat(later.attachments[0].reference) is None
    assert await u.store.stat(unsent) is None
    u.w.clock.advance(forms_outlived(u.store))
    assert await u.w.service.attachments.sweep() == 2

    forgotten = await u.uploaded(pat, name)
    u.w.clock.advance(timedelta(hours=23))
    assert await u.w.service.attachments.sweep() == 0
    u.w.clock.advance(timedelta(hours=2))
    assert await u.w.service.attachments.sweep() == 1
    assert await u.store.stat(forgotten) is None
    # The other participant's message keeps its file throughout.
    [theirs] = kept.attachments
    assert await u.store.stat(theirs.reference) is not None
    [shown] = next(m for m in await u.messages(pat, name) if m.id == kept.id).attachments
    assert shown.reference == theirs.reference


async def test_files_the_store_could_not_delete_are_deleted_by_a_later_sweep(tmp_path: Path):
    async with uploads("embedded", None, tmp_path) as u:
        pat, ana = person(await practitioner(u.w)), person(new_id())
        name = await u.conversation(ana, pat)
        sent = await u.desk.send(ana, name, "", "", [await u.uploaded(ana, name)])
        await u.desk.delete(ana, f"{name}/messages/{sent.id}")
        nowhere = S3MediaStore(
            MediaSettings(
                backend="s3",
                endpoint=f"http://127.0.0.1:{free_port()}",
                bucket="gone",
                access_key="k",
                secret_key="s",
            ),
            attempts=1,
        )
        service = u.w.service
        down = AttachmentSweeper(
            service.runtime.unit_of_work(MessagingUnitOfWork),
            nowhere,
            service.runtime.settings,
            u.w.clock,
        )
        try:
            assert await down.sweep() == 0
        finally:
            await nowhere.close()
        reference = sent.attachments[0].reference
        assert await u.store.stat(reference) is not None
        assert await service.attachments.sweep() == 1
        assert await u.store.stat(reference) is None
