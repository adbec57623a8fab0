"""The media store, the same behaviours on both adapters: S3 against a real S3 server
(SeaweedFS, which checks signatures and POST policies itself) and the folder store through
the gateway's signed routes. Every refusal here is the server's, not the client's."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from chassis.clock import FrozenClock
from chassis.media import FolderMediaStore, MediaSettings, MediaStore, S3MediaStore, UploadForm
from chassis.media.sweeper import FORM_CLOCK_GRACE
from gateway.app import create_app
from gateway.settings import GatewaySettings
from suite.embedded import EmbeddedSuite
from tests.seaweedfs import SeaweedS3

PUBLIC_URL = "http://gateway.test"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 24


def forms_outlived(store: MediaStore) -> timedelta:
    """Long enough after an upload slot was made that no form for it can be used any more:
    the sweep then lets its row go (chassis.media.sweeper)."""
    lifetime = timedelta(seconds=store.settings.upload_url_ttl_seconds)
    return lifetime + FORM_CLOCK_GRACE + timedelta(seconds=1)


@dataclass
class Media:
    """A store, and a client that reaches where its URLs point (S3, or the gateway)."""

    store: MediaStore
    http: httpx.AsyncClient
    kind: str

    async def upload(
        self, form: UploadForm, body: bytes, *, fields: dict[str, str] | None = None
    ) -> httpx.Response:
        """Posts the form as a browser would: its fields, then the file."""
        return await self.http.post(
            form.url,
            data=form.fields if fields is None else fields,
            files={"file": ("upload.bin", body, form.content_type)},
        )


def folder_settings(folder: Path, **overrides: Any) -> MediaSettings:
    return MediaSettings(
        backend="folder",
        folder=str(folder),
        public_url=PUBLIC_URL,
        signing_secret="a secret the services and the gateway share",
        **overrides,
    )


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


def gateway_client(folder: Path, clock: FrozenClock) -> httpx.AsyncClient:
    """A client of the gateway, serving the folder store in `folder` on the test's clock."""
    settings = folder_settings(folder)
    app = create_app(GatewaySettings(media=settings, rate_limit_enabled=False))
    app.state.media = FolderMediaStore(settings, clock=clock)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=PUBLIC_URL)


@pytest.fixture
async def gateway_http(tmp_path: Path, clock: FrozenClock) -> AsyncIterator[httpx.AsyncClient]:
    async with gateway_client(tmp_path / "media", clock) as client:
        yield client


@pytest.fixture(params=["s3", "folder"])
async def media(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FrozenClock
) -> AsyncIterator[Media]:
    if request.param == "s3":
        server: SeaweedS3 = request.getfixturevalue("seaweed")
        store: MediaStore = S3MediaStore(server.media_settings())
        http = httpx.AsyncClient()
    else:
        store = FolderMediaStore(folder_settings(tmp_path / "media"), clock=clock)
        http = gateway_client(tmp_path / "media", clock)
    try:
        yield Media(store, http, request.param)
    finally:
        await store.close()
        await http.aclose()


def unique_key(name: str) -> str:
    """A key no other test uses (the S3 bucket lasts the session)."""
    return f"tests/{uuid.uuid4().hex}/{name}"


async def test_an_upload_through_the_form_is_stored_and_read_through_a_signed_url(media: Media):
    form = await media.store.presign_upload(unique_key("cover.png"), "image/png", max_bytes=1000)
    answer = await media.upload(form, PNG)
    assert answer.status_code == 204, answer.text
    stored = await media.store.stat(form.key)
    assert stored is not None
    assert (stored.size, stored.content_type) == (len(PNG), "image/png")
    link = await media.store.download_url(form.key)
    read = await media.http.get(link.url)
    assert read.status_code == 200
    assert read.content == PNG
    assert read.headers["content-type"] == "image/png"
    # Players seek: a range of the object answers 206 with those bytes.
    part = await media.http.get(link.url, headers={"Range": "bytes=0-3"})
    assert part.status_code == 206
    assert part.content == PNG[:4]


