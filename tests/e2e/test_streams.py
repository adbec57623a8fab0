"""A practitioner's stream through the gateway, on both shapes: they start it with a paid
tier, publish a free post and a paid one (stream.post_published each); a follower reads the
free post whole and the paid one as a teaser, in the stream and in their feed; a stranger
changes nothing and sees no draft. Readers like, save, vote in and comment on what they read
whole, and not on a teaser. A live admits its host to publish and followers at its level to
watch. A suspended practitioner's token changes nothing on any streams write route until they
are reactivated. A creator who deletes their account takes their stream with them: 404 to
readers, out of their feed, followed and tipped no more."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.e2e.accounts import (
    Account,
    holding_role,
    open_practice,
    sign_in_admin,
    sign_up,
)
from tests.e2e.stacks import EventTap, Stack
from tests.e2e.streams_steps import STREAM_WRITE_ROUTES
from tests.e2e.test_account_status import USERS, first_refusal, until
from tests.e2e.test_catalog_journey import eventually

STREAMS = "/api/v1/streams"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 24
EVENT_SECONDS = 20.0


async def practitioner(client: httpx.AsyncClient, stack: Stack) -> Account:
    admin = await sign_in_admin(stack, client)
    applicant, _ = await open_practice(client, admin)
    return await holding_role(client, applicant, "practitioner")


async def created(answer: httpx.Response, status: int = 201) -> Any:
    assert answer.status_code == status, answer.text
    return answer.json()


async def stream_with_a_paid_tier(client: httpx.AsyncClient, owner: Account) -> str:
    """The owner's new stream with a paid tier (level 1) beside the free one; its path."""
    stream = await created(
        await client.post(STREAMS, json={"title": "Breath"}, headers=owner.headers)
    )
    base = f"{STREAMS}/{stream['stream_id']}"
    price = {"amount_minor": 500, "currency": "EUR"}
    await created(
        await client.post(
            f"{base}/tiers", json={"display_name": "Friends", "price": price}, headers=owner.headers
        )
    )
    return base


