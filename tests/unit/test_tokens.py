"""The JWT rules in the chassis: EdDSA only, required claims, our kids only, typ checked."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from chassis.auth.principal import TokenType
from chassis.auth.tokens import KeySet, SigningKey, TokenIssuer, TokenVerifier, public_jwk
from chassis.clock import Clock
from chassis.errors import Unauthenticated
from tests.forgery import bad_tokens

ISSUER = "https://estuary.test/identity"
AUDIENCE = "estuary"


class Keys:
    """A JWKS endpoint under the test's control."""

    def __init__(self) -> None:
        self.signing = SigningKey("k1", Ed25519PrivateKey.generate())
        self.published = [public_jwk("k1", self.signing.private_key.public_key())]
        self.fetches = 0

    async def fetch(self) -> list[dict[str, str]]:
        self.fetches += 1
        return list(self.published)


@pytest.fixture
def keys() -> Keys:
    return Keys()


@pytest.fixture
def verifier(keys: Keys) -> TokenVerifier:
    return TokenVerifier(
        KeySet(keys.fetch, min_refresh_interval=0.0),
        issuer=ISSUER,
        audience=AUDIENCE,
        clock=Clock(),
    )


def issue(keys: Keys, token_type: TokenType = TokenType.ACCESS) -> str:
    token, _ = TokenIssuer(issuer=ISSUER, audience=AUDIENCE, clock=Clock()).issue(
        keys.signing,
        subject="user-1",
        token_type=token_type,
        ttl=timedelta(minutes=5),
        roles=["client"],
        session_id="s-1",
    )
    return token


async def test_a_good_access_token_names_its_user_roles_and_session(keys, verifier):
    principal = await verifier.verify(issue(keys))
    assert principal.subject == "user-1"
    assert principal.roles == frozenset({"client"})
    assert principal.session_id == "s-1"
    assert principal.is_user and not principal.is_staff


@pytest.mark.parametrize(
    "kind",
    [
        "alg_none",
        "hs256_with_public_key",
        "expired",
        "no_exp",
        "wrong_audience",
        "wrong_issuer",
        "unknown_kid",
        "tampered_payload",
        "signed_by_a_stranger_with_our_kid",
        "garbage",
        "wrong_typ",
        "refresh_token_as_access",
        "service_token_as_access",
    ],
)
async def test_every_forged_or_misused_token_is_refused(keys, verifier, kind):
    tokens = bad_tokens(
        keys.signing,
        "user-1",
        issuer=ISSUER,
        audience=AUDIENCE,
        refresh_token="dGhpcy1pcy1hbi1vcGFxdWUtcmVmcmVzaC10b2tlbg",
        service_token=issue(keys, TokenType.SERVICE),
    )
    with pytest.raises(Unauthenticated):
        await verifier.verify(tokens[kind])


async def test_a_service_token_passes_only_where_service_tokens_are_allowed(keys, verifier):
    token = issue(keys, TokenType.SERVICE)
    principal = await verifier.verify(token, allowed=frozenset({TokenType.SERVICE}))
    assert principal.is_service
    with pytest.raises(Unauthenticated):
        await verifier.verify(token)


async def test_rotation_keeps_old_tokens_valid_until_the_old_key_is_retired(keys, verifier):
    old_token = issue(keys)
    await verifier.verify(old_token)
    new_key = SigningKey("k2", Ed25519PrivateKey.generate())
    keys.published.append(public_jwk("k2", new_key.private_key.public_key()))
    old_signing, keys.signing = keys.signing, new_key
    # A token from the new key makes the verifier fetch the new key set on its own.
    assert (await verifier.verify(issue(keys))).subject == "user-1"
    assert (await verifier.verify(old_token)).subject == "user-1"
    keys.published = [k for k in keys.published if k["kid"] != old_signing.kid]
    await verifier._keys.refresh()  # what the periodic refresh does
    with pytest.raises(Unauthenticated):
        await verifier.verify(old_token)


async def test_unknown_kids_do_not_turn_into_a_flood_of_key_fetches(keys):
    verifier = TokenVerifier(
        KeySet(keys.fetch, min_refresh_interval=60.0),
        issuer=ISSUER,
        audience=AUDIENCE,
        clock=Clock(),
    )
    await verifier.verify(issue(keys))
    forged = bad_tokens(keys.signing, "u", issuer=ISSUER, audience=AUDIENCE)["unknown_kid"]
    for _ in range(20):
        with pytest.raises(Unauthenticated):
            await verifier.verify(forged + "")
    assert keys.fetches == 1
