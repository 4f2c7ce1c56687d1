"""Timeline serves the audit-entries contract (S2): posts written and read are found by subject and user."""

from __future__ import annotations

from services.consent.tests.test_audit_search import AuditEntriesContract
from services.timeline.tests.timeline_support import create_post, subject_with_team
from tests.support.stack import Stack


class TestTimelineAuditEntries(AuditEntriesContract):
    service = "timeline"

    async def test_s2_a_post_written_and_read_is_found_by_subject_and_by_user(self, stack: Stack) -> None:
        nurse = stack.staff()
        operator = stack.staff(roles=("operator",))
        subject_id = await subject_with_team(stack, nurse)
        post = await create_post(stack, nurse, subject_id, "訪問しました")
        read = await stack["timeline"].client.get(f"/posts/{post['id']}", headers=nurse.headers)
        assert read.status_code == 200, read.text
        for params in ({"subject_id": str(subject_id)}, {"user_id": str(nurse.user_id)}):
            response = await self.client(stack).get("/audit-entries", params=params, headers=operator.headers)
            entries = response.json()["entries"]
            assert [e["action"] for e in entries] == ["post.read", "post.create"]
            assert {e["detail"]["post"] for e in entries} == {post["id"]}
            assert {e["facility_id"] for e in entries} == {str(nurse.facility_id)}
