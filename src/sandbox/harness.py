# kiln sandbox harness: runs as PID 1 of a sandbox (see src/sandbox/box.c).
#
# By the time this file runs, kiln's C code has already put the process in
# new user/PID/mount/network/IPC/UTS namespaces, pivoted into a read-only
# root, dropped every capability, applied rlimits and a seccomp filter.
#
#   fd 0  jobs from kiln: "<len_a> <len_b>\n", then part A (a JSON object:
#         limits, mode, the solution, ...) and part B (the tests)
#   fd 1  results to kiln, one JSON object a line
#
# Python jobs are judged by two processes that PID 1 forks for each run:
#
#   candidate (C)  runs the solution and nothing else; serves requests
#   judge (J)      runs the tests; decides every test's status
#
# Only plain data crosses from C to J (the wire format below: None, bool,
# int, float, complex, str, bytes, list, tuple, dict, set, frozenset, and
# a few stdlib containers), decoded by J's own code into objects of exact
# built-in types. Anything else the candidate hands over (its functions,
# classes, instances) reaches J as a Handle: an opaque reference whose
# operations are forwarded to C, and which J never lets decide a
# comparison with a plain value. So an object whose __eq__ is always true,
# a patched builtins module, a trace function, gc.get_objects() or ctypes
# in C change nothing in J: they are not in J's process.
#
# The tests never enter PID 1's memory (C is forked from PID 1, so whatever
# PID 1 held, C could read): part B is spliced from the job socket into a
# memfd that only J reads, and J's per-test details (failure messages,
# which may quote expected values) are spliced from J's pipe into the
# reply without PID 1 reading them. PID 1 hears from J only "test i ended
# with status s" ticks, and stamps them with its own clock: deadlines never
# depend on anything a child reports.
#
# Being PID 1 of the namespace matters twice: signals sent from inside the
# namespace cannot kill it, and kill(-1, SIGKILL) from it removes every other
# process in the box, so nothing outlives a run. After each run /tmp is
# emptied and its own attributes (mode, xattrs and ACLs, inode flags) are
# put back; if they cannot be, the box is rebuilt.
#
# Compiled languages ("exec") get a compile step and one program run per
# test; kiln's generated entry point writes the nonce to fd 3 when the test
# body has returned (judge "in-process": see docs/SANDBOX.md).

import gc
import os
import sys
import json
import time
import signal
import select
import resource
import stat
import struct
import builtins
import ast

# Imported up front so that a forked child finds them ready: this is what
# makes a warm run cheap. The list is what HumanEval's and MBPP's solutions
# and tests import (re 79 times, math 49, collections 28, typing 21, heapq
# 18, itertools 12, ... hashlib and datetime once each).
import math, re, string, collections, itertools, functools, heapq, bisect  # noqa
import typing, copy, random, operator, cmath, array  # noqa

# The modules above (and builtins): the only ones the judge resolves names
# in when the candidate sends one ("g"), never importing anything on its
# say (an import runs code: unittest.__main__ runs test discovery).
_WARM = ("builtins", "math", "re", "string", "collections", "itertools",
         "functools", "heapq", "bisect", "typing", "copy", "random",
         "operator", "cmath", "array")

WORKDIR = "/tmp/w"
TAIL = 4096          # bytes of the candidate's stderr kept per run
RECORD_MAX = 2048    # bytes of a tick record (judge -> PID 1)
DETAIL_MAX = 300     # characters of a test's detail
DETAILS_CAP = 4 << 20   # bytes of details one judge may send for a job
WAKE_BYTES = 1 << 16  # bytes read from one pipe per wake-up
MSG_MAX = 64 << 20   # bytes of one wire message
DEPTH_MAX = 100      # nesting of one wire value
EXIT_CHANNEL = 3     # judge's exit code: the candidate side went away
EXIT_PROTOCOL = 4    # judge's exit code: the candidate broke the protocol

_pack_q = struct.Struct(">q").pack
_pack_I = struct.Struct(">I").pack
_pack_d = struct.Struct(">d").pack
_unpack_q = struct.Struct(">q").unpack_from
_unpack_I = struct.Struct(">I").unpack_from
_unpack_d = struct.Struct(">d").unpack_from


def now_ms():
    return time.monotonic() * 1000.0


def as_text(data):
    """Candidate bytes as text for a JSON reply: NUL spelled out."""
    return data.decode("utf-8", "replace").replace("\0", "\\0")


def describe(exc, _type=type, _str=str):
    try:
        s = "%s: %s" % (_type(exc).__name__, _str(exc))
    except BaseException:  # a candidate's __str__ may raise anything
        s = _type(exc).__name__
    return s[:DETAIL_MAX].replace("\0", "\\0")


def write_all(fd, data):
    while data:
        k = os.write(fd, data)
        data = data[k:]


# ------------------------------------------------------------- wire format
#
# A message is a 4-byte big-endian length and one value. A value is a tag
# byte and its payload:
#
#   N None   T True   F False   E Ellipsis
#   i int64 (8 bytes)           I int: 4-byte length, two's complement
#   f float (8 bytes IEEE)      c complex (2 x 8 bytes)
#   s str, b bytes, B bytearray: 4-byte length, then UTF-8 / raw bytes
#   l list, t tuple, S set, Z frozenset: 4-byte count, then the items
#   d dict: 4-byte count, then key, value, key, value ...
#   o OrderedDict, C Counter: as d       D defaultdict: as d (no factory)
#   Q deque: maxlen (N or i), then as l
#   n namedtuple: type name (s), field names (t), values (t)
#   h an object the sender keeps: kind byte, 8-byte id; kind x (an
#     exception class) adds its name (s) and its nearest built-in base (s)
#   r an object the receiver keeps: 8-byte id (one it sent before)
#   g a stdlib object by name: module (s), qualified name (s)
#
# The judge's decoder trusts nothing: lengths, counts and nesting are
# checked, every object it builds has an exact built-in type (or is its own
# Handle), and a malformed message ends the candidate's part in the run.

class WireError(Exception):
    pass


class ChannelLost(BaseException):
    """The candidate side closed the channel or broke the protocol. A
    BaseException, and remembered by the endpoint: test code that catches
    it still cannot make the test pass (the judge checks the endpoint)."""


HANDLE_KINDS = b"fcoix"   # function, class, object, iterator, exception cls
_STDLIB = frozenset(getattr(sys, "stdlib_module_names", ())) | {"builtins"}
# stdlib modules that act when imported: never imported on a candidate's say
_NO_IMPORT = frozenset({"antigravity", "this", "idlelib", "turtle",
                        "turtledemo", "tkinter", "webbrowser", "pydoc",
                        "test", "ensurepip", "venv", "lib2to3", "pdb",
                        "code", "pydoc_data"})
_PLAIN_SCALARS = (type(None), bool, int, float, complex, str, bytes)
# What the judge never resolves for the candidate by name (Endpoint.by_name,
# _may_name): builtins that run, import or reach code, frames and
# attributes; functions of modules not in _FUNCTION_MODULES; classes
# (exception classes aside) of the modules that reach the process, the
# interpreter, the files or code. The modules themselves still cross (a
# solution's `import os` is the judge's os for the tests).
_NO_BUILTINS = frozenset({"exec", "eval", "compile", "open", "input",
                          "breakpoint", "globals", "locals", "vars",
                          "getattr", "setattr", "delattr", "help", "exit",
                          "quit"})
# Modules whose functions the candidate may name (a solution's `from math
# import gcd`, `reduce`, `heapq.heappush`): pure computation on data.
# Not calendar's nor decimal's: their setfirstweekday and setcontext set
# state for the whole process (hostile 9411).
_FUNCTION_MODULES = frozenset({
    "math", "cmath", "fractions", "numbers", "statistics", "random",
    "string", "re", "textwrap", "unicodedata", "difflib", "collections",
    "heapq", "bisect", "array", "copy", "itertools", "functools",
    "operator", "datetime", "json", "struct", "binascii", "base64",
    "hashlib", "zlib"})


def _may_name(mod, qual, obj):
    """Whether the judge resolves mod.qual for the candidate: a function
    only of builtins (not _NO_BUILTINS) or of _FUNCTION_MODULES; a class
    of any other standard module but those of _NO_MEMBERS (exception
    classes of any)."""
    if isinstance(obj, type):
        return mod not in _NO_MEMBERS or issubclass(obj, BaseException)
    if mod == "builtins":
        return qual not in _NO_BUILTINS
    return mod in _FUNCTION_MODULES


_NO_MEMBERS = frozenset({"os", "posix", "sys", "subprocess", "shutil",
                         "importlib", "runpy", "pickle", "marshal", "shelve",
                         "dbm", "ctypes", "gc", "inspect", "code", "codeop",
                         "pty", "tty", "termios", "signal", "resource",
                         "socket", "select", "selectors", "asyncio",
                         "threading", "multiprocessing", "concurrent", "io",
                         "pathlib", "tempfile", "glob", "fcntl", "mmap",
                         "sqlite3", "pkgutil", "zipimport", "atexit",
                         "weakref", "trace", "tracemalloc", "faulthandler",
                         "pdb", "bdb", "sysconfig", "site", "unittest",
                         "doctest", "types", "copyreg", "timeit",
                         "profile", "cProfile", "typing", "dataclasses"})


def _builtin_exc_base(cls):
    for k in cls.__mro__:
        if (k.__module__ == "builtins" and
                getattr(builtins, k.__name__, None) is k):
            return k.__name__
    return "Exception"


def _stdlib_name(v):
    """(module, qualname) if v is a module or an object reachable by name
    from a stdlib module, else None."""
    t = type(v)
    if t is type(sys):
        name = v.__name__
        if isinstance(name, str) and name.split(".")[0] in _STDLIB and \
                sys.modules.get(name) is v:
            return (name, "")
        return None
    mod = getattr(v, "__module__", None)
    qual = getattr(v, "__qualname__", None) or getattr(v, "__name__", None)
    if type(mod) is not str or type(qual) is not str:
        return None
    if mod.split(".")[0] not in _STDLIB or "<" in qual:
        return None
    m = sys.modules.get(mod)
    obj = m
    try:
        for part in qual.split("."):
            obj = getattr(obj, part)
    except Exception:
        return None
    if obj is not v:
        return None
    if t in _BY_NAME_TYPES and (mod.startswith("_") or "." in mod):
        # a function of a private module (functools.reduce is
        # _functools.reduce): the public module that holds it by that name
        for pub, pm in list(sys.modules.items()):
            if "." not in pub and not pub.startswith("_") and \
                    pub in _STDLIB and getattr(pm, qual, None) is v:
                return (pub, qual)
        return None
    return (mod, qual)


# module, built-in function (math.isclose, len), Python function
# (statistics.mean)
_BY_NAME_TYPES = (type(sys), type(len), type(_stdlib_name))


class _Unresolved:
    """A module or class the candidate sent by name that the judge does not
    hold: the name is left out of the tests' namespace."""


_UNRESOLVED = _Unresolved()


class Raw(bytes):
    """A value already encoded (Encoder.value), embedded as it is: one
    value that cannot be sent as data becomes a Handle on its own, not
    the whole message around it."""


class Encoder:
    """Builds messages. Both sides use it; the candidate's copy is the
    candidate's to break (it can only send what it could have sent)."""

    def __init__(self, ep):
        self.ep = ep

    def value(self, v):
        out = bytearray()
        try:
            self._enc(v, out, 0)
        except (WireError, RecursionError, ValueError, TypeError):
            out = bytearray()
            self._handle(v, out)
        return out

    def _str(self, s, out):
        b = s.encode("utf-8", "surrogatepass")
        out += _pack_I(len(b))
        out += b

    def _seq(self, tag, items, out, depth):
        out += tag
        out += _pack_I(len(items))
        for x in items:
            # Inline the commonest items (a call's arguments, a list of
            # numbers or words): a function call less each.
            t = type(x)
            if t is int and -(1 << 63) <= x < (1 << 63):
                out += b"i"
                out += _pack_q(x)
            elif t is str:
                b = x.encode("utf-8", "surrogatepass")
                out += b"s"
                out += _pack_I(len(b))
                out += b
            else:
                self._enc(x, out, depth)

    def _enc(self, v, out, depth):
        t = type(v)
        if depth > DEPTH_MAX or len(out) > MSG_MAX:
            raise WireError("value too large or too deep")
        depth += 1
        if t is Raw:
            out += v
        elif v is None:
            out += b"N"
        elif t is bool:
            out += b"T" if v else b"F"
        elif t is int:
            if -(1 << 63) <= v < (1 << 63):
                out += b"i"
                out += _pack_q(v)
            else:
                n = (v.bit_length() + 8) // 8
                out += b"I"
                out += _pack_I(n)
                out += v.to_bytes(n, "big", signed=True)
        elif t is float:
            out += b"f"
            out += _pack_d(v)
        elif t is str:
            out += b"s"
            self._str(v, out)
        elif t is list:
            self._seq(b"l", v, out, depth)
        elif t is tuple:
            self._seq(b"t", v, out, depth)
        elif t is dict or t is collections.OrderedDict or \
                t is collections.Counter or t is collections.defaultdict:
            out += (b"d" if t is dict else b"o" if t is
                    collections.OrderedDict else b"C" if t is
                    collections.Counter else b"D")
            out += _pack_I(len(v))
            for k, x in dict.items(v):
                self._enc(k, out, depth)
                self._enc(x, out, depth)
        elif t is set:
            self._seq(b"S", list(v), out, depth)
        elif t is frozenset:
            self._seq(b"Z", list(v), out, depth)
        elif t is bytes or t is bytearray:
            out += b"b" if t is bytes else b"B"
            out += _pack_I(len(v))
            out += v
        elif t is complex:
            out += b"c"
            out += _pack_d(v.real)
            out += _pack_d(v.imag)
        elif v is Ellipsis:
            out += b"E"
        elif t is collections.deque:
            out += b"Q"
            self._enc(v.maxlen, out, depth)
            self._seq(b"l", list(v), out, depth)
        elif isinstance(v, tuple) and hasattr(t, "_fields") and \
                t.__bases__ == (tuple,) and type(t._fields) is tuple:
            out += b"n"
            self._enc(t.__name__, out, depth)
            self._enc(tuple(t._fields), out, depth)
            self._seq(b"t", tuple(tuple.__iter__(v)), out, depth)
        else:
            self._handle(v, out)

    def _handle(self, v, out):
        ep = self.ep
        rid = getattr(type(v), "_kiln_handle", False) and \
            object.__getattribute__(v, "_kid")
        if rid and object.__getattribute__(v, "_kep") is ep:
            out += b"r"
            out += _pack_q(rid)
            return
        rid = ep.mirror_ids.get(id(v)) if ep.mirror_ids else None
        if rid:
            out += b"r"
            out += _pack_q(rid)
            return
        # By name: modules, classes and functions of the standard library
        # from the candidate (so that `except ValueError`, isinstance, a
        # test's math.sqrt and the isclose a solution imported are the
        # judge's own: a fake one the candidate planted under that name
        # never runs for the judge), anything of it from the judge.
        name = _stdlib_name(v) if ep.judge or isinstance(v, type) or \
            type(v) in _BY_NAME_TYPES else None
        if name is not None:
            out += b"g"
            self._str(name[0], out)
            self._str(name[1], out)
            return
        kind, eid = ep.export(v)
        out += b"h"
        out += kind
        out += _pack_q(eid)
        if kind == b"x":
            self._str(str(v.__name__)[:100], out)
            self._str(_builtin_exc_base(v), out)


