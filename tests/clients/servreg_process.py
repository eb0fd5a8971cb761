# Starts the real servreg binary for the third-party client tests: port 0, a temporary SQLite
# database, the port read from its "listening on" line, and always killed at the end.
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

LISTENING = re.compile(rb"listening on http://(\S+):(\d+)/api")


class ServregProcess:
    """A running servreg; use as a context manager so that it is always stopped."""

    def __init__(self, binary, *args, timeout=20.0):
        self.dir = tempfile.mkdtemp(prefix="servreg-client-test-")
        self.stderr_path = os.path.join(self.dir, "stderr.log")
        dburl = "sqlite:///" + os.path.join(self.dir, "reg.db")
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            [binary, "--port", "0", "--dburl", dburl, *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
        )
        self.port = self._wait_listening(timeout)
        self.url = "http://127.0.0.1:%d/api" % self.port

    def _wait_listening(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(self.stderr_path, "rb") as f:
                match = LISTENING.search(f.read())
            if match:
                return int(match.group(2))
            if self.proc.poll() is not None:
                self.close()
                raise RuntimeError("servreg exited before listening:\n" + self.log())
            time.sleep(0.01)
        self.close()
        raise RuntimeError("servreg did not start listening:\n" + self.log())

    def log(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode(errors="replace")

    def close(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self._stderr.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Checks:
    """Runs named checks, prints each outcome, and ends with "N passed, M failed"."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def run(self, name, check, *args):
        try:
            check(*args)
        except Exception as e:  # an AssertionError, or the client's own error
            self.failed += 1
            print("FAIL %s: %s: %s" % (name, type(e).__name__, e), flush=True)
        else:
            self.passed += 1
            print("ok   %s" % name, flush=True)

    def finish(self):
        print("%d passed, %d failed" % (self.passed, self.failed), flush=True)
        sys.exit(0 if self.failed == 0 and self.passed > 0 else 1)
