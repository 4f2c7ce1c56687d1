"""P1 at identity: the directory shows only what each facility agreed to publish and the operator allowed."""

from __future__ import annotations

from uuid import UUID, uuid4

import httpx
from identity.models import Facility, Network
from sqlalchemy import text

from tests.support.stack import Stack


async def make_network(stack: Stack, *, opt_in_only: bool = False) -> tuple[str, dict[str, UUID]]:
    tenant = f"dir-{uuid4().hex[:8]}"
    ids = {name: uuid4() for name in ("clinic", "station", "pharmacy", "applicant", "withdrawn")}
    async with stack["identity"].sessionmaker() as session, session.begin():
        session.add(Network(slug=tenant, name="ディレクトリ ネット", directory_opt_in_only=opt_in_only))
        await session.flush()
        session.add_all(
            [
                Facility(
                    id=ids["clinic"],
                    tenant=tenant,
                    name="みどり診療所",
                    kind="clinic",
                    address="北区 1-1",
                    phone="03-0000-0001",
                ),
                Facility(
                    id=ids["station"],
                    tenant=tenant,
                    name="ひかり訪問看護",
                    kind="nursing_station",
                    address="南区 2-2",
                    phone="03-0000-0002",
                ),
                Facility(
                    id=ids["pharmacy"],
                    tenant=tenant,
                    name="そら薬局",
                    kind="pharmacy",
                    address="北区 3-3",
                    phone="03-0000-0003",
                ),
                Facility(
                    id=ids["applicant"], tenant=tenant, name="申請中医院", kind="clinic", status="applied"
                ),
                Facility(
                    id=ids["withdrawn"], tenant=tenant, name="退会医院", kind="clinic", status="withdrawn"
                ),
            ]
        )
    return tenant, ids


async def directory(stack: Stack, tenant: str, **search: str) -> list[dict]:
    response = await stack["identity"].client.get("/directory", params={"tenant": tenant, **search})
    assert response.status_code == 200, response.text
    return response.json()["entries"]  # type: ignore[no-any-return]


async def publication(
    stack: Stack, facility_id: UUID, headers: dict[str, str], **changes: object
) -> httpx.Response:
    return await stack["identity"].client.patch(
        f"/facilities/{facility_id}/publication", json=changes, headers=headers
    )