async def test_a_file_over_the_forms_size_or_empty_is_refused_by_the_server(media: Media):
    form = await media.store.presign_upload(unique_key("big.png"), "image/png", max_bytes=10)
    too_large = await media.upload(form, b"x" * 11)
    assert too_large.status_code == 400, too_large.text
    empty = await media.upload(form, b"")
    assert empty.status_code == 400, empty.text
    assert await media.store.stat(form.key) is None
    exactly = await media.upload(form, b"x" * 10)
    assert exactly.status_code == 204, exactly.text


async def test_a_form_changed_to_another_content_type_or_key_is_refused(media: Media):
    form = await media.store.presign_upload(unique_key("photo.png"), "image/png")
    as_html = await media.upload(
        form, b"<script>", fields={**form.fields, "Content-Type": "text/html"}
    )
    assert as_html.status_code == 403, as_html.text
    other_key = unique_key("elsewhere.png")
    elsewhere = await media.upload(form, PNG, fields={**form.fields, "key": other_key})
    assert elsewhere.status_code == 403, elsewhere.text
    assert await media.store.stat(form.key) is None
    assert await media.store.stat(other_key) is None


def _with_policy(fields: dict[str, str], change: Any) -> dict[str, str]:
    """The fields with their policy decoded, changed and encoded again (but not re-signed)."""
    policy = json.loads(base64.b64decode(fields["policy"]))
    change(policy)
    return {**fields, "policy": base64.b64encode(json.dumps(policy).encode()).decode()}


def _signature_field(fields: dict[str, str]) -> str:
    return "x-amz-signature" if "x-amz-signature" in fields else "signature"


async def test_a_tampered_signature_or_policy_is_refused(media: Media):
    form = await media.store.presign_upload(unique_key("clip.png"), "image/png", max_bytes=10)
    name = _signature_field(form.fields)
    flipped = form.fields[name][:-1] + ("0" if form.fields[name][-1] != "0" else "1")
    forged = await media.upload(form, PNG[:10], fields={**form.fields, name: flipped})
    assert forged.status_code == 403, forged.text

    def allow_more(policy: dict[str, Any]) -> None:
        if "conditions" in policy:  # S3's: drop the content-length-range
            policy["conditions"] = [c for c in policy["conditions"] if not isinstance(c, list)]
        else:
            policy["max_bytes"] = 10**9

    widened = await media.upload(form, b"x" * 100, fields=_with_policy(form.fields, allow_more))
    assert widened.status_code == 403, widened.text
    assert await media.store.stat(form.key) is None


async def test_objects_are_private_and_a_tampered_url_is_refused(media: Media):
    form = await media.store.presign_upload(unique_key("private.png"), "image/png")
    # An uploader asking for a public object: AWS refuses a field its policy does not name;
    # SeaweedFS and the folder store take the file and ignore the wish.
    asked = await media.upload(form, PNG, fields={**form.fields, "acl": "public-read"})
    assert asked.status_code in (204, 403), asked.text
    if asked.status_code == 403:
        assert (await media.upload(form, PNG)).status_code == 204
    url = urlsplit((await media.store.download_url(form.key)).url)
    unsigned = await media.http.get(f"{url.scheme}://{url.netloc}{url.path}")
    assert unsigned.status_code in (403, 422), unsigned.text
    assert PNG not in unsigned.content
    other = await media.store.presign_upload(unique_key("other.png"), "image/png")
    assert (await media.upload(other, b"another object")).status_code == 204
    # The signature of one object's URL does not open another.
    moved = url._replace(path=urlsplit((await media.store.download_url(other.key)).url).path)
    refused = await media.http.get(moved.geturl())
    assert refused.status_code == 403, refused.text
    assert b"another object" not in refused.content