async def test_a_follower_reads_the_free_post_whole_and_the_paid_one_as_a_teaser(
    stack: Stack, tap: EventTap
):
    async with stack.client() as client:
        pia = await practitioner(client, stack)
        stream = await created(
            await client.post(
                STREAMS,
                json={"title": "Morning breath", "description": "Ten minutes a day."},
                headers=pia.headers,
            )
        )
        base = f"{STREAMS}/{stream['stream_id']}"
        tier = await created(
            await client.post(
                f"{base}/tiers",
                json={"display_name": "Friends", "price": {"amount_minor": 500, "currency": "EUR"}},
                headers=pia.headers,
            )
        )
        assert (tier["level"], tier["display_name"]) == (1, "Friends")
        posts = {}
        for title, level in (("Welcome", 0), ("Deep practice", 1)):
            draft = await created(
                await client.post(
                    f"{base}/posts",
                    json={"title": title, "body": f"{title}: breathe out.", "level": level},
                    headers=pia.headers,
                )
            )
            assert draft["state"] == "draft"
            published = await client.post(
                f"{base}/posts/{draft['post_id']}/publish", headers=pia.headers
            )
            assert published.status_code == 200, published.text
            posts[title] = draft["post_id"]
            event = await tap.next(
                "stream.post_published",
                timeout=EVENT_SECONDS,
                post=f"streams/{stream['stream_id']}/posts/{draft['post_id']}",
            )
            assert (event.message.level, event.message.owner_user_id) == (level, pia.id)
        again = await client.post(f"{base}/posts/{posts['Welcome']}/publish", headers=pia.headers)
        assert again.status_code == 409 and again.json()["code"] == "POST_PUBLISHED", again.text
        hidden = await created(
            await client.post(
                f"{base}/posts",
                json={"title": "Unfinished", "body": "Not yet.", "level": 0},
                headers=pia.headers,
            )
        )

        reader = await sign_up(client)
        follow = await client.post(f"{base}/follow", headers=reader.headers)
        assert follow.status_code == 200 and follow.json()["level"] == 0, follow.text
        listed = await client.get(f"{base}/posts", headers=reader.headers)
        assert listed.status_code == 200, listed.text
        seen = [(p["title"], p["body"], p["locked"]) for p in listed.json()["results"]]
        assert seen == [
            ("Deep practice", "", True),
            ("Welcome", "Welcome: breathe out.", False),
        ]
        feed = await client.get("/api/v1/me/feed", params={"limit": 1}, headers=reader.headers)
        assert feed.status_code == 200, feed.text
        rest = await client.get(
            "/api/v1/me/feed",
            params={"limit": 1, "cursor": feed.json()["next_cursor"]},
            headers=reader.headers,
        )
        assert [p["title"] for p in feed.json()["results"] + rest.json()["results"]] == [
            "Deep practice",
            "Welcome",
        ]
        assert [p["locked"] for p in feed.json()["results"] + rest.json()["results"]] == [
            True,
            False,
        ]

        stranger = await practitioner(client, stack)
        attempts = [
            client.patch(base, json={"title": "Mine now"}, headers=stranger.headers),
            client.post(
                f"{base}/tiers",
                json={"display_name": "Cheap", "price": {"amount_minor": 1, "currency": "EUR"}},
                headers=stranger.headers,
            ),
            client.post(
                f"{base}/posts",
                json={"title": "Spam", "body": "Spam", "level": 0},
                headers=stranger.headers,
            ),
            client.post(f"{base}/posts/{hidden['post_id']}/publish", headers=stranger.headers),
        ]
        for attempt in attempts:
            answer = await attempt
            assert answer.status_code == 403, answer.text
            assert answer.json()["code"] == "NOT_STREAM_OWNER", answer.text
        draft_seen = await client.get(f"{base}/posts/{hidden['post_id']}", headers=stranger.headers)
        assert draft_seen.status_code == 404, draft_seen.text
        read = await client.get(base, headers=stranger.headers)
        assert read.json()["title"] == "Morning breath"
        assert [t["display_name"] for t in read.json()["tiers"]] == ["Free", "Friends"]
        bad = await client.post(
            f"{base}/posts",
            json={"title": "Hello", "body": "Text", "level": 7},
            headers=pia.headers,
        )
        assert bad.status_code == 400, bad.text
        assert [e["field"] for e in bad.json()["errors"]] == ["post.level"], bad.text
        soon = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
        scheduled = await created(
            await client.post(
                f"{base}/posts",
                json={"title": "Later", "body": "Soon.", "scheduled_for": soon.isoformat()},
                headers=pia.headers,
            )
        )
        at = datetime.fromisoformat(scheduled["scheduled_for"])
        assert (scheduled["state"], at) == ("draft", soon), scheduled
        past = await client.patch(
            f"{base}/posts/{scheduled['post_id']}",
            json={"scheduled_for": "2020-01-01T00:00:00Z"},
            headers=pia.headers,
        )
        assert past.status_code == 400, past.text
        assert [e["field"] for e in past.json()["errors"]] == ["post.schedule_time"], past.text
        unscheduled = await client.patch(
            f"{base}/posts/{scheduled['post_id']}",
            json={"scheduled_for": None},
            headers=pia.headers,
        )
        assert unscheduled.json()["scheduled_for"] is None, unscheduled.text
        # A null is no level: it is refused, never read as the free one.
        unlocked = await client.patch(
            f"{base}/posts/{posts['Deep practice']}", json={"level": None}, headers=pia.headers
        )
        assert unlocked.status_code == 422, unlocked.text
        assert [e["field"] for e in unlocked.json()["errors"]] == ["level"], unlocked.text
        still = await client.get(f"{base}/posts/{posts['Deep practice']}", headers=reader.headers)
        assert (still.json()["level"], still.json()["locked"]) == (1, True), still.text

        # Posts published now are news to the follower who may read them, not to the others.
        news = {}
        for title, level in (("Members only", 1), ("For everyone", 0)):
            draft = await created(
                await client.post(
                    f"{base}/posts",
                    json={"title": title, "body": "News.", "level": level},
                    headers=pia.headers,
                )
            )
            news[title] = f"streams/{stream['stream_id']}/posts/{draft['post_id']}"
            out = await client.post(f"{base}/posts/{draft['post_id']}/publish", headers=pia.headers)
            assert out.status_code == 200, out.text

        async def told() -> list[Any]:
            found = await client.get("/api/v1/me/notifications", headers=reader.headers)
            heard = [n for n in found.json()["results"] if n["kind"] == "new_post"]
            return heard if any(n["subject"] == news["For everyone"] for n in heard) else []

        heard = await eventually(told, timeout=20.0)
        assert [(n["subject"], n["title"]) for n in heard] == [
            (news["For everyone"], "New post: For everyone")
        ], heard


