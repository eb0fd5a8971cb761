#!/usr/bin/python3
"""The status page (GET /) in a real headless Chromium, driven through chromedriver's WebDriver
HTTP API with the standard library only.

Usage: status_page.py SERVREG_BINARY ARTIFACTS_DIR

Starts servreg on a free loopback port with a short --ttl, pings three services and lets one
expire, then checks what the rendered page shows: every service with the right alive/dead
state, the filter narrowing the list, a refresh by itself (no reload) that shows a newly pinged
service, the XSS name shown as text, the list rendered without JavaScript, and no sideways
scrolling at phone width. Then, on a page just loaded, that an instance registered, drained,
undrained and unregistered through the API shows within seconds, long before the page's
periodic refresh (30 s) could have run: through the event stream of GET /v1/watch, without a
reload. Screenshots (desktop and phone width) go to ARTIFACTS_DIR.
"""

import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

XSS = "<script>alert(1)</script>"
TTL = 2
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--hide-scrollbars", "--force-device-scale-factor=1",
]
failures = []
passes = 0


def check(condition, what, detail=""):
    global passes
    if condition:
        passes += 1
        print(f"ok - {what}")
    else:
        failures.append(what)
        print(f"not ok - {what}" + (f"\n    {detail}" if detail else ""))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout, interval=0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


