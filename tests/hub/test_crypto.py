"""Secrets at rest: sealed with AES-GCM, bound to their row, rotatable."""

import base64
import os

import pytest
from django.core.management import call_command
from django.db import connection

from hub.crypto import SecretDecryptionError, sealed_key_id
from integrations.models import Integration

pytestmark = pytest.mark.django_db
SECRET = "xoxb-very-secret-token-4711"


def new_key(key_id: str) -> str:
    return f"{key_id}:{base64.b64encode(os.urandom(32)).decode()}"


def make_integration(organisation, secret: str = SECRET) -> Integration:
    integration = Integration(organisation=organisation, type="webhook", name="Hook")
    integration.config = {"workspace_token": secret, "channel": "general"}
    integration.credentials = {"access_token": secret + "-access"}
    integration.save()
    return integration


def raw_columns(integration: Integration) -> tuple[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT config_sealed, credentials_sealed FROM integrations_integration WHERE id = %s",
            [integration.pk.hex if connection.vendor == "sqlite" else integration.pk],
        )
        return cursor.fetchone()


def test_raw_columns_hold_no_plaintext(org):
    integration = make_integration(org)
    config_raw, credentials_raw = raw_columns(integration)
    assert SECRET not in config_raw and SECRET not in credentials_raw
    assert "general" not in config_raw
    assert config_raw.startswith("tb1:")
    reloaded = Integration.objects.get(pk=integration.pk)
    assert reloaded.config == {"workspace_token": SECRET, "channel": "general"}
    assert reloaded.credentials == {"access_token": SECRET + "-access"}


def test_same_value_seals_differently_each_time(org):
    first, second = make_integration(org), make_integration(org)
    assert raw_columns(first)[0] != raw_columns(second)[0]


def test_ciphertext_moved_to_another_row_does_not_decrypt(org):
    source, target = make_integration(org), make_integration(org, secret="other")
    Integration.objects.filter(pk=target.pk).update(config_sealed=source.config_sealed)
    with pytest.raises(SecretDecryptionError):
        Integration.objects.get(pk=target.pk).config


def test_ciphertext_moved_to_another_org_does_not_decrypt(make_org):
    mine, theirs = make_org("Mine"), make_org("Theirs")
    integration = make_integration(mine)
    Integration.objects.filter(pk=integration.pk).update(organisation=theirs)
    with pytest.raises(SecretDecryptionError):
        Integration.objects.get(pk=integration.pk).credentials


def test_ciphertext_moved_between_fields_does_not_decrypt(org):
    integration = make_integration(org)
    Integration.objects.filter(pk=integration.pk).update(credentials_sealed=integration.config_sealed)
    with pytest.raises(SecretDecryptionError):
        Integration.objects.get(pk=integration.pk).credentials


@pytest.mark.parametrize("stored", ['{"workspace_token": "plain"}', "tb1:dev1:AAAA", "tb1:nokey:AAAA"])
def test_a_value_that_does_not_decrypt_is_an_error_not_plaintext(org, stored):
    integration = make_integration(org)
    Integration.objects.filter(pk=integration.pk).update(config_sealed=stored)
    with pytest.raises(SecretDecryptionError):
        Integration.objects.get(pk=integration.pk).config


def test_rotation_reseals_old_rows_and_old_keys_keep_decrypting(org, settings):
    old = new_key("old")
    settings.FIELD_ENCRYPTION_KEYS = old
    rows = [make_integration(org, secret=f"{SECRET}-{i}") for i in range(3)]
    assert {sealed_key_id(r.config_sealed) for r in rows} == {"old"}

    settings.FIELD_ENCRYPTION_KEYS = f"{new_key('new')},{old}"
    # Before rotation, rows sealed with the old key still open.
    assert Integration.objects.get(pk=rows[0].pk).config["workspace_token"] == f"{SECRET}-0"
    call_command("rotate_encryption_keys", stdout=open(os.devnull, "w"))

    for i, row in enumerate(rows):
        reloaded = Integration.objects.get(pk=row.pk)
        assert sealed_key_id(reloaded.config_sealed) == "new"
        assert sealed_key_id(reloaded.credentials_sealed) == "new"
        assert reloaded.config["workspace_token"] == f"{SECRET}-{i}"

    # With the old key retired, the re-sealed rows still open.
    settings.FIELD_ENCRYPTION_KEYS = settings.FIELD_ENCRYPTION_KEYS.split(",")[0]
    assert Integration.objects.get(pk=rows[2].pk).credentials["access_token"] == f"{SECRET}-2-access"


def test_a_row_sealed_with_a_removed_key_is_refused(org, settings):
    settings.FIELD_ENCRYPTION_KEYS = new_key("gone")
    integration = make_integration(org)
    settings.FIELD_ENCRYPTION_KEYS = new_key("fresh")
    with pytest.raises(SecretDecryptionError, match="gone"):
        Integration.objects.get(pk=integration.pk).config