class Decoder:
    """Reads a message built by the other side. On the judge side this is
    the trust boundary: see the comment on the wire format."""

    def __init__(self, ep):
        self.ep = ep

    def message(self, buf):
        self.buf = buf
        v, pos = self._dec(0, 0)
        if pos != len(buf):
            raise WireError("trailing bytes")
        return v

    def _len(self, pos):
        if pos + 4 > len(self.buf):
            raise WireError("truncated")
        n = _unpack_I(self.buf, pos)[0]
        if n > len(self.buf) - pos - 4:
            raise WireError("length past the end")
        return n, pos + 4

    def _str(self, pos):
        n, pos = self._len(pos)
        try:
            s = bytes(self.buf[pos:pos + n]).decode("utf-8", "surrogatepass")
        except UnicodeDecodeError:
            raise WireError("bad UTF-8")
        return s, pos + n

    def _items(self, pos, depth):
        n, pos = self._len(pos)
        items = []
        buf = self.buf
        end = len(buf)
        for _ in range(n):
            # The commonest items inline (see Encoder._seq), checked as
            # strictly as _dec checks them.
            tag = buf[pos] if pos < end else -1
            if tag == 0x69 and pos + 9 <= end:      # i
                items.append(_unpack_q(buf, pos + 1)[0])
                pos += 9
                continue
            if tag == 0x73:                          # s
                x, pos = self._str(pos + 1)
                items.append(x)
                continue
            x, pos = self._dec(pos, depth)
            items.append(x)
        return items, pos

    def _pairs(self, pos, depth):
        n, pos = self._len(pos)
        d = {}
        for _ in range(n):
            k, pos = self._dec(pos, depth)
            x, pos = self._dec(pos, depth)
            try:
                d[k] = x
            except TypeError:
                raise WireError("unhashable key")
        return d, pos

    def _dec(self, pos, depth):
        buf = self.buf
        if depth > DEPTH_MAX + 2:
            raise WireError("too deep")
        if pos >= len(buf):
            raise WireError("truncated")
        tag = buf[pos]
        pos += 1
        depth += 1
        try:
            if tag == 0x4E:    # N
                return None, pos
            if tag == 0x54:    # T
                return True, pos
            if tag == 0x46:    # F
                return False, pos
            if tag == 0x69:    # i
                return _unpack_q(buf, pos)[0], pos + 8
            if tag == 0x66:    # f
                return _unpack_d(buf, pos)[0], pos + 8
            if tag == 0x73:    # s
                return self._str(pos)
            if tag == 0x6C:    # l
                return self._items(pos, depth)
            if tag == 0x74:    # t
                items, pos = self._items(pos, depth)
                return tuple(items), pos
            if tag == 0x64:    # d
                return self._pairs(pos, depth)
            if tag == 0x49:    # I
                n, pos = self._len(pos)
                return int.from_bytes(buf[pos:pos + n], "big",
                                      signed=True), pos + n
            if tag in (0x62, 0x42):  # b B
                n, pos = self._len(pos)
                data = bytes(buf[pos:pos + n])
                return (data if tag == 0x62 else bytearray(data)), pos + n
            if tag in (0x53, 0x5A):  # S Z
                items, pos = self._items(pos, depth)
                try:
                    return (set(items) if tag == 0x53 else
                            frozenset(items)), pos
                except TypeError:
                    raise WireError("unhashable set item")
            if tag == 0x63:    # c
                return complex(_unpack_d(buf, pos)[0],
                               _unpack_d(buf, pos + 8)[0]), pos + 16
            if tag == 0x45:    # E
                return Ellipsis, pos
            if tag in (0x6F, 0x43, 0x44):  # o C D
                d, pos = self._pairs(pos, depth)
                cls = (collections.OrderedDict if tag == 0x6F else
                       collections.Counter if tag == 0x43 else
                       (lambda x: collections.defaultdict(None, x)))
                return cls(d), pos
            if tag == 0x51:    # Q
                maxlen, pos = self._dec(pos, depth)
                if maxlen is not None and (type(maxlen) is not int or
                                           maxlen < 0):
                    raise WireError("bad deque")
                items, pos = self._dec(pos, depth)
                if type(items) is not list:
                    raise WireError("bad deque")
                return collections.deque(items, maxlen), pos
            if tag == 0x6E:    # n
                name, pos = self._dec(pos, depth)
                fields, pos = self._dec(pos, depth)
                values, pos = self._dec(pos, depth)
                return self.ep.namedtuple(name, fields, values), pos
            if tag == 0x68:    # h
                kind = buf[pos:pos + 1]
                if len(kind) != 1 or kind not in HANDLE_KINDS:
                    raise WireError("bad handle kind")
                rid = _unpack_q(buf, pos + 1)[0]
                pos += 9
                if kind == b"x":
                    name, pos = self._str(pos)
                    base, pos = self._str(pos)
                    return self.ep.mirror(rid, name, base), pos
                return self.ep.proxy(rid, kind), pos
            if tag == 0x72:    # r
                rid = _unpack_q(buf, pos)[0]
                try:
                    return self.ep.exports[rid], pos + 8
                except KeyError:
                    raise WireError("unknown reference")
            if tag == 0x67:    # g
                mod, pos = self._str(pos)
                qual, pos = self._str(pos)
                return self.ep.by_name(mod, qual), pos
        except struct.error:
            raise WireError("truncated")
        raise WireError("unknown tag %r" % chr(tag))


# ------------------------------------------------------------- the channel

class Handle:
    """The judge's view of an object that stays in the candidate's
    process. Operations go to the candidate; results come back as plain
    data or as other Handles. Comparisons are never the candidate's to
    decide against a plain value: a Handle equals only itself (or, against
    another Handle of the same run, what the candidate's __eq__ says, as a
    bool), hashes by identity, and cannot be ordered against plain data."""

    __slots__ = ("_kep", "_kid", "_kkind")
    _kiln_handle = True

    def _op(self, op, *args, want=None):
        r = object.__getattribute__(self, "_kep").request(op, self, *args)
        if want is not None and type(r) not in want:
            raise TypeError("candidate's %s returned %s, not %s" % (
                op, type(r).__name__, "/".join(w.__name__ for w in want)))
        return r

    def __call__(self, *a, **k):
        return self._op("call", a, k)

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__") and name not in (
                "__name__", "__qualname__", "__doc__", "__module__"):
            raise AttributeError(name)
        return self._op("getattr", name)

    def __setattr__(self, name, value):
        self._op("setattr", name, value)

    def __delattr__(self, name):
        self._op("delattr", name)

    def __getitem__(self, key):
        return self._op("getitem", key)

    def __setitem__(self, key, value):
        self._op("setitem", key, value)

    def __delitem__(self, key):
        self._op("delitem", key)

    def __len__(self):
        n = self._op("len", want=(int,))
        if n < 0:
            raise ValueError("__len__() should return >= 0")
        return n

    def __iter__(self):
        return self._op("iter")

    def __next__(self):
        return self._op("next")

    def _typed(op, want):
        """A forwarded operation whose answer must be of type want."""
        def f(self, *args):
            return self._op(op, *args, want=want)
        return f

    for _n, _w in (("bool", bool), ("str", str),
                   ("repr", str), ("format", str), ("int", int),
                   ("index", int), ("float", float)):
        locals()["__%s__" % _n] = _typed(_n, (_w,))
    del _n, _w, _typed

    def __hash__(self):
        return hash((id(object.__getattribute__(self, "_kep")),
                     object.__getattribute__(self, "_kid")))

    def _same_run(self, other):
        return type(other) is Handle and \
            object.__getattribute__(other, "_kep") is \
            object.__getattribute__(self, "_kep")

    def __eq__(self, other):
        if other is self:
            return True
        if self._same_run(other):
            return self._op("cmp", "eq", other, want=(bool,))
        return NotImplemented

    def __ne__(self, other):
        if other is self:
            return False
        if self._same_run(other):
            return self._op("cmp", "ne", other, want=(bool,))
        return NotImplemented

    def _order(op):
        def f(self, other):
            if self._same_run(other):
                return self._op("cmp", op, other, want=(bool,))
            return NotImplemented
        return f

    __lt__, __le__ = _order("lt"), _order("le")
    __gt__, __ge__ = _order("gt"), _order("ge")

    def _arith(op):
        """Arithmetic between Handles of one run is the candidate's (its
        own classes); with plain data it is refused (TypeError): the
        plain operand would reach the candidate (a test's expected value
        in abs(f(x) - want)) and the candidate would decide the result."""
        def f(self, *args):
            if not all(self._same_run(a) for a in args):
                return NotImplemented
            return self._op("arith", op, args)
        return f

    def _unary(op):
        """One-operand operations (-h, abs(h), round(h)...): forwarded
        without arguments only (round(h, 2) is a TypeError)."""
        def f(self, *args):
            if args:
                raise TypeError("%s of a candidate's object takes no "
                                "arguments here" % op)
            return self._op("arith", op, ())
        return f

    def __enter__(self):
        return self._op("arith", "enter", ())

    def __exit__(self, et, ev, tb):
        """Forwarded for its side effects, with the exception's type
        only; never suppresses the exception (a candidate's __exit__
        returning True would swallow the test's assertions)."""
        self._op("arith", "exit", (None, None, None) if et is None else
                 (getattr(builtins, _builtin_exc_base(et), Exception),
                  None, None))
        return False

    def __contains__(self, x):
        """Membership is the judge's: the candidate's items cross as
        plain data (or Handles) and are compared here."""
        for item in iter(self):
            if item is x or (type(item) is not Handle and item == x) or \
                    (type(item) is Handle and self._same_run(x) and
                     item == x):
                return True
        return False

    for _n in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow",
               "and", "or", "xor", "lshift", "rshift", "matmul", "divmod"):
        locals()["__%s__" % _n] = _arith(_n)
        locals()["__r%s__" % _n] = _arith("r" + _n)
    for _n in ("neg", "pos", "abs", "invert", "round", "trunc", "floor",
               "ceil", "reversed"):
        locals()["__%s__" % _n] = _unary(_n)
    del _n, _arith, _order, _unary

    def __instancecheck__(self, obj):
        return self._op("isinstance", obj, want=(bool,))

    def __subclasscheck__(self, cls):
        return self._op("issubclass", cls, want=(bool,))


_ARITH = {n: getattr(operator, "__%s__" % n) for n in (
    "add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "and",
    "or", "xor", "lshift", "rshift", "matmul", "neg", "pos", "abs",
    "invert")}
_ARITH.update({"divmod": divmod, "round": round, "trunc": math.trunc,
               "floor": math.floor, "ceil": math.ceil,
               "reversed": reversed,
               "enter": lambda o: type(o).__enter__(o),
               "exit": lambda o, *a: type(o).__exit__(o, *a)})
_CMP = {"eq": operator.eq, "ne": operator.ne, "lt": operator.lt,
        "le": operator.le, "gt": operator.gt, "ge": operator.ge}
_MUTABLE = (list, dict, set, bytearray)


