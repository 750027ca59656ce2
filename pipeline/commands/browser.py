"""The system's Chromium, driven by Playwright: how the page test and its benchmark open ``GET /``.

Playwright's own browser builds are downloaded from the internet by ``playwright install``; this
project never needs them. It drives the Chromium of the operating system (Debian's ``chromium``
package, which ``.ci/run`` installs when it is missing) through ``executable_path``.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

CHROMIUM_ENV = "CHROMIUM"  # an explicit browser binary, e.g. CHROMIUM=/usr/bin/chromium
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    """``$CHROMIUM`` if set, else the first Chromium-like browser on the PATH; None without one."""
    given = os.environ.get(CHROMIUM_ENV)
    if given:
        return shutil.which(given)
    return next((path for name in CANDIDATES if (path := shutil.which(name))), None)


def launch(playwright: Any, executable: str) -> Any:
    """A headless browser. Chromium's sandbox refuses to start as root (CI's user here)."""
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    return playwright.chromium.launch(executable_path=executable, headless=True, args=args)
