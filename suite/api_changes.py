"""Breaking changes between two versions of a published document (docs/openapi.json,
docs/asyncapi.json), and whether each was declared in docs/api-changes.md.

Breaking, for the REST API: an operation removed or its id changed (a generated SDK loses or
renames a function); a success status removed; a parameter removed or newly required; a
request field removed (bodies are strict: a client still sending it is refused) or newly
required; a request value narrowed (an enum value, a type such as null, a bound tightened); a
response field removed, no longer always present, of a wider type, or an enum with a new
value (a generated SDK refuses a value its enum does not list). For the events: an event no
longer published, or a field of its data removed or of a wider type (proto enums are open:
a consumer reads an unknown value as a number). Additions (an operation, an optional field)
are not breaking.

Every version is checked against the one before it: each committed version of the file (in
the order of the commits that changed it) and then the working tree's, so a breaking commit
cannot hide behind a later one that changed the file again, whether CI runs on every commit
or on several at once. A change is declared by naming it, exactly as the check prints it, in
backticks in docs/api-changes.md; declarations stay, as the API's record of what broke.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DECLARATIONS = Path("docs/api-changes.md")
BOUNDS_UP = ("minimum", "minLength", "minItems", "exclusiveMinimum")  # a larger one narrows
BOUNDS_DOWN = ("maximum", "maxLength", "maxItems", "exclusiveMaximum")  # a smaller one narrows
JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string", type(None): "null"}


class NoHistory(Exception):
    """The repository's history is not there to compare with (no git, or a shallow clone)."""


@dataclass
class Shape:
    """What a document says of one value, at one path of a request or response."""

    types: set[str]
    required: bool
    enum: set[Any] | None
    bounds: dict[str, float]

    def merge(self, other: Shape) -> None:
        """Another member of a union (anyOf, oneOf) at the same path."""
        self.types |= other.types
        self.required = self.required or other.required
        self.enum = None if self.enum is None or other.enum is None else self.enum | other.enum
        for key in BOUNDS_UP:
            if key in self.bounds or key in other.bounds:
                self.bounds[key] = min(
                    self.bounds.get(key, float("-inf")), other.bounds.get(key, float("-inf"))
                )
        for key in BOUNDS_DOWN:
            if key in self.bounds or key in other.bounds:
                self.bounds[key] = max(
                    self.bounds.get(key, float("inf")), other.bounds.get(key, float("inf"))
                )


def resolve(document: dict[str, Any], ref: str) -> dict[str, Any]:
    """The node a local reference ('#/components/schemas/User') points at."""
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def shapes(
    document: dict[str, Any],
    schema: dict[str, Any],
    path: str = "",
    required: bool = True,
    seen: tuple[str, ...] = (),
) -> dict[str, Shape]:
    """Every value a schema describes, by path ('price.currency', 'results[].email'), its
    references followed (a reference already being followed stops the walk: recursion)."""
    found: dict[str, Shape] = {}

    def add(more: dict[str, Shape]) -> None:
        for key, shape in more.items():
            if key in found:
                found[key].merge(shape)
            else:
                found[key] = shape

    if "$ref" in schema:
        ref = schema["$ref"]
        if ref in seen:
            return {}
        rest = {k: v for k, v in schema.items() if k != "$ref"}
        return shapes(document, {**resolve(document, ref), **rest}, path, required, (*seen, ref))
    for member in schema.get("allOf", ()):
        add(shapes(document, member, path, required, seen))
    for key in ("anyOf", "oneOf"):
        members = schema.get(key)
        if members:
            union: dict[str, Shape] = {}
            for member in members:
                for sub, shape in shapes(document, member, path, required, seen).items():
                    if sub in union:
                        union[sub].merge(shape)
                    else:
                        union[sub] = shape
            add(union)
    types = schema.get("type", [])
    own = {types} if isinstance(types, str) else set(types)
    enum = None
    if "const" in schema:
        enum = {_frozen(schema["const"])}
        own.add(JSON_TYPES.get(type(schema["const"]), "object"))
    elif "enum" in schema:
        enum = {_frozen(v) for v in schema["enum"]}
        own |= {JSON_TYPES.get(type(v), "object") for v in schema["enum"]}
    elif own == {"null"}:
        enum = {None}  # a union's null member: one value, not any
    bounds = {k: schema[k] for k in (*BOUNDS_UP, *BOUNDS_DOWN) if k in schema}
    if own or enum is not None or bounds or path not in found:
        add({path: Shape(own, required, enum, bounds)})
    required_fields = set(schema.get("required", ()))
    for name, sub in schema.get("properties", {}).items():
        child = f"{path}.{name}" if path else name
        add(shapes(document, sub, child, name in required_fields, seen))
    if isinstance(schema.get("items"), dict):
        add(shapes(document, schema["items"], f"{path}[]", True, seen))
    return found


def _frozen(value: Any) -> Any:
    return repr(value) if isinstance(value, dict | list) else value


