"""Test-session set-up shared by every test module.

Prefect reads its settings when first imported, so its home folder is pointed at a
throw-away directory here, before any test module imports the package: the suite never
touches the developer's own Prefect profile or database.
"""

from __future__ import annotations

import os
import tempfile

os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="psi-prefect-home-")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.pop("PREFECT_API_URL", None)
os.environ.pop("PREFECT_API_KEY", None)
