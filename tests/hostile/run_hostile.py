#!/usr/bin/python3
"""The hostile-program suite: runs tests/hostile/cases/*.case through
`kiln verify` and checks the verdicts and the host afterwards.

    /usr/bin/python3 tests/hostile/run_hostile.py build/kiln [options]

Every candidate runs only inside kiln's sandbox: this script never executes
case code itself, it only writes it into kiln's input.

What is checked (see README.md):
  * each case's verdict status is the expected one;
  * every kiln verify run exits 0 and answers every record;
  * no process survives a kiln run: none with a host uid from the kiln
    process's range (0x60000000 + (pid & 0xffff) << 8 ...; when run as
    root), none whose command line carries this run's marker, and no
    orphan re-parented to this script (a child subreaper);
  * while kiln ran, the same scan did see box processes (so the stray
    check above is not blind);
  * nothing outside the sandbox changed: canary files in a host temp
    directory (which cases try to read, write and delete) are unchanged,
    no file named after the marker appeared at fixed host paths, /dev/null
    is intact, the host's listening sockets got no connection or datagram,
    and no signal reached this script.

Output: one line per check, "PASS|FAIL name expected=... got=...", then a
final line "N passed, M failed". Exit status 1 if anything failed.
"""

import argparse
import ctypes
import errno
import glob
import hashlib
import json
import os
import re
import secrets
import select
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
CASES_DIR = os.path.join(HERE, "cases")

STATUSES = {"pass", "fail", "error", "timeout", "memory", "output_limit",
            "killed", "sandbox_error"}
LANGUAGES = {"python", "c", "cpp", "js", "go", "java", "rust", "lua",
             "ocaml", "tcl", "racket"}

# One kiln verify run per group, same limits for both. "parallel" runs on
# two boxes at once. "serial" runs on one box (-j 1), one case at a time in
# file order: for cases that must have the machine to themselves (fork and
# thread bombs, a memory hoard: on 2 cores a spinning bomb would starve a
# case running beside it into a timeout) and for pairs whose second half
# checks what the first half left behind in the same box. "slow" is
# "parallel" with a 10 s timeout, for a runtime whose start alone takes
# half a second of CPU (Racket: loading racket and expanding the job),
# which a loaded 2-core machine stretches past 2 s.
COMMON_FLAGS = ["--timeout", "2s", "--memory", "256M", "--output-limit", "1M",
                "--nproc", "64"]
GROUPS = {
    "parallel": {"jobs": 2, "flags": COMMON_FLAGS},
    "slow": {"jobs": 2, "flags": ["--timeout", "10s"] + COMMON_FLAGS[2:]},
    "serial": {"jobs": 1, "flags": COMMON_FLAGS},
}
GROUP_ORDER = ["parallel", "slow", "serial"]
KILN_WALL_LIMIT = 150      # seconds for one kiln verify run
BOX_UID_BASE = 0x60000000
AIO_SLACK = 4096           # fs.aio-nr rise tolerated (other host users)

SEP_RE = re.compile(r"^--- (solution|setup|test|io|program)\s*$")
HEAD_RE = re.compile(r"^#\s*([a-z_]+)\s*:\s*(.*)$")


# ------------------------------------------------------------------ cases

