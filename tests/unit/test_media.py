"""The media store's rules before any byte moves: which settings make a store, which keys,
content types and sizes an upload form may name, and what the gateway serves for each store."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from chassis.errors import InvalidArgument, Unavailable
from chassis.media import (
    FolderMediaStore,
    MediaMisconfigured,
    MediaSettings,
    S3MediaStore,
    media_store,
)
from chassis.media.port import KEY_MAX_LENGTH, check_key, check_lifetime, check_upload
from gateway.app import create_app
from gateway.settings import GatewaySettings
from suite.embedded import EmbeddedSuite
from tests.infrastructure import free_port

S3 = {
    "backend": "s3",
    "bucket": "media",
    "access_key": "key-id",
    "secret_key": "secret",
    "endpoint": "http://127.0.0.1:8333",
}


@pytest.mark.parametrize("left_out", ["bucket", "access_key", "secret_key"])
def test_a_half_configured_s3_store_refuses_to_start_naming_what_is_missing(left_out: str):
    with pytest.raises(ValidationError) as refused:
        MediaSettings(**{**S3, left_out: ""})
    assert f"ESTUARY_MEDIA_{left_out.upper()} must be set" in str(refused.value)


def test_a_gateway_on_a_half_configured_s3_store_refuses_to_start(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setenv("ESTUARY_MEDIA_BACKEND", "s3")
    monkeypatch.setenv("ESTUARY_MEDIA_BUCKET", "media")
    with pytest.raises(ValidationError) as refused:
        GatewaySettings()
    assert "ESTUARY_MEDIA_ACCESS_KEY, ESTUARY_MEDIA_SECRET_KEY must be set" in str(refused.value)


def test_s3_settings_on_the_folder_store_are_refused_rather_than_ignored():
    with pytest.raises(ValidationError) as refused:
        MediaSettings(backend="folder", bucket="media")
    assert "ESTUARY_MEDIA_BUCKET is set but ESTUARY_MEDIA_BACKEND is folder" in str(refused.value)
    with pytest.raises(ValidationError, match="ESTUARY_MEDIA_ENDPOINT is set"):
        MediaSettings(endpoint="http://127.0.0.1:8333")


def test_an_allowed_type_needs_a_largest_size_and_types_are_plain_media_types():
    with pytest.raises(ValidationError, match="no largest size for text"):
        MediaSettings(allowed_types=["text/plain"])
    with pytest.raises(ValidationError, match="is not a content type"):
        MediaSettings(allowed_types=["image/*"])
    assert MediaSettings(allowed_types=[" Image/PNG "]).allowed_types == ["image/png"]


def test_the_settings_make_their_store(tmp_path: Path):
    assert isinstance(media_store(MediaSettings(**S3)), S3MediaStore)
    folder = MediaSettings(folder=str(tmp_path), signing_secret="s")
    assert isinstance(media_store(folder), FolderMediaStore)
    with pytest.raises(MediaMisconfigured, match="ESTUARY_MEDIA_SIGNING_SECRET must be set"):
        media_store(MediaSettings(folder=str(tmp_path)))


@pytest.mark.parametrize(
    "key",
    ["", "../etc/passwd", "/absolute", "a//b", ".hidden", "posts/.x", "a/../b", "a b", "a/", "é"],
)
def test_a_key_that_is_not_plain_segments_is_refused_naming_the_key(key: str):
    with pytest.raises(InvalidArgument) as refused:
        check_key(key)
    assert [v.field for v in refused.value.violations] == ["key"]


def test_keys_of_plain_segments_are_taken_up_to_their_length():
    assert check_key("streams/s_1/posts/p-2/cover.v2.png") == "streams/s_1/posts/p-2/cover.v2.png"
    longest = "/".join(["k" * 255, "k" * 255])
    assert check_key(longest[:KEY_MAX_LENGTH]) == longest[:KEY_MAX_LENGTH]
    for too_long in (longest[: KEY_MAX_LENGTH - 1] + "/k", "k" * 256):
        with pytest.raises(InvalidArgument) as refused:
            check_key(too_long)
        assert refused.value.violations[0].code == "too_long"


def test_an_upload_names_an_allowed_type_and_at_most_its_largest_size():
    settings = MediaSettings(max_bytes={**MediaSettings().max_bytes, "image": 1000})
    upload = check_upload(settings, "a/b.png", "Image/PNG", None)
    assert (upload.content_type, upload.max_bytes) == ("image/png", 1000)
    assert check_upload(settings, "a/b.png", "image/png", 10).max_bytes == 10
    for content_type, max_bytes, field in [
        ("text/html", None, "content_type"),
        ("image/svg+xml", None, "content_type"),
        ("image/png", 1001, "max_bytes"),
        ("image/png", 0, "max_bytes"),
    ]:
        with pytest.raises(InvalidArgument) as refused:
            check_upload(settings, "a/b.png", content_type, max_bytes)
        assert [v.field for v in refused.value.violations] == [field]


def test_a_form_or_url_lives_at_most_as_long_as_the_settings_say():
    settings = MediaSettings(upload_url_ttl_seconds=600)
    assert check_upload(settings, "a/b.png", "image/png", None).expires_in == 600
    assert check_upload(settings, "a/b.png", "image/png", None, 60).expires_in == 60
    assert check_lifetime(None, 300) == 300
    for asked in (0, 601):
        with pytest.raises(InvalidArgument) as refused:
            check_upload(settings, "a/b.png", "image/png", None, asked)
        assert [v.field for v in refused.value.violations] == ["expires_in"]


async def test_a_gateway_on_the_s3_store_serves_no_media_routes():
    app = create_app(GatewaySettings(media=MediaSettings(**S3)))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url="http://gateway"
    ) as client:
        read = await client.get(f"/api/v1/media-objects/a.png?expires=1&signature={'0' * 64}")
        assert read.status_code == 404
        # The body limit stays the default one: no upload route takes more.
        upload = await client.post(
            "/api/v1/media-uploads", content=b"x" * (1_048_576 + 1), headers={"content-type": "a/b"}
        )
        assert upload.status_code == 413


async def test_the_upload_route_takes_the_largest_upload_and_no_more(tmp_path: Path):
    media = MediaSettings(
        folder=str(tmp_path),
        signing_secret="s",
        max_bytes={"image": 2_000_000, "video": 3_000_000, "audio": 1, "application": 1},
    )
    app = create_app(GatewaySettings(media=media))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url="http://gateway"
    ) as client:
        limit = 3_000_000 + 64 * 1024
        over = await client.post(
            "/api/v1/media-uploads", content=b"x" * (limit + 1), headers={"content-type": "a/b"}
        )
        assert over.status_code == 413
        assert over.json()["errors"][0]["message"] == f"must be at most {limit} bytes"
        # Within the limit the route reads the form (this one is no form at all).
        within = await client.post(
            "/api/v1/media-uploads", content=b"x" * limit, headers={"content-type": "a/b"}
        )
        assert within.status_code == 422


def test_the_embedded_suite_shares_one_folder_store_with_a_secret_of_its_own(tmp_path: Path):
    suite = EmbeddedSuite(data_dir=tmp_path)
    media = suite.gateway_settings().media
    assert media is suite.media
    assert (media.backend, Path(media.folder)) == ("folder", (tmp_path / "media").resolve())
    assert len(media.signing_secret) >= 32
    assert EmbeddedSuite(data_dir=tmp_path).media.signing_secret != media.signing_secret
    assert create_app(suite.gateway_settings()).state.media is not None


async def test_an_unreachable_s3_store_is_unavailable_not_an_internal_error():
    nowhere = MediaSettings(**{**S3, "endpoint": f"http://127.0.0.1:{free_port()}"})
    store = S3MediaStore(nowhere, attempts=1)
    try:
        with pytest.raises(Unavailable, match="the media store is unreachable"):
            await store.stat("a/b.png")
        with pytest.raises(Unavailable):
            await store.delete("a/b.png")
    finally:
        await store.close()