async def test_readers_like_save_vote_and_comment_on_what_they_read_whole_and_the_owner_hides(
    stack: Stack,
):
    async with stack.client() as client:
        pia = await practitioner(client, stack)
        base = await stream_with_a_paid_tier(client, pia)
        urls = {}
        for title, level in (("Ask", 0), ("Paid", 1)):
            draft = await created(
                await client.post(
                    f"{base}/posts",
                    json={
                        "title": title,
                        "body": "Text",
                        "level": level,
                        "poll": {"options": ["Morning", "Evening"]},
                    },
                    headers=pia.headers,
                )
            )
            urls[title] = f"{base}/posts/{draft['post_id']}"
            published = await client.post(f"{urls[title]}/publish", headers=pia.headers)
            assert published.status_code == 200, published.text
        free, paid = urls["Ask"], urls["Paid"]
        reader, other = await sign_up(client), await sign_up(client)
        for who in (reader, other):
            assert (await client.post(f"{base}/follow", headers=who.headers)).status_code == 200

        liked = await client.post(f"{free}/like", headers=reader.headers)
        assert liked.status_code == 200, liked.text
        assert (liked.json()["like_count"], liked.json()["liked_by_me"]) == (1, True)
        again = await client.post(f"{free}/like", headers=reader.headers)
        assert again.json()["like_count"] == 1, again.text
        locked = await client.post(f"{paid}/like", headers=reader.headers)
        assert (locked.status_code, locked.json()["code"]) == (403, "POST_LOCKED"), locked.text
        teaser = (await client.get(paid, headers=reader.headers)).json()
        assert (teaser["locked"], teaser["poll"]) == (True, None), teaser

        assert (await client.post(f"{free}/save", headers=reader.headers)).status_code == 200
        saved = await client.get("/api/v1/me/saved-posts", headers=reader.headers)
        assert [p["title"] for p in saved.json()["results"]] == ["Ask"], saved.text

        voted = await client.post(f"{free}/poll/vote", json={"option": 1}, headers=reader.headers)
        assert voted.status_code == 200, voted.text
        assert [(o["vote_count"], o["chosen_by_me"]) for o in voted.json()["poll"]["options"]] == [
            (0, False),
            (1, True),
        ]
        twice = await client.post(f"{free}/poll/vote", json={"option": 0}, headers=reader.headers)
        assert (twice.status_code, twice.json()["code"]) == (409, "ALREADY_VOTED"), twice.text

        said = await created(
            await client.post(f"{free}/comments", json={"text": "Lovely"}, headers=reader.headers)
        )
        reply = await created(
            await client.post(
                f"{free}/comments",
                json={"text": "Agreed", "reply_to": said["comment_id"]},
                headers=other.headers,
            )
        )
        assert reply["reply_to"] == said["comment_id"]
        empty = await client.post(f"{free}/comments", json={"text": " "}, headers=reader.headers)
        assert empty.status_code == 400, empty.text
        assert [e["field"] for e in empty.json()["errors"]] == ["comment.text"], empty.text
        said_at = f"{free}/comments/{said['comment_id']}"
        edit = await client.patch(said_at, json={"text": "Spam"}, headers=other.headers)
        assert (edit.status_code, edit.json()["code"]) == (403, "NOT_COMMENT_AUTHOR"), edit.text
        hidden = await client.post(f"{said_at}/hide", headers=pia.headers)
        assert hidden.status_code == 200 and hidden.json()["hidden"], hidden.text

        def texts(answer: httpx.Response) -> list[tuple[str, bool]]:
            return [(c["text"], c["hidden"]) for c in answer.json()["results"]]

        assert texts(await client.get(f"{free}/comments", headers=other.headers)) == [
            ("Agreed", False)
        ]
        assert texts(await client.get(f"{free}/comments", headers=reader.headers)) == [
            ("Lovely", True),
            ("Agreed", False),
        ]
        gone = await client.delete(f"{free}/comments/{reply['comment_id']}", headers=other.headers)
        assert (gone.json()["text"], gone.json()["deleted"]) == ("", True), gone.text
        post = (await client.get(free, headers=other.headers)).json()
        assert (post["like_count"], post["comment_count"], post["liked_by_me"]) == (1, 0, False)