class Case:
    def __init__(self, path):
        self.path = path
        stem = os.path.splitext(os.path.basename(path))[0]
        self.name = re.sub(r"^\d+[-_]", "", stem)
        self.meta = {}
        self.solution = None
        self.tests = []
        self.program = None
        self.setup = None
        self._parse()

    def _parse(self):
        with open(self.path, encoding="utf-8") as f:
            lines = f.read().splitlines(keepends=True)
        cur = None
        sections = []
        key = None
        for ln in lines:
            m = SEP_RE.match(ln)
            if m:
                cur = [m.group(1), []]
                sections.append(cur)
                continue
            if cur is not None:
                cur[1].append(ln)
                continue
            m = HEAD_RE.match(ln)
            if m:
                key = m.group(1)
                self.meta[key] = m.group(2).strip()
            elif ln.startswith("#") and key:
                # continuation of the previous header field
                self.meta[key] += " " + ln.lstrip("#").strip()
            elif ln.strip():
                raise ValueError("%s: text before the first section: %r"
                                 % (self.path, ln))
        for kind, body in sections:
            text = "".join(body)
            if kind == "solution":
                if self.solution is not None:
                    raise ValueError("%s: two solutions" % self.path)
                self.solution = text
            elif kind == "setup":
                self.setup = text
            elif kind == "test":
                self.tests.append(text)
            elif kind == "io":
                # An I/O test: the call, then "=== " and the expected
                # literal (docs/FORMATS.md).
                call, sep, want = text.partition("\n=== ")
                if not sep:
                    raise ValueError("%s: an io section needs '=== '"
                                     % self.path)
                self.tests.append({"call": call.strip(),
                                   "expect": want.strip()})
            else:
                self.program = text
        for field in ("language", "expect", "why"):
            if not self.meta.get(field):
                raise ValueError("%s: missing '# %s:'" % (self.path, field))
        self.language = self.meta["language"]
        if self.language not in LANGUAGES:
            raise ValueError("%s: language %r" % (self.path, self.language))
        self.expect = [s.strip() for s in self.meta["expect"].split("|")]
        for s in self.expect:
            if s not in STATUSES:
                raise ValueError("%s: unknown status %r" % (self.path, s))
        self.group = self.meta.get("group", "parallel")
        if self.group not in GROUPS:
            raise ValueError("%s: unknown group %r" % (self.path, self.group))
        if self.solution is None:
            raise ValueError("%s: no '--- solution'" % self.path)
        if bool(self.tests) == (self.program is not None):
            raise ValueError("%s: need '--- test' sections or one "
                             "'--- program'" % self.path)

    def record(self, subst):
        tag = "kiln-hostile @MARKER@ case=%s" % self.name
        if self.language in ("c", "cpp", "js", "java"):
            head = "/* %s */\n" % tag
        elif self.language in ("go", "rust"):
            head = "// %s\n" % tag
        elif self.language == "lua":
            head = "-- %s\n" % tag
        elif self.language == "ocaml":
            head = "(* %s *)\n" % tag
        elif self.language == "racket":
            head = "; %s\n" % tag
        else:
            head = "# %s\n" % tag
        rec = {"id": self.name, "language": self.language,
               "solution": subst(head + self.solution)}
        if self.setup is not None:
            rec["test_setup"] = subst(self.setup)
        if self.meta.get("atol"):
            rec["atol"] = float(self.meta["atol"])
        if self.meta.get("entry_point"):
            rec["entry_point"] = self.meta["entry_point"]
        if self.program is not None:
            rec["tests"] = subst(self.program)
        else:
            rec["tests"] = [{k: subst(v) for k, v in t.items()}
                            if isinstance(t, dict) else subst(t)
                            for t in self.tests]
        return rec


def load_cases(only):
    paths = sorted(glob.glob(os.path.join(CASES_DIR, "*.case")))
    cases = [Case(p) for p in paths]
    names = [c.name for c in cases]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise ValueError("duplicate case names: %s" % ", ".join(sorted(dup)))
    if only:
        want = set(only)
        unknown = want - set(names)
        if unknown:
            raise ValueError("unknown cases: %s" % ", ".join(sorted(unknown)))
        cases = [c for c in cases if c.name in want]
    return cases


# ---------------------------------------------------------- /proc scanning

