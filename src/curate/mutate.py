"""kiln's mutator: single-site mutants of Python and C solutions.

Embedded in kiln (src/curate/mutate.c) and run by it as
`python3 -I -B -c <this file>`, outside the sandbox: it only parses and
compiles the code it is given (ast.parse, compile), it never runs it. The
mutants are run by kiln, in the sandbox, against the task's tests.

Input, one JSON object a line on stdin:
    {"source": TEXT, "language": "python"|"c", "max": N, "seed": S}
Output, one line per input line, in order:
    {"mutants": [{"op", "line", "col", "from", "to", "source"}, ...],
     "sites": K, "equivalent": E, "invalid": I, "error": null|TEXT}
A request with "check": true instead asks for the static checks of
kiln score --reward (Python): {"parses": BOOL, "error": null|TEXT,
"imports": [top-level module names, sorted]}.

Python mutants are made on the AST and written back into the original
text at the node's own position (the rest of the program is kept byte for
byte); C mutants on tokens. Families (docs/CURATE.md, "kiln score"):
    cmp            < <= > >= == != in / not in, is / is not
    arith          + - * / // % ** << >> & | ^ (and their x= forms)
    bool           and <-> or  (C: && <-> ||)
    const          an integer constant n -> n + 1 and n - 1
    negate         if / while / conditional-expression / comprehension
                   conditions -> not (condition)
    drop_not       not x -> x  (C: !x -> x)
    drop_neg       -x -> x
    return_none    return X -> return None  (C: return X; -> return 0;)
    break_continue break <-> continue
    delete         a simple statement -> pass  (C: an expression
                   statement -> ;)
Docstrings, annotations, f-strings and `if __name__ == "__main__":` blocks
are not mutated. A mutant whose compiled code is the original's (Python)
is "equivalent" and dropped; so is a duplicate of another mutant; one that
does not parse is "invalid" and dropped. (C mutants whose object file is
the original's are found by kiln afterwards, compiled in the sandbox:
src/curate/mutation.c.) With more than `max` mutants, a
seeded sample of `max` is kept, in source order.
"""
import ast
import json
import marshal
import random
import sys

sys.setrecursionlimit(3000)

CMP = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt,
       ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.In: ast.NotIn,
       ast.NotIn: ast.In, ast.Is: ast.IsNot, ast.IsNot: ast.Is}
ARITH = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div,
         ast.Div: ast.Mult, ast.FloorDiv: ast.Div, ast.Mod: ast.FloorDiv,
         ast.Pow: ast.Mult, ast.LShift: ast.RShift, ast.RShift: ast.LShift,
         ast.BitAnd: ast.BitOr, ast.BitOr: ast.BitAnd, ast.BitXor: ast.BitAnd}
DELETABLE = (ast.Expr, ast.Assign, ast.AugAssign, ast.AnnAssign,
             ast.Delete, ast.Raise, ast.Assert)


def is_docstring(node, parent):
    return (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str) and
            isinstance(parent, (ast.Module, ast.FunctionDef,
                                ast.AsyncFunctionDef, ast.ClassDef)) and
            parent.body and parent.body[0] is node)


def is_main_guard(node):
    if not isinstance(node, ast.If) or not isinstance(node.test, ast.Compare):
        return False
    t = node.test
    names = [t.left] + list(t.comparators)
    return any(isinstance(n, ast.Name) and n.id == "__name__" for n in names)


