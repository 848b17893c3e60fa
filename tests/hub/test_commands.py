"""Operator commands: create and delete organisations, add, re-role and remove members."""

import io
import uuid

import pytest
from django.core.management import CommandError, call_command

from hub.models import Membership, Organisation, User
from integrations.models import Integration

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue().strip()


def test_create_org_prints_the_new_id():
    org_id = run("create_org", "Globex", "--plan", "starter", "--status", "trialing", "--trial-days", "7")
    organisation = Organisation.objects.get(id=uuid.UUID(org_id))
    assert organisation.name == "Globex" and organisation.plan.code == "starter"
    assert organisation.subscription_status == "trialing" and organisation.trial_ends_at is not None


def test_create_org_refuses_an_unknown_plan():
    with pytest.raises(CommandError, match="free, starter, business, enterprise"):
        run("create_org", "Globex", "--plan", "platinum")


def test_add_member_creates_the_user_then_changes_the_role(org):
    run("add_member", str(org.id), "Kim@Example.com", "--role", "member", "--password", "pw-123456")
    user = User.objects.get(email="kim@example.com")
    assert user.check_password("pw-123456")
    assert Membership.objects.get(user=user, organisation=org).role == "member"
    run("add_member", str(org.id), "kim@example.com", "--role", "admin")
    assert Membership.objects.get(user=user, organisation=org).role == "admin"
    assert Membership.objects.filter(user=user).count() == 1


def test_remove_member(org, make_member):
    make_member(org, email="lee@example.com")
    run("remove_member", str(org.id), "lee@example.com")
    assert not Membership.objects.filter(organisation=org).exists()
    with pytest.raises(CommandError, match="not a member"):
        run("remove_member", str(org.id), "lee@example.com")


def test_delete_org_needs_yes_and_removes_everything_it_owns(org, make_member, make_org):
    other = make_org("Other")
    make_member(org, email="mo@example.com")
    Integration.objects.create(organisation=org, type="webhook", name="Hook")
    Integration.objects.create(organisation=other, type="webhook", name="Theirs")
    with pytest.raises(CommandError, match="--yes"):
        run("delete_org", str(org.id))
    assert Organisation.objects.filter(id=org.id).exists()
    run("delete_org", str(org.id), "--yes")
    assert not Organisation.objects.filter(id=org.id).exists()
    assert not Membership.objects.filter(organisation_id=org.id).exists()
    assert list(Integration.objects.values_list("name", flat=True)) == ["Theirs"]
    assert User.objects.filter(email="mo@example.com").exists()


@pytest.mark.parametrize("bad_id", ["not-a-uuid", str(uuid.uuid4())])
def test_commands_refuse_an_unknown_org(bad_id):
    with pytest.raises(CommandError, match="No organisation"):
        run("add_member", bad_id, "x@example.com", "--role", "member")


def test_ensure_demo_prints_a_working_login(settings, tmp_path, client):
    settings.VAR_DIR = tmp_path
    first = run("ensure_demo")
    second = run("ensure_demo")
    password = next(line.split()[-1] for line in first.splitlines() if "password:" in line)
    assert f"password:     {password}" in second
    assert Organisation.objects.filter(name="Demo Organisation").count() == 1
    token = next(line.split()[-1] for line in second.splitlines() if "access token:" in line)
    me = client.get("/api/v1/auth/me", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert me.status_code == 200 and me.json()["role"] == "admin"
    login = client.post(
        "/api/v1/auth/token",
        {"email": "admin@demo.tributary.local", "password": password},
        content_type="application/json",
    )
    assert login.status_code == 200
