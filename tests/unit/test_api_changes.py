"""A breaking change to the published documents (docs/openapi.json, docs/asyncapi.json) fails
unless docs/api-changes.md declares it (suite/api_changes.py says what breaks, and that each
version in the history is compared with the one before it)."""

from __future__ import annotations

import copy
import itertools
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from suite import api_changes, contracts
from suite.api_changes import WORKING_TREE, NoHistory, asyncapi_breaks, openapi_breaks, versions

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    return contracts.openapi_document()


@pytest.fixture(scope="module")
def asyncapi() -> dict[str, Any]:
    from suite import asyncapi as events
    from suite.registry import SERVICES

    return events.document(SERVICES)


# The real documents against their previous versions -----------------------------------------


@pytest.mark.parametrize(
    ("path", "check"),
    [(contracts.OPENAPI, openapi_breaks), (contracts.ASYNCAPI, asyncapi_breaks)],
    ids=["openapi", "asyncapi"],
)
def test_every_breaking_change_in_the_history_of_the_documents_is_declared(path, check):
    try:
        history = versions(ROOT, path)
    except NoHistory as error:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"cannot compare {path} with its previous versions: {error}")
        pytest.skip(f"cannot compare {path} with its previous versions: {error}")
    declarations = (ROOT / api_changes.DECLARATIONS).read_text(encoding="utf-8")
    undeclared = []
    for (_, before), (commit, after) in itertools.pairwise(history):
        breaks = [f"{path.name}: {b}" for b in check(json.loads(before), json.loads(after))]
        undeclared += [f"{commit[:12]}: {b}" for b in api_changes.undeclared(breaks, declarations)]
    assert undeclared == [], (
        f"{path} breaks clients; if that is meant, declare each change in "
        f"{api_changes.DECLARATIONS}, in backticks, exactly as written after the commit"
    )


def test_a_declaration_is_a_backticked_change_in_the_changes_file():
    text = "## 2.0\n\n- `openapi.json: GET /x: operation removed (x.get)`: gone, use /y.\n"
    assert api_changes.undeclared(
        [
            "openapi.json: GET /x: operation removed (x.get)",
            "openapi.json: GET /z: operation removed (z.get)",
        ],
        text,
    ) == ["openapi.json: GET /z: operation removed (z.get)"]


# What breaks a REST client -----------------------------------------------------------------


def test_the_same_document_breaks_nothing(openapi, asyncapi):
    assert openapi_breaks(openapi, copy.deepcopy(openapi)) == []
    assert asyncapi_breaks(asyncapi, copy.deepcopy(asyncapi)) == []


def test_removed_and_renamed_operations_break(openapi):
    new = copy.deepcopy(openapi)
    del new["paths"]["/api/v1/services/{service_id}/archive"]
    new["paths"]["/api/v1/auth/register"]["post"]["operationId"] = "auth.sign_up"
    assert openapi_breaks(openapi, new) == [
        "POST /api/v1/auth/register: operation id changed (auth.register -> auth.sign_up)",
        "POST /api/v1/services/{service_id}/archive: operation removed (services.archive)",
    ]


def test_removed_response_fields_break_everywhere_they_are_answered(openapi):
    new = copy.deepcopy(openapi)
    del new["components"]["schemas"]["User"]["properties"]["email"]
    new["components"]["schemas"]["User"]["required"].remove("email")
    found = openapi_breaks(openapi, new)
    assert "GET /api/v1/users/me: response 200 field removed: email" in found
    assert "GET /api/v1/admin/users: response 200 field removed: results[].email" in found
    assert "POST /api/v1/auth/register: response 201 field removed: email" in found


def test_response_fields_that_may_be_missing_or_null_now_break(openapi):
    new = copy.deepcopy(openapi)
    user = new["components"]["schemas"]["User"]
    user["required"].remove("bio")
    user["properties"]["timezone"] = {"anyOf": [{"type": "string"}, {"type": "null"}]}
    found = openapi_breaks(openapi, new)
    assert "GET /api/v1/users/me: response 200 field no longer always present: bio" in found
    assert "GET /api/v1/users/me: response 200 field type widened: timezone (now also null)" in (
        found
    )