class Sites(ast.NodeVisitor):
    """Collects (family, node, replacement, kind) for every mutation site;
    kind "expr" replaces an expression (parenthesised), "stmt" a
    statement."""

    def __init__(self):
        self.sites = []
        self.parents = []

    def add(self, fam, node, new, kind="expr"):
        if getattr(node, "end_col_offset", None) is not None:
            self.sites.append((fam, node, new, kind))

    def generic_visit(self, node):
        self.parents.append(node)
        for field, value in ast.iter_fields(node):
            if field in ("annotation", "returns", "type_comment"):
                continue
            if isinstance(value, list):
                for item in value:
                    if isinstance(item, ast.AST):
                        self.visit_child(item, node)
            elif isinstance(value, ast.AST):
                self.visit_child(value, node)
        self.parents.pop()

    def visit_child(self, child, parent):
        if isinstance(child, ast.JoinedStr) or is_main_guard(child):
            return
        if is_docstring(child, parent):
            return
        if isinstance(child, ast.stmt) and isinstance(child, DELETABLE):
            self.add("delete", child, "pass", "stmt")
        self.visit(child)

    def visit_Compare(self, node):
        for i, op in enumerate(node.ops):
            alt = CMP.get(type(op))
            if alt:
                ops = list(node.ops)
                ops[i] = alt()
                self.add("cmp", node, ast.Compare(node.left, ops,
                                                  node.comparators))
        self.generic_visit(node)

    def visit_BinOp(self, node):
        alt = ARITH.get(type(node.op))
        if alt:
            self.add("arith", node, ast.BinOp(node.left, alt(), node.right))
        self.generic_visit(node)

    def visit_AugAssign(self, node):
        alt = ARITH.get(type(node.op))
        if alt:
            self.add("arith", node, ast.AugAssign(node.target, alt(),
                                                  node.value), "stmt")
        self.generic_visit(node)

    def visit_BoolOp(self, node):
        alt = ast.Or if isinstance(node.op, ast.And) else ast.And
        self.add("bool", node, ast.BoolOp(alt(), node.values))
        self.generic_visit(node)

    def visit_Constant(self, node):
        v = node.value
        if type(v) is int:
            self.add("const", node, ast.Constant(v + 1))
            self.add("const", node, ast.Constant(v - 1))

    def visit_UnaryOp(self, node):
        if isinstance(node.op, ast.Not):
            self.add("drop_not", node, node.operand)
        elif isinstance(node.op, ast.USub):
            self.add("drop_neg", node, node.operand)
        self.generic_visit(node)

    def negate(self, test):
        self.add("negate", test, ast.UnaryOp(ast.Not(), test))

    def visit_If(self, node):
        self.negate(node.test)
        self.generic_visit(node)

    def visit_While(self, node):
        self.negate(node.test)
        self.generic_visit(node)

    def visit_IfExp(self, node):
        self.negate(node.test)
        self.generic_visit(node)

    def visit_comprehension(self, node):
        for cond in node.ifs:
            self.negate(cond)
        self.generic_visit(node)

    def visit_Return(self, node):
        v = node.value
        if v is not None and not (isinstance(v, ast.Constant) and
                                  v.value is None):
            self.add("return_none", node, "return None", "stmt")
        self.generic_visit(node)

    def visit_Break(self, node):
        self.add("break_continue", node, "continue", "stmt")

    def visit_Continue(self, node):
        self.add("break_continue", node, "break", "stmt")


def code_of(text):
    try:
        return marshal.dumps(compile(text, "<m>", "exec", dont_inherit=True))
    except (SyntaxError, ValueError, MemoryError, RecursionError,
            OverflowError):
        return None


def python_mutants(src):
    data = src.encode("utf-8", "surrogatepass")
    tree = ast.parse(src)
    starts = [0]
    for i, b in enumerate(data):
        if b == 10:
            starts.append(i + 1)
    v = Sites()
    v.parents = []
    v.generic_visit(tree)
    base = code_of(src)
    out, seen = [], {src}
    equivalent = invalid = 0
    for fam, node, new, kind in v.sites:
        a = starts[node.lineno - 1] + node.col_offset
        z = starts[node.end_lineno - 1] + node.end_col_offset
        if isinstance(new, str):
            to = new
        elif kind == "stmt":
            to = ast.unparse(new)
        else:
            to = "(" + ast.unparse(new) + ")"
        text = (data[:a] + to.encode() + data[z:]).decode(
            "utf-8", "surrogatepass")
        if text in seen:
            equivalent += 1
            continue
        seen.add(text)
        code = code_of(text)
        if code is None:
            invalid += 1
            continue
        if code == base:
            equivalent += 1
            continue
        out.append({"op": fam, "line": node.lineno,
                    "col": node.col_offset,
                    "from": data[a:z].decode("utf-8", "replace")[:200],
                    "to": to[:200], "source": text})
    return out, len(v.sites), equivalent, invalid


# ------------------------------------------------------------------- C

C_CMP = {"<": "<=", "<=": "<", ">": ">=", ">=": ">", "==": "!=", "!=": "=="}
C_ARITH = {"+": "-", "-": "+", "*": "/", "/": "*", "%": "/", "<<": ">>",
           ">>": "<<", "&": "|", "|": "&", "^": "&",
           "+=": "-=", "-=": "+=", "*=": "/=", "/=": "*=", "%=": "/="}