class Endpoint:
    """One end of the judge <-> candidate channel: a stream socket carrying
    length-prefixed wire messages. request() sends a request and serves the
    other side's requests (callbacks) until its own reply arrives.

    The judge's endpoint (judge=True) hands the candidate only what a test
    passes it: plain data, or Handles that the candidate may call (a
    function), advance (an iterator) or pass back, and nothing else."""

    def __init__(self, fd, judge):
        self.fd = fd
        self.judge = judge
        self.exports = {}
        self.export_ids = {}
        self.proxies = {}
        self.mirrors = {}
        self.mirror_ids = {}
        self.next_id = 1
        self.rbuf = bytearray()
        self.lost = None
        self.exit_code = 0
        self.enc = Encoder(self)
        self.dec = Decoder(self)
        # The judge's batches (send_batch): replies still to come, and
        # those read ahead of a later request's, in order.
        self.ahead = 0
        self.stash = []
        # The judge's ticks (Ticks): sent before a read that would wait.
        self.ticks = None
        self.rpoll = None

    # -- objects crossing --------------------------------------------------

    def export(self, v):
        eid = self.export_ids.get(id(v))
        if eid is None:
            eid = self.next_id
            self.next_id += 1
            self.exports[eid] = v
            self.export_ids[id(v)] = eid
        if isinstance(v, type):
            kind = b"x" if issubclass(v, BaseException) else b"c"
        elif callable(v):
            kind = b"f"
        elif hasattr(type(v), "__next__"):
            kind = b"i"
        else:
            kind = b"o"
        return kind, eid

    def proxy(self, rid, kind):
        p = self.proxies.get(rid)
        if p is None:
            p = object.__new__(Handle)
            object.__setattr__(p, "_kep", self)
            object.__setattr__(p, "_kid", rid)
            object.__setattr__(p, "_kkind", kind)
            self.proxies[rid] = p
        return p

    def mirror(self, rid, name, base):
        """A candidate's exception class, as a real class on this side, so
        that `except ItsError:` and pytest.raises work in the tests."""
        cls = self.mirrors.get(rid)
        if cls is None:
            b = getattr(builtins, base, None)
            if not (isinstance(b, type) and issubclass(b, BaseException)):
                raise WireError("bad exception base")
            if not name.isidentifier():
                name = "CandidateError"
            cls = type(name, (b,), {"__module__": "candidate"})
            self.mirrors[rid] = cls
            self.mirror_ids[id(cls)] = rid
        return cls

    def namedtuple(self, name, fields, values):
        if type(name) is not str or type(fields) is not tuple or \
                type(values) is not tuple or len(fields) != len(values) or \
                not all(type(f) is str for f in fields):
            raise WireError("bad namedtuple")
        try:
            return collections.namedtuple(name, fields)(*values)
        except (ValueError, TypeError):
            return values

    def by_name(self, mod, qual):
        """The judge resolves only modules, classes and functions of the
        standard library (no private names), never imports one that acts
        when imported, and checks what it got."""
        if self.judge:
            # Top-level public stdlib modules and their public classes
            # only: never a dotted name (x.__main__ runs code when
            # imported: unittest's runs test discovery), never one that
            # acts when imported; with -I, sys.path holds the stdlib only.
            if mod.startswith("_") or "." in mod or mod not in _STDLIB or \
                    mod in _NO_IMPORT or qual.startswith("_") or "." in qual:
                return _UNRESOLVED
            obj = sys.modules.get(mod)
            if obj is None:
                try:
                    obj = __import__(mod)
                except Exception:
                    return _UNRESOLVED
            if qual and not hasattr(obj, qual):
                return _UNRESOLVED
            obj = getattr(obj, qual) if qual else obj
            if not (isinstance(obj, type) or type(obj) in _BY_NAME_TYPES):
                raise WireError("not a module, class or function: %s.%s" %
                                (mod, qual))
            if qual and not _may_name(mod, qual, obj):
                # The judge's own exec, setattr, os.system, Popen,
                # timeit.timeit, typing.get_type_hints...: a test that
                # calls what the candidate named with what the candidate
                # returned would run the candidate's code in the judge.
                # Left out, as a name the judge does not hold.
                return _UNRESOLVED
            return obj
        try:
            obj = __import__(mod, fromlist=["_"]) if "." in mod \
                else __import__(mod)
            for p in qual.split(".") if qual else ():
                obj = getattr(obj, p)
        except Exception:
            raise WireError("cannot resolve %s.%s" % (mod, qual))
        if self.judge and not (isinstance(obj, type) or
                               type(obj) in _BY_NAME_TYPES):
            raise WireError("not a module, class or function: %s.%s" %
                            (mod, qual))
        return obj

    # -- messages ----------------------------------------------------------

    def send(self, v):
        """Sends a message (a tuple). An item of it that cannot go as data
        (too deep, too large) goes as a Handle on its own."""
        body = bytearray()
        try:
            self.enc._enc(v, body, 0)
        except (WireError, RecursionError, ValueError, TypeError):
            body = self.enc.value(tuple(Raw(self.enc.value(x)) for x in v))
        if len(body) > MSG_MAX:
            raise WireError("message too large")
        try:
            write_all(self.fd, _pack_I(len(body)) + body)
        except OSError as e:
            self._lose("channel write failed: %s" % e, closed=True)

    def _lose(self, why, closed=False):
        """Ends the channel for good: closed (the candidate side went
        away) or a protocol error (it sent what it must not)."""
        self.lost = why
        self.exit_code = EXIT_CHANNEL if closed else EXIT_PROTOCOL
        raise ChannelLost(why)

    def recv(self):
        if self.lost:
            raise ChannelLost(self.lost)
        buf = self.rbuf
        need = 4
        while True:
            if len(buf) >= 4:
                n = _unpack_I(buf, 0)[0]
                if n > MSG_MAX:
                    self._lose("message too large")
                need = 4 + n
                if len(buf) >= need:
                    break
            if self.ticks is not None and self.ticks.q:
                # Held ticks go to PID 1 before this process waits for
                # the candidate: its clock for the next test starts then.
                if self.rpoll is None:
                    self.rpoll = select.poll()
                    self.rpoll.register(self.fd, select.POLLIN)
                if not self.rpoll.poll(0):
                    self.ticks.flush()
            try:
                chunk = os.read(self.fd, max(WAKE_BYTES, need - len(buf)))
            except OSError as e:
                self._lose("channel read failed: %s" % e, closed=True)
            if not chunk:
                self._lose("the candidate closed the channel", closed=True)
            buf += chunk
        body = bytes(buf[4:need])
        del buf[:need]
        try:
            return self.dec.message(body)
        except WireError as e:
            self._lose("bad message from the candidate: %s" % e)
        except RecursionError:
            self._lose("bad message from the candidate: too deep")

    def request(self, op, *args):
        self.send(("q", op) + args)
        # Replies come in the order of the requests: those of a batch sent
        # before this request come first.
        while self.ahead:
            self.stash.append(self._reply())
            self.ahead -= 1
        return self._answer(op, args, self._reply())

    def send_batch(self, calls):
        """Sends calls ((Handle, args, kwargs), ...) in one message; the
        candidate makes them in order and replies to each as it ends, and
        batch_result() takes the replies in the same order. Only for calls
        whose arguments the judge made and never looks at again (an I/O
        test's literals), so nothing is copied back."""
        self.send(("B", [("q", "call", f, a, k) for f, a, k in calls]))
        self.ahead += len(calls)

    def batch_result(self):
        """The result of the oldest call of a batch (raises what it
        raised)."""
        if self.stash:
            msg = self.stash.pop(0)
        elif self.ahead:
            msg = self._reply()
            self.ahead -= 1
        else:
            raise RuntimeError("no call of a batch is waiting")
        return self._answer("call", None, msg)

    def _reply(self):
        """The next reply ("a" or "x"), serving the other side's requests
        that come before it."""
        while True:
            msg = self.recv()
            if type(msg) is not tuple or not msg:
                self._lose("bad message from the candidate")
            if (msg[0] == "a" and len(msg) == 3) or \
                    (msg[0] == "x" and len(msg) == 4):
                return msg
            if msg[0] == "q":
                self.serve_one(msg)
                continue
            self._lose("bad message from the candidate")

    def _answer(self, op, args, msg):
        if msg[0] == "a":
            if args is not None:
                self._copy_back(op, args, msg[2])
            return msg[1]
        e = self._exception(msg)
        if self.judge and op != "next" and \
                isinstance(e, (StopIteration, StopAsyncIteration)):
            # As PEP 479 does for generators: a StopIteration out of a call
            # would silently end the test's map(), filter() or zip() over
            # the candidate's function.
            raise RuntimeError("the candidate raised %s" % type(e).__name__)
        raise e

    def _copy_back(self, op, args, backs):
        """Mutable arguments of a call are copied in and, after it, copied
        back: a test that checks a list the function sorted in place
        sees the change."""
        if op != "call" or type(backs) is not list:
            return
        pos = args[1]
        for i, state in enumerate(backs[:len(pos)]):
            arg = pos[i]
            if state is None or type(state) is not type(arg):
                continue
            if type(arg) is list or type(arg) is bytearray:
                arg[:] = state
            elif type(arg) is dict or type(arg) is set:
                arg.clear()
                arg.update(state)

    def _exception(self, msg):
        _, base, cls, args = msg
        if isinstance(cls, type) and issubclass(cls, BaseException) and \
                not (self.judge and _skips(cls)):
            k = cls
        else:
            k = getattr(builtins, base, None) if type(base) is str else None
            if not (isinstance(k, type) and issubclass(k, BaseException)):
                k = Exception
        if type(args) is not tuple or not all(
                type(a) in _PLAIN_SCALARS for a in args):
            args = ()
        try:
            return k(*args)
        except Exception:
            return k(*[str(a)[:DETAIL_MAX] for a in args[:1]])

    # -- serving the other side --------------------------------------------

    def serve_one(self, msg):
        try:
            if len(msg) < 3:
                raise TypeError("bad request")
            result, backs = self.perform(msg[1], msg[2], msg[3:])
            reply = ("a", result, backs)
        except ChannelLost:
            raise
        except BaseException as e:
            reply = self._exc_reply(e)
        self.send(reply)

    def _exc_reply(self, e):
        t = type(e)
        cls = None if t.__module__ == "builtins" else t
        if self.judge:
            # A test's callback that failed: its type only (its message
            # may quote an expected value).
            return ("x", _builtin_exc_base(t), None, ())
        args = e.args
        try:
            ok = all(type(a) in _PLAIN_SCALARS for a in args)
        except Exception:
            ok = False
        if not ok:
            try:
                args = (str(e)[:1000],)
            except BaseException:
                args = ()
        return ("x", _builtin_exc_base(t), cls, tuple(args))

    def perform(self, op, target, args):
        if self.judge:
            return self._perform_judge(op, target, args), None
        if op == "call":
            pos, kw = args
            r = target(*pos, **kw)
            backs = [a if type(a) in _MUTABLE else None for a in pos] \
                if any(type(a) in _MUTABLE for a in pos) else None
            return r, backs
        if op == "getattr":
            return getattr(target, args[0]), None
        if op == "setattr":
            return setattr(target, args[0], args[1]), None
        if op == "delattr":
            return delattr(target, args[0]), None
        if op == "getitem":
            return target[args[0]], None
        if op == "setitem":
            target[args[0]] = args[1]
            return None, None
        if op == "delitem":
            del target[args[0]]
            return None, None
        if op == "len":
            return len(target), None
        if op == "iter":
            return iter(target), None
        if op == "next":
            return next(target), None
        if op == "contains":
            return args[0] in target, None
        if op == "bool":
            return bool(target), None
        if op == "str":
            return str(target), None
        if op == "repr":
            return repr(target), None
        if op == "format":
            return format(target, args[0]), None
        if op == "int":
            return int(target), None
        if op == "index":
            return operator.index(target), None
        if op == "float":
            return float(target), None
        if op == "cmp":
            return _CMP[args[0]](target, args[1]), None
        if op == "arith":
            name, rest = args
            if name.startswith("r") and name[1:] in _ARITH:
                return _ARITH[name[1:]](rest[0], target), None
            return _ARITH[name](target, *rest), None
        if op == "isinstance":
            return isinstance(args[0], target), None
        if op == "issubclass":
            return issubclass(args[0], target), None
        raise TypeError("unknown operation %r" % (op,))

    def _perform_judge(self, op, target, args):
        """What the candidate may do with the judge's objects: call the
        functions a test passed it and advance the iterators. Only those:
        an object the judge exported to it (sent as a Handle, named back
        by reference). Whatever else a request names (a standard-library
        function by name: builtins.exec, setattr, os.system) the judge
        never calls for the candidate: that would run the candidate's
        choice of code in the judge (hostile 9406)."""
        eid = self.export_ids.get(id(target))
        if eid is None or self.exports.get(eid) is not target:
            raise TypeError("not an object the judge passed to the "
                            "candidate")
        if op == "call" and callable(target) and not isinstance(target,
                                                                 type):
            pos, kw = args
            if type(pos) is not tuple or type(kw) is not dict:
                raise TypeError("bad call")
            return target(*pos, **kw)
        if op == "next" and hasattr(type(target), "__next__"):
            return next(target)
        if op == "iter" and hasattr(type(target), "__next__"):
            return target
        raise TypeError("the judge's objects only support calls and "
                        "iteration here")


# ------------------------------------------------------------ the candidate

def candidate_main(fd, solution):
    """The candidate's process: runs the solution, announces what it
    defines, and serves the judge until the channel closes. Nothing here
    is trusted: the judge checks all it receives."""
    ep = Endpoint(fd, judge=False)
    ns = {"__name__": "__main__", "__builtins__": builtins}
    try:
        exec(compile(solution, "<solution>", "exec"), ns)
    except BaseException as e:
        ep.send(("L", None, ep._exc_reply(e)))
        return
    names = []
    for k, v in list(ns.items()):
        if type(k) is str and not (k.startswith("__") and k.endswith("__")):
            names.append((k, Raw(ep.enc.value(v))))
    ep.send(("L", names, None))
    while True:
        try:
            msg = ep.recv()
        except ChannelLost:
            return
        if type(msg) is tuple and msg and msg[0] == "q":
            ep.serve_one(msg)
        elif type(msg) is tuple and len(msg) == 2 and msg[0] == "B" and \
                type(msg[1]) is list:
            for q in msg[1]:   # a batch: each reply as its call ends
                if type(q) is tuple and q and q[0] == "q":
                    ep.serve_one(q)


# ---------------------------------------------------------------- the judge

def literal_call(node):
    """(name, args, kwargs) if node is a call of a bare name with literal
    arguments, else None."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
        return None
    try:
        args = tuple(ast.literal_eval(a) for a in node.args
                     if not isinstance(a, ast.Starred) or 1 / 0)
        kw = {k.arg: ast.literal_eval(k.value) for k in node.keywords
              if k.arg is not None or 1 / 0}
    except Exception:
        return None
    return node.func.id, args, kw


def io_form(src):
    """An assertion `assert NAME(literals) == literal` (either side) as an
    I/O test (name, args, kwargs, expected), else None."""
    text = src.strip()
    if "==" not in text or len(text) > 100000 or "\n" in text or \
            not text.startswith("assert"):
        return None   # the shape needs one line: skip parsing programs
    try:
        tree = ast.parse(src)
    except Exception:
        return None
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Assert) or \
            tree.body[0].msg is not None:
        return None
    cmp = tree.body[0].test
    if not (isinstance(cmp, ast.Compare) and len(cmp.ops) == 1 and
            isinstance(cmp.ops[0], ast.Eq)):
        return None
    for call, lit in ((cmp.left, cmp.comparators[0]),
                      (cmp.comparators[0], cmp.left)):
        c = literal_call(call)
        if c is None:
            continue
        try:
            return c + (ast.literal_eval(lit),)
        except Exception:
            return None
    return None


def shadows(name, value):
    """Whether a name the solution defines would replace, for the tests, a
    built-in or a standard-library module with something else (its own
    abs, sorted, math...): a test's own checks must not be the
    candidate's."""
    if name in builtins.__dict__:
        return value is not builtins.__dict__[name]
    if name in _STDLIB:
        return value is not sys.modules.get(name)
    for m in _WARM:
        std = getattr(sys.modules.get(m), name, None)
        if std is None or name.startswith("_"):
            continue
        if type(value) is Handle:
            # its own class named like a standard one (Counter, deque)
            if isinstance(std, type) and \
                    object.__getattribute__(value, "_kkind") == b"c":
                return True
        elif type(std) in (int, float, complex, str) and \
                not (type(value) is type(std) and value == std):
            # its own data under a standard constant's name (pi = 0.0)
            return True
    return False


# Modules whose public members a test may use by their bare names, having
# relied on the solution's `from M import name` (isclose, Counter, mean,
# Fraction, maxsize): under such a name a code test gets the library's own
# object or nothing (check_library_names).
_LIBRARY_MODULES = ("math", "cmath", "decimal", "fractions", "numbers",
                    "statistics", "random", "string", "re", "textwrap",
                    "unicodedata", "difflib", "collections",
                    "collections.abc", "heapq", "bisect", "array", "copy",
                    "itertools", "functools", "operator", "typing",
                    "datetime", "calendar", "sys", "json", "enum",
                    "dataclasses", "struct", "binascii", "base64", "hashlib",
                    "zlib")
_library_index = []
_judge_clean = []   # the persistent judge's clean state (judge_server)


def library_members(name):
    """The objects named `name` in _LIBRARY_MODULES (imported the first
    time a test needs it: once per judge), or None if no such module has a
    public member of that name."""
    if not _library_index:
        idx = {}
        judge_imports(_LIBRARY_MODULES)
        for m in _LIBRARY_MODULES:
            mod = sys.modules.get(m)
            if mod is None:
                continue
            for k, v in list(vars(mod).items()):
                if not k.startswith("_") and type(v) is not type(sys):
                    idx.setdefault(k, []).append(v)
        _library_index.append(idx)
    return _library_index[0].get(name)


def judge_imports(mods):
    """Imports mods in the judge, as its own imports, not a test's: if the
    tests of this job have changed nothing so far, the judge's clean state
    (judge_server) is taken again after them. Otherwise a watched module's
    first import (a test's `import statistics`, the library index) made
    the judge differ from its clean state and be replaced after every such
    job, to import it again in the next (9 to 20 ms a job)."""
    missing = [m for m in mods if m not in sys.modules]
    if not missing:
        return
    unchanged = _judge_clean and _same_state(_state_of_judge(),
                                                 _judge_clean[0])
    for m in missing:
        try:
            __import__(m)
        except Exception:
            pass
    if unchanged:
        _judge_clean[0] = _state_of_judge()


def import_watched(code):
    """Before test code runs: the watched modules it names (an import is a
    name of its code) that the judge has not loaded yet, imported by the
    judge (judge_imports)."""
    if type(code) is str:
        code = compile(code, "<setup>", "exec")
    names = code_names(code)
    judge_imports([m for m in _WATCHED_MODULES if m in names])


