"""Where the package data is: `rules/`, `warehouse/`, `expectations/` and `dags/`.

In a checkout they are the repository's top-level folders. The wheel carries them inside this
package, as `safetynet/_data/<name>` (pyproject.toml's `force-include`), so an installed safetynet
finds them outside any checkout. A folder given in the settings (`SAFETYNET_RULES`) wins over both.
"""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

from safetynet.errors import SetupError
from safetynet.settings import Settings

PACKAGED = "_data"  # the folder of this package the wheel puts them in
CHECKOUT = Path(__file__).resolve().parent.parent
FOLDERS = ("rules", "warehouse", "expectations", "dags")
LOCK = "uv.lock"  # the locked library versions: part of the code version (safetynet/versions.py)


def _given(name: str, current: Settings | None) -> Path | None:
    """The folder the settings name for `name`, if any (only the rules can be given today).
    Without settings given, SAFETYNET_RULES alone is read: every module finds its folders at
    import, and a typo in another setting must fail where that setting is used, not everywhere."""
    if name != "rules":
        return None
    if current is not None:
        return current.rules
    given = os.environ.get("SAFETYNET_RULES", "").strip()
    return Path(given) if given else None


def folder(name: str, current: Settings | None = None) -> Path:
    """The folder `name` (one of FOLDERS): the one given in the settings, else the installed
    package's, else the checkout's."""
    return located(name, current)[0]


def located(name: str, current: Settings | None = None) -> tuple[Path, str]:
    """The folder `name` and where it was found: "settings", "package" or "checkout"."""
    if name not in FOLDERS:
        raise ValueError(f"{name!r} is not package data: one of {', '.join(FOLDERS)}")
    given = _given(name, current)
    if given is not None:
        return given.resolve(), "settings"
    packaged = _packaged(name)
    if packaged is not None:
        return packaged, "package"
    checkout = CHECKOUT / name
    if checkout.is_dir():
        return checkout, "checkout"
    raise SetupError(
        f"{name}/ is neither in the installed package ({_packaged_root() / name}) nor in a checkout "
        f"({checkout}): reinstall safetynet from its wheel"
    )


def lock_file() -> Path | None:
    """The uv.lock the code was installed from: the wheel's copy, else the checkout's, else none."""
    for candidate in (_packaged_root() / LOCK, CHECKOUT / LOCK):
        if candidate.is_file():
            return candidate
    return None


def _packaged_root() -> Path:
    root = files("safetynet") / PACKAGED
    if not isinstance(root, Path):  # a zip import: the jobs read these folders as files on disk
        raise SetupError(f"safetynet is installed as {root}: install it unpacked (pip or uv install do)")
    return root


def _packaged(name: str) -> Path | None:
    path = _packaged_root() / name
    return path.resolve() if path.is_dir() else None
