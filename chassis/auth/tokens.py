"""JWT issuing and verification: EdDSA (Ed25519) only, claims required, kids only our own."""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from chassis.auth.principal import Principal, TokenType
from chassis.clock import Clock
from chassis.errors import Unauthenticated
from chassis.ids import new_id

log = logging.getLogger(__name__)

ALGORITHM = "EdDSA"
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub", "jti", "typ"]
LEEWAY_SECONDS = 30
INVALID_TOKEN = "the access token is missing, malformed, expired or not ours"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def public_jwk(kid: str, key: Ed25519PublicKey) -> dict[str, str]:
    """The RFC 8037 JSON Web Key of an Ed25519 public key."""
    raw = key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return {
        "kid": kid,
        "kty": "OKP",
        "crv": "Ed25519",
        "x": _b64url(raw),
        "alg": ALGORITHM,
        "use": "sig",
    }


def key_from_jwk(jwk: dict[str, str]) -> Ed25519PublicKey:
    """An Ed25519 public key from its JSON Web Key; refuses any other kind."""
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
        raise ValueError(f"unsupported key {jwk.get('kid')}: only OKP Ed25519 keys are ours")
    return Ed25519PublicKey.from_public_bytes(_b64url_decode(jwk["x"]))


@dataclass(frozen=True)
class SigningKey:
    """The private key that signs new tokens, with its kid."""

    kid: str
    private_key: Ed25519PrivateKey


class TokenIssuer:
    """Signs access and service tokens."""

    def __init__(self, *, issuer: str, audience: str, clock: Clock) -> None:
        self._issuer = issuer
        self._audience = audience
        self._clock = clock

    def issue(
        self,
        key: SigningKey,
        *,
        subject: str,
        token_type: TokenType,
        ttl: timedelta,
        roles: Iterable[str] = (),
        session_id: str | None = None,
    ) -> tuple[str, datetime]:
        """A signed token and the instant it expires."""
        now = self._clock.now()
        expires = now + ttl
        claims: dict[str, Any] = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": subject,
            "iat": int(now.timestamp()),
            "exp": int(expires.timestamp()),
            "jti": new_id(),
            "typ": token_type.value,
            "roles": sorted(roles),
        }
        if session_id:
            claims["sid"] = session_id
        token = jwt.encode(claims, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid})
        return token, expires


JwksFetcher = Callable[[], Awaitable[list[dict[str, str]]]]


class KeySet:
    """The public keys that verify tokens, fetched from a JWKS and refreshed when needed.

    An unknown kid triggers a refresh, at most once per `min_refresh_interval`, so a flood of
    forged kids cannot turn into a flood of fetches.
    """

    def __init__(
        self,
        fetch: JwksFetcher,
        *,
        max_age: float = 300.0,
        min_refresh_interval: float = 10.0,
    ) -> None:
        self._fetch = fetch
        self._max_age = max_age
        self._min_refresh_interval = min_refresh_interval
        self._keys: dict[str, Ed25519PublicKey] = {}
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()
        self.generation = 0

    async def key(self, kid: str) -> Ed25519PublicKey | None:
        """The key with this kid, refreshing the set if it is stale or lacks the kid."""
        age = time.monotonic() - self._fetched_at
        if age > self._max_age or (kid not in self._keys and age > self._min_refresh_interval):
            await self.refresh()
        return self._keys.get(kid)

    async def refresh(self) -> None:
        """Fetches the key set again."""
        seen = self._fetched_at
        async with self._lock:
            if self._fetched_at != seen:
                return  # another task refreshed while this one waited
            try:
                jwks = await self._fetch()
            except Exception:
                log.exception("could not fetch the signing keys; keeping the ones we have")
                self._fetched_at = time.monotonic() - self._max_age + self._min_refresh_interval
                return
            keys: dict[str, Ed25519PublicKey] = {}
            for jwk in jwks:
                try:
                    keys[jwk["kid"]] = key_from_jwk(jwk)
                except (KeyError, ValueError):
                    log.warning("ignoring a key we cannot use: %s", jwk.get("kid"))
            if keys.keys() != self._keys.keys():
                self.generation += 1
            self._keys = keys
            self._fetched_at = time.monotonic()


class TokenVerifier:
    """Verifies tokens against a key set; caches verified tokens until they expire."""

    def __init__(
        self,
        keys: KeySet,
        *,
        issuer: str,
        audience: str,
        clock: Clock,
        cache_size: int = 10_000,
    ) -> None:
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._clock = clock
        self._cache_size = cache_size
        self._cache: dict[str, Principal] = {}
        self._cache_generation = keys.generation

    async def verify(
        self, token: str, *, allowed: frozenset[TokenType] = frozenset({TokenType.ACCESS})
    ) -> Principal:
        """The principal a token names; Unauthenticated if it does not verify."""
        if self._cache_generation != self._keys.generation:
            self._cache.clear()
            self._cache_generation = self._keys.generation
        principal = self._cache.get(token)
        if principal is None:
            principal = await self._verify(token)
            if len(self._cache) >= self._cache_size:
                self._cache.pop(next(iter(self._cache)))
            self._cache[token] = principal
        elif principal.expires_at + timedelta(seconds=LEEWAY_SECONDS) < self._clock.now():
            self._cache.pop(token, None)
            raise Unauthenticated(INVALID_TOKEN, reason="TOKEN_EXPIRED")
        if principal.token_type not in allowed:
            raise Unauthenticated(INVALID_TOKEN, reason="WRONG_TOKEN_TYPE")
        return principal

    async def _verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as error:
            raise Unauthenticated(INVALID_TOKEN, reason="MALFORMED_TOKEN") from error
        if header.get("alg") != ALGORITHM:
            raise Unauthenticated(INVALID_TOKEN, reason="WRONG_ALGORITHM")
        kid = header.get("kid")
        key = await self._keys.key(kid) if isinstance(kid, str) else None
        if key is None:
            raise Unauthenticated(INVALID_TOKEN, reason="UNKNOWN_KEY")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": REQUIRED_CLAIMS, "verify_iat": False},
            )
        except jwt.ExpiredSignatureError as error:
            raise Unauthenticated(INVALID_TOKEN, reason="TOKEN_EXPIRED") from error
        except jwt.PyJWTError as error:
            raise Unauthenticated(INVALID_TOKEN, reason="INVALID_TOKEN") from error
        # PyJWT checks exp against the wall clock; ours may be a test clock, so check again.
        expires_at = datetime.fromtimestamp(claims["exp"], UTC)
        if expires_at + timedelta(seconds=LEEWAY_SECONDS) < self._clock.now():
            raise Unauthenticated(INVALID_TOKEN, reason="TOKEN_EXPIRED")
        try:
            token_type = TokenType(claims["typ"])
        except ValueError as error:
            raise Unauthenticated(INVALID_TOKEN, reason="WRONG_TOKEN_TYPE") from error
        roles = claims.get("roles", [])
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise Unauthenticated(INVALID_TOKEN, reason="INVALID_TOKEN")
        return Principal(
            subject=str(claims["sub"]),
            token_type=token_type,
            roles=frozenset(roles),
            token_id=str(claims["jti"]),
            expires_at=expires_at,
            session_id=claims.get("sid"),
        )
