"""Conversations through the gateway, on both shapes: a client writes to a practitioner, who
reads and answers; a stranger reads and writes nothing of it (404 on every route); a block
stops messages either way; bad input names the field; a sender past their budget a minute is
refused (429) while others write on; a file goes in a message through an upload slot and is
read by the other participant alone."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from chassis.bus.envelope import encode_event
from chassis.ids import new_id
from estuary.catalog.v1 import events_pb2 as catalog_pb
from services.messaging.events import PRACTITIONER_APPROVED
from tests.e2e.accounts import Account, new_email, sign_in_admin, sign_up
from tests.e2e.messaging_steps import BLOCKS, CONVERSATIONS
from tests.e2e.stacks import Stack, start_embedded
from tests.e2e.test_account_status import until


async def approved(stack: Stack, account: Account) -> None:
    """Catalog's word that the account's practitioner application was approved."""
    message = catalog_pb.PractitionerApproved(
        practitioner_id=new_id(), user_id=account.id, display_name="Pat Ray"
    )
    await stack.publish(
        encode_event(
            PRACTITIONER_APPROVED,
            message,
            event_id=new_id(),
            source="/estuary/catalog",
            subject=f"practitioners/{message.practitioner_id}",
            time=datetime.now(UTC),
        )
    )


async def start(client: httpx.AsyncClient, caller: Account, other: Account) -> httpx.Response:
    return await client.post(
        CONVERSATIONS, json={"participant_user_id": other.id}, headers=caller.headers
    )


async def test_a_client_writes_to_a_practitioner_who_answers_and_no_one_else_reads_it(
    stack: Stack,
):
    async with stack.client() as client:
        pat = await sign_up(client, new_email("pat"))
        ana, eve = await sign_up(client, new_email("ana")), await sign_up(client, new_email("eve"))
        refused = await start(client, ana, pat)
        assert refused.status_code == 403, refused.text
        assert refused.json()["code"] == "NOT_A_PRACTITIONER_OR_CLIENT"
        await approved(stack, pat)

        async def open_to_clients() -> bool:
            return (await start(client, ana, pat)).status_code == 201

        await until(open_to_clients, "messaging hears pat was approved")
        conversation = (await start(client, ana, pat)).json()
        assert sorted(conversation["participant_user_ids"]) == sorted([ana.id, pat.id])
        path = f"{CONVERSATIONS}/{conversation['id']}"

        hello = await client.post(
            f"{path}/messages", json={"text": "Is Tuesday at 10 free?"}, headers=ana.headers
        )
        assert hello.status_code == 201, hello.text
        listed = (await client.get(CONVERSATIONS, headers=pat.headers)).json()
        [theirs] = listed["results"]
        assert theirs["unread"] == 1 and theirs["last_message"]["text"] == "Is Tuesday at 10 free?"
        count = await client.get(f"{CONVERSATIONS}/unread-count", headers=pat.headers)
        assert count.json() == {"unread": 1}

        answer = await client.post(
            f"{path}/messages",
            json={"text": "Yes, see you then.", "reply_to": hello.json()["id"]},
            headers=pat.headers,
        )
        assert answer.status_code == 201, answer.text
        assert answer.json()["reply_to"] == hello.json()["id"]
        page = (await client.get(f"{path}/messages", headers=ana.headers)).json()
        assert [m["text"] for m in page["results"]] == [
            "Yes, see you then.",
            "Is Tuesday at 10 free?",
        ]
        read = await client.post(f"{path}/read", headers=ana.headers)
        assert read.status_code == 200 and read.json()["unread"] == 0
        seen = (await client.get(path, headers=pat.headers)).json()["read_receipts"]
        assert {r["user_id"]: r["last_read_message_id"] for r in seen} == {
            ana.id: answer.json()["id"],
            pat.id: answer.json()["id"],
        }

        for method, url, body in (
            ("GET", path, None),
            ("GET", f"{path}/messages", None),
            ("POST", f"{path}/messages", {"text": "Let me in"}),
            ("POST", f"{path}/read", None),
        ):
            hidden = await client.request(method, url, json=body, headers=eve.headers)
            assert hidden.status_code == 404, (method, url, hidden.text)
            assert hidden.json()["code"] == "CONVERSATION_NOT_FOUND"
        assert (await client.get(CONVERSATIONS, headers=eve.headers)).json()["results"] == []
        assert (await client.get(path)).status_code == 401

        blocked = await client.put(f"{BLOCKS}/{ana.id}", headers=pat.headers)
        assert blocked.status_code == 204, blocked.text
        for sender in (ana, pat):
            refused = await client.post(
                f"{path}/messages", json={"text": "Still there?"}, headers=sender.headers
            )
            assert refused.status_code == 409 and refused.json()["code"] == "BLOCKED"
        assert (await client.delete(f"{BLOCKS}/{ana.id}", headers=pat.headers)).status_code == 204
        again = await client.post(f"{path}/messages", json={"text": "Thanks!"}, headers=ana.headers)
        assert again.status_code == 201, again.text

        bad: list[tuple[dict[str, Any], int, str]] = [
            ({"text": ""}, 422, "text"),
            ({"text": "x" * 4001}, 422, "text"),
            ({"text": "hi", "reply_to": "nope"}, 422, "reply_to"),
            ({"text": "hi", "reply_to": new_id()}, 400, "reply_to"),
            ({"text": "hi", "extra": 1}, 422, "extra"),
        ]
        for body, status, field in bad:
            refused = await client.post(f"{path}/messages", json=body, headers=ana.headers)
            assert refused.status_code == status, (body, refused.text)
            assert [e["field"] for e in refused.json()["errors"]] == [field], (body, refused.text)
        assert (await client.get(f"{path}/messages", headers=ana.headers)).json()["total"] == 3
        reported = await client.post(
            f"{path}/messages/{answer.json()['id']}/report",
            json={"reason": "Not what we agreed"},
            headers=ana.headers,
        )
        assert reported.status_code == 201, reported.text
        assert reported.json()["message"]["text"] == "Yes, see you then."
        own = await client.post(
            f"{path}/messages/{hello.json()['id']}/report",
            json={"reason": "x"},
            headers=ana.headers,
        )
        assert own.status_code == 400 and own.json()["errors"][0]["field"] == "message"
        admin = await sign_in_admin(stack, client)
        reports = await client.get("/api/v1/admin/message-reports", headers=admin.headers)
        assert reported.json()["id"] in [r["id"] for r in reports.json()["results"]]
        staff_only = await client.get("/api/v1/admin/message-reports", headers=ana.headers)
        assert staff_only.status_code == 403

        not_an_id = await client.post(
            CONVERSATIONS, json={"participant_user_id": "nope"}, headers=ana.headers
        )
        assert not_an_id.status_code == 422
        assert [e["field"] for e in not_an_id.json()["errors"]] == ["participant_user_id"]


async def test_a_file_is_uploaded_through_a_slot_sent_and_read_by_the_other_participant(
    stack: Stack,
):
    async with stack.client() as client:
        pat = await sign_up(client, new_email("pat"))
        ana, eve = await sign_up(client, new_email("ana")), await sign_up(client, new_email("eve"))
        await approved(stack, pat)

        async def open_to_clients() -> bool:
            return (await start(client, ana, pat)).status_code == 201

        await until(open_to_clients, "messaging hears pat was approved")
        path = f"{CONVERSATIONS}/{(await start(client, ana, pat)).json()['id']}"
        slot = await client.post(
            f"{path}/attachments", json={"content_type": "application/pdf"}, headers=ana.headers
        )
        assert slot.status_code == 201, slot.text
        form = slot.json()
        never_uploaded = await client.post(
            f"{path}/messages",
            json={"text": "The form", "attachments": [form["reference"]]},
            headers=ana.headers,
        )
        assert never_uploaded.status_code == 400, never_uploaded.text
        assert [e["field"] for e in never_uploaded.json()["errors"]] == ["attachments[0]"]
        document = b"%PDF-1.7 the intake form"
        # Straight to where the form points (the gateway's folder store in both shapes here).
        async with httpx.AsyncClient() as anywhere:
            uploaded = await anywhere.post(
                form["url"],
                data=form["fields"],
                files={"file": ("intake.pdf", document, "application/pdf")},
            )
            assert uploaded.status_code == 204, uploaded.text
            sent = await client.post(
                f"{path}/messages",
                json={"attachments": [form["reference"]]},
                headers=ana.headers,
            )
            assert sent.status_code == 201, sent.text
            [listed] = (await client.get(f"{path}/messages", headers=pat.headers)).json()["results"]
            [attached] = listed["attachments"]
            assert attached["reference"] == form["reference"]
            assert (attached["content_type"], attached["size_bytes"]) == (
                "application/pdf",
                len(document),
            )
            read = await anywhere.get(attached["download_url"])
            assert (read.status_code, read.content) == (200, document)
        for method, url, body in (
            ("POST", f"{path}/attachments", {"content_type": "image/png"}),
            ("GET", f"{path}/messages", None),
        ):
            hidden = await client.request(method, url, json=body, headers=eve.headers)
            assert hidden.status_code == 404, (method, url, hidden.text)
        not_allowed = await client.post(
            f"{path}/attachments", json={"content_type": "text/html"}, headers=ana.headers
        )
        assert not_allowed.status_code == 400, not_allowed.text
        assert [e["field"] for e in not_allowed.json()["errors"]] == ["content_type"]


async def test_a_user_sends_only_so_many_messages_a_minute(tmp_path: Path):
    stack = await start_embedded(tmp_path / "data", rate_limit_messages_per_minute=2)
    try:
        async with stack.client() as client:
            pat = await sign_up(client, new_email("pat"))
            ana, bea = (
                await sign_up(client, new_email("ana")),
                await sign_up(client, new_email("bea")),
            )
            await approved(stack, pat)

            async def opened(who: Account) -> bool:
                return (await start(client, who, pat)).status_code == 201

            await until(lambda: opened(ana), "messaging hears pat was approved")
            await until(lambda: opened(bea), "bea may write too")
            ours = (await start(client, ana, pat)).json()["id"]
            path = f"{CONVERSATIONS}/{ours}/messages"
            for n in range(2):
                sent = await client.post(path, json={"text": f"{n}"}, headers=ana.headers)
                assert sent.status_code == 201, sent.text
            refused = await client.post(path, json={"text": "again"}, headers=ana.headers)
            assert refused.status_code == 429, refused.text
            assert refused.headers["content-type"] == "application/problem+json"
            assert refused.json()["code"] == "RATE_LIMITED"
            assert int(refused.headers["retry-after"]) > 0
            # The budget is the sender's: another writes on.
            theirs = (await start(client, bea, pat)).json()["id"]
            other = await client.post(
                f"{CONVERSATIONS}/{theirs}/messages", json={"text": "hi"}, headers=bea.headers
            )
            assert other.status_code == 201, other.text
            assert (await client.get(path, headers=ana.headers)).json()["total"] == 2
    finally:
        await stack.suite.stop()
