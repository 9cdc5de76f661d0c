"""Where a run reads deliveries and writes results: explicit values first, then the environment."""

from __future__ import annotations

import os

from safetynet.errors import LandingError


def locations(landing: str | None, home: str | None) -> tuple[str, str]:
    landing = landing or os.environ.get("SAFETYNET_LANDING", "")
    home = home or os.environ.get("SAFETYNET_HOME", "")
    if not landing or not home:
        raise LandingError(
            "landing and home are not set: pass them as DAG params or set SAFETYNET_LANDING/SAFETYNET_HOME"
        )
    return landing, home
