"""Where a run reads deliveries and writes results: explicit values first, then the environment."""

from __future__ import annotations

from safetynet.errors import LandingError
from safetynet.settings import settings


def locations(landing: str | None, home: str | None) -> tuple[str, str]:
    landing = landing or settings().landing or ""
    home = home or settings().home or ""
    if not landing or not home:
        raise LandingError(
            "landing and home are not set: pass them as DAG params or set SAFETYNET_LANDING/SAFETYNET_HOME"
        )
    return landing, home