C_PUNCT = sorted(["<<=", ">>=", "...", "->", "++", "--", "<<", ">>", "<=",
                  ">=", "==", "!=", "&&", "||", "+=", "-=", "*=", "/=",
                  "%=", "&=", "|=", "^=", "##"], key=len, reverse=True)


def c_tokens(s):
    """(kind, text, start, end): kinds id, num, str, punct; comments,
    whitespace and preprocessor lines are skipped."""
    toks, i, n = [], 0, len(s)
    line_start = True
    while i < n:
        c = s[i]
        if c == "\n":
            line_start = True
            i += 1
            continue
        if c in " \t\r\f\v":
            i += 1
            continue
        if line_start and c == "#":
            while i < n and s[i] != "\n":   # with \ continuations
                i += 2 if s[i] == "\\" and i + 1 < n else 1
            continue
        line_start = False
        if s.startswith("//", i):
            j = s.find("\n", i)
            i = n if j < 0 else j
            continue
        if s.startswith("/*", i):
            j = s.find("*/", i + 2)
            i = n if j < 0 else j + 2
            continue
        if c in "\"'":
            j = i + 1
            while j < n and s[j] != c and s[j] != "\n":
                j += 2 if s[j] == "\\" else 1
            toks.append(("str", s[i:j + 1], i, j + 1))
            i = j + 1
            continue
        if c.isalpha() or c == "_":
            j = i
            while j < n and (s[j].isalnum() or s[j] == "_"):
                j += 1
            toks.append(("id", s[i:j], i, j))
            i = j
            continue
        if c.isdigit() or (c == "." and i + 1 < n and s[i + 1].isdigit()):
            j = i
            while j < n and (s[j].isalnum() or s[j] in "._" or
                             (s[j] in "+-" and s[j - 1] in "eEpP")):
                j += 1
            toks.append(("num", s[i:j], i, j))
            i = j
            continue
        for p in C_PUNCT:
            if s.startswith(p, i):
                toks.append(("punct", p, i, i + len(p)))
                i += len(p)
                break
        else:
            toks.append(("punct", c, i, i + 1))
            i += 1
    return toks


def c_int(text):
    t = text.rstrip("uUlL")
    try:
        if t.lower().startswith("0x"):
            return int(t, 16), text[len(t):]
        if t.startswith("0") and len(t) > 1:
            return int(t, 8), text[len(t):]
        return int(t, 10), text[len(t):]
    except ValueError:
        return None, None


def c_operand_end(t):
    return t[0] in ("id", "num", "str") or t[1] in (")", "]")


def c_mutants(src):
    toks = c_tokens(src)
    sites = []   # (fam, start, end, replacement)
    depth = 0
    for k, t in enumerate(toks):
        kind, text, a, z = t
        prev = toks[k - 1] if k else None
        nxt = toks[k + 1] if k + 1 < len(toks) else None
        if text == "{":
            depth += 1
        elif text == "}":
            depth -= 1
        if depth <= 0:
            continue   # only inside function bodies
        binary = prev is not None and c_operand_end(prev)
        if kind == "punct":
            if text in C_CMP:
                sites.append(("cmp", a, z, C_CMP[text]))
            elif text in ("&&", "||"):
                sites.append(("bool", a, z, "||" if text == "&&" else "&&"))
            elif text in C_ARITH and (binary or text.endswith("=")):
                sites.append(("arith", a, z, C_ARITH[text]))
            elif text == "!" and nxt is not None and nxt[1] != "=":
                sites.append(("drop_not", a, z, ""))
            elif text == "-" and not binary:
                sites.append(("drop_neg", a, z, ""))
        elif kind == "num":
            v, suffix = c_int(text)
            if v is not None:
                sites.append(("const", a, z, str(v + 1) + suffix))
                if v > 0:
                    sites.append(("const", a, z, str(v - 1) + suffix))
        elif kind == "id":
            if text in ("if", "while") and nxt is not None and \
                    nxt[1] == "(":
                # the matching ')'
                d, j = 0, k + 1
                while j < len(toks):
                    if toks[j][1] == "(":
                        d += 1
                    elif toks[j][1] == ")":
                        d -= 1
                        if d == 0:
                            break
                    j += 1
                if j < len(toks):
                    inner = src[nxt[3]:toks[j][2]]
                    sites.append(("negate", nxt[2], toks[j][3],
                                  "(!(" + inner + "))"))
            elif text == "return" and nxt is not None and nxt[1] != ";":
                j = k + 1
                while j < len(toks) and toks[j][1] != ";":
                    j += 1
                if j < len(toks):
                    sites.append(("return_none", a, toks[j][3],
                                  "return 0;"))
            elif text == "break":
                sites.append(("break_continue", a, z, "continue"))
            elif text == "continue":
                sites.append(("break_continue", a, z, "break"))
    # Expression statements: `x = ...;`, `f(...);`, `i++;` after ; { }
    for k, t in enumerate(toks):
        if t[0] != "id" or k == 0 or toks[k - 1][1] not in (";", "{", "}"):
            continue
        if t[1] in ("return", "break", "continue", "if", "while", "for",
                    "do", "else", "switch", "case", "default", "goto",
                    "int", "char", "long", "short", "unsigned", "signed",
                    "float", "double", "void", "const", "static", "struct",
                    "union", "enum", "typedef", "extern", "register",
                    "volatile", "size_t", "bool", "_Bool", "auto",
                    "inline", "restrict", "sizeof"):
            continue
        if k + 1 < len(toks) and toks[k + 1][0] == "id":
            continue   # a declaration: `T name ...`
        j, d = k, 0
        while j < len(toks):
            x = toks[j][1]
            if x in "([{":
                d += 1
            elif x in ")]}":
                d -= 1
                if d < 0:
                    break
            elif x == ";" and d == 0:
                break
            j += 1
        if j < len(toks) and toks[j][1] == ";" and d == 0:
            sites.append(("delete", t[2], toks[j][3], ";"))
    sites.sort(key=lambda x: (x[1], x[2]))
    out, seen = [], {src}
    equivalent = 0
    starts = [0] + [i + 1 for i, ch in enumerate(src) if ch == "\n"]
    import bisect
    for fam, a, z, to in sites:
        text = src[:a] + to + src[z:]
        if text in seen:
            equivalent += 1
            continue
        seen.add(text)
        line = bisect.bisect_right(starts, a)
        out.append({"op": fam, "line": line, "col": a - starts[line - 1],
                    "from": src[a:z][:200], "to": to[:200],
                    "source": text})
    return out, len(sites), equivalent, 0