def _shape_types(shape: Shape) -> set[str]:
    # An integer is a number; a schema that names no type accepts anything.
    return shape.types | ({"integer"} if "number" in shape.types else set())


def _say(label: str, what: str, path: str, detail: str = "") -> str:
    """'request field removed: price.currency', or for a whole value (a parameter, a body)
    'parameter query kind: enum narrowed (no longer bundle)'."""
    detail = f" ({detail})" if detail else ""
    return f"{label} field {what}: {path}{detail}" if path else f"{label}: {what}{detail}"


def request_breaks(old: dict[str, Shape], new: dict[str, Shape], label: str) -> Iterator[str]:
    """What a client that sent what the old document allowed may now be refused for."""
    for path in sorted(old.keys() - new.keys()):
        yield _say(label, "removed", path)
    for path in sorted(new.keys()):
        shape = new[path]
        before = old.get(path)
        # An array's items belong to the array ("tags[]" to "tags"), a field to its object.
        parent = path.removesuffix("[]") if path.endswith("[]") else path.rpartition(".")[0]
        # The root is required as a whole; what may be new is a field inside something sent.
        newly = shape.required and (before is None or not before.required)
        if path and newly and parent in old:
            yield _say(label, "newly required", path)
        if before is None:
            continue
        lost_types = _shape_types(before) - _shape_types(shape)
        if before.types and shape.types and lost_types:
            yield _say(label, "type narrowed", path, "no longer " + ", ".join(sorted(lost_types)))
        if shape.enum is not None and (before.enum is None or before.enum - shape.enum):
            lost = sorted(map(str, before.enum - shape.enum)) if before.enum else ["any value"]
            yield _say(label, "enum narrowed", path, "no longer " + ", ".join(lost))
        for key in BOUNDS_UP:
            if shape.bounds.get(key, float("-inf")) > before.bounds.get(key, float("-inf")):
                yield _say(label, "bound tightened", path, f"{key} {shape.bounds[key]}")
        for key in BOUNDS_DOWN:
            if shape.bounds.get(key, float("inf")) < before.bounds.get(key, float("inf")):
                yield _say(label, "bound tightened", path, f"{key} {shape.bounds[key]}")


def response_breaks(
    old: dict[str, Shape], new: dict[str, Shape], label: str, *, closed_enums: bool = True
) -> Iterator[str]:
    """What a client that read what the old document promised may now not find, or not
    understand: with closed_enums, a value its enum does not list."""
    for path in sorted(old.keys() - new.keys()):
        yield _say(label, "removed", path)
    for path in sorted(old.keys() & new.keys()):
        before, shape = old[path], new[path]
        if before.required and not shape.required:
            yield _say(label, "no longer always present", path)
        gained = _shape_types(shape) - _shape_types(before)
        if before.types and gained:
            yield _say(label, "type widened", path, "now also " + ", ".join(sorted(gained)))
        single = before.enum is not None and len(before.enum) == 1
        if single and shape.enum is not None and shape.enum != before.enum:
            yield _say(label, "constant changed", path)
        elif closed_enums and before.enum and shape.enum and shape.enum - before.enum:
            # Generated SDKs parse a response enum strictly (openapi-python-client's StrEnum
            # raises on a value it does not list), so a new value breaks old clients' reads.
            gained_values = sorted(map(str, shape.enum - before.enum))
            yield _say(label, "enum widened", path, "now also " + ", ".join(gained_values))


def _operations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    methods = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
    return {
        f"{method.upper()} {path}": operation
        for path, item in document.get("paths", {}).items()
        for method, operation in item.items()
        if method in methods
    }


def _parameters(document: dict[str, Any], operation: dict[str, Any]) -> dict[str, Any]:
    found = {}
    for parameter in operation.get("parameters", []):
        if "$ref" in parameter:
            parameter = resolve(document, parameter["$ref"])
        found[f"{parameter['in']} {parameter['name'].lower()}"] = parameter
    return found


def _json_schema(content: dict[str, Any]) -> dict[str, Any] | None:
    for media_type, body in content.items():
        if media_type == "application/json" or media_type.endswith("+json"):
            return body.get("schema", {})
    return None