def test_new_required_request_fields_narrowed_enums_and_tighter_bounds_break(openapi):
    new = copy.deepcopy(openapi)
    register = new["components"]["schemas"]["RegisterBody"]
    register["properties"]["phone"] = {"type": "string"}
    register["required"].append("phone")
    register["properties"]["full_name"]["maxLength"] = 100
    new["components"]["schemas"]["Role"]["enum"].remove("admin")
    del new["components"]["schemas"]["PractitionerPatch"]["properties"]["bio"]
    found = openapi_breaks(openapi, new)
    assert "POST /api/v1/auth/register: request field newly required: phone" in found
    assert (
        "POST /api/v1/auth/register: request field bound tightened: full_name (maxLength 100)"
        in found
    )
    assert (
        "PUT /api/v1/admin/users/{user_id}/roles: request field enum narrowed: roles[] "
        "(no longer admin)" in found
    )
    assert "GET /api/v1/admin/users: parameter query role: enum narrowed (no longer admin)" in found
    assert "PATCH /api/v1/practitioners/me: request field removed: bio" in found


def test_a_parameter_newly_required_or_removed_breaks(openapi):
    new = copy.deepcopy(openapi)
    parameters = new["paths"]["/api/v1/services"]["get"]["parameters"]
    next(p for p in parameters if p["name"] == "q")["required"] = True
    parameters.remove(next(p for p in parameters if p["name"] == "currency"))
    found = openapi_breaks(openapi, new)
    assert "GET /api/v1/services: parameter newly required: query q" in found
    assert "GET /api/v1/services: parameter removed: query currency" in found


def test_additions_break_nothing(openapi):
    new = copy.deepcopy(openapi)
    new["paths"]["/api/v1/reviews"] = {"get": {"operationId": "reviews.list", "responses": {}}}
    new["components"]["schemas"]["User"]["properties"]["pronouns"] = {"type": "string"}
    new["components"]["schemas"]["User"]["required"].append("pronouns")  # an answer gains one
    new["components"]["schemas"]["RegisterBody"]["properties"]["locale"] = {"type": "string"}
    new["components"]["schemas"]["RegisterBody"]["properties"]["full_name"]["maxLength"] = 400
    # A new optional list: its items are required within it, and no old client sends it.
    new["components"]["schemas"]["RegisterBody"]["properties"]["interests"] = {
        "type": "array",
        "items": {"type": "string", "pattern": "^[a-z]+$"},
    }
    assert openapi_breaks(openapi, new) == []


def test_a_list_an_old_client_sends_that_now_requires_more_of_its_items_breaks(openapi):
    new = copy.deepcopy(openapi)
    register = new["components"]["schemas"]["RegisterBody"]
    register["properties"]["interests"] = {"type": "array", "items": {"type": "string"}}
    old = copy.deepcopy(new)
    register["properties"]["interests"]["items"]["minLength"] = 3
    assert openapi_breaks(old, new) == [
        "POST /api/v1/auth/register: request field bound tightened: interests[] (minLength 3)"
    ]


def test_a_new_value_in_an_answered_enum_breaks_generated_clients(openapi):
    # openapi-python-client parses a response enum with its StrEnum, which raises on a value
    # it does not list: an old SDK reading the new value fails.
    new = copy.deepcopy(openapi)
    new["components"]["schemas"]["Role"]["enum"].append("moderator")
    found = openapi_breaks(openapi, new)
    assert (
        "GET /api/v1/users/me: response 200 field enum widened: roles[] (now also moderator)"
        in (found)
    )
    # Requests only widen: nobody sending what the old document allowed is refused.
    assert not [b for b in found if "request" in b]


# What breaks an event consumer -------------------------------------------------------------