class TestPublicDirectory:
    async def test_p1_anyone_reads_member_facilities_without_signing_in(self, stack: Stack) -> None:
        tenant, ids = await make_network(stack)
        entries = await directory(stack, tenant)
        assert {e["id"] for e in entries} == {str(ids["clinic"]), str(ids["station"]), str(ids["pharmacy"])}
        clinic = next(e for e in entries if e["id"] == str(ids["clinic"]))
        assert clinic == {
            "id": str(ids["clinic"]),
            "kind": "clinic",
            "name": "みどり診療所",
            "address": "北区 1-1",
            "phone": "03-0000-0001",
            "status": "active",
        }

    async def test_p1_search_by_name_kind_and_address(self, stack: Stack) -> None:
        tenant, ids = await make_network(stack)
        assert [e["id"] for e in await directory(stack, tenant, name="みどり")] == [str(ids["clinic"])]
        assert [e["id"] for e in await directory(stack, tenant, kind="pharmacy")] == [str(ids["pharmacy"])]
        north = {e["id"] for e in await directory(stack, tenant, address="北区")}
        assert north == {str(ids["clinic"]), str(ids["pharmacy"])}

    async def test_p1_withheld_fields_are_absent_and_never_searchable(self, stack: Stack) -> None:
        tenant, ids = await make_network(stack)
        admin = stack.staff(tenant=tenant, facility_id=ids["clinic"], roles=("facility_admin", "staff"))
        response = await publication(
            stack, ids["clinic"], admin.headers, publish_address=False, publish_contact=False
        )
        assert response.status_code == 200, response.text
        clinic = next(e for e in await directory(stack, tenant) if e["id"] == str(ids["clinic"]))
        assert clinic["address"] is None and clinic["phone"] is None and clinic["name"] == "みどり診療所"
        # A search on a hidden field must not reveal it by matching.
        assert str(ids["clinic"]) not in {e["id"] for e in await directory(stack, tenant, address="北区 1-1")}
        await publication(stack, ids["clinic"], admin.headers, publish_name=False)
        assert await directory(stack, tenant, name="みどり") == []

    async def test_p1_a_facility_may_refuse_the_whole_entry(self, stack: Stack) -> None:
        tenant, ids = await make_network(stack)
        admin = stack.staff(tenant=tenant, facility_id=ids["station"], roles=("facility_admin",))
        assert (await publication(stack, ids["station"], admin.headers, listed=False)).json()[
            "visible"
        ] is False
        assert str(ids["station"]) not in {e["id"] for e in await directory(stack, tenant)}

    async def test_p1_the_operator_withholds_an_entry_and_the_facility_cannot_undo_it(
        self, stack: Stack
    ) -> None:
        tenant, ids = await make_network(stack)
        operator = stack.staff(tenant=tenant, roles=("operator",))
        response = await publication(
            stack, ids["pharmacy"], operator.headers, withheld_by_operator=True, withheld_reason="確認中"
        )
        assert response.status_code == 200 and response.json()["visible"] is False
        assert str(ids["pharmacy"]) not in {e["id"] for e in await directory(stack, tenant)}
        admin = stack.staff(tenant=tenant, facility_id=ids["pharmacy"], roles=("facility_admin",))
        refused = await publication(stack, ids["pharmacy"], admin.headers, withheld_by_operator=False)
        assert refused.status_code == 403
        assert refused.headers["content-type"].startswith("application/problem+json")

    async def test_p1_staff_of_another_facility_cannot_change_an_entry(self, stack: Stack) -> None:
        tenant, ids = await make_network(stack)
        other_admin = stack.staff(tenant=tenant, facility_id=ids["station"], roles=("facility_admin",))
        assert (await publication(stack, ids["clinic"], other_admin.headers, listed=False)).status_code == 404
        plain_staff = stack.staff(tenant=tenant, facility_id=ids["clinic"], roles=("staff",))
        assert (await publication(stack, ids["clinic"], plain_staff.headers, listed=False)).status_code == 403

    async def test_p1_opt_in_networks_list_only_facilities_that_agreed(self, stack: Stack) -> None:
        tenant, ids = await make_network(stack, opt_in_only=True)
        assert await directory(stack, tenant) == []
        admin = stack.staff(tenant=tenant, facility_id=ids["clinic"], roles=("facility_admin",))
        assert (await publication(stack, ids["clinic"], admin.headers, listed=True)).json()["visible"] is True
        assert [e["id"] for e in await directory(stack, tenant)] == [str(ids["clinic"])]

    async def test_p1_the_operator_switches_the_network_to_opt_in(self, stack: Stack) -> None:
        tenant, _ = await make_network(stack)
        operator = stack.staff(tenant=tenant, roles=("operator",))
        response = await stack["identity"].client.patch(
            "/directory/policy", json={"opt_in_only": True}, headers=operator.headers
        )
        assert response.status_code == 200 and response.json() == {"opt_in_only": True}
        assert await directory(stack, tenant) == []
        admin = stack.staff(tenant=tenant, roles=("facility_admin",))
        denied = await stack["identity"].client.patch(
            "/directory/policy", json={"opt_in_only": False}, headers=admin.headers
        )
        assert denied.status_code == 403

    async def test_p1_publication_changes_are_audited(self, stack: Stack) -> None:
        tenant, ids = await make_network(stack)
        admin = stack.staff(tenant=tenant, facility_id=ids["clinic"], roles=("facility_admin",))
        await publication(stack, ids["clinic"], admin.headers, publish_contact=False)
        async with stack["identity"].sessionmaker() as session:
            actions = (
                await session.execute(
                    text("SELECT actor_id, target FROM audit_log WHERE tenant = :t AND action = :a"),
                    {"t": tenant, "a": "facility.publication-changed"},
                )
            ).all()
        assert [(r.actor_id, r.target) for r in actions] == [
            (str(admin.user_id), f"facility:{ids['clinic']}")
        ]

    async def test_p1_unknown_network_is_a_problem_not_an_empty_list(self, stack: Stack) -> None:
        response = await stack["identity"].client.get("/directory", params={"tenant": "no-such-network"})
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/problem+json")