def openapi_breaks(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """The breaking changes from one OpenAPI document to the next."""
    found: list[str] = []
    before, after = _operations(old), _operations(new)
    for key in sorted(before):
        was = before[key]
        if key not in after:
            found.append(f"{key}: operation removed ({was.get('operationId')})")
            continue
        now = after[key]
        if was.get("operationId") != now.get("operationId"):
            found.append(
                f"{key}: operation id changed ({was.get('operationId')} -> "
                f"{now.get('operationId')})"
            )
        found += [f"{key}: {b}" for b in _operation_breaks(old, new, was, now)]
    return found


def _operation_breaks(
    old: dict[str, Any], new: dict[str, Any], was: dict[str, Any], now: dict[str, Any]
) -> Iterator[str]:
    old_params, new_params = _parameters(old, was), _parameters(new, now)
    for name in sorted(old_params.keys() - new_params.keys()):
        yield f"parameter removed: {name}"
    for name, parameter in sorted(new_params.items()):
        previous = old_params.get(name)
        if parameter.get("required") and not (previous or {}).get("required"):
            yield f"parameter newly required: {name}"
        if previous is not None:
            yield from request_breaks(
                {"": _root(shapes(old, previous.get("schema", {})))},
                {"": _root(shapes(new, parameter.get("schema", {})))},
                f"parameter {name}",
            )
    old_body = _request_schema(old, was)
    new_body = _request_schema(new, now)
    if new_body is not None and _request_required(new, now) and not _request_required(old, was):
        yield "request body newly required"
    if old_body is not None:
        if new_body is None:
            yield "request body removed"
        else:
            yield from request_breaks(shapes(old, old_body), shapes(new, new_body), "request")
    old_responses, new_responses = was.get("responses", {}), now.get("responses", {})
    for status in sorted(old_responses):
        if not status.startswith("2"):
            continue
        if status not in new_responses:
            yield f"success status {status} removed"
            continue
        old_schema = _json_schema(_response(old, old_responses[status]).get("content", {}))
        new_schema = _json_schema(_response(new, new_responses[status]).get("content", {}))
        if old_schema is None:
            continue
        if new_schema is None:
            yield f"response {status} body removed"
            continue
        yield from response_breaks(
            shapes(old, old_schema), shapes(new, new_schema), f"response {status}"
        )


def _root(found: dict[str, Shape]) -> Shape:
    return found.get("", Shape(set(), True, None, {}))


def _response(document: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
    return resolve(document, response["$ref"]) if "$ref" in response else response


def _request_schema(document: dict[str, Any], operation: dict[str, Any]) -> dict[str, Any] | None:
    body = operation.get("requestBody")
    if body is None:
        return None
    body = _response(document, body)
    return _json_schema(body.get("content", {}))


def _request_required(document: dict[str, Any], operation: dict[str, Any]) -> bool:
    body = operation.get("requestBody")
    return bool(body and _response(document, body).get("required"))


def asyncapi_breaks(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """The breaking changes from one AsyncAPI document to the next, for consumers."""
    found: list[str] = []
    old_messages = old.get("components", {}).get("messages", {})
    new_messages = new.get("components", {}).get("messages", {})
    for name in sorted(old_messages):
        if name not in new_messages:
            found.append(f"event {name}: removed")
            continue
        was, now = old_messages[name], new_messages[name]
        for part in ("headers", "payload"):
            found += [
                f"event {name}: {b}"
                for b in response_breaks(
                    shapes(old, was.get(part, {})),
                    shapes(new, now.get(part, {})),
                    part,
                    closed_enums=False,
                )
            ]
    old_sends = {k for k, v in old.get("operations", {}).items() if v.get("action") == "send"}
    new_sends = {k for k, v in new.get("operations", {}).items() if v.get("action") == "send"}
    for operation in sorted(old_sends - new_sends):
        found.append(f"operation {operation}: no longer published")
    return found


# What "previous" is, and what is declared -------------------------------------------------


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - a fixed git command on our own repository
        ["git", "-C", str(root), *args],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
    )


WORKING_TREE = "working tree"


def versions(root: Path, path: Path) -> list[tuple[str, str]]:
    """(commit, text) of each version of path, oldest first: every commit of the current
    branch's first-parent line that changed it, then the working tree's (as "working tree")
    when it differs from the newest commit's."""
    inside = _git(root, "rev-parse", "--is-inside-work-tree")
    if inside.returncode != 0 or inside.stdout.strip() != "true":
        raise NoHistory(f"{root} is not a git working tree")
    if _git(root, "rev-parse", "--is-shallow-repository").stdout.strip() == "true":
        raise NoHistory("a shallow clone: fetch the full history (git fetch --unshallow)")
    found: list[tuple[str, str]] = []
    # Main's own line (a merge counts as one change): a merged branch's commits interleaved
    # by date would compare one branch's document with another's.
    commits = _git(
        root, "log", "--first-parent", "--reverse", "--format=%H", "--", str(path)
    ).stdout.split()
    for commit in commits:
        shown = _git(root, "show", f"{commit}:{path.as_posix()}")
        if shown.returncode != 0:
            continue  # the commit that deleted it
        if not found or found[-1][1] != shown.stdout:
            found.append((commit, shown.stdout))
    target = root / path
    if target.exists():
        current = target.read_text(encoding="utf-8")
        if not found or found[-1][1] != current:
            found.append((WORKING_TREE, current))
    return found


def declared(text: str) -> set[str]:
    """The changes docs/api-changes.md declares: every `backticked` span."""
    return set(re.findall(r"`([^`\n]+)`", text))


def undeclared(breaks: list[str], declarations: str) -> list[str]:
    known = declared(declarations)
    return [b for b in breaks if b not in known]
