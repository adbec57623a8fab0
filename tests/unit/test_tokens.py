"""The JWT rules in the chassis: EdDSA only, required claims, our kids only, typ checked."""

from __future__ import annotations

import asyncio
import base64
import time
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from chassis.auth.principal import TokenType
from chassis.auth.tokens import (
    INVALID_TOKEN,
    LEEWAY_SECONDS,
    KeySet,
    SigningKey,
    TokenIssuer,
    TokenVerifier,
    key_from_jwk,
    public_jwk,
)
from chassis.clock import Clock, FrozenClock
from chassis.errors import Unauthenticated
from tests.forgery import bad_tokens, claims_for

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


# What each refusal says, at which instant a token expires, and what the key set and the
# cache do: the reasons are the API's (ErrorInfo.reason), the instants the documented leeway.

REASONS = {
    "alg_none": "WRONG_ALGORITHM",
    "hs256_with_public_key": "WRONG_ALGORITHM",
    "expired": "TOKEN_EXPIRED",
    "no_exp": "INVALID_TOKEN",
    "wrong_audience": "INVALID_TOKEN",
    "wrong_issuer": "INVALID_TOKEN",
    "unknown_kid": "UNKNOWN_KEY",
    "tampered_payload": "INVALID_TOKEN",
    "signed_by_a_stranger_with_our_kid": "INVALID_TOKEN",
    "garbage": "MALFORMED_TOKEN",
    "wrong_typ": "WRONG_TOKEN_TYPE",
    "refresh_token_as_access": "MALFORMED_TOKEN",
    "service_token_as_access": "WRONG_TOKEN_TYPE",
}


@pytest.mark.parametrize(("kind", "reason"), sorted(REASONS.items()))
async def test_each_refusal_names_its_reason_and_says_the_same_to_the_caller(
    keys, verifier, kind, reason
):
    tokens = bad_tokens(
        keys.signing,
        "user-1",
        issuer=ISSUER,
        audience=AUDIENCE,
        refresh_token="dGhpcy1pcy1hbi1vcGFxdWUtcmVmcmVzaC10b2tlbg",
        service_token=issue(keys, TokenType.SERVICE),
    )
    with pytest.raises(Unauthenticated) as refused:
        await verifier.verify(tokens[kind])
    assert refused.value.reason == reason
    assert str(refused.value) == INVALID_TOKEN


def signed(keys: Keys, kid: object = "k1", **overrides: object) -> str:
    claims = claims_for("user-1", issuer=ISSUER, audience=AUDIENCE, **overrides)
    return jwt.encode(claims, keys.signing.private_key, algorithm="EdDSA", headers={"kid": kid})


@pytest.mark.parametrize("roles", ["admin", ["staff", 7], {"admin": True}])
async def test_roles_that_are_not_a_list_of_names_are_refused(keys, verifier, roles):
    with pytest.raises(Unauthenticated) as refused:
        await verifier.verify(signed(keys, roles=roles))
    assert (refused.value.reason, str(refused.value)) == ("INVALID_TOKEN", INVALID_TOKEN)


async def test_a_token_without_roles_has_none_and_carries_its_id_and_expiry(keys, verifier):
    token = signed(keys, roles=None, jti="the-token-id")
    principal = await verifier.verify(token)
    assert principal.roles == frozenset() and principal.token_id == "the-token-id"
    claims = jwt.decode(token, options={"verify_signature": False})
    assert principal.expires_at == datetime.fromtimestamp(claims["exp"], UTC)
    assert principal.session_id is None


async def test_a_kid_that_is_not_a_name_is_refused_as_malformed(keys, verifier):
    header = base64.urlsafe_b64encode(b'{"alg": "EdDSA", "kid": 7}').rstrip(b"=").decode()
    body = issue(keys).split(".")[1]
    signature = keys.signing.private_key.sign(f"{header}.{body}".encode())
    token = f"{header}.{body}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"
    with pytest.raises(Unauthenticated) as refused:
        await verifier.verify(token)
    assert refused.value.reason == "MALFORMED_TOKEN"


def at(clock: FrozenClock, keys: Keys, ttl: timedelta = timedelta(minutes=1)) -> str:
    token, _ = TokenIssuer(issuer=ISSUER, audience=AUDIENCE, clock=clock).issue(
        keys.signing, subject="user-1", token_type=TokenType.ACCESS, ttl=ttl
    )
    return token


@pytest.mark.parametrize("cached", [False, True])
async def test_a_token_is_accepted_up_to_30_seconds_past_its_expiry_and_not_after(keys, cached):
    clock = FrozenClock(datetime.now(UTC).replace(microsecond=0))
    key_set = KeySet(keys.fetch)
    await key_set.refresh()  # so the first verification is cached, not dropped as stale
    verifier = TokenVerifier(key_set, issuer=ISSUER, audience=AUDIENCE, clock=clock)
    token = at(clock, keys)
    if cached:
        await verifier.verify(token)
        assert token in verifier._cache
    clock.advance(timedelta(minutes=1, seconds=LEEWAY_SECONDS))
    assert (await verifier.verify(token)).subject == "user-1"
    clock.advance(timedelta(seconds=1))
    with pytest.raises(Unauthenticated) as expired:
        await verifier.verify(token)
    assert expired.value.reason == "TOKEN_EXPIRED"
    assert str(expired.value) == INVALID_TOKEN
    assert token not in verifier._cache  # an expired token is not kept