async def test_a_live_admits_its_host_to_publish_and_followers_at_its_level_to_watch(
    stack: Stack,
):
    async with stack.client() as client:
        pia = await practitioner(client, stack)
        base = await stream_with_a_paid_tier(client, pia)
        follower, stranger = await sign_up(client), await sign_up(client)
        assert (await client.post(f"{base}/follow", headers=follower.headers)).status_code == 200
        not_yet = await client.post(f"{base}/live/token", headers=follower.headers)
        assert (not_yet.status_code, not_yet.json()["code"]) == (404, "LIVE_NOT_FOUND")
        theirs = await client.post(f"{base}/live", json={"level": 0}, headers=stranger.headers)
        assert (theirs.status_code, theirs.json()["code"]) == (403, "NOT_STREAM_OWNER")

        live = await created(
            await client.post(f"{base}/live", json={"level": 1}, headers=pia.headers)
        )
        assert (live["level"], live["room"].startswith("live-")) == (1, True), live
        again = await client.post(f"{base}/live", json={"level": 0}, headers=pia.headers)
        assert (again.status_code, again.json()["code"]) == (409, "LIVE_IN_PROGRESS")
        host = await client.post(f"{base}/live/token", headers=pia.headers)
        assert host.status_code == 200, host.text
        assert (host.json()["room"], host.json()["identity"], host.json()["can_publish"]) == (
            live["room"],
            pia.id,
            True,
        )
        low = await client.post(f"{base}/live/token", headers=follower.headers)
        assert (low.status_code, low.json()["code"]) == (403, "TIER_TOO_LOW"), low.text
        outside = await client.post(f"{base}/live/token", headers=stranger.headers)
        assert (outside.status_code, outside.json()["code"]) == (403, "NOT_A_FOLLOWER")
        forged = await client.post(
            "/api/v1/webhooks/livekit",
            content=b'{"event": "participant_joined", "id": "EV_forged"}',
            headers={"Authorization": "not.a.signature"},
        )
        assert (forged.status_code, forged.json()["code"]) == (401, "WEBHOOK_BAD_SIGNATURE")

        ended = await client.delete(f"{base}/live", headers=pia.headers)
        assert ended.status_code == 204, ended.text
        over = await client.post(f"{base}/live/token", headers=pia.headers)
        assert (over.status_code, over.json()["code"]) == (404, "LIVE_NOT_FOUND")


