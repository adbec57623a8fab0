"""Codes and zone names are checked against ISO and IANA, through the gateway on both shapes:
a name a machine happens to have, or a code nobody assigned, is a 400 naming the field."""

from __future__ import annotations

import copy

from tests.e2e.accounts import sign_in_admin, sign_up
from tests.e2e.stacks import Stack
from tests.e2e.test_catalog_journey import APPLICATION, session_body
from tests.e2e.test_catalog_manage import approved_practitioner, category


def application(**changes) -> dict:
    body = copy.deepcopy(APPLICATION)
    body.update(changes)
    return body


async def test_applying_with_a_zone_or_country_that_is_not_real_is_refused_by_name(stack: Stack):
    async with stack.client() as client:
        applicant = await sign_up(client)
        place = APPLICATION["locations"][1]
        for body, field_name in (
            (application(timezone="localtime"), "timezone"),
            (application(timezone="Factory"), "timezone"),
            (application(timezone="posixrules"), "timezone"),
            (application(locations=[{**place, "country": "ZZ"}]), "locations[0].country"),
            (application(locations=[{**place, "country": "xx"}]), "locations[0].country"),
            (application(languages=["en", "zz"]), "languages[1]"),
        ):
            refused = await client.post(
                "/api/v1/practitioners/apply", json=body, headers=applicant.headers
            )
            assert refused.status_code == 400, (body, refused.text)
            assert [e["field"] for e in refused.json()["errors"]] == [field_name], refused.text
        # A link to a real zone and a lower-case country are what clients send: both pass.
        accepted = await client.post(
            "/api/v1/practitioners/apply",
            json=application(
                timezone="US/Eastern", locations=[{**place, "country": "pt"}], languages=["PT"]
            ),
            headers=applicant.headers,
        )
        assert accepted.status_code == 201, accepted.text
        profile = accepted.json()
        assert profile["timezone"] == "US/Eastern" and profile["languages"] == ["pt"]
        assert [loc["country"] for loc in profile["locations"]] == ["PT"]


async def test_a_currency_or_a_place_iso_does_not_list_is_refused_by_name(stack: Stack):
    async with stack.client() as client:
        staff = await sign_in_admin(stack, client)
        seller, _ = await approved_practitioner(client, staff)
        practice = await category(client, staff)
        for currency in ("XXX", "ABC", "XAU", "USN"):
            refused = await client.post(
                "/api/v1/services",
                json={
                    **session_body(practice["id"], "Morning flow"),
                    "price": {"amount_minor": 4500, "currency": currency},
                },
                headers=seller.headers,
            )
            assert refused.status_code == 400, (currency, refused.text)
            assert [e["field"] for e in refused.json()["errors"]] == ["price.currency"]
        nowhere = await client.post(
            "/api/v1/practitioners/me/locations",
            json={**APPLICATION["locations"][1], "country": "ZZ"},
            headers=seller.headers,
        )
        assert nowhere.status_code == 400, nowhere.text
        assert [e["field"] for e in nowhere.json()["errors"]] == ["country"]
        in_yen = await client.post(
            "/api/v1/services",
            json={
                **session_body(practice["id"], "Morning flow"),
                "price": {"amount_minor": 4500, "currency": "jpy"},
            },
            headers=seller.headers,
        )
        assert in_yen.status_code == 201, in_yen.text
        assert in_yen.json()["price"] == {"amount_minor": 4500, "currency": "JPY"}
