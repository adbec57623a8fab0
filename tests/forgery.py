"""Tokens an attacker might present, for the JWT negative matrix at every layer."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from chassis.auth.tokens import SigningKey


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segments(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(claims).encode())


def claims_for(subject: str, *, issuer: str, audience: str, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "iat": now,
        "exp": now + 600,
        "jti": "forged-" + str(now),
        "typ": "access",
        "roles": ["client"],
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def sign(key: SigningKey, claims: dict[str, Any], kid: str | None = None) -> str:
    return jwt.encode(claims, key.private_key, algorithm="EdDSA", headers={"kid": kid or key.kid})


def bad_tokens(
    key: SigningKey,
    subject: str,
    *,
    issuer: str,
    audience: str,
    refresh_token: str = "",
    service_token: str = "",
) -> dict[str, str]:
    """Every kind of token that must be refused, by name."""
    good = claims_for(subject, issuer=issuer, audience=audience)
    public_pem = key.private_key.public_key().public_bytes(
        Encoding.PEM, PublicFormat.SubjectPublicKeyInfo
    )
    hs_body = _segments({"alg": "HS256", "typ": "JWT", "kid": key.kid}, good)
    hs_signature = hmac.new(public_pem, hs_body.encode(), hashlib.sha256).digest()
    valid = sign(key, good)
    header, _payload, signature = valid.split(".")
    tampered_claims = dict(good, roles=["admin", "staff"])
    tampered = f"{header}.{_b64(json.dumps(tampered_claims).encode())}.{signature}"
    stranger = SigningKey(key.kid, Ed25519PrivateKey.generate())
    tokens = {
        "alg_none": _segments({"alg": "none", "typ": "JWT", "kid": key.kid}, good) + ".",
        "hs256_with_public_key": f"{hs_body}.{_b64(hs_signature)}",
        "expired": sign(key, dict(good, iat=int(time.time()) - 7200, exp=int(time.time()) - 3600)),
        "no_exp": sign(key, {k: v for k, v in good.items() if k != "exp"}),
        "wrong_audience": sign(key, dict(good, aud="somebody-else")),
        "wrong_issuer": sign(key, dict(good, iss="https://evil.example")),
        "unknown_kid": sign(key, good, kid="not-our-key"),
        "tampered_payload": tampered,
        "signed_by_a_stranger_with_our_kid": sign(stranger, good),
        "garbage": "not-a-jwt",
        "wrong_typ": sign(key, dict(good, typ="refresh")),
    }
    if refresh_token:
        tokens["refresh_token_as_access"] = refresh_token
    if service_token:
        tokens["service_token_as_access"] = service_token
    return tokens
