"""The published contracts, committed so that a change to them shows in review:
docs/openapi.json (the gateway's REST API, as /openapi.json serves it) and docs/asyncapi.json
(the events, from the protos). `estuary schemas` writes them; `--check` fails when either
differs from what the code generates.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from suite import asyncapi
from suite.registry import SERVICES

OPENAPI = Path("docs/openapi.json")
ASYNCAPI = Path("docs/asyncapi.json")


def render(document: dict[str, Any]) -> str:
    """A document as committed: sorted keys, two-space indents, a final newline."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def openapi_document() -> dict[str, Any]:
    """The gateway's OpenAPI document, as it serves it (building the app connects to nothing)."""
    from gateway.app import create_app
    from gateway.settings import GatewaySettings

    return create_app(GatewaySettings()).openapi()


def generated() -> dict[Path, str]:
    """Each contract file's text, as the code generates it."""
    return {
        OPENAPI: render(openapi_document()),
        ASYNCAPI: render(asyncapi.document(SERVICES)),
    }


def write(root: Path, *, check: bool = False) -> list[Path]:
    """Writes the contracts under root (nothing with check); the ones that were stale."""
    stale = []
    for path, text in generated().items():
        target = root / path
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            stale.append(path)
            if not check:
                target.write_text(text, encoding="utf-8")
    return stale