async def test_a_suspended_practitioner_changes_nothing_on_their_stream_until_reactivated(
    stack: Stack,
):
    async with stack.client() as client:
        admin = await sign_in_admin(stack, client)
        pia = await practitioner(client, stack)
        stream = await created(
            await client.post(STREAMS, json={"title": "Breath"}, headers=pia.headers)
        )
        base = f"{STREAMS}/{stream['stream_id']}"
        post = await created(
            await client.post(
                f"{base}/posts",
                json={"title": "Hello", "body": "Text", "level": 0},
                headers=pia.headers,
            )
        )
        # A published post with a poll and a comment, so that each engagement write below
        # would change something if it were let through.
        asked = await created(
            await client.post(
                f"{base}/posts",
                json={"title": "Ask", "body": "Which?", "poll": {"options": ["A", "B"]}},
                headers=pia.headers,
            )
        )
        out = f"{base}/posts/{asked['post_id']}"
        assert (await client.post(f"{out}/publish", headers=pia.headers)).status_code == 200
        said = await created(
            await client.post(f"{out}/comments", json={"text": "Hi"}, headers=pia.headers)
        )
        said_at = f"{out}/comments/{said['comment_id']}"
        # A live in progress, which ending it (refused below) would stop.
        await created(await client.post(f"{base}/live", json={"level": 0}, headers=pia.headers))
        engaged = f"{STREAMS}/{{stream_id}}/posts/{{post_id}}"
        comment_at = f"{engaged}/comments/{{comment_id}}"

        def renames():
            return client.patch(base, json={"title": "Breath"}, headers=pia.headers)

        price = {"amount_minor": 500, "currency": "EUR"}
        steps = [
            (
                "POST",
                STREAMS,
                lambda: client.post(STREAMS, json={"title": "Two"}, headers=pia.headers),
            ),
            ("PATCH", f"{STREAMS}/{{stream_id}}", renames),
            (
                "POST",
                f"{STREAMS}/{{stream_id}}/tiers",
                lambda: client.post(
                    f"{base}/tiers",
                    json={"display_name": "Friends", "price": price},
                    headers=pia.headers,
                ),
            ),
            (
                "PATCH",
                f"{STREAMS}/{{stream_id}}/tiers/{{level}}",
                lambda: client.patch(
                    f"{base}/tiers/0", json={"display_name": "Open"}, headers=pia.headers
                ),
            ),
            (
                "POST",
                f"{STREAMS}/{{stream_id}}/posts",
                lambda: client.post(
                    f"{base}/posts",
                    json={"title": "Hi", "body": "Text", "level": 0},
                    headers=pia.headers,
                ),
            ),
            (
                "PATCH",
                f"{STREAMS}/{{stream_id}}/posts/{{post_id}}",
                lambda: client.patch(
                    f"{base}/posts/{post['post_id']}", json={"body": "New"}, headers=pia.headers
                ),
            ),
            (
                "POST",
                f"{STREAMS}/{{stream_id}}/posts/{{post_id}}/publish",
                lambda: client.post(f"{base}/posts/{post['post_id']}/publish", headers=pia.headers),
            ),
            (
                "POST",
                f"{STREAMS}/{{stream_id}}/follow",
                lambda: client.post(f"{base}/follow", headers=pia.headers),
            ),
            (
                "DELETE",
                f"{STREAMS}/{{stream_id}}/follow",
                lambda: client.delete(f"{base}/follow", headers=pia.headers),
            ),
            ("POST", f"{engaged}/like", lambda: client.post(f"{out}/like", headers=pia.headers)),
            (
                "DELETE",
                f"{engaged}/like",
                lambda: client.delete(f"{out}/like", headers=pia.headers),
            ),
            ("POST", f"{engaged}/save", lambda: client.post(f"{out}/save", headers=pia.headers)),
            (
                "DELETE",
                f"{engaged}/save",
                lambda: client.delete(f"{out}/save", headers=pia.headers),
            ),
            (
                "POST",
                f"{engaged}/poll/vote",
                lambda: client.post(f"{out}/poll/vote", json={"option": 0}, headers=pia.headers),
            ),
            (
                "POST",
                f"{engaged}/comments",
                lambda: client.post(f"{out}/comments", json={"text": "Hi"}, headers=pia.headers),
            ),
            (
                "PATCH",
                comment_at,
                lambda: client.patch(said_at, json={"text": "Hello"}, headers=pia.headers),
            ),
            ("DELETE", comment_at, lambda: client.delete(said_at, headers=pia.headers)),
            (
                "POST",
                f"{comment_at}/hide",
                lambda: client.post(f"{said_at}/hide", headers=pia.headers),
            ),
            (
                "POST",
                f"{comment_at}/unhide",
                lambda: client.post(f"{said_at}/unhide", headers=pia.headers),
            ),
            (
                "POST",
                f"{STREAMS}/{{stream_id}}/media",
                lambda: client.post(
                    f"{base}/media", json={"content_type": "image/png"}, headers=pia.headers
                ),
            ),
            (
                "POST",
                f"{STREAMS}/{{stream_id}}/live",
                lambda: client.post(f"{base}/live", json={"level": 0}, headers=pia.headers),
            ),
            (
                "DELETE",
                f"{STREAMS}/{{stream_id}}/live",
                lambda: client.delete(f"{base}/live", headers=pia.headers),
            ),
            (
                "POST",
                f"{STREAMS}/{{stream_id}}/live/token",
                lambda: client.post(f"{base}/live/token", headers=pia.headers),
            ),
            (
                "POST",
                "/api/v1/bookings/{booking_id}/room/token",
                lambda: client.post(f"/api/v1/bookings/{pia.id}/room/token", headers=pia.headers),
            ),
        ]
        assert [(m, p) for m, p, _ in steps] == STREAM_WRITE_ROUTES

        suspended = await client.post(
            f"{USERS}/{pia.id}/suspend", headers=admin.headers, json={"reason": "fraud review"}
        )
        assert suspended.status_code == 200, suspended.text
        # Renaming to the same title changes nothing: it probes when streams knows.
        await first_refusal(renames, "ACCOUNT_SUSPENDED")
        for method, path, send in steps:
            answer = await send()
            assert answer.status_code == 403, (method, path, answer.text)
            assert answer.json()["code"] == "ACCOUNT_SUSPENDED", (method, path, answer.text)
        unpublished = await client.get(f"{base}/posts/{post['post_id']}", headers=pia.headers)
        assert (unpublished.json()["state"], unpublished.json()["body"]) == ("draft", "Text")
        assert len((await client.get(base, headers=pia.headers)).json()["tiers"]) == 1
        untouched = (await client.get(out, headers=pia.headers)).json()
        assert (untouched["like_count"], untouched["saved_by_me"]) == (0, False), untouched
        assert [o["vote_count"] for o in untouched["poll"]["options"]] == [0, 0], untouched
        thread = (await client.get(f"{out}/comments", headers=pia.headers)).json()["results"]
        assert [(c["text"], c["hidden"], c["edited_at"]) for c in thread] == [("Hi", False, None)]

        back = await client.post(
            f"{USERS}/{pia.id}/reactivate", headers=admin.headers, json={"reason": "cleared"}
        )
        assert back.status_code == 200, back.text

        async def accepted_again() -> bool:
            answer = await renames()
            assert answer.status_code in (200, 403), answer.text
            return answer.status_code == 200

        await until(accepted_again, "the old token changes the stream again")
        ended = await client.delete(f"{base}/live", headers=pia.headers)
        assert ended.status_code == 204, ended.text
        published = await client.post(
            f"{base}/posts/{post['post_id']}/publish", headers=pia.headers
        )
        assert published.status_code == 200 and published.json()["state"] == "published"


