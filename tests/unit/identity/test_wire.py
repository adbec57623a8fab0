"""Roles and statuses mean the same in the domain, the proto and the REST edge."""

from __future__ import annotations

from typing import get_args

from chassis.auth.principal import Role
from estuary.identity.v1 import identity_pb2 as pb
from gateway.schemas import identity as rest
from services.identity.domain.users import UserStatus
from services.identity.grpc_api import ROLES, STATUSES


def test_the_gateway_spells_roles_and_statuses_as_the_domain_does():
    assert get_args(rest.RoleName) == ROLES.names == tuple(r.value for r in Role)
    assert get_args(rest.StatusName) == STATUSES.names == tuple(s.value for s in UserStatus)


def test_both_ends_map_each_name_to_the_same_proto_value():
    for role in Role:
        assert rest.ROLES.to_proto(role.value) == ROLES.to_proto(role)
        assert ROLES.from_proto(rest.ROLES.to_proto(role.value)) is role
    for status in UserStatus:
        assert rest.STATUSES.from_proto(STATUSES.to_proto(status)) == status.value
    assert rest.ROLES.from_proto(pb.ROLE_UNSPECIFIED) is None
