"""Group conversations through the gateway, on both shapes: staff (who may write to anyone)
start a group; its members read and write it; only the admin brings people in, takes them out
and renames it; someone who leaves reads nothing more of it; bad input names the field."""

from __future__ import annotations

from tests.e2e.accounts import new_email, sign_in_admin, sign_up
from tests.e2e.messaging_steps import CONVERSATIONS
from tests.e2e.stacks import Stack

GROUPS = f"{CONVERSATIONS}/groups"


async def test_a_group_is_read_and_written_by_its_members_and_run_by_its_admin(stack: Stack):
    async with stack.client() as client:
        admin = await sign_in_admin(stack, client)
        ana, bo, cy = [await sign_up(client, new_email(n)) for n in ("ana", "bo", "cy")]
        made = await client.post(
            GROUPS,
            json={"title": "Retreat planning", "participant_user_ids": [ana.id, bo.id]},
            headers=admin.headers,
        )
        assert made.status_code == 201, made.text
        group = made.json()
        assert (group["kind"], group["title"], group["admin_user_ids"]) == (
            "group",
            "Retreat planning",
            [admin.id],
        )
        path = f"{CONVERSATIONS}/{group['id']}"
        sent = await client.post(
            f"{path}/messages", json={"text": "Who brings the mats?"}, headers=ana.headers
        )
        assert sent.status_code == 201, sent.text
        listed = (await client.get(CONVERSATIONS, headers=bo.headers)).json()["results"]
        assert [(c["id"], c["kind"], c["unread"]) for c in listed] == [(group["id"], "group", 1)]

        by_member = await client.post(
            f"{path}/participants", json={"user_id": cy.id}, headers=ana.headers
        )
        assert by_member.status_code == 403, by_member.text
        assert by_member.json()["code"] == "NOT_A_GROUP_ADMIN"
        grown = await client.post(
            f"{path}/participants", json={"user_id": cy.id}, headers=admin.headers
        )
        assert grown.status_code == 200, grown.text
        assert cy.id in grown.json()["participant_user_ids"]
        history = await client.get(f"{path}/messages", headers=cy.headers)
        assert [m["text"] for m in history.json()["results"]] == ["Who brings the mats?"]

        renamed = await client.patch(path, json={"title": "Retreat, May"}, headers=admin.headers)
        assert renamed.status_code == 200 and renamed.json()["title"] == "Retreat, May"
        left = await client.delete(f"{path}/participants/{bo.id}", headers=bo.headers)
        assert left.status_code == 204, left.text
        gone = await client.get(path, headers=bo.headers)
        assert gone.status_code == 404 and gone.json()["code"] == "CONVERSATION_NOT_FOUND"

        bad = await client.post(
            GROUPS, json={"title": "", "participant_user_ids": ["nope"]}, headers=admin.headers
        )
        assert bad.status_code == 422, bad.text
        assert sorted(e["field"] for e in bad.json()["errors"]) == [
            "participant_user_ids.0",
            "title",
        ]
        twice = await client.post(
            GROUPS,
            json={"title": "Twice", "participant_user_ids": [ana.id, ana.id]},
            headers=admin.headers,
        )
        assert twice.status_code == 400, twice.text
        assert [v["field"] for v in twice.json()["errors"]] == ["participant_user_ids[1]"]


async def test_a_sender_edits_and_deletes_and_staff_read_what_it_said(stack: Stack):
    async with stack.client() as client:
        admin = await sign_in_admin(stack, client)
        ana, bo = [await sign_up(client, new_email(n)) for n in ("ana", "bo")]
        made = await client.post(
            GROUPS,
            json={"title": "Retreat", "participant_user_ids": [ana.id, bo.id]},
            headers=admin.headers,
        )
        path = f"{CONVERSATIONS}/{made.json()['id']}"
        sent = (
            await client.post(f"{path}/messages", json={"text": "At 10?"}, headers=ana.headers)
        ).json()
        message = f"{path}/messages/{sent['id']}"
        not_hers = await client.patch(message, json={"text": "At 9"}, headers=bo.headers)
        assert not_hers.status_code == 403 and not_hers.json()["code"] == "NOT_YOUR_MESSAGE"
        edited = await client.patch(message, json={"text": "At 11?"}, headers=ana.headers)
        assert edited.status_code == 200, edited.text
        assert edited.json()["text"] == "At 11?" and edited.json()["edited_at"]
        shelved = await client.put(f"{path}/archive", headers=bo.headers)
        assert shelved.status_code == 200 and shelved.json()["archived"] is True, shelved.text
        assert (await client.get(CONVERSATIONS, headers=bo.headers)).json()["results"] == []
        archived = await client.get(CONVERSATIONS, params={"archived": "true"}, headers=bo.headers)
        assert [c["id"] for c in archived.json()["results"]] == [made.json()["id"]]
        deleted = await client.delete(message, headers=ana.headers)
        assert deleted.status_code == 204, deleted.text
        await client.post(f"{path}/messages", json={"text": "Mats, anyone?"}, headers=ana.headers)
        back = (await client.get(CONVERSATIONS, headers=bo.headers)).json()["results"]
        assert [(c["id"], c["archived"]) for c in back] == [(made.json()["id"], False)]
        _, seen = (await client.get(f"{path}/messages", headers=bo.headers)).json()["results"]
        assert (seen["deleted"], seen["text"]) == (True, "")
        history_path = (
            f"/api/v1/admin/conversations/{made.json()['id']}/messages/{sent['id']}/revisions"
        )
        refused = await client.get(history_path, headers=bo.headers)
        assert refused.status_code == 403, refused.text
        history = await client.get(history_path, headers=admin.headers)
        assert history.status_code == 200, history.text
        assert [(r["text"], r["reason"]) for r in history.json()["revisions"]] == [
            ("At 10?", "edited"),
            ("At 11?", "deleted"),
        ]
