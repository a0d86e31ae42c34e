#!/usr/bin/env python3
"""Self-test of fakeai (tests/server/README.md): every endpoint and every
fault kind as a client sees them, the request log, exact fault counters
under concurrency, and the ways the server stops.

usage: test_fakeai.py PATH/TO/fakeai
"""
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

BIN = None
FAILS = []


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL:", what, flush=True)


def fnv1a(data):
    h = 0xCBF29CE484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h


class Server:
    def __init__(self, tmp, script=None, args=(), lifeline=True):
        self.tmp = tmp
        self.log_path = os.path.join(tmp, "log.jsonl")
        port_file = os.path.join(tmp, "port")
        for p in (self.log_path, port_file):
            if os.path.exists(p):
                os.unlink(p)
        cmd = [BIN, "--port", "0", "--port-file", port_file,
               "--log", self.log_path] + list(args)
        if script is not None:
            path = os.path.join(tmp, "script.json")
            with open(path, "w") as f:
                json.dump(script, f)
            cmd += ["--script", path]
        if lifeline:
            cmd.append("--stdin-lifeline")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
        deadline = time.time() + 10
        while not os.path.exists(port_file):
            if time.time() > deadline or self.proc.poll() is not None:
                raise RuntimeError("fakeai did not start")
            time.sleep(0.02)
        with open(port_file) as f:
            self.port = int(f.read())

    def request(self, method, path, body=None, timeout=10, headers=None):
        """(status, headers, body bytes); raises what http.client raises."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                          timeout=timeout)
        try:
            if isinstance(body, (dict, list)):
                body = json.dumps(body).encode()
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return r.status, r, r.read()
        finally:
            conn.close()

    def chat(self, prompt, timeout=10, **kw):
        body = {"model": "m", "messages": [
            {"role": "system", "content": "You write Python."},
            {"role": "user", "content": prompt}]}
        body.update(kw)
        return self.request("POST", "/v1/chat/completions", body, timeout)

    def log(self):
        with open(self.log_path) as f:
            return [json.loads(line) for line in f]

    def stop(self, timeout=10):
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            rc = "timeout"
        self.proc.stdin.close()
        return rc


def test_endpoints(tmp):
    s = Server(tmp, {"model": "teacher", "default": "DEFAULT",
                     "answers": [
                         {"match": "add", "text": "def add(a, b): return a + b"},
                         {"match": "vary", "texts": ["zero", "one"],
                          "text": "rest"}]})
    try:
        st, _, body = s.request("GET", "/health")
        check(st == 200 and json.loads(body) == {"status": "ok"}, "health")
        st, _, body = s.request("GET", "/v1/models")
        check(st == 200 and json.loads(body)["data"][0]["id"] == "teacher",
              "models")

        st, r, body = s.chat("please add two numbers")
        j = json.loads(body)
        check(st == 200 and r.getheader("Content-Type") == "application/json",
              "chat status")
        check(j["object"] == "chat.completion" and j["model"] == "m", "chat ids")
        c = j["choices"][0]
        check(c["message"] == {"role": "assistant",
                               "content": "def add(a, b): return a + b"} and
              c["finish_reason"] == "stop", "chat answer")
        u = j["usage"]
        # content bytes of all messages / 4, rounded up
        check(u["prompt_tokens"] == -(-(17 + 22) // 4) and
              u["completion_tokens"] == -(-27 // 4) and
              u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"],
              "chat usage %r" % u)

        st, _, body = s.chat("vary it", n=3)
        texts = [c["message"]["content"] for c in json.loads(body)["choices"]]
        check(texts == ["zero", "one", "rest"], "texts per choice %r" % texts)
        st, _, body = s.chat("nothing matches")
        check(json.loads(body)["choices"][0]["message"]["content"] == "DEFAULT",
              "default answer")
        st, _, body = s.chat([{"type": "text", "text": "ad"},
                              {"type": "text", "text": "d"}])
        check(json.loads(body)["choices"][0]["message"]["content"].startswith(
            "def add"), "content parts")

        st, _, body = s.request("POST", "/v1/completions",
                                {"prompt": "add", "max_tokens": 2})
        c = json.loads(body)["choices"][0]
        check(c["text"] == "def add(" and c["finish_reason"] == "length",
              "max_tokens %r" % c)
        st, _, body = s.request("POST", "/v1/completions",
                                {"prompt": "add", "stop": ["(", "zz"]})
        check(json.loads(body)["choices"][0]["text"] == "def add", "stop")

        st, r, body = s.chat("vary", stream=True, n=2)
        check(r.getheader("Content-Type") == "text/event-stream", "sse type")
        events = [e[len("data: "):] for e in body.decode().split("\n\n") if e]
        check(events[-1] == "[DONE]", "sse done")
        got = {}
        for e in events[:-1]:
            ch = json.loads(e)["choices"][0]
            got[ch["index"]] = got.get(ch["index"], "") + \
                ch["delta"].get("content", "")
        check(got == {0: "zero", 1: "one"}, "sse content %r" % got)

        bad = [b"", b"{", b"[1]", b'{"messages": []}',
               b'{"messages": [{"role": "user", "content": 1}]}',
               b'{"messages": [{"role": "user", "content": "x"}], "n": 0}',
               b'{"messages": [{"role": "user", "content": "x"}], '
               b'"temperature": "hot"}']
        for b in bad:
            st, _, body = s.request("POST", "/v1/chat/completions", b)
            err = json.loads(body)["error"]
            check(st == 400 and err["type"] == "invalid_request_error" and
                  err["message"], "400 for %r" % b)
        st, _, body = s.request("POST", "/v1/completions", {"prompt": 1})
        check(st == 400, "completions without prompt")
        st, _, body = s.request("GET", "/v2/nothing")
        check(st == 404 and "error" in json.loads(body), "404")
        st, _, _ = s.request("GET", "/v1/chat/completions")
        check(st == 405, "405")

        # 413 before the body is read: a Content-Length over 8 MiB
        with socket.create_connection(("127.0.0.1", s.port), 10) as so:
            so.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                       b"Content-Length: 9000000\r\n\r\n")
            head = so.recv(4096)
        check(head.startswith(b"HTTP/1.1 413"), "413 %r" % head[:40])
        # 413 after reading a chunked body over 8 MiB (http.client sends an
        # iterable body chunked)
        st, _, _ = s.request("POST", "/v1/chat/completions",
                             iter([b"a" * 65536] * 144))
        check(st == 413, "413 chunked")
        st, _, body = s.request("POST", "/v1/completions",
                                iter([b'{"prompt":', b' "add"}']))
        check(st == 200 and json.loads(body)["choices"][0]["text"].startswith(
            "def add"), "chunked request")

        log = s.log()
        check([x["n"] for x in log] == list(range(1, len(log) + 1)), "log n")
        first = log[2]
        sent = json.dumps({"model": "m", "messages": [
            {"role": "system", "content": "You write Python."},
            {"role": "user", "content": "please add two numbers"}]}).encode()
        check(first["path"] == "/v1/chat/completions" and
              first["hash"] == fnv1a(sent) and
              first["prompt"] == "please add two numbers" and
              first["fault"] is None and first["status"] == 200,
              "log line %r" % first)
        check(log[-3]["status"] == 413 and log[-3]["hash"] is None and
              log[-2]["status"] == 413 and
              log[-2]["hash"] == fnv1a(b"a" * 65536 * 144), "log 413")
        long_prompt = "é" * 300
        s.chat(long_prompt)
        check(s.log()[-1]["prompt"] == "é" * 200, "log prompt cut")
    finally:
        check(s.stop() == 0, "stop endpoints")


def expect_error(fn, kinds, what):
    try:
        fn()
    except kinds:
        return
    except Exception as e:  # noqa: BLE001 - reported as a failure
        check(False, "%s: raised %r" % (what, e))
        return
    check(False, "%s: no error" % what)


def test_faults(tmp):
    script = {"faults": [
        {"kind": "slow", "when": {"match": "F-slow"}, "delay_ms": 600},
        {"kind": "429", "when": {"match": "F-429", "times": 2},
         "retry_after": 7},
        {"kind": "500", "when": {"match": "F-500"}},
        {"kind": "503", "when": {"match": "F-503"}, "retry_after": 1},
        {"kind": "malformed", "when": {"match": "F-malformed"}},
        {"kind": "truncated", "when": {"match": "F-truncated"}},
        {"kind": "reset", "when": {"match": "F-reset"}},
        {"kind": "reset", "when": {"match": "F-rst"}, "rst": True},
        {"kind": "content_type", "when": {"match": "F-ctype"}},
        {"kind": "empty_choices", "when": {"match": "F-empty"}},
        {"kind": "hang", "when": {"match": "F-hang"}, "delay_ms": 3000},
        {"kind": "few_choices", "when": {"match": "F-few"}, "choices": 2},
        {"kind": "shuffled_choices", "when": {"match": "F-shuf"}},
        {"kind": "no_usage", "when": {"match": "F-nousage"}},
    ]}
    s = Server(tmp, script, ["--threads", "1"])
    try:
        t = time.time()
        st, _, _ = s.chat("F-slow")
        check(st == 200 and time.time() - t >= 0.55, "slow")
        for i in range(3):
            st, r, body = s.chat("F-429")
            if i < 2:
                check(st == 429 and r.getheader("Retry-After") == "7" and
                      json.loads(body)["error"]["code"] ==
                      "rate_limit_exceeded", "429 #%d" % i)
            else:
                check(st == 200, "429 times exhausted")
        st, _, body = s.chat("F-500")
        check(st == 500 and json.loads(body)["error"]["type"] ==
              "server_error", "500")
        st, r, _ = s.chat("F-503")
        check(st == 503 and r.getheader("Retry-After") == "1", "503")
        st, _, body = s.chat("F-malformed")
        check(st == 200, "malformed status")
        expect_error(lambda: json.loads(body), ValueError, "malformed body")
        expect_error(lambda: s.chat("F-truncated"), http.client.IncompleteRead,
                     "truncated")
        expect_error(lambda: s.chat("F-reset"), http.client.RemoteDisconnected,
                     "reset")
        try:
            s.chat("F-rst")
            check(False, "rst: no error")
        except ConnectionResetError as e:
            check(not isinstance(e, http.client.RemoteDisconnected),
                  "rst is a TCP reset, not an orderly close")
        st, r, body = s.chat("F-ctype")
        check(st == 200 and r.getheader("Content-Type") == "text/html" and
              json.loads(body)["choices"], "content_type")
        st, _, body = s.chat("F-empty")
        check(st == 200 and json.loads(body)["choices"] == [], "empty_choices")

        # A hang holds no thread: with --threads 1 others still get answers.
        th = threading.Thread(target=lambda: expect_error(
            lambda: s.chat("F-hang", timeout=1.5), socket.timeout, "hang"))
        th.start()
        time.sleep(0.2)
        t = time.time()
        st, _, _ = s.request("GET", "/health")
        check(st == 200 and time.time() - t < 0.5, "served during a hang")
        th.join()

        faults = [x["fault"] for x in s.log() if x["path"] != "/health"]
        check(faults == ["slow", "429", "429", None, "500", "503", "malformed",
                         "truncated", "reset", "reset", "content_type",
                         "empty_choices", "hang"], "log faults %r" % faults)
        statuses = [x["status"] for x in s.log()]
        check(statuses[8:10] == [None, None], "no status for resets")

        # Servers that cap n, reorder choices, or give no usage.
        st, _, body = s.chat("F-few", n=4)
        a = json.loads(body)
        check(st == 200 and [c["index"] for c in a["choices"]] == [0, 1],
              "few_choices: the first 2 of 4")
        st, _, body = s.chat("F-shuf", n=3)
        a = json.loads(body)
        check(st == 200 and [c["index"] for c in a["choices"]] == [2, 1, 0],
              "shuffled_choices: reversed, each with its index")
        st, _, body = s.chat("F-nousage")
        a = json.loads(body)
        check(st == 200 and "usage" not in a and a["choices"],
              "no_usage: no usage member")

        # SIGTERM while a client waits on a hang: clean and quick.
        th = threading.Thread(target=lambda: expect_error(
            lambda: s.chat("F-hang", timeout=20), OSError,
            "hang cut by shutdown"))
        th.start()
        time.sleep(0.3)
        t = time.time()
        check(s.stop() == 0 and time.time() - t < 5, "stop during a hang")
        th.join()
    finally:
        if s.proc.poll() is None:
            s.stop()


def test_when(tmp):
    s = Server(tmp, {"faults": [
        {"kind": "500", "when": {"nth": 2}},
        {"kind": "503", "when": {"every": 3}},
        {"kind": "429", "when": {"all": True, "times": 1}},
        {"kind": "429", "when": {"match": "conc", "times": 5}}]})
    try:
        s.request("GET", "/health")    # does not count for nth/every
        got = [s.chat("x")[0] for _ in range(7)]
        check(got == [429, 500, 503, 200, 200, 503, 200], "when %r" % got)

        # Counters are exact under concurrency: of generation requests
        # 8..87, "every 3" takes the multiples of 3 and the "conc" fault
        # exactly 5 of the others.
        results = []
        lock = threading.Lock()

        def worker():
            for _ in range(10):
                st = s.chat("conc")[0]
                with lock:
                    results.append(st)
        ths = [threading.Thread(target=worker) for _ in range(8)]
        for th in ths:
            th.start()
        for th in ths:
            th.join()
        check(len(results) == 80 and results.count(429) == 5 and
              results.count(503) == sum(1 for n in range(8, 88)
                                        if n % 3 == 0) and
              results.count(503) + 5 + results.count(200) == 80,
              "concurrent counters %r" % sorted(set(results)))
    finally:
        check(s.stop() == 0, "stop when")


def test_lifecycle(tmp):
    s = Server(tmp)
    s.proc.stdin.close()
    try:
        rc = s.proc.wait(5)
    except subprocess.TimeoutExpired:
        s.proc.kill()
        rc = "still running"
    check(rc == 0, "stdin lifeline: %r" % rc)

    p = subprocess.Popen([BIN, "--port", "0"], stdout=subprocess.PIPE)
    port = int(p.stdout.readline())
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    c.request("GET", "/health")
    check(c.getresponse().status == 200, "port on stdout")
    c.close()
    p.send_signal(signal.SIGINT)
    check(p.wait(5) == 0, "SIGINT")
    p.stdout.close()

    path = os.path.join(tmp, "bad.json")
    for bad in ['{"faults": [{"kind": "nope", "when": {"all": true}}]}',
                '{"faults": [{"kind": "slow", "delay": 1, '
                '"when": {"all": true}}]}',
                '{"answers": [{"match": "x"}]}', '{']:
        with open(path, "w") as f:
            f.write(bad)
        r = subprocess.run([BIN, "--script", path], stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           timeout=5)
        check(r.returncode == 2 and r.stderr, "bad script %s" % bad)


def main():
    global BIN
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    BIN = os.path.abspath(sys.argv[1])
    with tempfile.TemporaryDirectory() as tmp:
        for t in (test_endpoints, test_faults, test_when, test_lifecycle):
            print("--", t.__name__, flush=True)
            t(tmp)
    if FAILS:
        print("%d check(s) failed" % len(FAILS))
        sys.exit(1)
    print("all fakeai checks passed")


if __name__ == "__main__":
    main()
