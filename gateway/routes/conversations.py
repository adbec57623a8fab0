"""Conversations at the edge: direct conversations between a client and a practitioner and
groups (/api/v1/conversations), their messages and participants, and the caller's blocks
(/api/v1/me/blocks)."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from starlette.responses import Response

from estuary.messaging.v1 import messaging_pb2 as pb
from gateway.auth import Caller, require_staff, require_user
from gateway.backends import Backends
from gateway.middleware import limit_per_minute
from gateway.problems import responses
from gateway.routes.common import GatewayRouter, backends, json_response
from gateway.schemas.common import DEFAULT_LIMIT, ID_PATTERN, Cursor, Limit, Page, page_of
from gateway.schemas.messaging import (
    AttachmentUploadBody,
    AttachmentUploadOut,
    ConversationBody,
    ConversationOut,
    GroupBody,
    GroupTitleBody,
    MessageBody,
    MessageEditBody,
    MessageHistoryOut,
    MessageOut,
    MessageReportOut,
    ParticipantBody,
    ReportBody,
    UnreadCountOut,
)

router = GatewayRouter(prefix="/api/v1")
CONVERSATIONS: list[str | Enum] = ["conversations"]
REPORTS: list[str | Enum] = ["message_reports"]
BLOCKS: list[str | Enum] = ["blocks"]

Id = Annotated[str, Path(pattern=ID_PATTERN)]


def _name(conversation_id: str) -> str:
    return f"conversations/{conversation_id}"


@router.post(
    "/conversations",
    operation_id="conversations.create",
    tags=CONVERSATIONS,
    response_model=ConversationOut,
    status_code=201,
    responses=responses(400, 403, 409),
)
async def create_conversation(
    body: ConversationBody,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """Starts the caller's direct conversation with someone (or answers the one they have):
    a client may write to a practitioner, a practitioner to their clients, staff to anyone
    (403 otherwise); 409 BLOCKED while either has blocked the other."""
    found = await api.conversations.CreateConversation(
        pb.CreateConversationRequest(participant_user_id=body.participant_user_id),
        metadata=caller.metadata(),
    )
    return json_response(ConversationOut.from_proto(found), status_code=201)


@router.post(
    "/conversations/groups",
    operation_id="conversations.create_group",
    tags=CONVERSATIONS,
    response_model=ConversationOut,
    status_code=201,
    responses=responses(400, 403, 409),
)
async def create_group(
    body: GroupBody,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """Starts a group: you (its admin) and up to 49 others, each someone you may write to on
    your own (403 NOT_A_PRACTITIONER_OR_CLIENT for anyone else, 409 BLOCKED across a block;
    400 naming participant_user_ids[i] for yourself or someone listed twice)."""
    made = await api.conversations.CreateGroupConversation(
        pb.CreateGroupConversationRequest(
            title=body.title, participant_user_ids=body.participant_user_ids
        ),
        metadata=caller.metadata(),
    )
    return json_response(ConversationOut.from_proto(made), status_code=201)


@router.patch(
    "/conversations/{conversation_id}",
    operation_id="conversations.rename",
    tags=CONVERSATIONS,
    response_model=ConversationOut,
    responses=responses(400, 403, 404, 409),
)
async def rename_group(
    conversation_id: Id,
    body: GroupTitleBody,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """Renames a group you are an admin of (403 NOT_A_GROUP_ADMIN; 409 NOT_A_GROUP for a
    direct conversation; 404 for one you are not in)."""
    renamed = await api.conversations.UpdateConversation(
        pb.UpdateConversationRequest(name=_name(conversation_id), title=body.title),
        metadata=caller.metadata(),
    )
    return json_response(ConversationOut.from_proto(renamed))


@router.post(
    "/conversations/{conversation_id}/participants",
    operation_id="conversations.add_participant",
    tags=CONVERSATIONS,
    response_model=ConversationOut,
    responses=responses(400, 403, 404, 409),
)
async def add_participant(
    conversation_id: Id,
    body: ParticipantBody,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """Brings someone you may write to into a group you are an admin of (someone in it
    already: unchanged); they read its history and have nothing unread. 403
    NOT_A_GROUP_ADMIN, 409 NOT_A_GROUP, GROUP_FULL (50) or BLOCKED."""
    found = await api.conversations.AddParticipant(
        pb.AddParticipantRequest(conversation=_name(conversation_id), user_id=body.user_id),
        metadata=caller.metadata(),
    )
    return json_response(ConversationOut.from_proto(found))


@router.delete(
    "/conversations/{conversation_id}/participants/{user_id}",
    operation_id="conversations.remove_participant",
    tags=CONVERSATIONS,
    status_code=204,
    responses=responses(400, 403, 404, 409),
)
async def remove_participant(
    conversation_id: Id,
    user_id: Id,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """Leaves a group (your own user id) or, as its admin, takes someone out; a group left
    without an admin makes its longest-standing participant one. 404
    PARTICIPANT_NOT_FOUND for someone not in it."""
    await api.conversations.RemoveParticipant(
        pb.RemoveParticipantRequest(conversation=_name(conversation_id), user_id=user_id),
        metadata=caller.metadata(),
    )
    return Response(status_code=204)


@router.get(
    "/conversations",
    operation_id="conversations.list",
    tags=CONVERSATIONS,
    response_model=Page[ConversationOut],
)
async def list_conversations(
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    archived: Annotated[
        bool, Query(description="List only the conversations you archived.")
    ] = False,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """The caller's conversations (those not archived, or with archived=true those
    archived), the most recently active first, each with its unread count and newest
    message."""
    found = await api.conversations.ListConversations(
        pb.ListConversationsRequest(page_size=limit, page_token=cursor or "", archived=archived),
        metadata=caller.metadata(),
    )
    return json_response(
        page_of(
            [ConversationOut.from_proto(c) for c in found.conversations],
            found.next_page_token,
            found.total_size,
        )
    )


@router.get(
    "/conversations/unread-count",
    operation_id="conversations.unread_count",
    tags=CONVERSATIONS,
    response_model=UnreadCountOut,
)
async def unread_messages(
    caller: Caller = Depends(require_user), api: Backends = Depends(backends)
) -> Response:
    """The caller's unread messages in all their conversations."""
    found = await api.conversations.ListConversations(
        pb.ListConversationsRequest(page_size=1), metadata=caller.metadata()
    )
    return json_response(UnreadCountOut(unread=found.total_unread_count))