# Names that tests use for well-known libraries, and the module each means.
_LIBRARY_ALIASES = {"np": "numpy", "numpy": "numpy", "pd": "pandas",
                    "pandas": "pandas", "plt": "matplotlib.pyplot",
                    "mpl": "matplotlib", "matplotlib": "matplotlib",
                    "sp": "scipy", "scipy": "scipy", "nx": "networkx",
                    "networkx": "networkx", "sympy": "sympy",
                    "torch": "torch", "tf": "tensorflow",
                    "tensorflow": "tensorflow", "jnp": "jax.numpy",
                    "jax": "jax", "sklearn": "sklearn", "sns": "seaborn"}


def library_alias(name):
    """The judge's own import of the library a test's `np` (`pd`, `plt`...)
    means, or None if it cannot import it (installed system packages only:
    -I keeps the working directory and user paths out)."""
    mod = _LIBRARY_ALIASES[name]
    m = sys.modules.get(mod)
    if m is None:
        judge_imports([mod])
        m = sys.modules.get(mod)
    return m


def is_module_named(name, value):
    return type(value) is type(sys) and value is sys.modules.get(name)


def is_library_object(name, value):
    """Whether value is what a library module means by name: the very
    object, or for plain scalars an equal one of the same type (pi =
    3.141592653589793). Never calls candidate code: a Handle is neither.
    The module of that name is its own (import time)."""
    if is_module_named(name, value):
        return True
    for obj in library_members(name):
        if value is obj:
            return True
        if type(obj) in (int, float, complex, str, bytes) and \
                type(value) is type(obj) and value == obj:
            return True
    return False


def _global_uses(code, loads, stores, top=True):
    import dis
    for ins in dis.get_instructions(code):
        if ins.opname in ("LOAD_NAME", "LOAD_GLOBAL"):
            loads.add(ins.argval)
        elif top and ins.opname in ("STORE_NAME", "STORE_GLOBAL"):
            stores.add(ins.argval)
    for c in code.co_consts:
        if type(c) is type(code):
            _global_uses(c, loads, stores, False)


def check_library_names(code, ns, cand, entry):
    """Refuses a test (or set-up) that uses, by its bare name, a member of
    a library module (isclose, sqrt, Counter, mean, Fraction, maxsize)
    which the solution bound to something of its own, or to another
    library object (Counter = list): the test meant the library's, and
    with the candidate's the candidate would decide the test's own check.
    An error, never a pass. The function under test may be named like one
    (median, gcd, add): the record's entry_point; without one, the only
    solution name the test uses (a test that uses the solution's area and
    isclose means its own isclose; one that uses two such names cannot
    say which is under test; modules and library objects the solution
    imported do not count). A name the test binds itself is its own."""
    if not cand:
        return
    if type(code) is str:
        code = compile(code, "<setup>", "exec")
    maybe = code_names(code) & cand.keys()
    if not maybe or maybe == {entry}:
        return
    loads, stores = set(), set()
    _global_uses(code, loads, stores)
    used = (maybe & loads) - stores
    # a module crossed by name is never refused; without an entry_point
    # one other name is the function under test, with one it is that name
    others = [n for n in used if n != entry and
              not is_module_named(n, ns.get(n))]
    if len(others) <= (1 if entry is None else 0):
        return
    # a module crossed by name needs no look-up (nor the imports the
    # first look-up makes)
    bad = {n for n in used if not is_module_named(n, ns.get(n)) and
           library_members(n) is not None and
           not is_library_object(n, ns.get(n))}
    if entry is not None:
        bad.discard(entry)
    elif len(bad) == 1 and not any(type(ns.get(n)) is Handle
                                   for n in used - bad):
        bad = set()     # the one function of the solution the test uses
    if bad:
        raise NameError("the solution binds %s, which the test uses as the "
                        "standard library's (the function under test%s "
                        "may be the solution's own)" % (
                            ", ".join(repr(b) for b in sorted(bad)[:3]),
                            ", %r," % entry if entry else
                            " (the record's entry_point)"))


def code_names(code):
    """Every global name a compiled test may look up (nested functions,
    lambdas and comprehensions included)."""
    names = set(code.co_names)
    for c in code.co_consts:
        if type(c) is type(code):
            names |= code_names(c)
    return names


def check_shadowed(code, shadowed):
    """Refuses a test that uses a name the solution redefined over a
    built-in or a stdlib module: with the real one the test could pass a
    wrong function named like it; with the candidate's, the candidate
    would decide the test's own checks. An error, never a pass."""
    if not shadowed:
        return
    if type(code) is str:
        code = compile(code, "<setup>", "exec")
    hit = sorted(code_names(code) & shadowed.keys())
    if hit:
        raise NameError("the solution redefines %s, which the test uses "
                        "as a built-in or standard module" %
                        ", ".join(repr(h) for h in hit[:3]))


def equal(expected, got, atol):
    """kiln's comparison of an I/O test's output: Python's == on plain
    data (a Handle never equals plain data), or, with atol > 0, numbers
    within atol + 1e-7 x |expected| (evalplus's rule), element-wise
    inside lists, tuples and dict values."""
    if atol <= 0 or expected == got:
        return bool(expected == got)
    te, tg = type(expected), type(got)
    if te in (int, float) and tg in (int, float) and \
            (te is float or tg is float):
        if math.isnan(expected) or math.isnan(got) or \
                math.isinf(expected) or math.isinf(got):
            return expected == got
        return abs(expected - got) <= atol + 1e-7 * abs(expected)
    if te in (list, tuple) and te is tg:
        return len(expected) == len(got) and all(
            equal(a, b, atol) for a, b in zip(expected, got))
    if te is dict and tg is dict:
        return expected.keys() == got.keys() and all(
            equal(expected[k], got[k], atol) for k in expected)
    return bool(expected == got)


def short_repr(v):
    try:
        s = repr(v)
    except Exception:
        s = "<%s>" % type(v).__name__
    return s if len(s) <= 100 else s[:97] + "..."


def status_of(e):
    t = type(e)
    if t is AssertionError:
        return "fail"
    if t is MemoryError:
        return "memory"
    return "error"


_IGNORED_IN_JUDGE = [getattr(signal, n) for n in (
    "SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2",
    "SIGALRM", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGVTALRM", "SIGPROF",
    "SIGIO", "SIGPWR", "SIGSTKFLT") if hasattr(signal, n)]


def judge_job(chan, tick, det_fd, spec_fd, start, batch=True):
    """Runs tests[start:] of one job against the candidate at the other end
    of chan, reporting each test's status (ticks, to PID 1) and its detail
    (to det_fd: spliced by PID 1 into the reply, unread). Returns 0, or
    EXIT_CHANNEL / EXIT_PROTOCOL when the candidate's side ended the run
    (PID 1 then decides the running test's status from the candidate's
    end, whatever the test code made of it)."""
    size = os.fstat(spec_fd).st_size
    spec = json.loads(os.pread(spec_fd, size, 0) if size else b"{}")
    tests = spec.get("tests") or []
    expect = spec.get("expect") or [None] * len(tests)
    atol = float(spec.get("atol") or 0.0)
    n = len(tests)
    detail_budget = [DETAILS_CAP]

    def detail(i, text):
        if not text:
            return
        # Lone surrogates (a candidate's message) are not UTF-8.
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
        rec = (json.dumps({"i": i, "detail": text[:DETAIL_MAX]}) +
               ",").encode()
        if len(rec) <= detail_budget[0]:
            detail_budget[0] -= len(rec)
            write_all(det_fd, rec)   # <= PIPE_BUF: one atomic write

    ep = Endpoint(chan, judge=True)
    ep.ticks = tick
    ns = {"__name__": "__main__", "__builtins__": builtins}
    shadowed = {}
    cand = {}       # the names the solution bound in ns, and to what
    entry = spec.get("entry")
    entry = entry if type(entry) is str else None
    load_error = None
    try:
        msg = ep.recv()
        if type(msg) is not tuple or len(msg) != 3 or msg[0] != "L":
            ep._lose("bad load message")
        if msg[1] is None:
            if type(msg[2]) is not tuple or len(msg[2]) != 4:
                ep._lose("bad load message")
            load_error = ep._exception(msg[2])
        else:
            if type(msg[1]) is not list:
                ep._lose("bad load message")
            for item in msg[1]:
                if type(item) is tuple and len(item) == 2 and \
                        type(item[0]) is str and item[0].isidentifier() \
                        and not (item[0].startswith("__") and
                                 item[0].endswith("__")):
                    name, value = item
                    if value is _UNRESOLVED:
                        continue   # a module the judge will not import
                    if name in _LIBRARY_ALIASES and name != entry:
                        # np, pd, plt...: the test means the library (but
                        # for the record's own entry_point); the judge's
                        # own import of it, or nothing, never the
                        # candidate's object (a fake np.allclose that
                        # always holds: hostile 9412)
                        lib = library_alias(name)
                        if lib is not None:
                            ns[name] = lib
                        continue
                    if shadows(name, value):
                        # Code tests keep the real one, and one that uses
                        # the name is refused (check_shadowed); an I/O test
                        # of a function so named calls the candidate's.
                        shadowed[name] = value
                        continue
                    ns[name] = value
                    cand[name] = value
            # Whatever the candidate sent, these are the judge's.
            ns["__name__"] = "__main__"
            ns["__builtins__"] = builtins
            setup = spec.get("setup") or ""
            if setup:
                # Test-side set-up (MBPP's test_setup_code): it may use
                # what the solution defines, so it runs after it.
                check_shadowed(setup, shadowed)
                check_library_names(setup, ns, cand, entry)
                setup = compile(setup, "<setup>", "exec")
                import_watched(setup)
                exec(setup, ns)
                # what the set-up bound over the solution's is test code
                # (HumanEval/32's poly): no longer the solution's name
                cand = {k: v for k, v in cand.items() if ns.get(k) is v}
    except ChannelLost:
        return ep.exit_code or EXIT_PROTOCOL
    except BaseException as e:
        load_error = e
    if ep.lost:
        return ep.exit_code
    if load_error is not None:
        st = status_of(load_error)
        tick("L", "error" if st == "fail" else st)
        text = "while loading: " + describe(load_error)
        for i in range(start, n):
            detail(i, text)
        return 0
    tick("L", "ok")

    def io_plan(i):
        """(how, form) of test i: form (name, args, kwargs, expected) for
        an I/O test, None for code; form is the exception that makes an
        I/O test an error."""
        src = tests[i]
        if expect[i] is not None:
            try:
                form = literal_call(ast.parse(src, mode="eval").body)
                if form is None:
                    raise ValueError("I/O test: %r is not a call of a "
                                     "function with literal arguments"
                                     % src[:80])
                return "io", form + (ast.literal_eval(expect[i]),)
            except Exception as e:
                return "io", e
        if "==" in src:
            form = io_form(src)
            if form is not None and type(ns.get(
                    form[0], shadowed.get(form[0]))) is Handle:
                return "io", form
        return "isolated", None

    def reveals(wants, args, kw):
        """Whether a call's arguments hold, anywhere in them, what an
        earlier call of the same batch must return, in any guise: a batch
        shows the candidate its later calls before it answers the first,
        and a round trip (encode("abc") == "bcd", then decode("bcd") ==
        "abc") would hand it the answer. Compared loosely, so that a
        container of the same items in another type or order (a list for
        an expected tuple or set, pairs for a dict), text as bytes or
        bytes as text, a list of its characters, or a number as text all
        count (hostile 9410), and so does a string of 3 characters or
        more that is part of an expected text (9413). Plain data only (no
        candidate code runs); a value too large to search counts as
        revealing."""
        budget = [20000]
        norms, texts = set(), []
        for w in wants:
            norms.add(_reveal_norm(w, budget))
            texts.extend(_reveal_texts(w))
        todo = [args, kw]
        while todo:
            v = todo.pop()
            if budget[0] < 0:
                return True
            if _reveal_norm(v, budget) in norms:
                return True
            t = type(v)
            if t in (str, bytes, bytearray) or (
                    t in (list, tuple) and v and
                    all(type(c) is str and len(c) == 1 for c in v)):
                for have in _reveal_texts(v if t in (str, bytes, bytearray)
                                          else "".join(v)):
                    if any(w in have for w in texts):
                        return True
                    # a piece of an expected text (its words in a list,
                    # across arguments: hostile 9413), 3 characters or more
                    if len(have) >= 3 and any(have in w for w in texts):
                        return True
            if t in (list, tuple, set, frozenset):
                todo.extend(v)
            elif t is dict:
                todo.extend(v.keys())
                todo.extend(v.values())
        return budget[0] < 0

    plans = {}      # test -> io_plan(), made ahead by plan_batch
    batched = set()  # tests whose call went in a batch

    def plan_batch(i):
        """Plans tests i, i+1, ... while they are I/O tests of the
        solution's functions, and sends their calls in one batch (when
        there are two or more): the candidate makes them back to back
        instead of waiting for the judge between tests. Each test keeps
        its own verdict, its own deadline (PID 1's clock) and its
        order."""
        calls, wants, size, j = [], [], 0, i
        while j < n and len(calls) < BATCH_MAX and size < BATCH_BYTES:
            plans[j] = plan = io_plan(j)
            form = plan[1]
            if form is None or isinstance(form, BaseException):
                break
            f = ns.get(form[0], shadowed.get(form[0]))
            if type(f) is not Handle:
                break
            if wants and reveals(wants, form[1], form[2]):
                break
            calls.append((f, form[1], form[2]))
            wants.append(form[3])
            size += len(tests[j]) + len(expect[j] or "")
            j += 1
        if len(calls) >= 2 and batch:
            try:
                ep.send_batch(calls)
            except (WireError, RecursionError, ValueError, TypeError):
                return   # arguments too large for one message: one by one
            batched.update(range(i, i + len(calls)))

    for i in range(start, n):
        how = "isolated"
        try:
            if i not in plans:
                plan_batch(i)
            how, form = plans.pop(i)
            if isinstance(form, BaseException):
                raise form
            if form is not None:
                name, args, kw, want = form
                if i in batched:
                    batched.discard(i)
                    got = ep.batch_result()
                else:
                    f = ns.get(name, shadowed.get(name))
                    # the candidate's function, or a library function or
                    # class it imported (from math import gcd), which
                    # crossed by name: the judge's own
                    if type(f) is not Handle and not (
                            type(f) in _BY_NAME_TYPES[1:] or
                            isinstance(f, type)):
                        raise NameError("I/O test: the solution defines "
                                        "no function %r" % name)
                    got = f(*args, **kw)
                if not equal(want, got, atol):
                    raise AssertionError("expected %s, got %s" % (
                        short_repr(want), short_repr(got)))
            else:
                # Test code may run long here: PID 1 must know where the
                # tests before it ended.
                tick.flush()
                code = compile(tests[i], "<test %d>" % i, "exec")
                check_shadowed(code, shadowed)
                check_library_names(code, ns, cand, entry)
                import_watched(code)
                exec(code, ns)
            st, text = "pass", ""
        except BaseException as e:
            st, text = status_of(e), describe(e)
        if ep.lost:
            # The candidate went away during this test: whatever the test
            # code made of that, PID 1 decides the status from the
            # candidate's end.
            return ep.exit_code
        if how == "io":
            tick.later("R", i, st, how, None)
        else:
            tick("R", i, st, how, None)
        detail(i, text)
    tick("D")
    return 0