def proc_info(pid):
    """(uids, ppid, cmdline bytes) of a process, or None if it is gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            status = f.read()
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            cmdline = f.read()
    except OSError:
        return None
    uids, ppid = [], 0
    for line in status.splitlines():
        if line.startswith("Uid:"):
            uids = [int(x) for x in line.split()[1:]]
        elif line.startswith("PPid:"):
            ppid = int(line.split()[1])
    return uids, ppid, cmdline


def all_pids():
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


class Scanner:
    """Finds box processes: by host uid range, by marker, by parent."""

    def __init__(self, marker):
        self.marker = marker.encode()
        self.me = os.getpid()
        self.root = os.geteuid() == 0
        self.uid_ranges = []    # [lo, hi) of every kiln run so far

    def add_kiln(self, kiln_pid):
        if self.root:
            lo = BOX_UID_BASE + ((kiln_pid & 0xffff) << 8)
            self.uid_ranges.append((lo, lo + 256))

    def match(self, pid, info, parent_check):
        uids, ppid, cmdline = info
        why = []
        for lo, hi in self.uid_ranges:
            if any(lo <= u < hi for u in uids):
                why.append("box uid %#x" % uids[0])
                break
        if self.marker in cmdline:
            why.append("marker in cmdline")
        if parent_check and ppid == self.me:
            why.append("orphan re-parented to the driver")
        return why

    def scan(self, parent_check):
        found = {}
        for pid in all_pids():
            if pid == self.me:
                continue
            info = proc_info(pid)
            if info is None:
                continue
            why = self.match(pid, info, parent_check)
            if why:
                cmd = info[2].replace(b"\0", b" ").decode("utf-8", "replace")
                found[pid] = "%s [%s]" % (cmd.strip()[:80], ", ".join(why))
        return found


def aio_nr():
    """The host's AIO contexts in use (fs.aio-nr), or None."""
    try:
        with open("/proc/sys/fs/aio-nr") as f:
            return int(f.read())
    except (OSError, ValueError):
        return None


class Sampler(threading.Thread):
    """Scans /proc while kiln runs: proves the scan sees box processes,
    and records the peak of the host's AIO pool in use."""

    def __init__(self, scanner):
        super().__init__(daemon=True)
        self.scanner = scanner
        self.stop = threading.Event()
        self.seen_uid = 0
        self.seen_marker = 0
        self.aio_base = aio_nr()
        self.aio_peak = self.aio_base

    def run(self):
        while not self.stop.is_set():
            for desc in self.scanner.scan(parent_check=False).values():
                if "box uid" in desc:
                    self.seen_uid += 1
                if "marker in cmdline" in desc:
                    self.seen_marker += 1
            n = aio_nr()
            if n is not None and self.aio_peak is not None:
                self.aio_peak = max(self.aio_peak, n)
            self.stop.wait(0.02)


def reap_orphans():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


# --------------------------------------------------------------- the host

class Listeners(threading.Thread):
    """Host sockets the cases try to reach; any contact is a failure."""

    def __init__(self, marker, unix_path):
        super().__init__(daemon=True)
        self.contacts = []
        self.stop = threading.Event()
        self.socks = {}
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        self.tcp_port = s.getsockname()[1]
        self.socks[s] = "tcp 127.0.0.1"
        self.tcp6_port = 9
        try:
            s6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            s6.bind(("::1", 0))
            s6.listen(16)
            self.tcp6_port = s6.getsockname()[1]
            self.socks[s6] = "tcp [::1]"
        except OSError:
            pass
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("127.0.0.1", 0))
        self.udp_port = u.getsockname()[1]
        self.socks[u] = "udp 127.0.0.1"
        self.abstract = "kiln-hostile-%s" % marker
        a = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        a.bind("\0" + self.abstract)
        a.listen(16)
        self.socks[a] = "unix @" + self.abstract
        p = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        p.bind(unix_path)
        p.listen(16)
        self.socks[p] = "unix " + unix_path
        for sock in self.socks:
            sock.setblocking(False)

    def run(self):
        while not self.stop.is_set():
            r, _, _ = select.select(list(self.socks), [], [], 0.1)
            for sock in r:
                what = self.socks[sock]
                try:
                    if sock.type == socket.SOCK_DGRAM:
                        data, addr = sock.recvfrom(4096)
                        self.contacts.append("%s: datagram %r" % (what, data[:60]))
                    else:
                        conn, addr = sock.accept()
                        self.contacts.append("%s: connection" % what)
                        conn.close()
                except OSError:
                    pass

    def close(self):
        self.stop.set()
        self.join(2)
        for sock in self.socks:
            sock.close()


