"""A small client of chromedriver's W3C WebDriver HTTP API (over httpx, no Selenium): enough for a
test to drive a page as a person would (find, click, type, read the visible text), take a
screenshot and read the browser's console log.

`Chromium.start()` runs Debian's `chromedriver` with `chromium` headless on a fresh profile, with the
flags this closed network needs (no background connections, no component updates, no QUIC).
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

from precoro_devkit.emulator.process import free_port

T = TypeVar("T")
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # the W3C key of an element reference
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--lang=en-US"]


def find_browser() -> tuple[str, str] | None:
    """(chromium, chromedriver), or None when either is missing."""
    chromium = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    driver = shutil.which("chromedriver") or (
        "/usr/bin/chromedriver" if Path("/usr/bin/chromedriver").exists() else None)
    return (chromium, driver) if chromium and driver else None


class WebDriverError(RuntimeError):
    pass


class Chromium:
    def __init__(self, process: subprocess.Popen[bytes], base: str, session: str, profile: str) -> None:
        self.process, self.base, self.session, self.profile = process, base, session, profile
        self.http = httpx.Client(timeout=60)

    @classmethod
    def start(cls, chromium: str, chromedriver: str, *, tz: str = "UTC", width: int = 1500,
              height: int = 2000) -> Chromium:
        """A headless Chromium whose time zone is `tz` (the page draws times in the viewer's zone)."""
        port = free_port()
        profile = tempfile.mkdtemp(prefix="sandbox-chromium-")
        process = subprocess.Popen([chromedriver, f"--port={port}"], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, env={**os.environ, "TZ": tz})
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{base}/status", timeout=2).json()["value"]["ready"]:
                        break
                if time.monotonic() > deadline or process.poll() is not None:
                    raise WebDriverError("chromedriver did not start")
                time.sleep(0.1)
            caps = {"capabilities": {"alwaysMatch": {
                "browserName": "chrome", "goog:loggingPrefs": {"browser": "ALL"},
                "goog:chromeOptions": {"binary": chromium,
                                       "args": [*FLAGS, f"--user-data-dir={profile}",
                                                f"--window-size={width},{height}"]}}}}
            answer = httpx.post(f"{base}/session", json=caps, timeout=90).json()["value"]
            if "sessionId" not in answer:
                raise WebDriverError(f"no session: {answer}")
        except BaseException:
            process.kill()
            process.wait(10)
            shutil.rmtree(profile, ignore_errors=True)
            raise
        return cls(process, base, answer["sessionId"], profile)

    def quit(self) -> None:
        with contextlib.suppress(httpx.HTTPError):
            self.http.delete(f"{self.base}/session/{self.session}")
        self.http.close()
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        shutil.rmtree(self.profile, ignore_errors=True)

    # --- the protocol ---------------------------------------------------------------------------

    def call(self, method: str, path: str, body: Any = None) -> Any:
        answer = self.http.request(method, f"{self.base}/session/{self.session}{path}",
                                   json=body if body is not None or method == "POST" else None)
        value = answer.json().get("value")
        if answer.status_code != 200:
            raise WebDriverError(f"{method} {path}: {value.get('error') if isinstance(value, dict) else value}: "
                                 f"{value.get('message', '')[:300] if isinstance(value, dict) else ''}")
        return value

    def open(self, url: str) -> None:
        self.call("POST", "/url", {"url": url})

    def find_all(self, css: str, within: str | None = None) -> list[str]:
        path = f"/element/{within}/elements" if within else "/elements"
        return [e[ELEMENT] for e in self.call("POST", path, {"using": "css selector", "value": css})]

    def find(self, css: str, within: str | None = None) -> str | None:
        found = self.find_all(css, within)
        return found[0] if found else None

    def click(self, element: str) -> None:
        self.call("POST", f"/element/{element}/click", {})

    def type(self, element: str, text: str) -> None:
        self.call("POST", f"/element/{element}/value", {"text": text})

    def clear(self, element: str) -> None:
        self.call("POST", f"/element/{element}/clear", {})

    def text(self, element: str) -> str:
        """The element's visible text, as rendered."""
        return str(self.call("GET", f"/element/{element}/text"))

    def execute(self, script: str, *args: Any) -> Any:
        """Run `script` in the page; pass an element as `ref(element)`."""
        return self.call("POST", "/execute/sync", {"script": script, "args": list(args)})

    @staticmethod
    def ref(element: str) -> dict[str, str]:
        return {ELEMENT: element}

    def screenshot(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(self.call("GET", "/screenshot")))
        return path

    def console(self) -> list[dict[str, Any]]:
        """The browser's console entries since the last call (chromedriver's log endpoint)."""
        return list(self.call("POST", "/se/log", {"type": "browser"}))

    def wait(self, what: Callable[[], T], timeout: float = 30.0, message: str = "") -> T:
        deadline = time.monotonic() + timeout
        while True:
            try:
                found = what()
            except WebDriverError:
                found = None
            if found:
                return found
            if time.monotonic() > deadline:
                raise TimeoutError(message or "condition not met in the browser")
            time.sleep(0.2)
