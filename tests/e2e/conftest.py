"""End-to-end tier: Debian's Chromium, driven by Playwright, against a local stack started here.

The stack (python -m local.stack --tiny --seed-first) runs as a subprocess on free ports (its OpenID provider too) with its own webhook secret; it is
stopped by its PID (SIGTERM: it stops DynamoDB Local, moto and chalice local itself). Browsers are never
downloaded: Playwright launches /usr/bin/chromium (`make chromium` installs it with apt-get), with a fresh
profile for each test and nothing that would call out of the machine. Screenshots go to test-artifacts/e2e/.
"""
from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]
ARTIFACTS = PROJECT / "test-artifacts" / "e2e"
CHROMIUM = os.environ.get("KARMAYOGI_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
STARTUP_SECONDS = 180
# The stack's campaign definitions are cached by the scoring process; a campaign the admin test creates (in the
# chalice local process) must count the events posted a moment later, so the cache lives 1 s instead of 60 s.
CAMPAIGN_CACHE_SECONDS = 1


def campaigns_config() -> Path:
    """A copy of the campaign configuration with a short definitions cache, for the stack under test."""
    text = (PROJECT / "chalicelib" / "campaigns" / "config.toml").read_text(encoding="utf-8")
    text, found = re.subn(r"^definitions_cache_seconds = \d+",
                          f"definitions_cache_seconds = {CAMPAIGN_CACHE_SECONDS}", text, flags=re.M)
    assert found == 1, "definitions_cache_seconds not found in chalicelib/campaigns/config.toml"
    path = ARTIFACTS / "campaigns.toml"
    path.write_text(text, encoding="utf-8")
    return path
WIDTHS = (360, 1280)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class LocalStack:
    url: str
    webhook_secret: str
    oidc: str  # the local OpenID provider's issuer URL


@pytest.fixture(scope="session")
def stack():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    api, dynamodb, moto, oidc = free_port(), free_port(), free_port(), free_port()
    secret = secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KARMAYOGI_"))}
    env.update(KARMAYOGI_WEBHOOK_SECRETS=secret, KARMAYOGI_CAMPAIGNS_FILE=str(campaigns_config()),
               PYTHONUNBUFFERED="1")
    log = open(ARTIFACTS / "stack.log", "wb")
    process = subprocess.Popen(
        # --seed-first: /health answers only once the demo data the tests read is there (--tiny keeps it in memory)
        [sys.executable, "-m", "local.stack", "--tiny", "--seed-first", "--api-port", str(api), "--dynamodb-port", str(dynamodb),
         "--moto-port", str(moto), "--oidc-port", str(oidc)], cwd=PROJECT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{api}"
    try:
        _wait_for_health(url, process)
        yield LocalStack(url, secret, f"http://127.0.0.1:{oidc}")
    finally:
        process.send_signal(signal.SIGTERM)  # the stack stops what it started, then exits
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _wait_for_health(url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the local stack exited with {process.returncode}: see {ARTIFACTS / 'stack.log'}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"the local stack was not healthy within {STARTUP_SECONDS} s: see {ARTIFACTS / 'stack.log'}")


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def context(browser, stack):
    """A fresh browser profile (cookies, storage) for each test, at phone width to start with."""
    ctx = browser.new_context(base_url=stack.url, viewport={"width": 360, "height": 800}, locale="en-IN")
    ctx.set_default_timeout(15_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context):
    return context.new_page()


def sign_in(page, sub: str, next_path: str = "/me") -> None:
    """Through the local OpenID provider, as a person signs in: open the page, get sent to the provider's
    sign-in page, pick the demo person, come back signed in."""
    page.goto(next_path)
    page.get_by_test_id(f"login-{sub}").click()
    page.wait_for_load_state()
    error = page.get_by_test_id("error")
    assert not error.count(), f"sign-in failed: {error.inner_text()}"
    page.wait_for_url(f"**{next_path}")


def screenshots(page, name: str) -> list[Path]:
    """The page at phone and desktop width, whole length, as test artifacts."""
    saved = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 800})
        path = ARTIFACTS / f"{name}-{width}.png"
        page.screenshot(path=str(path), full_page=True)
        saved.append(path)
    page.set_viewport_size({"width": 360, "height": 800})
    return saved