def _skips(cls):
    """Whether an exception class means "skip this test" to unittest (a
    skip is no failure): unittest.SkipTest and its subclasses. The
    candidate's exception of such a class, named by the standard library's
    name, reaches the tests as its built-in base instead (hostile 9407)."""
    ut = sys.modules.get("unittest")
    skip = getattr(ut, "SkipTest", None)
    return isinstance(skip, type) and issubclass(cls, skip)


def _reveal_norm(v, budget):
    """A loose form of plain data for reveals(): numbers by value (True is
    1), text and bytes alike (bytes as Latin-1), any container as the sorted
    forms of its items (a dict as its (key, value) pairs)."""
    budget[0] -= 1
    t = type(v)
    if t in (bool, int, float, complex):
        return ("n", v)
    if t is str:
        return ("t", v)
    if t is bytes or t is bytearray:
        return ("t", bytes(v).decode("latin-1"))
    if t is dict:
        v = list(v.items())
    elif t not in (list, tuple, set, frozenset):
        return ("o", repr(v) if v is None or v is Ellipsis else id(v))
    if budget[0] < 0 or len(v) > budget[0]:
        budget[0] = -1
        return ("o", None)
    return ("c", tuple(sorted((_reveal_norm(x, budget) for x in v),
                              key=repr)))


def _reveal_texts(v):
    """The texts under which a value shows as part of a string: text itself,
    bytes decoded (UTF-8 and Latin-1), a number of two digits or more."""
    t = type(v)
    if t is str:
        return [v]
    if t is bytes or t is bytearray:
        return [bytes(v).decode("utf-8", "ignore"),
                bytes(v).decode("latin-1")]
    if t in (int, float) and t is not bool and len(str(v)) >= 2:
        return [str(v)]
    return []


def _state_of_judge():
    """What one job's test code could change in the persistent judge that
    would change a later job's verdict: the bindings of builtins, of the
    harness itself and of the modules tests use, process-wide hooks and
    settings. Compared after every job (_same_state); a judge that changed
    is replaced. Returns (plain data compared by value, objects compared by
    identity): an object that claims to equal anything still shows."""
    vals, refs = [], []
    for name in _WATCHED_MODULES:
        m = sys.modules.get(name)
        if m is None:
            vals.append(None)
            continue
        d = m.__dict__
        vals.append(tuple(d))
        refs.extend(d.values())
        # and the dicts of its classes that code can change (Counter's
        # __eq__; a built-in type's cannot be)
        for c in _mutable_classes(name, m):
            vals.append(tuple(c.__dict__))
            refs.extend(c.__dict__.values())
    # The harness's own functions by their code and defaults, its classes
    # by their dicts: a swapped __code__ (equal, status_of) keeps the
    # function's identity (hostile 9309, 9406).
    for v in list(globals().values()):
        if type(v) is type(_state_of_judge):
            refs += (v.__code__, v.__defaults__, v.__kwdefaults__)
        elif isinstance(v, type) and v.__module__ == __name__:
            vals.append(tuple(v.__dict__))
            refs.extend(v.__dict__.values())
    filters = getattr(sys.modules.get("warnings"), "filters", ())
    hooks = [sys.gettrace(), sys.getprofile(), sys.stdout, sys.stderr,
             sys.stdin, sys.excepthook, sys.displayhook]
    hooks += [signal.getsignal(x) for x in _IGNORED_IN_JUDGE]
    hooks += list(sys.meta_path)
    hooks += list(filters)
    refs.extend(hooks)
    # process-wide settings of modules tests use: decimal's context (of
    # this thread), calendar's first weekday
    dec = sys.modules.get("decimal")
    if dec is not None:
        c = dec.getcontext()
        vals.append((c.prec, c.rounding, c.Emin, c.Emax, c.capitals,
                     c.clamp, tuple(sorted((k.__name__, v) for k, v in
                                           c.traps.items()))))
        refs.append(c)
    cal = sys.modules.get("calendar")
    if cal is not None:
        vals.append(cal.firstweekday())
    vals.append((sys.get_int_max_str_digits(), sys.getdefaultencoding(),
                 len(filters), len(sys.meta_path),
                 sys.modules["_thread"]._count(), sys.getrecursionlimit(),
                 sys.getswitchinterval(), umask(), gc.isenabled(),
                 threading_count(), sorted(os.environ.items()),
                 sys.path[:], resource.getrlimit(resource.RLIMIT_AS)))
    return vals, refs


_class_cache = {}


def _mutable_classes(name, m):
    """The classes a watched module defines whose dict code can change
    (not built-in, immutable types), found once per module object; not
    those of ast and typing."""
    if name in ("ast", "typing"):
        return ()   # 186 classes (node kinds, typing's machinery): 0.3
        # ms a job to watch; left out (docs/SANDBOX.md)
    got = _class_cache.get(name)
    if got is None or got[0] is not m:
        got = (m, [v for v in list(m.__dict__.values())
                   if isinstance(v, type) and v.__module__ == m.__name__ and
                   not v.__flags__ & (1 << 8)])   # Py_TPFLAGS_IMMUTABLETYPE
        _class_cache[name] = got
    return got[1]


def _same_state(a, b):
    """Whether two _state_of_judge() results are the same: the plain data
    equal, the objects the very same ones."""
    return a[0] == b[0] and len(a[1]) == len(b[1]) and \
        all(map(operator.is_, a[1], b[1]))


def umask():
    u = os.umask(0o22)
    os.umask(u)
    return u


def threading_count():
    t = sys.modules.get("threading")
    return t.active_count() if t else 1


_WATCHED_MODULES = ("builtins", "sys", "os", "__main__", "harness", "math",
                    "re", "string", "collections", "itertools", "functools",
                    "heapq", "bisect", "typing", "copy", "random",
                    "operator", "cmath", "array", "json", "ast", "struct",
                    "resource", "signal", "time", "gc", "select", "stat",
                    "posix", "_io", "io", "abc", "types", "decimal",
                    "fractions", "statistics", "unittest")
JUDGE_JOBS_MAX = 512   # a judge is replaced after this many jobs anyway
BATCH_MAX = 64         # I/O tests whose calls go in one batch
BATCH_BYTES = 1 << 18  # ... and their text, at most
TICK_HOLD_S = 0.02     # how long an I/O test's tick may wait (Ticks)


# setsid, setpgid, sched_setaffinity
_PGRP_SYSCALLS = {"x86_64": (112, 109, 203), "aarch64": (157, 154, 122)}
_pgrp_lock = []


def lock_process_group():
    """Adds a seccomp filter (on top of the box's) that refuses setsid()
    and setpgid(): every process the candidate starts stays in its process
    group, which one killpg() then ends, sparing the box's judge and
    zygote; and sched_setaffinity(): a candidate must not move onto another
    box's CPU. Runs in the candidate's process before any candidate code;
    filters are inherited and cannot be removed."""
    build_pgrp_lock()
    prctl, ref, _, get_errno = _pgrp_lock
    if prctl(22, 2, ref, 0, 0) != 0:  # PR_SET_SECCOMP, SECCOMP_MODE_FILTER
        raise OSError(get_errno(), "seccomp: process-group lock")


