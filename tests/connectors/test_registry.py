"""The registry: one lazy line per connector, imported when first asked for; EXTRA_CONNECTORS beside."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.processes import ROOT

PROBE = """
import json, sys
import django
django.setup()
from connectors import registry
seen = lambda: sorted(m for m in ("connectors.confluence", "connectors.haiilo") if m in sys.modules)
before = seen()
types = registry.connector_types()
after_types = seen()
haiilo = registry.connector_class("haiilo").__name__
print(json.dumps([before, types, after_types, haiilo, seen()]))
"""


def test_no_connector_module_is_imported_until_its_type_is_asked_for():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "hub.settings_test"}
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True
    )
    before, types, after_types, haiilo, after_lookup = json.loads(result.stdout.strip().splitlines()[-1])
    assert before == [] and after_types == []
    # The built-in lines, then EXTRA_CONNECTORS.
    assert types == ["webhook", "confluence", "haiilo", "leanix", "leena", "notes", "shelf", "shelf-two-way"]
    assert (haiilo, after_lookup) == ("HaiiloConnector", ["connectors.haiilo"])
