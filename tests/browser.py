"""Headless Chromium for tests that render pages: where it is, the flags
that keep it off the network (no host resolves, 127.0.0.1 where tests
serve aside), and the DOM of a page once loaded."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
)

needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Chromium is not installed (Debian package 'chromium'; `make test` installs it "
    "with apt-get when run as root)",
)

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
)


def dump_dom(url: str, profile: Path, flags: Sequence[str] = ()) -> tuple[str, str]:
    """Load ``url`` and return the DOM Chromium ends with, and its log."""
    assert CHROMIUM is not None
    done = subprocess.run(
        [CHROMIUM, *FLAGS, *flags, f"--user-data-dir={profile}", "--dump-dom", url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done.stdout, f"exit {done.returncode}: {done.stderr[-2000:]}"
