"""Page tokens decode only to keys of the types their list declares; anything else is a 400
on page_token, never another exception."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chassis.errors import InvalidArgument
from chassis.ids import new_id
from chassis.pagination import MAX_PAGE_SIZE, MAX_TOKEN_LENGTH, KeyPart, page_request

QUERY = {"q": "yoga", "sort": "price_asc"}
DISCOVERY = (KeyPart.NUMBER_OR_NULL, KeyPart.ID)
BY_ID = (KeyPart.ID,)
# Fixed, not new_id(): parameters are made at collection, which every pytest-xdist worker
# does on its own and must find the same.
AN_ID = "0190a000-0000-7000-8000-00000000000a"
ANOTHER_ID = "0190a000-0000-7000-8000-00000000000b"


def token(payload: Any) -> str:
    """A well-formed token around any JSON payload, as a forger would make it (the standard
    library writes integers of any size, which orjson refuses to)."""
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()


def fingerprint_of(query: dict[str, Any]) -> str:
    return page_request(0, "", query=query, key=BY_ID).fingerprint


def refused(page_token: str, key: tuple[KeyPart, ...] = DISCOVERY) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as caught:
        page_request(10, page_token, query=QUERY, key=key)
    assert [v.field for v in caught.value.violations] == ["page_token"]
    return caught.value


def test_an_issued_token_reads_back_the_key_it_was_issued_for():
    first = page_request(10, "", query=QUERY, key=DISCOVERY)
    assert first.after is None and first.size == 10
    for key in ([4500, new_id()], [0.37, new_id()], [None, new_id()], [-0.0, new_id()]):
        following = page_request(10, first.next_token(key), query=QUERY, key=DISCOVERY)
        assert following.after == tuple(key)


def test_page_sizes_default_and_are_capped_and_negatives_refused():
    assert page_request(0, "", query=QUERY, key=BY_ID).size == 20
    assert page_request(10_000, "", query=QUERY, key=BY_ID).size == MAX_PAGE_SIZE
    with pytest.raises(InvalidArgument) as caught:
        page_request(-1, "", query=QUERY, key=BY_ID)
    assert [v.field for v in caught.value.violations] == ["page_size"]


def test_a_token_of_another_query_is_refused():
    issued = page_request(10, "", query=QUERY, key=BY_ID).next_token([new_id()])
    with pytest.raises(InvalidArgument) as caught:
        page_request(10, issued, query={"q": "pilates"}, key=BY_ID)
    assert caught.value.violations[0].message == "belongs to a different query"


@pytest.mark.parametrize(
    "value",
    [
        [1, 2],
        {"a": 1},
        True,
        False,
        "4500",
        # orjson reads integers up to 2**64 - 1 as integers: past int64, they are refused.
        2**63,
        2**64 - 1,
        float("nan"),
        float("inf"),
        AN_ID,
    ],
    ids=repr,
)
def test_a_sort_value_of_the_wrong_type_is_refused(value):
    refused(token({"k": [value, new_id()], "q": fingerprint_of(QUERY)}))


@pytest.mark.parametrize(
    "value",
    [
        None,
        1,
        1.5,
        [AN_ID],
        {"id": AN_ID},
        True,
        "",
        "not-a-uuid",
        AN_ID.upper(),
        "00000000000070008000000000000000",
        "x" * 36,
    ],
    ids=repr,
)
def test_an_id_that_is_not_a_canonical_uuid_is_refused(value):
    refused(token({"k": [value], "q": fingerprint_of(QUERY)}), key=BY_ID)


def test_int64_bounds_are_sort_values():
    for value in (2**63 - 1, -(2**63)):
        page = page_request(
            10,
            token({"k": [value, new_id()], "q": fingerprint_of(QUERY)}),
            query=QUERY,
            key=DISCOVERY,
        )
        assert page.after is not None and page.after[0] == value


@pytest.mark.parametrize(
    "page_token",
    [
        "not-a-cursor",
        "a",
        "%%%%",
        "eyJ",
        "éé",
        "a b",
        "a=",
        token([1, 2]),
        token("k"),
        token(None),
        token({"k": [None, AN_ID]}),
        token({"q": "0" * 16}),
        token({"k": [None, AN_ID], "q": fingerprint_of(QUERY), "x": 1}),
        token({"k": "abc", "q": fingerprint_of(QUERY)}),
        token({"k": {"0": 1}, "q": fingerprint_of(QUERY)}),
        token({"k": [AN_ID], "q": fingerprint_of(QUERY)}),
        token({"k": [None, AN_ID, ANOTHER_ID], "q": fingerprint_of(QUERY)}),
        base64.urlsafe_b64encode(b"\xff\xfe{").decode(),
        base64.urlsafe_b64encode(b"[" * 2000).decode()[:MAX_TOKEN_LENGTH],
        "A" * (MAX_TOKEN_LENGTH + 1),
    ],
    ids=lambda t: t[:40],
)
def test_what_is_not_a_token_is_refused(page_token):
    refused(page_token)


def test_an_over_long_token_is_refused_before_it_is_decoded():
    # Well-formed but too long: were it decoded, it would be a valid key.
    padded = token({"k": [None, new_id()], "q": fingerprint_of(QUERY), "pad": "x" * 2000})
    assert refused(padded).violations[0].message == "is not a token this API issued"


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
    | st.uuids().map(str),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None)
@given(payload=json_values)
def test_any_json_in_a_token_is_a_page_or_a_refusal_of_page_token(payload):
    try:
        page_request(10, token(payload), query=QUERY, key=DISCOVERY)
    except InvalidArgument as error:
        assert [v.field for v in error.violations] == ["page_token"]


@settings(max_examples=400, deadline=None)
@given(key=st.lists(json_values, max_size=3), key_parts=st.sampled_from([DISCOVERY, BY_ID]))
def test_any_key_of_the_right_query_decodes_only_to_the_declared_types(key, key_parts):
    try:
        page = page_request(
            10, token({"k": key, "q": fingerprint_of(QUERY)}), query=QUERY, key=key_parts
        )
    except InvalidArgument as error:
        assert [v.field for v in error.violations] == ["page_token"]
        return
    assert page.after is not None and len(page.after) == len(key_parts)
    for part, value in zip(key_parts, page.after, strict=True):
        if part is KeyPart.ID:
            assert isinstance(value, str) and len(value) == 36
        else:
            assert value is None or type(value) in (int, float)
            assert not isinstance(value, int) or -(2**63) <= value < 2**63


@settings(max_examples=300, deadline=None)
@given(page_token=st.text(max_size=1500))
def test_any_text_as_a_token_is_refused_on_page_token(page_token):
    if page_token:
        refused(page_token)
