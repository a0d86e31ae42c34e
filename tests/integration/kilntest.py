"""What integration tests share: named checks with a summary, running kiln,
reading JSON Lines, and the two loopback servers (tests/server/fakeai with a
script, and kiln serve with a model). New tests import this module; older
ones still carry their own copies of these few lines.

    from kilntest import Checks, FakeAI, KilnServe, run, read_jsonl
"""
import json
import os
import re
import signal
import subprocess
import threading
import time


class Checks:
    """Named assertions that keep going: each prints PASS/FAIL with what
    was seen, and finish() prints the count and gives the exit status."""

    def __init__(self):
        self.results = []

    def __call__(self, name, cond, detail=""):
        self.results.append(bool(cond))
        print("%s %s%s" % ("PASS" if cond else "FAIL", name,
                           "" if cond else ": " + str(detail)[:2000]),
              flush=True)
        return bool(cond)

    def finish(self):
        passed = sum(self.results)
        print("%d passed, %d failed" % (passed, len(self.results) - passed))
        return 0 if self.results and passed == len(self.results) else 1


def run(kiln, *args, timeout=600):
    return subprocess.run([kiln] + [str(a) for a in args],
                          capture_output=True, text=True, timeout=timeout)


def read_jsonl(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def write_jsonl(path, rows):
    with open(path, "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")


class FakeAI:
    """tests/server/fakeai on a free loopback port with SCRIPT (a dict);
    it stops when this process dies (its stdin is our pipe)."""

    def __init__(self, binary, folder, script):
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, "script.json")
        self.log = os.path.join(folder, "log.jsonl")
        portf = os.path.join(folder, "port")
        with open(path, "w") as f:
            json.dump(script, f)
        self.proc = subprocess.Popen(
            [binary, "--port", "0", "--port-file", portf, "--script", path,
             "--log", self.log, "--stdin-lifeline"], stdin=subprocess.PIPE)
        for _ in range(500):
            if os.path.exists(portf) and open(portf).read().strip():
                break
            time.sleep(0.02)
        self.url = "http://127.0.0.1:%s/v1" % open(portf).read().strip()

    def requests(self):
        return read_jsonl(self.log)

    def stop(self):
        self.proc.terminate()
        return self.proc.wait(10)


class KilnServe:
    """kiln serve -m MODEL on a free loopback port; url is None if it did
    not say where it listens within a minute."""

    def __init__(self, kiln, model, *extra):
        self.proc = subprocess.Popen(
            [kiln, "serve", "-m", model, "--port", "0"] + list(extra),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.url = None
        self.log = []
        deadline = time.time() + 60
        while time.time() < deadline and self.url is None:
            line = self.proc.stderr.readline()
            if not line:
                break
            self.log.append(line)
            m = re.search(r"listening on (http://127\.0\.0\.1:\d+/v1)", line)
            if m:
                self.url = m.group(1)
        # keep reading its log so that it never blocks on a full pipe
        threading.Thread(target=lambda: self.log.extend(self.proc.stderr),
                         daemon=True).start()

    def stop(self):
        """SIGTERM: the server drains; its exit status (None if killed)."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return None