async def test_the_leeway_also_holds_against_the_wall_clock(keys, verifier):
    # Expired 10 s ago by the wall clock: within the 30 s leeway, so still good.
    now = int(time.time())
    assert (await verifier.verify(signed(keys, iat=now - 70, exp=now - 10))).subject == "user-1"


async def test_a_token_issued_ahead_of_the_wall_clock_verifies_on_the_issuers_time(keys):
    # The issuer's clock is the authority (a test clock, or one a little ahead of ours).
    clock = FrozenClock(datetime.now(UTC) + timedelta(hours=1))
    verifier = TokenVerifier(KeySet(keys.fetch), issuer=ISSUER, audience=AUDIENCE, clock=clock)
    assert (await verifier.verify(at(clock, keys, timedelta(hours=2)))).subject == "user-1"


async def counting_verifier(keys: Keys, cache_size: int = 10_000) -> TokenVerifier:
    """A verifier whose key set is fetched on every look-up (max_age=0), so fetches count
    the tokens it had to verify rather than take from its cache."""
    key_set = KeySet(keys.fetch, max_age=0.0, min_refresh_interval=0.0)
    await key_set.refresh()
    keys.fetches = 0
    return TokenVerifier(
        key_set, issuer=ISSUER, audience=AUDIENCE, clock=Clock(), cache_size=cache_size
    )


async def test_a_verified_token_is_served_from_the_cache_until_the_key_set_changes(keys):
    verifier = await counting_verifier(keys)
    token = issue(keys)
    await verifier.verify(token)
    await verifier.verify(token)
    assert keys.fetches == 1
    keys.published.append(public_jwk("k2", Ed25519PrivateKey.generate().public_key()))
    await verifier._keys.refresh()  # the set changed: what was verified with it is forgotten
    await verifier.verify(token)
    await verifier.verify(token)
    assert keys.fetches == 3


async def test_the_cache_forgets_its_oldest_token_when_full(keys):
    verifier = await counting_verifier(keys, cache_size=2)
    first, second, third = issue(keys), issue(keys), issue(keys)
    for token in (first, second, third):
        await verifier.verify(token)
    assert keys.fetches == 3
    await verifier.verify(third)
    await verifier.verify(second)
    assert keys.fetches == 3  # both still cached
    await verifier.verify(first)
    assert keys.fetches == 4  # pushed out by the third


def test_a_public_key_is_published_as_an_rfc_8037_jwk():
    private = Ed25519PrivateKey.generate()
    raw = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    jwk = public_jwk("k9", private.public_key())
    assert jwk == {
        "kid": "k9",
        "kty": "OKP",
        "crv": "Ed25519",
        "x": base64.urlsafe_b64encode(raw).decode().rstrip("="),
        "alg": "EdDSA",
        "use": "sig",
    }
    assert "=" not in jwk["x"]
    assert key_from_jwk(jwk).public_bytes(Encoding.Raw, PublicFormat.Raw) == raw


@pytest.mark.parametrize(
    "change", [{"kty": "EC"}, {"crv": "X25519"}, {"kty": "RSA", "crv": "P-256"}]
)
def test_only_ed25519_keys_are_taken_from_a_jwks(change):
    jwk = public_jwk("k9", Ed25519PrivateKey.generate().public_key()) | change
    with pytest.raises(ValueError, match="unsupported key k9: only OKP Ed25519 keys are ours"):
        key_from_jwk(jwk)


async def test_keys_it_cannot_use_are_skipped_and_the_rest_kept(keys, verifier):
    good = keys.published[0]
    keys.published = [good | {"crv": "X25519", "kid": "k-x"}, {"kid": "k-no-x"}, good]
    assert (await verifier.verify(issue(keys))).subject == "user-1"
    assert await verifier._keys.key("k-x") is None


async def test_a_failed_fetch_keeps_the_keys_and_is_retried_after_the_minimum_interval(keys):
    key_set = KeySet(keys.fetch, max_age=0.3, min_refresh_interval=0.2)
    assert await key_set.key("k1") is not None
    failing = True

    async def fetch() -> list[dict[str, str]]:
        keys.fetches += 1
        if failing:
            raise ConnectionError("identity is down")
        return list(keys.published)

    key_set._fetch = fetch
    await asyncio.sleep(0.35)  # the set is stale: the next look-up fetches, and fails
    assert await key_set.key("k1") is not None
    assert keys.fetches == 2
    assert await key_set.key("k1") is not None  # no new attempt at once
    assert keys.fetches == 2
    await asyncio.sleep(0.25)  # past the minimum interval: another attempt
    failing = False
    assert await key_set.key("k1") is not None
    assert keys.fetches == 3


@pytest.mark.parametrize(
    ("age", "kid", "fetches"),
    [(299.0, "k1", 1), (301.0, "k1", 2), (9.0, "k-new", 1), (11.0, "k-new", 2)],
)
async def test_the_default_key_set_refreshes_after_300_s_or_for_a_new_kid_after_10_s(
    keys, age, kid, fetches
):
    key_set = KeySet(keys.fetch)
    await key_set.key("k1")
    key_set._fetched_at = time.monotonic() - age  # as if fetched `age` seconds ago
    await key_set.key(kid)
    assert keys.fetches == fetches


def test_the_default_cache_holds_ten_thousand_tokens(keys):
    verifier = TokenVerifier(KeySet(keys.fetch), issuer=ISSUER, audience=AUDIENCE, clock=Clock())
    assert verifier._cache_size == 10_000