async def test_an_image_post_is_uploaded_straight_to_the_store_and_read_by_its_tier_only(
    stack: Stack,
):
    async with stack.client() as client:
        pia = await practitioner(client, stack)
        base = await stream_with_a_paid_tier(client, pia)
        free = await sign_up(client)
        assert (await client.post(f"{base}/follow", headers=free.headers)).status_code == 200
        stranger = await sign_up(client)
        form = await created(
            await client.post(
                f"{base}/media", json={"content_type": "image/png"}, headers=pia.headers
            )
        )
        assert (form["content_type"], form["max_bytes"]) == ("image/png", 20 * 1024 * 1024)
        # Anyone else's upload slot on this stream is refused.
        theirs = await client.post(
            f"{base}/media", json={"content_type": "image/png"}, headers=free.headers
        )
        assert theirs.status_code == 403, theirs.text
        uploaded = await client.post(
            form["url"], data=form["fields"], files={"file": ("a.png", PNG, "image/png")}
        )
        assert uploaded.status_code == 204, uploaded.text
        post = await created(
            await client.post(
                f"{base}/posts",
                json={
                    "title": "The view",
                    "body": "From the mat",
                    "level": 1,
                    "kind": "image",
                    "media_ids": [form["media_id"]],
                },
                headers=pia.headers,
            )
        )
        assert [m["media_id"] for m in post["media"]] == [form["media_id"]]
        at = f"{base}/posts/{post['post_id']}"
        assert (await client.post(f"{at}/publish", headers=pia.headers)).status_code == 200
        medium = f"{at}/media/{form['media_id']}"
        signed = await client.get(medium, headers=pia.headers)
        assert signed.status_code == 200, signed.text
        read = await client.get(signed.json()["url"])
        assert (read.status_code, read.content) == (200, PNG)
        teaser = (await client.get(at, headers=free.headers)).json()
        assert (teaser["locked"], teaser["kind"], teaser["media"]) == (True, "image", [])
        assert form["media_id"] not in str(teaser)
        for reader in (free, stranger):
            refused = await client.get(medium, headers=reader.headers)
            assert refused.status_code == 403, refused.text
            assert refused.json()["code"] == "POST_LOCKED"
        # A post of a kind its upload does not fit is refused naming the medium.
        wrong = await client.post(
            f"{base}/posts",
            json={
                "title": "Hear",
                "body": "This",
                "kind": "audio",
                "media_ids": [form["media_id"]],
            },
            headers=pia.headers,
        )
        assert wrong.status_code == 400, wrong.text
        assert [e["field"] for e in wrong.json()["errors"]] == ["post.media[0]"]
        # Its owner's analytics count the follower today and the post; nobody else reads them.
        seen = await client.get(f"{base}/analytics?days=7", headers=pia.headers)
        assert seen.status_code == 200, seen.text
        today = seen.json()["subscribers"][-1]
        assert (today["levels"], today["total"]) == (
            [{"level": 0, "followers": 1}, {"level": 1, "followers": 0}],
            1,
        )
        assert [p["post_id"] for p in seen.json()["posts"]] == [post["post_id"]]
        for reader in (free, stranger):
            hidden = await client.get(f"{base}/analytics", headers=reader.headers)
            assert hidden.status_code == 403, hidden.text


