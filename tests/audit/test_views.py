"""The audit trail pages: who sees which events, filters, exports (audited, CSV-safe)."""

import csv
import io
import json

import pytest

from workspace.audit.models import AuditEvent
from workspace.audit.services import audit_record

pytestmark = pytest.mark.django_db


def _body(response) -> str:
    if response.streaming:
        return b"".join(response.streaming_content).decode()
    return response.content.decode()


def test_moderator_sees_only_their_space(client, world):
    audit_record(action="document.uploaded", space_id=world["space"].pk, target="document:1")
    audit_record(
        action="document.uploaded", space_id=world["other_space"].pk, target="document:OTHER"
    )
    audit_record(action="auth.login", actor=world["users"]["member_open"])
    client.force_login(world["users"]["moderator"])
    body = _body(client.get(f"/spaces/{world['space'].pk}/audit/"))
    assert "document:1" in body
    assert "document:OTHER" not in body
    assert "auth.login" not in body


def test_network_admin_sees_their_network_spaces(client, world):
    audit_record(
        action="document.uploaded", space_id=world["other_space"].pk, target="document:OTHER"
    )
    client.force_login(world["users"]["network_admin"])
    body = _body(client.get(f"/networks/{world['space'].network.slug}/audit/"))
    assert "document:OTHER" in body


def _foreign_network_events(world):
    """Events another network's admin must never see: a foreign space's, and user-level
    sign-in events with e-mail, IP address and user agent."""
    from tests.factories import SpaceFactory

    foreign = SpaceFactory(name="Foreign Working Group")
    audit_record(action="document.downloaded", space_id=foreign.pk, target="document:FOREIGN")
    audit_record(
        action="network.created",
        target=f"network:{foreign.network.pk}",
        details={"marker": "FOREIGN-NETWORK"},
    )
    member = world["users"]["member_open"]
    audit_record(action="auth.login", actor=member, details={"marker": "SIGNIN-MARKER"})
    audit_record(action="auth.login_failed", details={"identifier": "victim@example.org"})
    return foreign


@pytest.mark.parametrize("export", ["", "csv", "json"])
def test_network_admin_never_sees_other_networks_or_user_events(client, world, export):
    _foreign_network_events(world)
    own = audit_record(
        action="network.created",
        target=f"network:{world['space'].network.pk}",
        details={"marker": "OWN-NETWORK"},
    )
    client.force_login(world["users"]["network_admin"])
    response = client.get(
        f"/networks/{world['space'].network.slug}/audit/", {"export": export} if export else {}
    )
    assert response.status_code == 200
    body = _body(response)
    for leak in ("document:FOREIGN", "FOREIGN-NETWORK", "SIGNIN-MARKER", "victim@example.org"):
        assert leak not in body
    assert world["users"]["member_open"].email not in body
    assert own.target in body


def test_network_audit_of_a_network_not_administered_is_missing(client, world):
    foreign = _foreign_network_events(world)
    client.force_login(world["users"]["network_admin"])
    hidden = client.get(f"/networks/{foreign.network.slug}/audit/")
    missing = client.get("/networks/no-such-network/audit/")
    assert hidden.status_code == missing.status_code == 404
    assert "document:FOREIGN" not in _body(hidden)


def test_platform_audit_is_for_superusers_only(client, world):
    _foreign_network_events(world)
    client.force_login(world["users"]["network_admin"])
    assert client.get("/audit/").status_code == 404
    assert client.get("/audit/", {"export": "json"}).status_code == 404
    superuser = world["users"]["network_admin"]
    superuser.is_superuser = True
    superuser.save()
    client.force_login(superuser)
    body = _body(client.get("/audit/", {"export": "json"}))
    for event in ("document:FOREIGN", "FOREIGN-NETWORK", "SIGNIN-MARKER"):
        assert event in body
    assert AuditEvent.objects.filter(action="audit.exported", target="platform").exists()


def test_filters(client, world):
    space_id = world["space"].pk
    audit_record(
        action="membership.changed",
        space_id=space_id,
        actor=world["users"]["moderator"],
        target="membership:1",
    )
    audit_record(
        action="document.uploaded",
        space_id=space_id,
        actor=world["users"]["member_secret"],
        target="document:2",
    )
    client.force_login(world["users"]["moderator"])
    url = f"/spaces/{space_id}/audit/"
    body = _body(client.get(url, {"action": "document."}))
    assert "document:2" in body and "membership:1" not in body
    body = _body(client.get(url, {"actor": world["users"]["moderator"].email}))
    assert "membership:1" in body and "document:2" not in body
    body = _body(client.get(url, {"since": "2999-01-01"}))
    assert "document:2" not in body


@pytest.mark.parametrize(
    "params",
    [
        {"since": "not-a-date"},
        {"action": "'; DROP"},
        {"page": "999999"},
        {"page": "-1"},
        {"actor": "x" * 5000},
    ],
)
def test_hostile_filters_do_not_fail(client, world, params):
    client.force_login(world["users"]["moderator"])
    assert client.get(f"/spaces/{world['space'].pk}/audit/", params).status_code == 200


def test_csv_export_is_audited_and_formula_safe(client, world):
    audit_record(
        action="document.uploaded", space_id=world["space"].pk, target='=HYPERLINK("http://evil")'
    )
    client.force_login(world["users"]["moderator"])
    response = client.get(f"/spaces/{world['space'].pk}/audit/", {"export": "csv"})
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(_body(response))))
    assert rows[0][0] == "seq"
    targets = [r[rows[0].index("target")] for r in rows[1:]]
    assert '\'=HYPERLINK("http://evil")' in targets
    assert AuditEvent.objects.filter(action="audit.exported").exists()


def test_json_export(client, world):
    audit_record(action="document.uploaded", space_id=world["space"].pk, target="document:9")
    client.force_login(world["users"]["moderator"])
    response = client.get(f"/spaces/{world['space'].pk}/audit/", {"export": "json"})
    rows = json.loads(_body(response))
    assert any(r["target"] == "document:9" for r in rows)
    assert all(len(r["hash"]) == 64 for r in rows)