class Servreg:
    def __init__(self, binary, workdir):
        self.log_path = os.path.join(workdir, "servreg.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [binary, "--port", "0", "--ttl", str(TTL), "--threads", "2",
             "--dburl", "sqlite:///" + os.path.join(workdir, "reg.db")],
            stdout=subprocess.DEVNULL, stderr=self.log)
        self.port = wait_until(self._port, 20, 0.05)
        if not self.port:
            raise RuntimeError("servreg did not start: " + open(self.log_path).read())
        self.base = f"http://127.0.0.1:{self.port}"

    def _port(self):
        m = re.search(r"listening on http://127\.0\.0\.1:(\d+)/api", open(self.log_path).read())
        return int(m.group(1)) if m else None

    def call(self, method, params):
        body = json.dumps({"jsonrpc": "2.0", "method": method, "params": params, "id": 1})
        req = urllib.request.Request(self.base + "/api", body.encode(),
                                     {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            reply = json.load(r)
        if reply.get("error"):
            raise RuntimeError(f"{method}{params}: {reply['error']}")
        return reply["result"]

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


class WebDriverError(Exception):
    pass


class Browser:
    """A chromedriver session: just the WebDriver commands this test needs."""

    def __init__(self, workdir, javascript=True, width=1280, height=1000):
        self.port = free_port()
        self.driver_log = open(os.path.join(workdir, f"chromedriver-{self.port}.log"), "w")
        self.driver = subprocess.Popen(
            ["chromedriver", f"--port={self.port}"],
            stdout=self.driver_log, stderr=subprocess.STDOUT)
        self.base = f"http://127.0.0.1:{self.port}"
        if not wait_until(self._ready, 20):
            raise RuntimeError("chromedriver did not start")
        profile = tempfile.mkdtemp(prefix="chromium-", dir=workdir)
        options = {
            "binary": "/usr/lib/chromium/chromium" if os.path.exists("/usr/lib/chromium/chromium")
            else "/usr/bin/chromium",
            "args": CHROMIUM_FLAGS + [f"--user-data-dir={profile}",
                                      f"--window-size={width},{height}"],
        }
        if not javascript:
            options["prefs"] = {"profile.managed_default_content_settings.javascript": 2}
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome", "goog:chromeOptions": options,
            "unhandledPromptBehavior": "ignore"}}}
        self.session = self._send("POST", "/session", caps)["sessionId"]

    def _ready(self):
        try:
            with urllib.request.urlopen(self.base + "/status", timeout=2) as r:
                return json.load(r)["value"].get("ready")
        except (OSError, ValueError, KeyError):
            return False

    def _send(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return json.load(r)["value"]
        except urllib.error.HTTPError as e:
            raise WebDriverError(e.read().decode(errors="replace")[:2000]) from None

    def cmd(self, method, path, body=None):
        return self._send(method, f"/session/{self.session}{path}", body)

    def get(self, url):
        self.cmd("POST", "/url", {"url": url})

    def js(self, script, *args):
        return self.cmd("POST", "/execute/sync", {"script": script, "args": list(args)})

    def alert_text(self):
        try:
            return self.cmd("GET", "/alert/text")
        except WebDriverError:
            return None  # no alert open

    def type_into(self, css, text):
        element = self.cmd("POST", "/element", {"using": "css selector", "value": css})
        element_id = next(iter(element.values()))
        self.cmd("POST", f"/element/{element_id}/clear", {})
        self.cmd("POST", f"/element/{element_id}/value", {"text": text})

    def resize(self, width, height):
        self.cmd("POST", "/window/rect", {"width": width, "height": height})

    def screenshot(self, path):
        with open(path, "wb") as f:
            f.write(base64.b64decode(self.cmd("GET", "/screenshot")))

    def quit(self):
        try:
            self._send("DELETE", f"/session/{self.session}")
        except Exception:
            pass
        self.driver.terminate()
        try:
            self.driver.wait(10)
        except subprocess.TimeoutExpired:
            self.driver.kill()
        self.driver_log.close()


# What the page shows, read from the DOM as a user would see it.
READ_PAGE = """
const out = {services: {}, counts: {}, status: document.getElementById('status').textContent,
             scripts: document.scripts.length, xssRan: window.__xss === true,
             marker: window.__marker || null};
for (const id of ['n-services', 'n-alive', 'n-dead'])
  out.counts[id] = document.getElementById(id).textContent;
for (const s of document.querySelectorAll('section.service')) {
  if (s.offsetParent === null) continue;
  const name = s.querySelector('h2 .name').textContent;
  out.services[name] = [...s.querySelectorAll('tbody tr')].map(tr => ({
    endpoint: tr.querySelector('td.ep').textContent,
    state: tr.querySelector('.badge').textContent,
    last: tr.querySelector('td.last').textContent,
  }));
}
return out;
"""


def states(page):
    return {name: sorted(r["state"] for r in rows) for name, rows in page["services"].items()}


def live_updates(browser, server, alive, lock):
    """Changes made through the API show on a page just loaded, well before its periodic
    refresh: only the event stream can have brought them."""
    browser.resize(1280, 1000)
    browser.get(server.base + "/")
    browser.js("window.__marker = 'streaming';")
    refresh_s = browser.js("return Number(document.body.dataset.refresh);") / 1000
    check(refresh_s >= 30, "the periodic refresh is 30 s or slower", f"{refresh_s} s")
    following = wait_until(lambda: "as they happen" in browser.js(READ_PAGE)["status"], 10)
    check(following, "the page follows the event stream (its status line says so)",
          browser.js(READ_PAGE)["status"])
    endpoint = "10.1.0.8:8888"

    def watched():
        rows = browser.js(READ_PAGE)["services"].get("watched.svc", [])
        return [r["state"] for r in rows if r["endpoint"] == endpoint]

    def shows(change, wanted, what):
        """Makes `change` through the API and waits for the page to show `wanted`, which it
        must not show before."""
        before = watched()
        change()
        started = time.monotonic()
        seen = wait_until(lambda: watched() == wanted, 5, 0.1)
        took = time.monotonic() - started
        page = browser.js(READ_PAGE)
        loaded = browser.js("return performance.now();") / 1000
        check(before != wanted and seen and page["marker"] == "streaming" and loaded < refresh_s,
              f"{what}, live: after {took:.1f} s, {loaded:.1f} s after the page loaded "
              f"(periodic refresh at {refresh_s:.0f} s), without a reload",
              f"shown before: {before}, after: {watched()}, marker: {page['marker']}, "
              f"status: {page['status']}")

    def register():
        server.call("ping", ["watched.svc", "10.1.0.8", 8888])
        with lock:
            alive.append(("watched.svc", "10.1.0.8", 8888))

    def unregister():
        with lock:
            alive.remove(("watched.svc", "10.1.0.8", 8888))
        time.sleep(1)  # the pinger's round under way, if any, pings it once more: let it finish
        server.call("unregister", ["10.1.0.8", 8888])

    shows(register, ["alive"], "an instance registered through the API appears")
    shows(lambda: server.call("drain", ["10.1.0.8", 8888]), ["draining"], "a drain shows")
    shows(lambda: server.call("undrain", ["10.1.0.8", 8888]), ["alive"], "an undrain shows")
    shows(unregister, [], "an unregister shows")


def main():
    binary, artifacts = sys.argv[1], sys.argv[2]
    os.makedirs(artifacts, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix="servreg-browser-")
    server = browser = None
    stop_pinging = threading.Event()
    try:
        server = Servreg(binary, workdir)
        # One service pinged once, then left to expire; the others kept alive throughout.
        server.call("ping", ["inventory.db", "10.1.0.9", 5432])
        alive = [("billing.api", "10.1.0.1", 8001), ("billing.api", "10.1.0.2", 8002),
                 (XSS, "10.1.0.3", 6666)]
        lock = threading.Lock()

        def keep_alive():
            while not stop_pinging.is_set():
                with lock:
                    targets = list(alive)
                for t in targets:
                    server.call("ping", list(t))
                stop_pinging.wait(0.5)

        pinger = threading.Thread(target=keep_alive, daemon=True)
        pinger.start()
        time.sleep(TTL + 1.2)
        listed = {(i["name"], i["alive"]) for i in server.call("list_services", [])}
        check(("inventory.db", False) in listed and ("billing.api", True) in listed,
              "the registry has inventory.db expired and billing.api alive", str(listed))

        browser = Browser(workdir)
        browser.get(server.base + "/")
        browser.js("window.__marker = 'loaded-once';"
                   "window.alert = () => { window.__xss = true; };")
        page = wait_until(lambda: (p := browser.js(READ_PAGE))["status"].startswith("Live") and p,
                          10)
        check(bool(page), "the page's script refreshed it ('Live' status line)",
              browser.js(READ_PAGE)["status"] if not page else "")
        page = page or browser.js(READ_PAGE)
        want = {"billing.api": ["alive", "alive"], "inventory.db": ["dead"], XSS: ["alive"]}
        check(states(page) == want, "all three services with the right alive/dead state",
              f"shown: {states(page)}")
        check(page["counts"] == {"n-services": "3", "n-alive": "3", "n-dead": "1"},
              "the counts at the top", str(page["counts"]))
        lasts = [r["last"] for rows in page["services"].values() for r in rows]
        check(all(re.fullmatch(r"\d+ (s|min|h|d) ago", t) for t in lasts),
              "last seen reads like '12 s ago'", str(lasts))
        check(XSS in page["services"] and page["scripts"] == 1 and not page["xssRan"]
              and browser.alert_text() is None,
              "the <script> name is shown as text and never runs",
              f"scripts={page['scripts']} xssRan={page['xssRan']}")

        browser.screenshot(os.path.join(artifacts, "status-page.png"))

        # The filter narrows the list (through list_services with the glob).
        browser.type_into("#q", "billing.*")
        narrowed = wait_until(lambda: list((p := browser.js(READ_PAGE))["services"]) ==
                              ["billing.api"] and p, 5)
        check(bool(narrowed), "the filter narrows the list to billing.*",
              str(list(browser.js(READ_PAGE)["services"])))
        browser.type_into("#q", "")
        wait_until(lambda: len(browser.js(READ_PAGE)["services"]) == 3, 5)

        # A service pinged now appears by itself, without a reload.
        with lock:
            alive.append(("fresh.svc", "10.1.0.7", 7777))
        started = time.monotonic()
        fresh = wait_until(lambda: "fresh.svc" in (p := browser.js(READ_PAGE))["services"] and p,
                           12, 0.25)
        check(bool(fresh), "a newly pinged service appears by itself",
              str(list(browser.js(READ_PAGE)["services"])))
        if fresh:
            check(fresh["marker"] == "loaded-once",
                  f"... without reloading the page (after {time.monotonic() - started:.1f} s)")
            check(fresh["services"]["fresh.svc"][0]["state"] == "alive", "... as alive")

        # A drained instance shows as draining, live, while it goes on pinging.
        server.call("drain", ["10.1.0.2", 8002])
        drained = wait_until(lambda: sorted(states(p := browser.js(READ_PAGE))
                                            .get("billing.api", [])) == ["alive", "draining"]
                             and p, 12, 0.25)
        check(bool(drained), "a drained instance shows as draining without a reload",
              f"shown: {states(browser.js(READ_PAGE))}")
        server.call("undrain", ["10.1.0.2", 8002])

        # Phone width: nothing to scroll sideways.
        browser.resize(390, 844)
        time.sleep(0.5)
        widths = browser.js("return [document.documentElement.scrollWidth, window.innerWidth];")
        check(widths[0] <= widths[1], "no sideways scrolling at phone width",
              f"scrollWidth={widths[0]} innerWidth={widths[1]}")
        browser.screenshot(os.path.join(artifacts, "status-page-phone.png"))

        live_updates(browser, server, alive, lock)
        browser.quit()
        browser = None

        # Without JavaScript the server's rendering shows the same.
        browser = Browser(workdir, javascript=False)
        browser.get(server.base + "/")
        html = browser.cmd("GET", "/source")
        names = re.findall(r'<span class="name">([^<]*)</span>', html)
        check(set(names) >= {"billing.api", "inventory.db", "&lt;script&gt;alert(1)&lt;/script&gt;"},
              "without JavaScript the page lists the services", str(names))
        check(re.search(r'<tr class="dead"><td class="ep">10\.1\.0\.9:5432</td>', html) is not None,
              "... with the expired one dead")
        browser.get(server.base + "/?q=inv*")
        html = browser.cmd("GET", "/source")
        names = re.findall(r'<span class="name">([^<]*)</span>', html)
        check(names == ["inventory.db"], "... and the filter works through ?q=", str(names))
    except Exception as e:  # a broken setup is a failure with its reason, not a traceback
        check(False, "the browser test ran to its end", f"{type(e).__name__}: {e}")
    finally:
        stop_pinging.set()
        if browser:
            browser.quit()
        if server:
            server.stop()
        if failures:
            for name in os.listdir(workdir):
                if name.endswith(".log"):
                    print(f"--- {name}\n" + open(os.path.join(workdir, name)).read()[-3000:])
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"status page: {passes} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
