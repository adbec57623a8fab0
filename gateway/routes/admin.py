"""/api/v1/admin: staff management of users, and the audit log of it."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Query
from starlette.responses import Response

from estuary.identity.v1 import identity_pb2 as pb
from gateway.auth import Caller, require_staff
from gateway.backends import Backends
from gateway.problems import responses
from gateway.routes.common import GatewayRouter, IdempotencyKey, backends, json_response
from gateway.schemas.common import DEFAULT_LIMIT, Cursor, Limit, Page, page_of
from gateway.schemas.identity import (
    ROLES,
    STATUSES,
    AuditEntry,
    ReasonBody,
    RoleName,
    RolesBody,
    StatusName,
    User,
)

router = GatewayRouter(prefix="/api/v1/admin")

UserId = Annotated[str, Path(pattern=r"^[0-9a-f-]{36}$", description="The user's id.")]
# A rule broken (a reason too long, an unknown role); a state conflict (already suspended, the
# last admin).
CHANGE_ERRORS = responses(400, 409)


@router.get("/users", operation_id="users.list", tags=["users"], response_model=Page[User])
async def list_users(
    q: Annotated[str, Query(max_length=254, description="Email prefix or name word.")] = "",
    role: RoleName | None = None,
    status: StatusName | None = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    caller: Caller = Depends(require_staff),
    api: Backends = Depends(backends),
) -> Response:
    """Users, newest first: search by email or name, filter by role and status."""
    found = await api.identity.ListUsers(
        pb.ListUsersRequest(
            query=q,
            role=ROLES.to_proto(role) if role else pb.ROLE_UNSPECIFIED,
            status=STATUSES.to_proto(status) if status else pb.USER_STATUS_UNSPECIFIED,
            page_size=limit,
            page_token=cursor or "",
        ),
        metadata=caller.metadata(),
    )
    return json_response(
        page_of([User.from_proto(u) for u in found.users], found.next_page_token, found.total_size)
    )


@router.get("/users/{user_id}", operation_id="users.get", tags=["users"], response_model=User)
async def get_user(
    user_id: UserId, caller: Caller = Depends(require_staff), api: Backends = Depends(backends)
) -> Response:
    """One user, whatever their status."""
    user = await api.identity.GetUser(
        pb.GetUserRequest(name=f"users/{user_id}"), metadata=caller.metadata()
    )
    return json_response(User.from_proto(user))


@router.post(
    "/users/{user_id}/suspend",
    operation_id="users.suspend",
    tags=["users"],
    response_model=User,
    responses=CHANGE_ERRORS,
)
async def suspend_user(
    user_id: UserId,
    body: ReasonBody,
    idempotency_key: IdempotencyKey = None,
    caller: Caller = Depends(require_staff),
    api: Backends = Depends(backends),
) -> Response:
    """Suspends a user: their sessions end, they cannot sign in, and every service refuses
    their changes and hides what they offer."""
    user = await api.identity.SuspendUser(
        pb.SuspendUserRequest(
            name=f"users/{user_id}", reason=body.reason, request_id=idempotency_key or ""
        ),
        metadata=caller.metadata(),
    )
    return json_response(User.from_proto(user))


@router.post(
    "/users/{user_id}/reactivate",
    operation_id="users.reactivate",
    tags=["users"],
    response_model=User,
    responses=CHANGE_ERRORS,
)
async def reactivate_user(
    user_id: UserId,
    body: ReasonBody,
    idempotency_key: IdempotencyKey = None,
    caller: Caller = Depends(require_staff),
    api: Backends = Depends(backends),
) -> Response:
    """Lifts a suspension."""
    user = await api.identity.ReactivateUser(
        pb.ReactivateUserRequest(
            name=f"users/{user_id}", reason=body.reason, request_id=idempotency_key or ""
        ),
        metadata=caller.metadata(),
    )
    return json_response(User.from_proto(user))


@router.put(
    "/users/{user_id}/roles",
    operation_id="users.set_roles",
    tags=["users"],
    response_model=User,
    responses=CHANGE_ERRORS,
)
async def set_roles(
    user_id: UserId,
    body: RolesBody,
    caller: Caller = Depends(require_staff),
    api: Backends = Depends(backends),
) -> Response:
    """Replaces a user's roles; staff and admin roles are an admin's to give."""
    user = await api.identity.SetUserRoles(
        pb.SetUserRolesRequest(
            name=f"users/{user_id}",
            roles=[ROLES.to_proto(r) for r in body.roles],
            reason=body.reason,
        ),
        metadata=caller.metadata(),
    )
    return json_response(User.from_proto(user))


@router.get(
    "/audit-log",
    operation_id="audit_log.list",
    tags=["audit_log"],
    response_model=Page[AuditEntry],
    responses=responses(400),
)
async def audit_log(
    target_user_id: Annotated[
        str, Query(max_length=36, description="Only actions concerning this user.")
    ] = "",
    actor_id: Annotated[str, Query(max_length=36, description="Only this staff member's.")] = "",
    service: Annotated[
        str, Query(max_length=30, description="Only actions taken in this service.")
    ] = "",
    target: Annotated[
        str,
        Query(
            max_length=200, description="Only actions on this resource, e.g. practitioners/{id}."
        ),
    ] = "",
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    caller: Caller = Depends(require_staff),
    api: Backends = Depends(backends),
) -> Response:
    """What staff did, in every service, to what and whom; newest first."""
    found = await api.identity.ListAuditEntries(
        pb.ListAuditEntriesRequest(
            target_user_id=target_user_id,
            actor_id=actor_id,
            service=service,
            target=target,
            page_size=limit,
            page_token=cursor or "",
        ),
        metadata=caller.metadata(),
    )
    return json_response(
        page_of(
            [AuditEntry.from_proto(e) for e in found.entries],
            found.next_page_token,
            found.total_size,
        )
    )
