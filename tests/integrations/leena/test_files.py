"""Files from a Haiilo source reach Leena as attachments, through a real worker."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from integrations.models import KnowledgeEntry
from tests.connectors.haiilo.conftest import create_integration as haiilo_integration
from tests.connectors.haiilo.conftest import run_sync
from tests.fakes.haiilo import FakeHaiilo
from tests.fakes.leena import FakeLeena
from tests.integrations.leena.conftest import destination, push_figures, run

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
PDF = b"%PDF-1.7\n" + bytes(range(256)) * 8 + b"\n%%EOF"


@pytest.fixture
def haiilo() -> Iterator[FakeHaiilo]:
    with FakeHaiilo() as server:
        yield server


def test_a_haiilo_file_is_uploaded_to_leena_before_its_article_which_lists_the_attachment(
    celery_worker_process, admin_client, haiilo: FakeHaiilo, leena: FakeLeena
):
    file_id = haiilo.tenant.create_file("Travel policy.pdf", PDF, visibility="PUBLIC")
    source = haiilo_integration(admin_client, haiilo, download_files=True)
    assert run_sync(admin_client, source)["status"] == "completed"
    published = destination(admin_client, leena, source)
    leena.upstream.calls.clear()

    job = run(admin_client, published)
    entry = KnowledgeEntry.objects.get(integration_id=source, external_id=f"file:{file_id}")
    reference_id = f"{entry.pk}${entry.language or 'en'}"
    steps = leena.upstream.steps()
    assert steps[0] == "token" and steps[-1] == "complete" and steps.count("upload") == 1
    upload_at = steps.index("upload")
    sync_with_file = next(
        n for n, call in enumerate(leena.upstream.calls) if call.path.endswith("/sync/") and reference_id in call.detail
    )
    assert upload_at < sync_with_file  # the attachment, then its article
    [attachment_id] = leena.upstream.articles[reference_id]["attachments"]
    assert leena.upstream.attachments[attachment_id] == {
        "name": "Travel policy.pdf",
        "content_type": "application/pdf",
        "content": PDF,
    }
    assert push_figures(job)[5] == 0 and job["records_imported"] == job["records_found"]

    # Nothing changed: the file is not uploaded again.
    leena.upstream.calls.clear()
    run(admin_client, published)
    assert leena.upstream.calls == []
