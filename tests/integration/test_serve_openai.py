#!/usr/bin/python3
"""kiln serve driven by the official openai npm client (Node).

Usage: test_serve_openai.py KILN MKMODEL NODE_DIR

NODE_DIR is tests/serve/node: package.json pins the openai package, which
scripts/install-deps.sh installs there with `npm ci`; openai_client.mjs
holds the checks (chat, n > 1, streaming, content parts, the developer
role, logprobs, array prompts, stop, models.list and models.retrieve, and
errors raised as the client's APIError subclasses with their status). This
script writes mkmodel's small random-weight model, starts kiln serve on a
free loopback port, runs the checks with node and stops the server (which
must exit 0).
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

KILN, MKMODEL, NODE_DIR = (os.path.abspath(a) for a in sys.argv[1:4])


def main():
    node = shutil.which("node")
    if not node or not os.path.isdir(os.path.join(NODE_DIR, "node_modules",
                                                  "openai")):
        print("FAIL node and the openai package are needed: run "
              "scripts/install-deps.sh (node: %s)" % node)
        return 1
    tmp = tempfile.mkdtemp(prefix="kiln-serve-openai-")
    model = os.path.join(tmp, "small.bin")
    subprocess.run([MKMODEL, model, "--ctx", "512", "--scale", "4"],
                   check=True, stdout=subprocess.DEVNULL)
    log = os.path.join(tmp, "serve.log")
    with open(log, "w") as logf:
        srv = subprocess.Popen([KILN, "serve", "-m", model, "--port", "0",
                                "--model-name", "small"], stderr=logf)
    url = None
    for _ in range(1000):
        m = re.search(r"listening on (http://127\.0\.0\.1:\d+/v1)",
                      open(log).read())
        if m:
            url = m.group(1)
            break
        if srv.poll() is not None:
            break
        time.sleep(0.01)
    if not url:
        srv.kill()
        print("FAIL server did not start:\n" + open(log).read())
        return 1
    try:
        rc = subprocess.run([node, os.path.join(NODE_DIR,
                                                "openai_client.mjs"),
                             url, "small"], timeout=300).returncode
    finally:
        srv.terminate()
        try:
            src = srv.wait(60)
        except subprocess.TimeoutExpired:
            srv.kill()
            src = srv.wait()
    print("%s server exits 0 on SIGTERM (%s)" % ("PASS" if src == 0
                                                 else "FAIL", src))
    if rc or src:
        print("server log: " + log)
        return 1
    shutil.rmtree(tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