async def test_a_key_a_key_under_it_and_a_long_name_are_separate_objects(media: Media):
    parent = unique_key("album")
    keys = [parent, f"{parent}/1.png", f"{parent}/{'n' * 251}.png"]
    for number, key in enumerate(keys):
        form = await media.store.presign_upload(key, "image/png")
        assert (await media.upload(form, PNG * (number + 1))).status_code == 204
    assert [(await media.store.stat(key)).size for key in keys] == [  # type: ignore[union-attr]
        len(PNG),
        2 * len(PNG),
        3 * len(PNG),
    ]


async def test_a_deleted_object_is_gone(media: Media):
    form = await media.store.presign_upload(unique_key("gone.png"), "image/png")
    assert (await media.upload(form, PNG)).status_code == 204
    link = await media.store.download_url(form.key)
    await media.store.delete(form.key)
    assert await media.store.stat(form.key) is None
    assert (await media.http.get(link.url)).status_code == 404
    await media.store.delete(form.key)  # deleting twice is fine, as in S3


async def test_s3_forms_and_urls_work_until_they_expire(seaweed: SeaweedS3):
    store = S3MediaStore(seaweed.media_settings())
    async with httpx.AsyncClient() as http:
        media = Media(store, http, "s3")
        uploaded = await store.presign_upload(unique_key("soon.png"), "image/png", expires_in=1)
        assert (await media.upload(uploaded, PNG)).status_code == 204
        link = await store.download_url(uploaded.key, expires_in=1)
        assert (await http.get(link.url)).status_code == 200
        late = await store.presign_upload(unique_key("late.png"), "image/png", expires_in=1)
        # Whole seconds on both sides: past the second after the one the URLs expire in.
        await asyncio.sleep(2.1)
        expired_read = await http.get(link.url)
        assert expired_read.status_code == 403, expired_read.text
        expired_upload = await media.upload(late, PNG)
        assert expired_upload.status_code == 403, expired_upload.text
        assert await store.stat(late.key) is None
    await store.close()


async def test_folder_forms_and_urls_work_until_they_expire(
    tmp_path: Path, clock: FrozenClock, gateway_http: httpx.AsyncClient
):
    store = FolderMediaStore(
        folder_settings(tmp_path / "media", upload_url_ttl_seconds=60, download_url_ttl_seconds=30),
        clock=clock,
    )
    media = Media(store, gateway_http, "folder")
    uploaded = await store.presign_upload("tests/soon.png", "image/png")
    late = await store.presign_upload("tests/late.png", "image/png")
    assert uploaded.expires_at == clock.now().replace(microsecond=0) + timedelta(seconds=60)
    assert (await media.upload(uploaded, PNG)).status_code == 204
    link = await store.download_url(uploaded.key)
    clock.advance(timedelta(seconds=30))
    assert (await gateway_http.get(link.url)).status_code == 200
    clock.advance(timedelta(seconds=1))
    expired_read = await gateway_http.get(link.url)
    assert expired_read.status_code == 403
    assert expired_read.json()["code"] == "MEDIA_URL_EXPIRED"
    clock.advance(timedelta(seconds=30))
    expired_upload = await media.upload(late, PNG)
    assert expired_upload.status_code == 403
    assert expired_upload.json()["code"] == "MEDIA_URL_EXPIRED"
    assert await store.stat(late.key) is None


async def test_the_embedded_suite_serves_the_folder_stores_forms_and_urls_where_it_listens(
    tmp_path: Path,
):
    # The gateway alone: the services would share suite.media as the store below does.
    suite = EmbeddedSuite(data_dir=tmp_path / "data", gateway_port=0, declarations=[])
    await suite.start()
    try:
        store = FolderMediaStore(suite.media)
        form = await store.presign_upload("streams/s1/cover.png", "image/png")
        assert form.url == f"{suite.gateway_url}/api/v1/media-uploads"
        async with httpx.AsyncClient() as http:
            media = Media(store, http, "folder")
            assert (await media.upload(form, PNG)).status_code == 204
            read = await http.get((await store.download_url(form.key)).url)
            assert (read.status_code, read.content) == (200, PNG)
    finally:
        await suite.stop()
    assert (tmp_path / "data" / "media" / "objects").is_dir()
