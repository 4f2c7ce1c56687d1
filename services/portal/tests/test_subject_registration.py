"""The staff registration form (issue 10): the network's only municipality is filled in, several are offered by
name; a network consent was not told the municipalities of asks for the code."""

from __future__ import annotations

import re

from services.consent.tests.test_team_rules import give_network_municipalities
from tests.browser.staff_ui import make_network, sign_in
from tests.support.stack import Stack


class TestMunicipalityField:
    async def test_the_networks_only_municipality_is_chosen_already(self, stack: Stack) -> None:
        network = await make_network(stack)
        await give_network_municipalities(stack, network.tenant, {"232360": "結市"})
        form = await (await sign_in(stack, network.doctor)).get("/staff/subjects/new")
        assert form.status_code == 200
        assert re.search(r'<select id="municipality_code" name="municipality_code" required>', form.text)
        assert re.search(r'<option value="232360" selected>結市</option>', form.text)
        assert '<option value="">' not in form.text.split('id="municipality_code"')[1].split("</select>")[0]

    async def test_several_municipalities_are_offered_by_name_none_chosen(self, stack: Stack) -> None:
        network = await make_network(stack)
        await give_network_municipalities(stack, network.tenant, {"232360": "結市", "232378": "結町"})
        form = await (await sign_in(stack, network.doctor)).get("/staff/subjects/new")
        field = form.text.split('id="municipality_code"')[1].split("</select>")[0]
        assert '<option value="">' in field
        assert (
            '<option value="232360" >結市</option>' in field
            and '<option value="232378" >結町</option>' in field
        )

    async def test_without_known_municipalities_the_code_is_typed(self, stack: Stack) -> None:
        network = await make_network(stack)
        form = await (await sign_in(stack, network.doctor)).get("/staff/subjects/new")
        assert re.search(r'<input id="municipality_code" name="municipality_code"', form.text)