async def test_a_creator_who_deletes_their_account_takes_their_stream_with_them(stack: Stack):
    async with stack.client() as client:
        pia = await practitioner(client, stack)
        base = await stream_with_a_paid_tier(client, pia)
        draft = await created(
            await client.post(
                f"{base}/posts",
                json={"title": "Welcome", "body": "My story.", "level": 0},
                headers=pia.headers,
            )
        )
        post = f"{base}/posts/{draft['post_id']}"
        assert (await client.post(f"{post}/publish", headers=pia.headers)).status_code == 200
        reader, newcomer = await sign_up(client), await sign_up(client)
        assert (await client.post(f"{base}/follow", headers=reader.headers)).status_code == 200

        async def feed_titles() -> list[str]:
            feed = await client.get("/api/v1/me/feed", headers=reader.headers)
            return [p["title"] for p in feed.json()["results"]]

        assert await feed_titles() == ["Welcome"]
        news = await created(
            await client.post(
                f"{base}/posts",
                json={"title": "Second light", "body": "More of it.", "level": 0},
                headers=pia.headers,
            )
        )
        published = await client.post(
            f"{base}/posts/{news['post_id']}/publish", headers=pia.headers
        )
        assert published.status_code == 200, published.text

        async def told_of_posts() -> list[str]:
            found = await client.get("/api/v1/me/notifications", headers=reader.headers)
            return [n["title"] for n in found.json()["results"] if n["kind"] == "new_post"]

        async def told() -> bool:
            return await told_of_posts() == ["New post: Second light"]

        await eventually(told, timeout=EVENT_SECONDS)

        erased = await client.delete("/api/v1/users/me", headers=pia.headers)
        assert erased.status_code == 204, erased.text

        async def gone() -> bool:
            return (await client.get(base, headers=reader.headers)).status_code == 404

        await eventually(gone, timeout=EVENT_SECONDS)
        assert await feed_titles() == []

        async def forgotten() -> bool:
            return await told_of_posts() == []

        # The notice's title was the creator's words: it goes from the reader's notifications.
        await eventually(forgotten, timeout=EVENT_SECONDS)
        for method, path, who in (
            ("GET", base, reader),
            ("GET", post, reader),
            ("POST", f"{base}/follow", newcomer),
        ):
            refused = await client.request(method, path, headers=who.headers)
            assert refused.status_code == 404, (path, refused.text)
            assert refused.json()["code"] == "STREAM_NOT_FOUND", (path, refused.text)
        tipped = await client.post(
            f"{post}/tips",
            json={"amount": {"amount_minor": 500, "currency": "EUR"}},
            headers={**newcomer.headers, "Idempotency-Key": secrets.token_hex(8)},
        )
        assert tipped.status_code == 404, tipped.text