@router.get(
    "/conversations/{conversation_id}",
    operation_id="conversations.get",
    tags=CONVERSATIONS,
    response_model=ConversationOut,
    responses=responses(404),
)
async def get_conversation(
    conversation_id: Id, caller: Caller = Depends(require_user), api: Backends = Depends(backends)
) -> Response:
    """A conversation of the caller's; anyone else's is 404."""
    found = await api.conversations.GetConversation(
        pb.GetConversationRequest(name=_name(conversation_id)), metadata=caller.metadata()
    )
    return json_response(ConversationOut.from_proto(found))


@router.get(
    "/conversations/{conversation_id}/messages",
    operation_id="conversations.list_messages",
    tags=CONVERSATIONS,
    response_model=Page[MessageOut],
    responses=responses(404),
)
async def list_messages(
    conversation_id: Id,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """A conversation's messages, newest first."""
    found = await api.conversations.ListMessages(
        pb.ListMessagesRequest(
            conversation=_name(conversation_id), page_size=limit, page_token=cursor or ""
        ),
        metadata=caller.metadata(),
    )
    return json_response(
        page_of(
            [MessageOut.from_proto(m) for m in found.messages],
            found.next_page_token,
            found.total_size,
        )
    )


@router.post(
    "/conversations/{conversation_id}/messages",
    operation_id="conversations.send_message",
    tags=CONVERSATIONS,
    response_model=MessageOut,
    status_code=201,
    responses=responses(400, 404, 409),
)
async def send_message(
    conversation_id: Id,
    body: MessageBody,
    request: Request,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """Sends a message (1-4000 characters, optionally answering one of this conversation,
    with files uploaded to it: 400 naming attachments[i] for one that is not the caller's
    upload waiting here, was not uploaded, or holds another type or size than its slot);
    409 BLOCKED while either participant has blocked the other; 429 past
    ESTUARY_RATE_LIMIT_MESSAGES_PER_MINUTE (30) messages a minute."""
    settings = request.app.state.settings
    if settings.rate_limit_enabled:
        # Inexact: a sender may pass the limit by what the replicas take in one reconciling
        # moment, which an anti-spam limit can bear; the round trip to Redis it saves was a
        # fifth of the gateway's CPU on a send (docs/performance.md). Credentials' limits stay
        # exact.
        await limit_per_minute(
            request,
            f"messages:{caller.principal.subject}",
            settings.rate_limit_messages_per_minute,
            exact=False,
        )
    name = _name(conversation_id)
    sent = await api.conversations.SendMessage(
        pb.SendMessageRequest(
            conversation=name,
            text=body.text,
            reply_to=f"{name}/messages/{body.reply_to}" if body.reply_to else "",
            attachments=body.attachments,
        ),
        metadata=caller.metadata(),
    )
    return json_response(MessageOut.from_proto(sent), status_code=201)


@router.post(
    "/conversations/{conversation_id}/attachments",
    operation_id="conversations.upload_attachment",
    tags=CONVERSATIONS,
    response_model=AttachmentUploadOut,
    status_code=201,
    responses=responses(400, 404, 409),
)
async def upload_attachment(
    conversation_id: Id,
    body: AttachmentUploadBody,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """An upload slot for a file to send in this conversation (its participants only): POST
    the form's fields, then the file, to url; then send a message whose attachments name
    the reference. 400 naming content_type for a type not allowed; 409 BLOCKED."""
    upload = await api.conversations.CreateAttachmentUpload(
        pb.CreateAttachmentUploadRequest(
            conversation=_name(conversation_id), content_type=body.content_type
        ),
        metadata=caller.metadata(),
    )
    return json_response(AttachmentUploadOut.from_proto(upload), status_code=201)


@router.get(
    "/me/messages",
    operation_id="conversations.search_messages",
    tags=CONVERSATIONS,
    response_model=Page[MessageOut],
    responses=responses(400),
)
async def search_messages(
    query: Annotated[
        str,
        Query(
            min_length=1,
            max_length=200,
            description="The words to look for: a message must hold every one.",
        ),
    ],
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """Your messages, in every conversation you are in, that hold every word of query
    (deleted ones hold none), newest first; 400 naming query for one without a word."""
    found = await api.conversations.SearchMessages(
        pb.SearchMessagesRequest(query=query, page_size=limit, page_token=cursor or ""),
        metadata=caller.metadata(),
    )
    return json_response(
        page_of(
            [MessageOut.from_proto(m) for m in found.messages],
            found.next_page_token,
            found.total_size,
        )
    )


@router.put(
    "/conversations/{conversation_id}/archive",
    operation_id="conversations.archive",
    tags=CONVERSATIONS,
    response_model=ConversationOut,
    responses=responses(404),
)
async def archive_conversation(
    conversation_id: Id, caller: Caller = Depends(require_user), api: Backends = Depends(backends)
) -> Response:
    """Archives a conversation of yours: out of your list (GET with archived=true lists it)
    until someone else writes in it; again: no change."""
    found = await api.conversations.ArchiveConversation(
        pb.ArchiveConversationRequest(name=_name(conversation_id)), metadata=caller.metadata()
    )
    return json_response(ConversationOut.from_proto(found))


@router.delete(
    "/conversations/{conversation_id}/archive",
    operation_id="conversations.unarchive",
    tags=CONVERSATIONS,
    response_model=ConversationOut,
    responses=responses(404),
)
async def unarchive_conversation(
    conversation_id: Id, caller: Caller = Depends(require_user), api: Backends = Depends(backends)
) -> Response:
    """Brings an archived conversation of yours back into your list."""
    found = await api.conversations.UnarchiveConversation(
        pb.UnarchiveConversationRequest(name=_name(conversation_id)), metadata=caller.metadata()
    )
    return json_response(ConversationOut.from_proto(found))


@router.patch(
    "/conversations/{conversation_id}/messages/{message_id}",
    operation_id="conversations.edit_message",
    tags=CONVERSATIONS,
    response_model=MessageOut,
    responses=responses(400, 403, 404, 409),
)
async def edit_message(
    conversation_id: Id,
    message_id: Id,
    body: MessageEditBody,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """Changes the text of a message you sent (what it said is kept for staff); its readers
    see edited_at. 403 NOT_YOUR_MESSAGE, 409 MESSAGE_DELETED."""
    edited = await api.conversations.UpdateMessage(
        pb.UpdateMessageRequest(
            name=f"{_name(conversation_id)}/messages/{message_id}", text=body.text
        ),
        metadata=caller.metadata(),
    )
    return json_response(MessageOut.from_proto(edited))


@router.delete(
    "/conversations/{conversation_id}/messages/{message_id}",
    operation_id="conversations.delete_message",
    tags=CONVERSATIONS,
    status_code=204,
    responses=responses(400, 403, 404),
)
async def delete_message(
    conversation_id: Id,
    message_id: Id,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """Deletes a message you sent: its place stays (deleted, no text), its words are kept
    for staff only; again: no change. 403 NOT_YOUR_MESSAGE."""
    await api.conversations.DeleteMessage(
        pb.DeleteMessageRequest(name=f"{_name(conversation_id)}/messages/{message_id}"),
        metadata=caller.metadata(),
    )
    return Response(status_code=204)


@router.get(
    "/admin/conversations/{conversation_id}/messages/{message_id}/revisions",
    operation_id="message_reports.message_history",
    tags=REPORTS,
    response_model=MessageHistoryOut,
    responses=responses(403, 404),
)
async def message_history(
    conversation_id: Id,
    message_id: Id,
    caller: Caller = Depends(require_staff),
    api: Backends = Depends(backends),
) -> Response:
    """Staff: a message of any conversation as it is, and what it said before each edit or
    its deletion (for a report's review)."""
    history = await api.conversations.ListMessageRevisions(
        pb.ListMessageRevisionsRequest(name=f"{_name(conversation_id)}/messages/{message_id}"),
        metadata=caller.metadata(),
    )
    return json_response(MessageHistoryOut.from_proto(history))


@router.post(
    "/conversations/{conversation_id}/messages/{message_id}/report",
    operation_id="message_reports.create",
    tags=REPORTS,
    response_model=MessageReportOut,
    status_code=201,
    responses=responses(400, 404),
)
async def report_message(
    conversation_id: Id,
    message_id: Id,
    body: ReportBody,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """Reports another participant's message to staff, saying why; reporting it again
    answers the first report (400 for one's own message)."""
    report = await api.conversations.ReportMessage(
        pb.ReportMessageRequest(
            message=f"{_name(conversation_id)}/messages/{message_id}", reason=body.reason
        ),
        metadata=caller.metadata(),
    )
    return json_response(MessageReportOut.from_proto(report), status_code=201)


@router.get(
    "/admin/message-reports",
    operation_id="message_reports.list",
    tags=REPORTS,
    response_model=Page[MessageReportOut],
    responses=responses(403),
)
async def list_message_reports(
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    caller: Caller = Depends(require_staff),
    api: Backends = Depends(backends),
) -> Response:
    """Messages reported to staff, the newest first (staff only)."""
    found = await api.conversations.ListMessageReports(
        pb.ListMessageReportsRequest(page_size=limit, page_token=cursor or ""),
        metadata=caller.metadata(),
    )
    return json_response(
        page_of(
            [MessageReportOut.from_proto(r) for r in found.reports],
            found.next_page_token,
            found.total_size,
        )
    )


@router.post(
    "/conversations/{conversation_id}/read",
    operation_id="conversations.mark_read",
    tags=CONVERSATIONS,
    response_model=ConversationOut,
    responses=responses(404),
)
async def mark_conversation_read(
    conversation_id: Id, caller: Caller = Depends(require_user), api: Backends = Depends(backends)
) -> Response:
    """Marks everything in the conversation read for the caller."""
    found = await api.conversations.MarkConversationRead(
        pb.MarkConversationReadRequest(name=_name(conversation_id)), metadata=caller.metadata()
    )
    return json_response(ConversationOut.from_proto(found))


@router.put(
    "/me/blocks/{user_id}",
    operation_id="blocks.put",
    tags=BLOCKS,
    status_code=204,
    responses=responses(400),
)
async def block_user(
    user_id: Id, caller: Caller = Depends(require_user), api: Backends = Depends(backends)
) -> Response:
    """Blocks a user: no new messages either way and no new conversation (again: no change)."""
    await api.conversations.BlockUser(
        pb.BlockUserRequest(user_id=user_id), metadata=caller.metadata()
    )
    return Response(status_code=204)


@router.delete(
    "/me/blocks/{user_id}",
    operation_id="blocks.delete",
    tags=BLOCKS,
    status_code=204,
)
async def unblock_user(
    user_id: Id, caller: Caller = Depends(require_user), api: Backends = Depends(backends)
) -> Response:
    """Lifts a block of the caller's (none: no change)."""
    await api.conversations.UnblockUser(
        pb.UnblockUserRequest(user_id=user_id), metadata=caller.metadata()
    )
    return Response(status_code=204)