def check(src):
    """Static facts of a Python source: does it parse and compile, and
    which modules does it import (the first name of each)."""
    try:
        tree = ast.parse(src)
        compile(tree, "<check>", "exec", dont_inherit=True)
    except SyntaxError as e:
        return {"parses": False, "error": "line %s: %s" % (e.lineno, e.msg),
                "imports": []}
    except (ValueError, RecursionError, MemoryError, OverflowError) as e:
        return {"parses": False, "error": "%s: %s" % (type(e).__name__, e),
                "imports": []}
    mods = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            mods.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and \
                not node.level:
            mods.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and \
                isinstance(node.func, ast.Name) and \
                node.func.id == "__import__" and node.args and \
                isinstance(node.args[0], ast.Constant) and \
                isinstance(node.args[0].value, str):
            mods.add(node.args[0].value.split(".")[0])
    return {"parses": True, "error": None, "imports": sorted(mods)}


def main():
    for raw in sys.stdin.buffer:
        if not raw.strip():
            continue
        try:
            req = json.loads(raw)
            if isinstance(req, dict) and req.get("check"):
                sys.stdout.write(json.dumps(check(req["source"])) + "\n")
                continue
        except Exception:
            pass
        rep = {"mutants": [], "sites": 0, "equivalent": 0, "invalid": 0,
               "error": None}
        try:
            req = json.loads(raw)
            src = req["source"]
            lang = req.get("language") or "python"
            if lang == "python":
                muts, sites, eq, inv = python_mutants(src)
            elif lang == "c":
                muts, sites, eq, inv = c_mutants(src)
            else:
                raise ValueError("no mutator for language %r" % lang)
            cap = int(req.get("max") or 0)
            if cap > 0 and len(muts) > cap:
                keep = sorted(random.Random(int(req.get("seed") or 0))
                              .sample(range(len(muts)), cap))
                muts = [muts[i] for i in keep]
            rep.update(mutants=muts, sites=sites, equivalent=eq,
                       invalid=inv)
        except SyntaxError as e:
            rep["error"] = "does not parse: line %s: %s" % (e.lineno, e.msg)
        except (RecursionError, MemoryError):
            rep["error"] = "too deeply nested to mutate"
        except Exception as e:   # a bad request: said, and the next one
            rep["error"] = "%s: %s" % (type(e).__name__, e)
        sys.stdout.write(json.dumps(rep) + "\n")
    sys.stdout.flush()


main()