def build_pgrp_lock():
    """Builds lock_process_group()'s filter program, once per box (PID 1
    does it before it forks anything)."""
    import ctypes
    if not _pgrp_lock:
        setsid, setpgid, affinity = _PGRP_SYSCALLS[os.uname().machine]
        code = b"".join(struct.pack("HBBI", *i) for i in (
            (0x20, 0, 0, 0),             # ld [nr]
            (0x15, 3, 0, setsid),        # jeq setsid -> deny
            (0x15, 2, 0, setpgid),       # jeq setpgid -> deny
            (0x15, 1, 0, affinity),      # jeq sched_setaffinity -> deny
            (0x06, 0, 0, 0x7fff0000),    # ret ALLOW
            (0x06, 0, 0, 0x00050001)))   # ret ERRNO(EPERM)

        class Prog(ctypes.Structure):
            _fields_ = [("len", ctypes.c_ushort),
                        ("filter", ctypes.c_char_p)]
        libc = ctypes.CDLL(None, use_errno=True)
        prog = Prog(len(code) // 8, code)
        prctl = libc.prctl
        prctl.argtypes = (ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p,
                          ctypes.c_ulong, ctypes.c_ulong)
        # Everything the call needs, made before any fork.
        _pgrp_lock.extend((prctl, ctypes.cast(ctypes.pointer(prog),
                                              ctypes.c_void_p),
                           (prog, code), ctypes.get_errno))


def zygote_server(ctl):
    """Forks the candidates. Forked by PID 1 before any job, it never
    holds a test (PID 1 never reads one), so no candidate is ever forked
    from a process that held one; and since it is not PID 1, PID 1's own
    memory is not shared with candidates (no copy-on-write faults there).
    For each request (limits, cold; descriptors: the channel, stdout,
    stderr, the solution's memfd) it answers the candidate's pid, then,
    when it has reaped it, its wait status and resource use."""
    import socket as _socket
    # Born with every signal blocked (zygote_up), so that what a candidate
    # sends it stays pending and harmless. The dispositions are set here
    # once to what a candidate starts with: the defaults, and those of a
    # fresh interpreter (SIGINT raising KeyboardInterrupt; SIGPIPE and
    # SIGXFSZ ignored, as Python left them); each candidate then only
    # unblocks.
    for sig in _IGNORED_IN_JUDGE:
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sock = _socket.socket(fileno=ctl)
    recv_fds, fork, close, wait4, send = _socket.recv_fds, os.fork, \
        os.close, os.wait4, sock.send
    last, req = None, None
    # Every page this process writes while a candidate shares it is
    # copied (a fault each): the loop does little, on few objects (the
    # request is parsed once while it does not change, the answers are
    # plain text).
    while True:
        msg, fds, _, _ = recv_fds(sock, 4096, 4)
        if not msg or len(fds) != 4:
            os._exit(0)
        if msg != last:
            req, last = json.loads(msg), msg
        c_fd, out_w, err_w, sol_fd = fds
        # The candidate runs none of its code before its pid has reached
        # PID 1: it could otherwise kill the zygote first, and the run
        # would be charged to a sandbox that lost track of it.
        go_r, go_w = os.pipe()
        pid = fork()
        if pid == 0:
            try:
                os.close(go_w)
                child_enter(req["limits"], out_w, err_w,
                            {c_fd, sol_fd, go_r}, sigint=False)
                lock_process_group()
                if os.read(go_r, 1) != b"g":
                    os._exit(0)   # the zygote died before it reported
                os.close(go_r)
                signal.pthread_sigmask(signal.SIG_SETMASK, ())
                if req["cold"]:
                    # A fresh interpreter, same harness, same
                    # candidate_main().
                    for fd in (c_fd, sol_fd):
                        os.set_inheritable(fd, True)
                    os.execve(sys.executable,
                              [sys.executable, "-I", "-B", __file__,
                               "--candidate", str(c_fd), str(sol_fd)],
                              dict(os.environ))
                candidate_main(c_fd, read_solution(sol_fd))
                flush_stdio()
            except BaseException:
                pass
            os._exit(0)
        close(go_r)
        for fd in fds:
            close(fd)
        send(b"%d" % pid)
        os.write(go_w, b"g")
        close(go_w)
        _, status, ru = wait4(pid, 0)
        # "status cpu_ms maxrss"
        send(b"%d %.3f %d" % (status, (ru.ru_utime + ru.ru_stime) *
                               1000.0, ru.ru_maxrss))


def read_solution(fd):
    size = os.fstat(fd).st_size
    data = os.pread(fd, size, 0) if size else b""
    os.close(fd)
    return data.decode("utf-8", "surrogatepass")


class Ticks:
    """The judge's ticks to PID 1, one JSON array a line. tick(...) sends
    at once; tick.later(...) (an I/O test's end, whose judge-side work is
    bounded) may wait in a queue, which goes out with the next tick that
    cannot wait, before the judge reads from a candidate that has not
    answered yet (Endpoint.recv), and as soon as hold_s (at most an eighth
    of a test's timeout) has passed since the last ticks went out. PID 1
    runs a test's clock from the tick before it: a held tick makes PID 1
    see the tests it covers end up to hold_s late (well within their
    timeout), and starts the next test's clock later than its work began,
    which only gives that test more time."""

    def __init__(self, fd):
        self.fd = fd
        self.q = []
        self.t_sent = time.monotonic()
        self.hold_s = 0.0

    def __call__(self, *fields):
        self.q.append(json.dumps(fields) + "\n")
        self.flush()

    def later(self, *fields):
        self.q.append(json.dumps(fields) + "\n")
        if len(self.q) >= BATCH_MAX or \
                time.monotonic() - self.t_sent >= self.hold_s:
            self.flush()

    def flush(self):
        if self.q:
            write_all(self.fd, "".join(self.q).encode())
            self.q.clear()
        self.t_sent = time.monotonic()


def judge_server(ctl, tick_fd):
    """The persistent judge: one per box, forked by PID 1 before it has
    seen any test, so that no candidate is ever forked from a process that
    held one. It runs each job PID 1 hands it (with the job's descriptors)
    in a fresh namespace, and is replaced when a job leaves it changed, when
    it stops answering and after JUDGE_JOBS_MAX jobs."""
    # The candidate runs under the same uid and can signal this process:
    # what can be ignored is, so that only SIGKILL and SIGSTOP reach it
    # (the test is then killed or times out; neither is a pass).
    for sig in _IGNORED_IN_JUDGE:
        try:
            signal.signal(sig, signal.SIG_IGN)
        except (OSError, ValueError):
            pass
    import socket as _socket
    sock = _socket.socket(fileno=ctl)
    tick = Ticks(tick_fd)

    _judge_clean[:] = [_state_of_judge()]
    rand_state = random.getstate()
    for jobs in range(JUDGE_JOBS_MAX):
        msg, fds, _, _ = _socket.recv_fds(sock, 4096, 3)
        if not msg:
            break
        req = json.loads(msg)
        spec_fd, chan, det_fd = fds
        batch = req.get("batch") is not False
        # without batches every tick goes out at once: each test's
        # deadline is then its own to the tick
        tick.hold_s = min(TICK_HOLD_S, float(req.get("timeout_ms", 0)) /
                          8000.0) if batch else 0.0
        os.chdir(WORKDIR)   # made afresh by PID 1 for every job
        random.setstate(rand_state)   # every job's tests start alike
        r0 = resource.getrusage(resource.RUSAGE_SELF)
        try:
            code = judge_job(chan, tick, det_fd, spec_fd, req["start"],
                             batch)
        finally:
            for fd in fds:
                try:
                    os.close(fd)
                except OSError:
                    pass
        flush_stdio()
        # Whether this judge goes on is part of its last word on the job,
        # so that PID 1 never hands a job to a judge on its way out.
        leaving = jobs + 1 >= JUDGE_JOBS_MAX or not _same_state(
            _state_of_judge(), _judge_clean[0])
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        tick("E", code, round((r1.ru_utime + r1.ru_stime - r0.ru_utime -
                               r0.ru_stime) * 1000.0, 3), leaving)
        if leaving:
            break
    os._exit(0)


# ---------------------------------------------------------------- children

def child_enter(limits, out_w, err_w, keep, cpu=True, sigint=True):
    """Common set-up of a forked child: own session, fresh descriptors,
    per-run rlimits. Runs before any candidate code. keep: descriptors
    that survive (all >= 3)."""
    os.setsid()
    devnull = os.open("/dev/null", os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(out_w, 1)
    os.dup2(err_w, 2)
    lo = 3
    for fd in sorted(keep):
        os.closerange(lo, fd)
        lo = fd + 1
    os.closerange(lo, 1 << 16)
    # Python code sees the dispositions a fresh interpreter sets up
    # (SIGPIPE and SIGXFSZ ignored, SIGINT raising KeyboardInterrupt);
    # PID 1 changed only SIGINT. A program about to be exec'd gets the
    # defaults back, since execve keeps ignored signals ignored.
    if sigint:   # (the zygote's children inherit it: zygote_server)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if limits.get("exec"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
    if cpu:
        cpu_s = limits["cpu_s"]
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
    mem = limits["memory"]
    if mem > 0:
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    os.chdir(WORKDIR)


def high_fd(fd, floor=10):
    """fd moved to >= floor, away from 0-2 and what dup2 will touch;
    close-on-exec, as every descriptor here is until a dup2 or
    set_inheritable hands it on (F_DUPFD would not be: the sealed program
    a C test runs from reached the test program as its fd 10 wherever
    PID 1 had fewer than ten open)."""
    import fcntl
    if fd >= floor:
        return fd
    new = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, floor)
    os.close(fd)
    return new


def pin(cpu):
    """Runs this process (and what it forks) on one CPU, if cpu >= 0: the
    judge and the zygote of a box share one, so that a test's call and the
    candidate's answer do not cross between CPUs (twice the cost)."""
    if cpu >= 0:
        try:
            os.sched_setaffinity(0, {cpu})
        except OSError:
            pass


def ignoring_signals(fork):
    """Calls fork() with every signal of _IGNORED_IN_JUDGE ignored in this
    process, so that the child is born ignoring them (a candidate's
    SIGTERM cannot land before the child's own set-up), then puts this
    process's dispositions back."""
    saved = []
    for sig in _IGNORED_IN_JUDGE:
        try:
            saved.append((sig, signal.signal(sig, signal.SIG_IGN)))
        except (OSError, ValueError):
            pass
    try:
        return fork()
    finally:
        for sig, old in saved:
            signal.signal(sig, old)


def spawn(limits, target, keep, out_w, err_w, cpu=True, sigint=True):
    """Forks a child that calls target() after child_enter. Returns pid."""
    pid = os.fork()
    if pid == 0:
        try:
            child_enter(limits, out_w, err_w, keep, cpu, sigint)
            target()
            flush_stdio()
        except BaseException:
            pass
        os._exit(0)
    return pid


def flush_stdio():
    """Before a child's os._exit: what the code printed goes out."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:
        pass


# ---------------------------------------------------------------- PID 1 side

class LineReader:
    """Lines from a pipe, split in linear time, at most WAKE_BYTES read per
    call, lines longer than cap dropped whole."""

    def __init__(self, fd, cap):
        self.fd = fd
        self.cap = cap
        self.buf = bytearray()
        self.skipping = False

    def read(self):
        """Returns (lines, eof)."""
        try:
            data = os.read(self.fd, WAKE_BYTES)
        except BlockingIOError:
            return [], False
        if not data:
            return [], True
        return self.feed(data), False

    def feed(self, data):
        """The whole lines that data completes (data read elsewhere)."""
        lines = []
        start = 0
        while True:
            nl = data.find(b"\n", start)
            if nl < 0:
                break
            if self.skipping:
                self.skipping = False
            elif len(self.buf) + nl - start <= self.cap:
                lines.append(bytes(self.buf) + data[start:nl])
            self.buf.clear()
            start = nl + 1
        if not self.skipping:
            self.buf += data[start:]
            if len(self.buf) > self.cap:
                self.buf.clear()
                self.skipping = True
        return lines


def reap_all():
    """Kills every process in the box except this one and reaps them."""
    while True:
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            while True:
                pid, _ = os.waitpid(-1, os.WNOHANG)
                if pid == 0:
                    time.sleep(0.0005)
                    break
        except ChildProcessError:
            return


FS_IOC_GETFLAGS = 0x80086601
FS_IOC_SETFLAGS = 0x40086602


def tmp_attrs():
    """What a run could change about /tmp itself: owner, mode, extended
    attributes (POSIX ACLs are system.posix_acl_* xattrs) and inode
    flags."""
    import fcntl
    st = os.lstat("/tmp")
    try:
        xattrs = sorted((k, os.getxattr("/tmp", k, follow_symlinks=False))
                        for k in os.listxattr("/tmp", follow_symlinks=False))
    except OSError:
        xattrs = None
    flags = None
    try:
        fd = os.open("/tmp", os.O_RDONLY | os.O_DIRECTORY)
        try:
            flags = struct.unpack("i", fcntl.ioctl(
                fd, FS_IOC_GETFLAGS, b"\0" * 4))[0]
        finally:
            os.close(fd)
    except OSError:
        pass
    return (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode), xattrs, flags)


def restore_tmp(pristine):
    """Puts /tmp's own attributes back as they were when the box started.
    Returns False if they could not be (the box is then rebuilt: a new
    mount)."""
    import fcntl
    try:
        now = tmp_attrs()
        if now == pristine:
            return True
        for k in os.listxattr("/tmp", follow_symlinks=False):
            os.removexattr("/tmp", k, follow_symlinks=False)
        for k, v in pristine[3] or ():
            os.setxattr("/tmp", k, v, follow_symlinks=False)
        os.chmod("/tmp", pristine[2])
        if pristine[4] is not None and now[4] != pristine[4]:
            fd = os.open("/tmp", os.O_RDONLY | os.O_DIRECTORY)
            try:
                fcntl.ioctl(fd, FS_IOC_SETFLAGS,
                            struct.pack("i", pristine[4]))
            finally:
                os.close(fd)
        return tmp_attrs() == pristine
    except OSError:
        return False


def clean_tmp():
    """Empties /tmp. Returns False if anything could not be removed (the
    box is then rebuilt). Iterative: a candidate may leave a tree deeper
    than Python's recursion limit."""
    try:
        stack = [("/tmp", False)]
        while stack:
            path, visited = stack.pop()
            if visited:
                if path != "/tmp":
                    os.rmdir(path)
                continue
            st = os.lstat(path)
            if not stat.S_ISDIR(st.st_mode):
                os.unlink(path)
                continue
            if path != "/tmp":
                os.chmod(path, 0o700)
            stack.append((path, True))
            for name in os.listdir(path):
                stack.append((path + "/" + name, False))
        return True
    except Exception:
        return False


def signame(sig):
    try:
        return signal.Signals(sig).name
    except ValueError:
        return "signal %d" % sig


def death_status(how, status):
    if how:
        return how
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig == signal.SIGXCPU:
            return "timeout"
        return "killed"
    return "error"


def death_detail(how, status):
    if how == "timeout":
        return "wall-clock limit exceeded"
    if how == "output_limit":
        return "output limit exceeded"
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig == signal.SIGXCPU:
            return "CPU time limit exceeded"
        return "killed by " + signame(sig)
    return "exited with code %d before the test finished" % \
        os.WEXITSTATUS(status)


def seal_program(path):
    """A sealed copy of the program a compile step built (a memfd no one
    can write, grow or shrink), or -1. Tests run from it: a test that
    replaces the file on /tmp changes nothing for the next one."""
    import fcntl
    src = mfd = -1
    try:
        os.chmod(path, 0o500)    # built execute-only
        src = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        size = os.fstat(src).st_size
        mfd = os.memfd_create("kiln-prog",
                              os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        off = 0
        while off < size:
            n = os.sendfile(mfd, src, off, size - off)
            if n <= 0:
                raise OSError("short copy")
            off += n
        fcntl.fcntl(mfd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SEAL |
                    fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW |
                    fcntl.F_SEAL_WRITE)
        return high_fd(mfd)
    except OSError:
        if mfd >= 0:
            os.close(mfd)
        return -1
    finally:
        if src >= 0:
            os.close(src)


SNAPSHOT_MAX = 48 << 20   # bytes of /tmp/w kept for an interpreted job


def snapshot_workdir():
    """What a compile step left in /tmp/w (or the job's files, when there
    is none): every directory and regular file, with its mode and bytes,
    or None (too big, or something else than files and directories). An
    interpreted language runs from these files, so each test starts from
    them again (restore_workdir): a test cannot change what the next one
    runs."""
    items, total = [], 0
    stack = [""]
    try:
        while stack:
            rel = stack.pop()
            path = WORKDIR + rel
            for name in sorted(os.listdir(path)):
                r = rel + "/" + name
                st = os.lstat(WORKDIR + r)
                if stat.S_ISDIR(st.st_mode):
                    items.append((r, stat.S_IMODE(st.st_mode), None))
                    stack.append(r)
                elif stat.S_ISREG(st.st_mode):
                    total += st.st_size
                    if total > SNAPSHOT_MAX:
                        return None
                    with open(WORKDIR + r, "rb") as f:
                        items.append((r, stat.S_IMODE(st.st_mode),
                                      f.read()))
                else:
                    return None
    except OSError:
        return None
    return items


def restore_workdir(items):
    """/tmp emptied and /tmp/w made again from a snapshot. False if it
    could not be."""
    if not clean_tmp():
        return False
    try:
        os.mkdir(WORKDIR, 0o700)
        for rel, mode, data in items:
            if data is None:
                os.mkdir(WORKDIR + rel, 0o700)
            else:
                fd = os.open(WORKDIR + rel, os.O_WRONLY | os.O_CREAT |
                             os.O_EXCL, 0o600)
                try:
                    write_all(fd, data)
                finally:
                    os.close(fd)
            os.chmod(WORKDIR + rel, mode)
        return True
    except OSError:
        return False


def c_value(text):
    """A C program's I/O output ("<kind><hex>", see lang.c's runtime) as a
    Python value, or raises ValueError."""
    kind, data = text[:1], bytes.fromhex(text[1:])
    if kind == "I" and len(data) == 8:
        return struct.unpack("<q", data)[0]
    if kind == "U" and len(data) == 8:
        return struct.unpack("<Q", data)[0]
    if kind == "D" and len(data) == 8:
        return struct.unpack("<d", data)[0]
    if kind == "B" and len(data) == 1:
        return data != b"\0"
    if kind == "S":
        # Invalid bytes stay distinct (and equal no expected text).
        return data.decode("utf-8", "surrogateescape")
    if kind == "N" and not data:
        return None
    if kind == "L":
        raise ValueError("a string longer than 4096 bytes")
    raise ValueError("malformed output")


def judge_c_output(want_src, outputs, atol):
    """(status, detail) of a C I/O test: exactly one output, compared by
    kiln's rule (equal(): == on plain data, or within atol) with the
    expected literal, here in PID 1: the program never saw it."""
    try:
        want = ast.literal_eval(want_src)
    except (ValueError, SyntaxError, TypeError, MemoryError,
            RecursionError):
        return "error", "I/O test: 'expect' is not a literal"
    if len(outputs) != 1:
        return "error", "I/O test: the program wrote %d outputs, not one" \
            % len(outputs)
    try:
        got = c_value(outputs[0])
    except ValueError as e:
        return "error", "I/O test: %s" % e
    if type(want) is bool and type(got) is int:
        got = bool(got)   # a C int standing for a truth value
    if equal(want, got, atol):
        return "pass", ""
    return "fail", "AssertionError: expected %s, got %s" % (
        short_repr(want), short_repr(got))


def big_pipe():
    r, w = os.pipe()
    try:
        import fcntl
        fcntl.fcntl(w, 1031, 1 << 20)   # F_SETPIPE_SZ
    except OSError:
        pass
    return r, w


class Box:
    def __init__(self):
        self.limits = None
        self.devnull = os.open("/dev/null", os.O_WRONLY)
        self.judge_pid = 0
        self.judge_status = None
        self.judge_reaped = False
        self.zygote_pid = 0
        self.recycle = False
        self.err_tail = b""
        self.err_head = b""

    # -- reading children ----------------------------------------------------

    def _out(self, fd, kind):
        """Reads what a child wrote to stdout/stderr, up to WAKE_BYTES.
        kind: "out"/"err" (the candidate's: the stderr tail is kept) or
        "judge" (the tests' output: counted, never read into memory).
        Returns what was read (b"" at end of file; True for "judge")."""
        if kind == "judge":
            try:
                n = os.splice(fd, self.devnull, WAKE_BYTES)
            except OSError:
                n = 0
            data = n > 0
        else:
            data = os.read(fd, WAKE_BYTES)
            n = len(data)
            if kind == "err" and n:
                self.err_tail = (self.err_tail + data)[-TAIL:]
                if len(self.err_head) < TAIL:
                    self.err_head += data[:TAIL - len(self.err_head)]
        self.out_bytes += n
        return data

    def watch(self, pids, fds, on_tick, deadline_of):
        """Reads children's pipes until the first pid in pids exits (then
        the others are killed) or a limit fires. fds: {fd: kind}, kind in
        "out", "err", "judge", "tick" (a LineReader is made for it).
        on_tick(fields) is called per tick; deadline_of() gives the current
        deadline (monotonic ms, this process's clock). Returns (how,
        {pid: (status, rusage)}) where how is None, "timeout" or
        "output_limit"."""
        how = None
        poller = select.poll()
        readers = {}
        for fd, kind in fds.items():
            poller.register(fd, select.POLLIN)
            if kind in ("tick", "proof", "outproof"):
                readers[fd] = LineReader(fd, RECORD_MAX if kind == "tick"
                                         else 3 * RECORD_MAX + 8192)
        pidfds = {}
        for pid in pids:
            pfd = os.pidfd_open(pid)
            pidfds[pfd] = pid
            poller.register(pfd, select.POLLIN)
        open_fds = set(fds)
        main_exited = False
        exited = set()
        while not main_exited or open_fds:
            left = deadline_of() - now_ms()
            if left <= 0:
                how = "timeout"
                break
            events = poller.poll(max(1, int(left) + 1))
            for fd, _ in events:
                if fd in pidfds:
                    exited.add(pidfds[fd])
                    poller.unregister(fd)
                    if pidfds[fd] == pids[0]:
                        main_exited = True
                    continue
                if fd not in open_fds:
                    continue
                kind = fds[fd]
                if kind == "tick" or kind == "proof":
                    lines, eof = readers[fd].read()
                    for line in lines:
                        try:
                            if kind == "proof":
                                # A program's own line: "nonce\tD".
                                fields = line.decode("utf-8",
                                                     "replace").split("\t")
                            else:
                                fields = json.loads(line)
                            if type(fields) is list and fields:
                                on_tick(fields)
                        except (ValueError, TypeError, IndexError):
                            pass  # malformed: ignored
                else:
                    # "outproof": the candidate's stdout, which also
                    # carries the record (runtimes that cannot write fd 3)
                    data = self._out(fd, "out" if kind == "outproof"
                                     else kind)
                    eof = not data
                    if kind == "outproof" and data:
                        for line in readers[fd].feed(data):
                            fields = line.decode("utf-8",
                                                 "replace").split("\t")
                            if len(fields) == 2:
                                on_tick(fields)
                    if not eof and self.out_bytes > self.limits["output"]:
                        how = "output_limit"
                        break
                if eof:
                    poller.unregister(fd)
                    open_fds.discard(fd)
            if how:
                break
            if main_exited and open_fds and not poller.poll(0):
                # The child is gone; its pipes may be held open by a
                # descendant it left behind. Drained what is there: stop.
                break
        out = {}
        for pfd, pid in pidfds.items():
            if how or pid not in exited:
                for f in (os.killpg, os.kill):
                    try:
                        f(pid, signal.SIGKILL)
                    except OSError:
                        pass
            _, status, ru = os.wait4(pid, 0)
            out[pid] = (status, ru)
            os.close(pfd)
        for fd in fds:
            os.close(fd)
        return how, out

    # -- one job -------------------------------------------------------------

    def run_job(self, job, spec_fd):
        lim = job["limits"]
        self.cpu = int(job.get("cpu", -1))
        self.limits = {
            "cpu_s": max(1, int(lim["cpu_ms"] / 1000 + 0.999)),
            "memory": int(lim.get("memory", 0)),
            "output": int(lim["output"]),
            "exec": job["mode"] == "exec",
        }
        self.out_bytes = 0
        self.err_tail = b""
        self.timeout_ms = float(lim["timeout_ms"])
        self.batch = job.get("batch") is not False
        self.err_head = b""   # a run's first stderr bytes (oom_text)
        t_start = now_ms()
        try:
            os.mkdir(WORKDIR, 0o700)
        except FileExistsError:
            pass
        for name, text in (job.get("files") or {}).items():
            with open(os.path.join(WORKDIR, name), "w") as f:
                f.write(text)
        self.details = os.memfd_create("kiln-details", os.MFD_CLOEXEC)
        if job["mode"] == "exec":
            result = self.run_exec(job)
        else:
            result = self.run_python(job, spec_fd)
        clean = clean_tmp() and restore_tmp(self.pristine_tmp)
        result["wall_ms"] = round(now_ms() - t_start, 3)
        result["stderr"] = as_text(self.err_tail)
        result["output_bytes"] = self.out_bytes
        if not clean or self.recycle:
            result["recycle"] = True   # kiln rebuilds the box
        return result

    def run_python(self, job, spec_fd):
        n = int(job["ntests"])
        timeout = float(job["limits"]["timeout_ms"])
        cold = bool(job.get("cold"))
        solution = job.get("solution") or ""
        results = [None] * n
        cpu_total = 0.0
        rss_max = 0
        start = 0
        load = None
        while start < n and load is None:
            st = {"cur": None, "t": now_ms(), "loaded": False, "next": start,
                  "end": None}

            def on_tick(f, st=st):
                nonlocal load
                tag = f[0]
                t = now_ms()
                if tag == "L" and len(f) == 2 and not st["loaded"]:
                    st["loaded"] = True
                    if f[1] != "ok":
                        load = (str(f[1]), "")
                    else:
                        st["cur"] = st["next"]
                    st["t"] = t
                elif tag == "R" and len(f) == 5 and st["cur"] is not None:
                    i = f[1]
                    if i == st["cur"] and f[2] in ("pass", "fail", "error",
                                                   "memory"):
                        results[i] = {"status": f[2],
                                      "wall_ms": round(t - st["t"], 3),
                                      "cpu_ms": None,
                                      "detail": "",
                                      "judge": "io" if f[3] == "io"
                                      else "isolated"}
                        st["next"] = i + 1
                        st["cur"] = i + 1 if i + 1 < n else None
                        st["t"] = t
                elif tag == "E" and len(f) == 4:
                    st["end"] = f[1]
                    st["jcpu"] = float(f[2])
                    st["leaving"] = f[3] is True

            def deadline(st=st):
                # Loading the solution and each test get the full timeout,
                # from the moment this process saw the previous step end.
                return st["t"] + timeout

            how, cstatus, ccpu, crss = self.run_pair(
                solution, spec_fd, start, cold, on_tick, deadline, st)
            cpu_total += ccpu + st.get("jcpu", 0.0)
            rss_max = max(rss_max, crss)
            if load is not None:
                break
            cur = st["cur"]
            if cur is None and st["next"] < n:
                cur = st["next"]  # died before announcing it
            if cur is not None and cur < n and results[cur] is None:
                status, text = self.blame(how, st["end"], cstatus)
                results[cur] = {"status": status,
                                "wall_ms": round(now_ms() - st["t"], 3),
                                "cpu_ms": None, "detail": text,
                                "judge": "isolated"}
                if not st["loaded"]:
                    # Died while loading: every test shares that fate.
                    load = (status, text)
                    results[cur] = None
                    break
                start = cur + 1
            else:
                start = st["next"]
        if load is not None:
            for i in range(n):
                if results[i] is None:
                    results[i] = {"status": load[0], "wall_ms": 0.0,
                                  "cpu_ms": None,
                                  "detail": ("while loading: " + load[1]
                                             if load[1] else ""),
                                  "judge": "isolated"}
        return self.summarize(results, cpu_total, rss_max)

    def blame(self, how, end, cstatus):
        """(status, detail) of the test that was running when a run ended
        early: how (timeout, output_limit), the judge's word that the
        candidate's side went away (end), or the judge's own death."""
        if how == "sandbox_error":
            return how, "the box could not start a candidate"
        if how == "zygote":
            return "error", "the candidate stopped or killed the box's " \
                "zygote (the process that forks candidates)"
        if how:
            return how, death_detail(how, 0)
        if end == EXIT_PROTOCOL:
            return "error", "the candidate broke the judge's protocol"
        if end == EXIT_CHANNEL:
            if cstatus is None:
                return "error", "the candidate closed its channel to the judge"
            if os.WIFEXITED(cstatus):
                return "error", "exited with code %d before the test " \
                    "finished" % os.WEXITSTATUS(cstatus)
            return death_status(None, cstatus), death_detail(None, cstatus)
        js = self.judge_status
        if js is None:
            return "error", "the judge stopped answering"
        if os.WIFEXITED(js):
            return "error", "the judge stopped: " + death_detail(None, js)
        return death_status(None, js), death_detail(None, js)

    # -- the persistent judge ------------------------------------------------

    def judge_up(self):
        """Starts the box's judge if it is not running (a judge that died
        since, killed by a candidate after its last word, is replaced)."""
        if self.judge_pid and select.select([self.judge_pidfd], [], [],
                                            0)[0]:
            self.judge_down()
        if self.judge_pid:
            return
        import socket as _socket
        ctl_p, ctl_j = _socket.socketpair(_socket.AF_UNIX,
                                          _socket.SOCK_SEQPACKET)
        cj = high_fd(ctl_j.detach())
        tick_r, tick_w = os.pipe()
        tick_w = high_fd(tick_w)
        out_r, out_w = os.pipe()
        limits = dict(self.limits, cpu_s=resource.RLIM_INFINITY)
        cpu = self.cpu
        # Born ignoring what it can (ignoring_signals), and left so: with
        # SIGINT raising KeyboardInterrupt again (child_enter's default), a
        # candidate's SIGINT before judge_server's own set-up ended the
        # judge (hostile case signal_judge, about 1 run in 8).
        self.judge_pid = ignoring_signals(lambda: spawn(
            limits, lambda: pin(cpu) or judge_server(cj, tick_w),
            {cj, tick_w}, out_w, out_w, cpu=False, sigint=False))
        for fd in (cj, tick_w, out_w):
            os.close(fd)
        self.judge_ctl = ctl_p
        self.judge_tick = LineReader(tick_r, RECORD_MAX)
        self.judge_out = out_r
        os.set_blocking(out_r, False)   # drained at each run's end
        self.judge_pidfd = os.pidfd_open(self.judge_pid)
        self.judge_status = None
        self.judge_reaped = False

    def judge_down(self):
        """Kills the judge (a timeout, a death, a job that changed it)."""
        if not self.judge_pid:
            return
        try:
            os.kill(self.judge_pid, signal.SIGKILL)
        except OSError:
            pass
        if not self.judge_reaped:
            try:
                _, self.judge_status, _ = os.wait4(self.judge_pid, 0)
            except ChildProcessError:
                pass
        self.judge_ctl.close()
        for fd in (self.judge_tick.fd, self.judge_out, self.judge_pidfd):
            os.close(fd)
        self.judge_pid = 0

    def zygote_up(self, cpu):
        """Starts the box's zygote: once, before PID 1 has read any job
        (its memory, and so every candidate's, holds nothing of one).
        It is never forked again: if a candidate kills or stops it, the
        box is rebuilt (zygote_down)."""
        import socket as _socket
        ctl_p, ctl_z = _socket.socketpair(_socket.AF_UNIX,
                                          _socket.SOCK_SEQPACKET)
        cz = high_fd(ctl_z.detach())
        os.makedirs(WORKDIR, exist_ok=True)   # child_enter goes there
        # Born with every signal blocked (see zygote_server).
        mask = signal.pthread_sigmask(signal.SIG_BLOCK,
                                      signal.valid_signals())
        try:
            self.zygote_pid = spawn(
                {"memory": 0}, lambda: pin(cpu) or zygote_server(cz),
                {cz}, 2, 2, cpu=False)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        os.close(cz)
        self.zygote_ctl = ctl_p

    def zygote_down(self):
        self.recycle = True   # no new zygote from PID 1 (see zygote_up)
        if not self.zygote_pid:
            return
        try:
            os.kill(self.zygote_pid, signal.SIGKILL)
            os.waitpid(self.zygote_pid, 0)
        except (OSError, ChildProcessError):
            pass
        self.zygote_ctl.close()
        self.zygote_pid = 0

    def fork_candidate(self, solution, cold, c_fd, out_w, err_w):
        """Has the zygote fork a candidate. Returns its pid; 0 if there is
        no zygote (the run is a sandbox_error); -1 if the zygote did not
        say, its new candidate having stopped or killed it (every process
        but PID 1 is then killed; the run is the candidate's error)."""
        import socket as _socket
        sol = os.memfd_create("kiln-solution", os.MFD_CLOEXEC)
        write_all(sol, solution.encode("utf-8", "surrogatepass"))
        try:
            if not self.zygote_pid:
                return 0
            try:
                _socket.send_fds(self.zygote_ctl, [json.dumps(
                    {"limits": self.limits, "cold": cold}).encode()],
                    [c_fd, out_w, err_w, sol])
                # The candidate may SIGSTOP the zygote before it reports:
                # wake it up while waiting, for up to 2 s.
                self.zygote_ctl.settimeout(0.05)
                for _ in range(40):
                    try:
                        msg = self.zygote_ctl.recv(4096)
                        return int(msg) if msg else -1
                    except TimeoutError:
                        os.kill(self.zygote_pid, signal.SIGCONT)
            except (OSError, ValueError, KeyError):
                pass
            finally:
                if self.zygote_pid:
                    self.zygote_ctl.settimeout(None)
            self.zygote_down()
            self.judge_down()
            reap_all()   # the candidate, whose pid is not known
            return -1
        finally:
            os.close(sol)

    def candidate_end(self):
        """The candidate's wait status, CPU ms and max RSS, from the
        zygote that reaped it ((None, 0, 0) if the zygote is gone)."""
        try:
            if not self.zygote_pid:
                raise OSError("no zygote")
            self.zygote_ctl.settimeout(2.0)
            try:
                msg = self.zygote_ctl.recv(4096)
            finally:
                self.zygote_ctl.settimeout(None)
            status, cpu_ms, maxrss = msg.split()
            return int(status), float(cpu_ms), int(maxrss)
        except (OSError, ValueError, KeyError, TypeError):
            self.zygote_down()
            return None, 0.0, 0

    def kill_group(self, pgid):
        """Kills every process of a candidate's process group (candidates
        cannot leave it: lock_process_group) and reaps those that fell to
        PID 1, until none is left."""
        t_end = now_ms() + 2000
        while True:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                return
            self.reap_orphans()
            if now_ms() > t_end:
                # A zombie whose parent, the zygote, does not reap it
                # (stopped by the candidate): a new zygote, and the
                # zombie falls to PID 1.
                self.zygote_down()
                t_end = now_ms() + 2000
            elif self.zygote_pid:
                try:
                    os.kill(self.zygote_pid, signal.SIGCONT)
                except OSError:
                    pass
            time.sleep(0.0001)

    def reap_orphans(self):
        """Reaps what died among PID 1's children: orphans of candidates,
        and the judge or the zygote if a candidate killed them."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid == self.judge_pid:
                self.judge_status = status
                self.judge_reaped = True
            elif pid == self.zygote_pid:
                self.zygote_ctl.close()
                self.zygote_pid = 0
                self.recycle = True

    def run_pair(self, solution, spec_fd, start, cold, on_tick, deadline,
                 st):
        """Has the zygote fork a candidate for tests[start:] and hands the
        job to the judge, then watches both until the judge says it is done
        ("E"), a limit fires or one of them dies. Returns (how, the
        candidate's wait status, or None if it was killed here; its CPU
        ms; its max RSS)."""
        import socket as _socket
        self.judge_up()
        c_sock, j_sock = _socket.socketpair()
        c_fd, j_fd = high_fd(c_sock.detach()), high_fd(j_sock.detach())
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        det_r, det_w = big_pipe()
        cand = self.fork_candidate(solution, cold, c_fd, out_w, err_w)
        for fd in (c_fd, out_w, err_w):
            os.close(fd)
        os.set_blocking(det_r, False)
        if cand > 0:
            try:
                _socket.send_fds(self.judge_ctl, [json.dumps(
                    {"op": "job", "start": start,
                     "timeout_ms": self.timeout_ms,
                     "batch": self.batch}).encode()],
                    [spec_fd, j_fd, det_w])
            except OSError:
                self.judge_down()
        os.close(j_fd)
        os.close(det_w)
        if cand <= 0:
            for fd in (out_r, err_r):
                os.close(fd)
            return ("sandbox_error" if cand == 0 else "zygote"), None, \
                0.0, 0
        try:
            cpidfd = os.pidfd_open(cand)
        except ProcessLookupError:   # gone and reaped already
            cpidfd = os.open("/dev/null", os.O_RDONLY)
        fds = {out_r: "out", err_r: "err"}
        poller = select.poll()
        for fd in fds:
            poller.register(fd, select.POLLIN)
        if self.judge_pid:
            poller.register(self.judge_tick.fd, select.POLLIN)
            poller.register(self.judge_out, select.POLLIN)
            poller.register(self.judge_pidfd, select.POLLIN)
        poller.register(det_r, select.POLLIN)
        poller.register(cpidfd, select.POLLIN)
        how = None
        judge_dead = not self.judge_pid
        while st["end"] is None and not judge_dead:
            left = deadline() - now_ms()
            if left <= 0:
                how = "timeout"
                break
            for fd, _ in poller.poll(max(1, int(left) + 1)):
                if fd == self.judge_tick.fd:
                    self.read_ticks(on_tick)
                elif fd == self.judge_pidfd:
                    self.read_ticks(on_tick)
                    judge_dead = True
                elif fd == cpidfd:
                    poller.unregister(fd)  # the judge will notice
                elif fd == det_r:
                    if not self.keep_details(det_r):
                        poller.unregister(fd)
                elif fd == self.judge_out or fd in fds:
                    if not self._out(fd, fds.get(fd, "judge")):
                        poller.unregister(fd)
                        fds.pop(fd, None)
                    elif self.out_bytes > self.limits["output"]:
                        how = "output_limit"
                        break
            if how:
                break
        if how or judge_dead or st.get("leaving"):
            self.judge_down()
        # The candidate: its own end if it had one, else killed here. (It
        # closes its channel a moment before its exit shows.)
        exited = bool(select.select([cpidfd], [], [], 0.05 if st["end"] ==
                                    EXIT_CHANNEL else 0)[0])
        os.close(cpidfd)
        # One SIGKILL for the candidate's group (the candidate has usually
        # left already), a SIGCONT for the judge and the zygote (undoing a
        # SIGSTOP the candidate sent: none of its processes can run again
        # to send another), then the zygote's word on the candidate, which
        # it sends once it has reaped it; then what is left of the group
        # (orphans, fallen to this process).
        try:
            os.killpg(cand, signal.SIGKILL)
        except OSError:
            pass
        for pid in (self.judge_pid, self.zygote_pid):
            if pid:
                try:
                    os.kill(pid, signal.SIGCONT)
                except OSError:
                    pass
        cstatus, ccpu, crss = self.candidate_end()
        self.kill_group(cand)
        while self.keep_details(det_r):
            pass
        # The tests' output still in the judge's pipe is this run's.
        while self.judge_pid and self._out(self.judge_out, "judge"):
            pass
        os.close(det_r)
        for fd in (out_r, err_r):
            try:
                while fd in fds and self._out(fd, fds[fd]):
                    pass
            except OSError:
                pass
            os.close(fd)
        return how, cstatus if exited else None, ccpu, crss

    def keep_details(self, fd):
        """Moves what the judge's detail pipe holds into this job's details
        memfd, in the kernel (never read here: see reply_parts). Returns
        False at end of file or when the pipe is empty."""
        try:
            return os.splice(fd, self.details, WAKE_BYTES) > 0
        except BlockingIOError:
            return False

    def read_ticks(self, on_tick):
        lines, _ = self.judge_tick.read()
        for line in lines:
            try:
                fields = json.loads(line)
                if type(fields) is list and fields:
                    on_tick(fields)
            except (ValueError, TypeError, IndexError):
                pass  # malformed: ignored

    def run_exec(self, job):
        """Compiled or script languages: compile once, one process a test.
        The deadline runs from this process's clock when it started the
        run; the result pipe is read at most WAKE_BYTES a wake-up."""
        runs = job["runs"]
        results = [None] * len(runs)
        cpu_total = 0.0
        rss_max = 0
        if job.get("compile"):
            saved = self.limits
            c = job["compile_limits"]
            self.limits = {"cpu_s": max(1, int(c["cpu_ms"] / 1000 + 0.999)),
                           "memory": int(c["memory"]),
                           "output": int(c["output"]), "exec": True}
            t0 = now_ms()
            out_r, out_w = os.pipe()
            err_r, err_w = os.pipe()
            def compile_target():
                lock_process_group()
                os.execve(job["compile"][0], job["compile"], job["env"])
            pid = spawn(self.limits, compile_target, set(), out_w, err_w)
            os.close(out_w)
            os.close(err_w)
            how, deaths = self.watch([pid], {out_r: "out", err_r: "err"},
                                     lambda f: None,
                                     lambda: t0 + c["timeout_ms"])
            status, ru = deaths[pid]
            self.kill_group(pid)
            self.limits = saved
            cpu_total += (ru.ru_utime + ru.ru_stime) * 1000.0
            ok = (how is None and os.WIFEXITED(status)
                  and os.WEXITSTATUS(status) == 0)
            if not ok:
                detail = "compile failed: " + (
                    death_detail(how, status) if how or
                    os.WIFSIGNALED(status) else
                    as_text(self.err_tail)[-300:])
                st = "timeout" if how == "timeout" else "error"
                for i in range(len(runs)):
                    results[i] = {"status": st, "wall_ms": 0.0,
                                  "cpu_ms": None, "detail": detail,
                                  "judge": "in-process"}
                return self.summarize(results, cpu_total, rss_max)
        if job.get("interp"):
            # runs[i][0] is an interpreter or a launcher under /usr (read
            # only in the box); what it runs is in /tmp/w, put back
            # before every test
            snap = snapshot_workdir()
            if snap is None:
                return self.all_runs(results, "error", "the built files "
                                     "are too big (or not plain files)",
                                     cpu_total, rss_max)
            return self.run_tests_exec(job, None, results, cpu_total,
                                       rss_max, snap)
        prog = seal_program(runs[0][0]) if runs else -1
        if prog < 0:
            return self.all_runs(results, "sandbox_error", "the built "
                                 "program could not be sealed", cpu_total,
                                 rss_max)
        try:
            return self.run_tests_exec(job, prog, results, cpu_total,
                                       rss_max)
        finally:
            os.close(prog)

    def oom_seen(self, texts):
        """The first of texts in the run's stderr, or None: its tail,
        and its head too (Go prints every goroutine's stack after "fatal
        error: runtime: out of memory")."""
        for t in texts:
            if t.encode() in self.err_tail or t.encode() in self.err_head:
                return t
        return None

    def all_runs(self, results, status, detail, cpu_total, rss_max):
        """Every run of a job ends with status, before it started."""
        for i in range(len(results)):
            results[i] = {"status": status, "wall_ms": 0.0, "cpu_ms": None,
                          "judge": "in-process", "detail": detail}
        return self.summarize(results, cpu_total, rss_max)

    def run_tests_exec(self, job, prog, results, cpu_total, rss_max,
                       snap=None):
        """Each test of a built program: one process, exec'd from the
        sealed copy (so a test cannot replace the program the next test
        runs); or, for an interpreted language (prog None), from its
        interpreter, with /tmp/w put back from snap before each test."""
        runs = job["runs"]
        timeout = float(job["limits"]["timeout_ms"])
        expect = job.get("expect") or [None] * len(runs)
        atol = float(job.get("atol") or 0.0)
        # oom_text: what the runtime prints when memory ran out (lines:
        # any of them; Tcl panics or raises an error)
        oom_texts = [t for t in (job.get("oom_text") or "").split("\n")
                     if t]
        for i, argv in enumerate(runs):
            if snap is not None and i > 0 and not restore_workdir(snap):
                results[i] = {"status": "sandbox_error", "wall_ms": 0.0,
                              "cpu_ms": None, "judge": "in-process",
                              "detail": "/tmp/w could not be put back"}
                continue
            nonce = os.urandom(12).hex()
            done = {"ok": False, "out": []}

            def on_tick(f, done=done, nonce=nonce):
                if f == [nonce, "D"]:
                    done["ok"] = True
                elif len(f) == 3 and f[0] == nonce and f[1] == "V":
                    done["out"].append(f[2])

            out_r, out_w = os.pipe()
            err_r, err_w = os.pipe()
            res_r, res_w = os.pipe()
            res_w = high_fd(res_w)
            # nonce_stdin: the nonce is the first line of stdin (a pipe
            # that holds only it), for runtimes that cannot take it out
            # of their environment before the solution runs (a JVM's
            # System.getenv); the runtime reads it before any of the
            # solution's code runs, and the solution then reads EOF
            in_r = -1
            if job.get("nonce_stdin"):
                in_r, in_w = os.pipe()
                write_all(in_w, (nonce + "\n").encode())
                os.close(in_w)
                in_r = high_fd(in_r)

            def target(argv=argv, nonce=nonce, res_w=res_w, in_r=in_r):
                env = dict(job["env"])
                if in_r >= 0:
                    os.dup2(in_r, 0)
                    os.close(in_r)
                else:
                    env["KILN_NONCE"] = nonce
                os.dup2(res_w, 3)
                os.close(res_w)
                lock_process_group()
                # fexecve: the sealed copy
                os.execve(argv[0] if prog is None else prog, argv, env)

            keep = {res_w} if prog is None else {res_w, prog}
            if in_r >= 0:
                keep.add(in_r)
            t0 = now_ms()
            self.err_head = b""
            pid = spawn(self.limits, target, keep, out_w, err_w)
            for fd in (out_w, err_w, res_w):
                os.close(fd)
            if in_r >= 0:
                os.close(in_r)
            # proof "stdout": the record is a line of the run's stdout
            # (a runtime with no way to write fd 3: Lua, the JVM)
            how, deaths = self.watch(
                [pid], {out_r: "outproof" if job.get("proof") == "stdout"
                        else "out", err_r: "err", res_r: "proof"},
                on_tick, lambda t0=t0: t0 + timeout)
            status, ru = deaths[pid]
            cpu = (ru.ru_utime + ru.ru_stime) * 1000.0
            cpu_total += cpu
            rss_max = max(rss_max, ru.ru_maxrss)
            wall = round(now_ms() - t0, 3)
            if how:
                st, detail = how, death_detail(how, status)
            elif not done["ok"] and self.oom_seen(oom_texts):
                st, detail = "memory", self.oom_seen(oom_texts)
            elif os.WIFSIGNALED(status):
                sig = os.WTERMSIG(status)
                if sig == signal.SIGABRT:
                    st, detail = "fail", "aborted (assertion failed?)"
                else:
                    st = death_status(None, status)
                    detail = death_detail(None, status)
            elif os.WEXITSTATUS(status) == 0 and done["ok"] and \
                    i < len(expect) and expect[i] is not None:
                st, detail = judge_c_output(expect[i], done["out"], atol)
            elif os.WEXITSTATUS(status) == 0 and done["ok"]:
                st, detail = "pass", ""
            elif os.WEXITSTATUS(status) == 0:
                st, detail = "error", "exited before the test finished"
            elif os.WEXITSTATUS(status) == job.get("error_exit"):
                st, detail = "error", "uncaught exception"
            else:
                st = "fail"
                detail = "exit code %d" % os.WEXITSTATUS(status)
            results[i] = {"status": st, "wall_ms": wall,
                          "cpu_ms": round(cpu, 3), "detail": detail,
                          "judge": "io" if i < len(expect) and
                          expect[i] is not None else "in-process"}
            self.kill_group(pid)
        return self.summarize(results, cpu_total, rss_max)

    @staticmethod
    def summarize(results, cpu_total, rss_max):
        passed = sum(1 for r in results if r["status"] == "pass")
        status = "pass"
        for r in results:
            if r["status"] != "pass":
                status = r["status"]
                break
        if not results:
            status = "error"
        judges = {r.get("judge") for r in results}
        judge = ("in-process" if "in-process" in judges else
                 "isolated" if "isolated" in judges or not results else "io")
        return {"status": status, "tests_passed": passed,
                "tests_total": len(results), "tests": results,
                "judge": judge,
                "cpu_ms": round(cpu_total, 3), "max_rss_kb": rss_max}


def set_nondumpable():
    """Keeps candidates (same uid) out of this process's memory."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_DUMPABLE = 4
        libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    except Exception:
        pass


def read_exact(fd, n):
    parts = []
    while n > 0:
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            raise EOFError
        parts.append(chunk)
        n -= len(chunk)
    return b"".join(parts)


def read_header(sock):
    """The "<len_a> <len_b>\\n" before a job, taken off the socket without
    reading past it (a peek first), so that nothing of the job's part B
    enters this process."""
    import socket as _socket
    while True:
        head = sock.recv(64, _socket.MSG_PEEK)
        if not head:
            raise EOFError
        nl = head.find(b"\n")
        if nl >= 0:
            break
        if len(head) >= 64:
            raise ValueError("bad job header")
        time.sleep(0.0005)   # a partial header (never seen): wait for more
    line = read_exact(sock.fileno(), nl + 1)
    a, b = line.split()
    return int(a), int(b)


def splice_to_memfd(fd, n):
    """Moves n bytes from fd (the job socket) into a new memfd through a
    pipe, in the kernel: they never enter this process's memory."""
    mfd = os.memfd_create("kiln-tests", os.MFD_CLOEXEC)
    r, w = big_pipe()
    try:
        while n > 0:
            k = os.splice(fd, w, min(n, 1 << 20))
            if k == 0:
                raise EOFError
            n -= k
            while k > 0:
                k -= os.splice(r, mfd, k)
    finally:
        os.close(r)
        os.close(w)
    return mfd


def reply_parts(obj, details):
    """Writes obj as one JSON line, with the judges' detail records spliced
    from the job's details memfd into obj's "details" array unread."""
    head = json.dumps(obj, allow_nan=False)
    write_all(1, (head[:-1] + ', "details": [').encode())
    size = os.fstat(details).st_size if details >= 0 else 0
    off = 0
    while off < size:
        k = os.splice(details, 1, size - off, offset_src=off)
        if k <= 0:
            break
        off += k
    if details >= 0:
        os.close(details)
    write_all(1, b"null]}\n")


def serve():
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    set_nondumpable()
    # Everything imported so far lives as long as the box: keep the
    # collector from walking (and so copying) it in every forked child.
    # The first compile() in a process builds the AST types (~0.7 ms);
    # done here once, every forked child starts with them built.
    compile("def f(x):\n    return [i for i in x]\n", "<warm-up>", "exec")
    gc.collect()
    gc.freeze()
    box = Box()
    box.pristine_tmp = tmp_attrs()
    build_pgrp_lock()
    # Before any job is read: see zygote_up. Its CPU is the box's
    # (kiln_box_config.cpu), kiln's argument to this file.
    box.zygote_up(int(sys.argv[1]) if len(sys.argv) > 1 else -1)
    write_all(1, (json.dumps({"ready": True, "pid": os.getpid()}) +
                  "\n").encode())
    import socket as _socket
    job_sock = _socket.socket(fileno=os.dup(0))
    while True:
        box.details = -1
        spec_fd = -1
        try:
            len_a, len_b = read_header(job_sock)
            job = json.loads(read_exact(0, len_a))
            spec_fd = splice_to_memfd(0, len_b)
            result = box.run_job(job, spec_fd)
        except EOFError:
            return
        except Exception as e:
            reap_all()
            box.judge_down()
            box.zygote_down()
            result = {"status": "sandbox_error",
                      "detail": "harness: " + describe(e),
                      "trace": __import__("traceback").format_exc()[-1500:],
                      "recycle": True}
        if spec_fd >= 0:
            os.close(spec_fd)
        reply_parts(result, box.details)


def main():
    """PID 1's entry (box.c imports this module and calls it), and a cold
    candidate's (zygote_server execs this file with --candidate)."""
    if len(sys.argv) >= 4 and sys.argv[1] == "--candidate":
        set_nondumpable()   # execve made this process dumpable again
        candidate_main(int(sys.argv[2]), read_solution(int(sys.argv[3])))
        os._exit(0)
    else:
        serve()


if __name__ == "__main__":
    main()