def test_a_removed_event_a_removed_field_or_a_wider_type_breaks_consumers(asyncapi):
    new = copy.deepcopy(asyncapi)
    del new["components"]["messages"]["user.deleted"]
    del new["operations"]["user.deleted.send"]
    schemas = new["components"]["schemas"]
    del schemas["estuary.identity.v1.UserRegistered"]["properties"]["full_name"]
    schemas["estuary.type.v1.Money"]["properties"]["currency"] = {"type": ["string", "null"]}
    found = asyncapi_breaks(asyncapi, new)
    assert "event user.deleted: removed" in found
    assert "operation user.deleted.send: no longer published" in found
    assert "event user.registered: payload field removed: full_name" in found
    assert (
        "event service.published: payload field type widened: service.price.currency "
        "(now also null)" in found
    )


def test_a_new_event_or_field_breaks_no_consumer(asyncapi):
    new = copy.deepcopy(asyncapi)
    schemas = new["components"]["schemas"]
    schemas["estuary.identity.v1.UserRegistered"]["properties"]["locale"] = {"type": "string"}
    new["components"]["messages"]["user.renamed"] = new["components"]["messages"]["user.deleted"]
    # Proto enums are open: a consumer decoding the event reads an unknown value as a number.
    schemas["estuary.booking.v1.Actor"]["enum"].append("ACTOR_SYSTEM")
    assert asyncapi_breaks(asyncapi, new) == []


# What "previous" is ------------------------------------------------------------------------


def git(root: Path, *args: str, check: bool = True) -> str:
    return subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=check
    ).stdout


@pytest.fixture
def repo(tmp_path) -> Path:
    git(tmp_path, "init", "-q")
    git(tmp_path, "config", "user.email", "ci@example.com")
    git(tmp_path, "config", "user.name", "CI")
    (tmp_path / "docs").mkdir()
    return tmp_path


def commit(repo: Path, text: str, message: str) -> str:
    (repo / "docs" / "openapi.json").write_text(text)
    git(repo, "add", "docs/openapi.json")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


def test_every_version_is_compared_with_the_one_before_it(repo):
    path = Path("docs/openapi.json")
    first = commit(repo, "v1", "first")
    assert versions(repo, path) == [(first, "v1")]
    second = commit(repo, "v2", "second")
    (repo / "README").write_text("unrelated")
    git(repo, "add", "README")
    git(repo, "commit", "-q", "-m", "a commit that leaves the document alone")
    third = commit(repo, "v1", "back to the first")
    # CI on several commits at once: each change is there, none hides behind a later one.
    assert versions(repo, path) == [(first, "v1"), (second, "v2"), (third, "v1")]
    # A developer's uncommitted change comes last.
    (repo / "docs" / "openapi.json").write_text("v3")
    assert versions(repo, path)[-1] == (WORKING_TREE, "v3")


def test_a_merged_branch_is_one_change_on_mains_line(repo):
    path = Path("docs/openapi.json")
    first = commit(repo, "v1", "first")
    git(repo, "branch", "-M", "main")
    git(repo, "checkout", "-q", "-b", "feature")
    commit(repo, "v1 + feature", "a branch's own document")
    git(repo, "checkout", "-q", "main")
    second = commit(repo, "v1 + main", "main moves on meanwhile")
    git(repo, "merge", "-q", "--no-commit", "feature", check=False)  # conflicts, resolved:
    (repo / "docs" / "openapi.json").write_text("v1 + main + feature")
    git(repo, "add", "docs/openapi.json")
    git(repo, "commit", "-q", "-m", "merge feature")
    merged = git(repo, "rev-parse", "HEAD").strip()
    assert git(repo, "rev-parse", "HEAD^2").strip()  # a merge, with the branch as parent
    # Not the branch's version between main's two: it never was main's document.
    assert versions(repo, path) == [
        (first, "v1"),
        (second, "v1 + main"),
        (merged, "v1 + main + feature"),
    ]


def test_without_history_there_is_nothing_to_compare_with(tmp_path, repo):
    with pytest.raises(NoHistory, match="not a git working tree"):
        versions(tmp_path / "nowhere", Path("docs/openapi.json"))
    commit(repo, "v1", "first")
    commit(repo, "v2", "second")
    shallow = tmp_path / "shallow"
    subprocess.run(
        ["git", "clone", "-q", "--depth", "1", f"file://{repo}", str(shallow)], check=True
    )
    with pytest.raises(NoHistory, match="shallow"):
        versions(shallow, Path("docs/openapi.json"))