def file_state(path):
    st = os.lstat(path)
    h = None
    if stat.S_ISREG(st.st_mode):
        with open(path, "rb") as f:
            h = hashlib.sha256(f.read()).hexdigest()
    return (st.st_mode, st.st_size, st.st_mtime_ns, st.st_ino, h)


def tree_state(root):
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            out[os.path.relpath(p, root)] = file_state(p)
    out["."] = file_state(root)
    return out


def host_ipc_queue(key):
    """Creates a System V message queue on the host (a box must not see
    it). Returns its id, or -1 if this host offers none."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.msgget(ctypes.c_int(key), 0o1000 | 0o600)  # IPC_CREAT
    except (OSError, AttributeError):
        return -1


def host_ipc_remove(qid):
    if qid < 0:
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.msgctl(qid, 0, None)  # IPC_RMID
    except (OSError, AttributeError):
        pass


def set_subreaper():
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


# ------------------------------------------------------------- reporting

class Report:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def line(self, ok, name, expected, got, details=()):
        print("%s %s expected=%s got=%s" % ("PASS" if ok else "FAIL", name,
                                           expected, got))
        if not ok:
            for d in details:
                print("    " + d)
        sys.stdout.flush()
        if ok:
            self.passed += 1
        else:
            self.failed += 1


def verdict_details(v):
    out = []
    for i, t in enumerate(v.get("tests") or []):
        if t.get("status") != "pass" or t.get("detail"):
            out.append("test %d: %s %s" % (i, t.get("status"),
                                           (t.get("detail") or "")[:200]))
    err = (v.get("stderr") or "").strip()
    if err:
        out.append("stderr: " + err[-300:].replace("\n", " | "))
    return out[:8]


def print_table(cases):
    print("| # | case | lang | group | expected | what it tries, and why |")
    print("|---|------|------|-------|----------|------------------------|")
    for i, c in enumerate(cases, 1):
        why = c.meta["why"].replace("|", "\\|")
        print("| %d | `%s` | %s | %s | %s | %s |" % (
            i, c.name, c.language, c.group,
            " or ".join("`%s`" % e for e in c.expect), why))


# ------------------------------------------------------------------ main

def run_group(kiln, group, cases, subst, scanner, env, workdir, report):
    """Runs one kiln verify over cases. Returns {id: verdict}."""
    cfg = GROUPS[group]
    out_path = os.path.join(workdir, "verdicts-%s.jsonl" % group)
    log_path = os.path.join(workdir, "kiln-%s.log" % group)
    argv = [kiln, "verify", "-q", "-j", str(cfg["jobs"])] + cfg["flags"] + \
           ["-o", out_path, "-"]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=log,
                                stderr=log, env=env)
    scanner.add_kiln(proc.pid)
    sampler = Sampler(scanner)
    sampler.start()
    in_path = os.path.join(workdir, "input-%s.jsonl" % group)
    lines = []
    for c in cases:
        rec = c.record(lambda s: subst(s, {"@KILN_PID@": str(proc.pid)}))
        lines.append(json.dumps(rec) + "\n")
    with open(in_path, "w") as f:
        f.writelines(lines)

    def feed():
        try:
            for ln in lines:
                proc.stdin.write(ln.encode())
            proc.stdin.close()
        except OSError:
            pass
    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    t0 = time.monotonic()
    try:
        rc = proc.wait(KILN_WALL_LIMIT)
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = proc.wait()
        rc = "killed after %ds" % KILN_WALL_LIMIT
    elapsed = time.monotonic() - t0
    sampler.stop.set()
    sampler.join()
    feeder.join(5)
    with open(log_path, "rb") as f:
        log = f.read().decode("utf-8", "replace").strip()
    report.line(rc == 0, "[kiln-%s] kiln verify exit status" % group, 0, rc,
                [log[-600:]] if log else [])
    verdicts = {}
    if os.path.exists(out_path):
        with open(out_path) as f:
            for ln in f:
                ln = ln.strip()
                if ln:
                    v = json.loads(ln)
                    verdicts[v.get("id")] = v
    return verdicts, sampler, elapsed


def check_strays(scanner, report, label):
    """After a kiln run: nothing of it may be left. Waits up to 3 s for
    processes the kernel is still tearing down."""
    deadline = time.monotonic() + 3.0
    while True:
        reap_orphans()
        found = scanner.scan(parent_check=True)
        if not found or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    details = ["pid %d: %s" % kv for kv in sorted(found.items())]
    report.line(not found, "[host] no stray process after %s" % label, 0,
                len(found), details)
    for pid in found:
        # Descendants of the kiln run this script started: stop them.
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    time.sleep(0.1)
    reap_orphans()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("kiln", nargs="?", help="path to the kiln binary")
    ap.add_argument("--only", help="comma-separated case names")
    ap.add_argument("--keep", action="store_true",
                    help="keep the work directory (inputs, verdicts)")
    ap.add_argument("--table", action="store_true",
                    help="print the README's table of cases and exit")
    args = ap.parse_args()
    if args.table:
        print_table(load_cases(None))
        return 0
    if not args.kiln:
        ap.error("the kiln binary is required")
    t_start = time.monotonic()
    kiln = os.path.abspath(args.kiln)
    if not os.access(kiln, os.X_OK):
        print("FAIL [setup] %s is not executable" % kiln)
        print("0 passed, 1 failed")
        return 1
    cases = load_cases(args.only.split(",") if args.only else None)

    marker = "khm" + secrets.token_hex(8)
    secret = "kiln-hostile-secret-" + secrets.token_hex(8)
    workdir = tempfile.mkdtemp(prefix="kiln-hostile-work-")
    canary_dir = tempfile.mkdtemp(prefix="kiln-hostile-canary-")
    canary_file = os.path.join(canary_dir, "canary.txt")
    with open(canary_file, "w") as f:
        f.write("canary %s\n" % secrets.token_hex(16))
    os.mkdir(os.path.join(canary_dir, "subdir"))
    with open(os.path.join(canary_dir, "subdir", "inner.txt"), "w") as f:
        f.write("inner canary\n")
    unix_path = os.path.join(canary_dir, "listen.sock")
    listeners = Listeners(marker, unix_path)
    canaries = tree_state(canary_dir)
    devnull = os.stat("/dev/null")
    ipc_key = int(marker[3:10], 16) | 0x10000000
    ipc_qid = host_ipc_queue(ipc_key)

    signals_got = []
    for sig in (signal.SIGUSR1, signal.SIGUSR2, signal.SIGHUP):
        signal.signal(sig, lambda s, fr: signals_got.append(s))
    subreaper = set_subreaper()

    values = {
        "@MARKER@": marker,
        "@SECRET@": secret,
        "@CANARY_DIR@": canary_dir,
        "@CANARY_FILE@": canary_file,
        "@UNIX_PATH@": unix_path,
        "@UNIX_ABSTRACT@": listeners.abstract,
        "@TCP_PORT@": str(listeners.tcp_port),
        "@TCP6_PORT@": str(listeners.tcp6_port),
        "@UDP_PORT@": str(listeners.udp_port),
        "@DRIVER_PID@": str(os.getpid()),
        "@REPO@": REPO,
        "@KILN_DIR@": os.path.dirname(kiln),
        "@HOST_IPC_KEY@": str(ipc_key),
        "@NCPUS@": str(len(os.sched_getaffinity(0))),
        # kiln runs at the nice value it was started with (ctest under
        # nice -n 10): a candidate must see that, not a later one
        "@NICE@": str(os.getpriority(os.PRIO_PROCESS, 0)),
    }

    def subst(text, extra):
        for k, v in list(values.items()) + list(extra.items()):
            text = text.replace(k, v)
        left = re.findall(r"@[A-Z0-9_]+@", text)
        if left:
            raise ValueError("unknown placeholder(s) %s" % sorted(set(left)))
        return text

    env = dict(os.environ)
    env["KILN_HOSTILE_SECRET"] = secret
    scanner = Scanner(marker)
    report = Report()
    listeners.start()
    print("kiln hostile suite: %d cases, marker %s, kiln %s" %
          (len(cases), marker, kiln))
    sys.stdout.flush()
    seen_uid = seen_marker = 0
    try:
        for group in GROUP_ORDER:
            gcases = [c for c in cases if c.group == group]
            if not gcases:
                continue
            verdicts, sampler, elapsed = run_group(
                kiln, group, gcases, subst, scanner, env, workdir, report)
            seen_uid += sampler.seen_uid
            seen_marker += sampler.seen_marker
            if sampler.aio_base is not None:
                # A box must not take from the machine's AIO pool (other
                # processes on the host may use a little meanwhile).
                rise = sampler.aio_peak - sampler.aio_base
                report.line(rise < AIO_SLACK, "[host] fs.aio-nr did not "
                            "rise while kiln ran '%s'" % group,
                            "<%d" % AIO_SLACK, rise)
            for c in gcases:
                v = verdicts.get(c.name)
                exp = "|".join(c.expect)
                if v is None:
                    report.line(False, c.name, exp, "no-verdict",
                                ["kiln gave no verdict for this case"])
                    continue
                got = v.get("status")
                report.line(got in c.expect, c.name, exp, got,
                            verdict_details(v))
            check_strays(scanner, report, "kiln run '%s' (%.1fs)" %
                         (group, elapsed))
    finally:
        listeners.close()
        host_ipc_remove(ipc_qid)

    # The stray check must not be blind: the scan saw box processes while
    # kiln ran (cases such as sleep_past_wall keep one alive for a second).
    if not args.only:
        if scanner.root:
            report.line(seen_uid > 0, "[host] scan saw box uids while kiln "
                        "ran", ">0", seen_uid)
        report.line(seen_marker > 0, "[host] scan saw marked box processes "
                    "while kiln ran", ">0", seen_marker)
    report.line(subreaper, "[host] driver is a child subreaper", True,
                subreaper)

    # Nothing outside the sandbox changed.
    now = tree_state(canary_dir)
    diff = sorted(k for k in set(canaries) | set(now)
                  if canaries.get(k) != now.get(k))
    report.line(not diff, "[host] canary directory unchanged", 0, len(diff),
                ["changed: " + d for d in diff])
    places = ["/", "/tmp", "/var/tmp", "/root", "/etc", "/usr", "/usr/local",
              "/dev", "/dev/shm", "/home", REPO, os.path.dirname(kiln), HERE,
              canary_dir, os.getcwd(), tempfile.gettempdir()]
    places += glob.glob("/home/*")
    leaked = set()
    for d in places:
        leaked.update(glob.glob(os.path.join(glob.escape(d), "*%s*" % marker)))
    report.line(not leaked, "[host] no file named after the marker on the "
                "host", 0, len(leaked), sorted(leaked))
    for p in leaked:   # created by a breach: remove what we can
        try:
            if os.path.isdir(p) and not os.path.islink(p):
                shutil.rmtree(p)
            else:
                os.unlink(p)
        except OSError:
            pass
    dn = os.stat("/dev/null")
    ok = (stat.S_ISCHR(dn.st_mode) and dn.st_rdev == devnull.st_rdev and
          stat.S_IMODE(dn.st_mode) == stat.S_IMODE(devnull.st_mode))
    report.line(ok, "[host] /dev/null intact", oct(devnull.st_mode),
                oct(dn.st_mode))
    report.line(not listeners.contacts, "[host] no connection reached host "
                "sockets", 0, len(listeners.contacts), listeners.contacts)
    report.line(not signals_got, "[host] no signal reached the driver", 0,
                len(signals_got), [str(s) for s in signals_got])

    shutil.rmtree(canary_dir, ignore_errors=True)
    if args.keep:
        print("work directory kept: %s" % workdir)
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    print("suite took %.1fs" % (time.monotonic() - t_start))
    print("%d passed, %d failed" % (report.passed, report.failed))
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
