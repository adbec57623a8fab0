"""/api/v1/users/me: the signed-in user's own account."""

from __future__ import annotations

from fastapi import Depends
from google.protobuf.field_mask_pb2 import FieldMask
from starlette.responses import Response

from chassis.errors import InvalidArgument
from chassis.wire import struct
from estuary.identity.v1 import identity_pb2 as pb
from gateway.auth import Caller, require_user
from gateway.backends import Backends
from gateway.problems import responses
from gateway.routes.common import GatewayRouter, backends, json_response
from gateway.schemas.identity import PREFERENCES_MAX_DEPTH, User, UserPatch, nesting_depth

router = GatewayRouter(prefix="/api/v1/users", tags=["users"])


@router.get("/me", operation_id="users.get_me", response_model=User)
async def get_me(
    caller: Caller = Depends(require_user), api: Backends = Depends(backends)
) -> Response:
    """The signed-in user's account and profile."""
    user = await api.identity.GetUser(
        pb.GetUserRequest(name="users/me"), metadata=caller.metadata()
    )
    return json_response(User.from_proto(user))


@router.patch("/me", operation_id="users.update_me", response_model=User, responses=responses(400))
async def update_me(
    body: UserPatch,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """Changes profile fields. Email, roles, status and ids cannot be set here."""
    if nesting_depth(body.preferences) > PREFERENCES_MAX_DEPTH:
        raise InvalidArgument.field(
            "preferences",
            f"must nest at most {PREFERENCES_MAX_DEPTH} levels of objects and lists",
            "too_deep",
        )
    paths = sorted(body.model_fields_set)
    user = pb.User(name="users/me")
    for path in paths:
        value = getattr(body, path)
        if path == "preferences":
            user.preferences.CopyFrom(struct(value or {}))
        else:
            setattr(user, path, value or "")
    updated = await api.identity.UpdateUser(
        pb.UpdateUserRequest(user=user, update_mask=FieldMask(paths=paths)),
        metadata=caller.metadata(),
    )
    return json_response(User.from_proto(updated))


@router.delete("/me", operation_id="users.delete_me", status_code=204, responses=responses(409))
async def delete_me(
    caller: Caller = Depends(require_user), api: Backends = Depends(backends)
) -> Response:
    """Erases the account's personal data and ends every session."""
    await api.identity.DeleteUser(pb.DeleteUserRequest(name="users/me"), metadata=caller.metadata())
    return Response(status_code=204)
