"""Reading a TorchScript archive's code and pickles, without loading it, for operations that reach files or processes.

A TorchScript file is a program: its methods (``forward``, and ``__setstate__``, which
``torch.jit.load`` itself runs) may call ``torch.save`` or ``torch.from_file(..., shared=True)``
and so write any file the user can. :func:`find_dangerous_code` looks at what the archive holds
(every ``*.py`` source, and every global its pickles name) and reports the first thing outside a
list of known-safe patterns: calls go to tensor operators of the ``aten``, ``prim`` and
``torchvision`` namespaces that take no file name, to TorchScript's own built-ins, or to
functions and classes the archive defines itself. It is a guard against the file and process
operations TorchScript offers, not a sandbox: only files the user chose to trust get this far.
"""

from __future__ import annotations

import ast
import functools
import io
import pickletools
import re
import zipfile

import torch

SAFE_NAMESPACES = frozenset({"aten", "prim", "torchvision"})
"""Operator namespaces of tensor computation (custom, distributed, profiler and image-file namespaces are refused)."""

DENIED_OPERATORS = {
    **dict.fromkeys(("save", "load", "from_file", "read_file", "write_file", "load_tensor", "_load_for_mobile",
                     "open"), "file operation"),
    **dict.fromkeys(("rpc_async", "rpc_remote", "rpc_sync"), "call to another process"),
}
"""Operators refused whatever their schema says, and what they are: they read or write files, or reach other
processes."""

FILE_ARGUMENTS = frozenset({"filename", "file", "path", "f", "fd"})
"""An operator with a ``str`` argument of one of these names reaches the file system."""

BUILTINS = frozenset({
    # TorchScript's special forms and the names its serialiser writes (torch/csrc/jit/serialization/import_source.cpp)
    "annotate", "unchecked_cast", "uninitialized", "fork", "CONSTANTS", "inf", "nan",
    # Python built-ins that TorchScript compiles to tensor or list operators
    "isinstance", "getattr", "hasattr", "range", "enumerate", "zip", "len", "int", "float", "bool", "str",
    "complex", "list", "dict", "tuple", "min", "max", "abs", "round", "divmod", "sum", "all", "any", "hash",
    "ord", "chr", "sorted", "reversed", "print", "pow", "hex", "oct", "bin", "id",
})
"""Names a function body may call besides tensor operators, its own locals and the archive's own code."""

SAFE_PICKLE_GLOBALS = {
    "torch._utils": {"_rebuild_tensor_v2", "_rebuild_qtensor", "_rebuild_sparse_tensor"},
    "torch.jit._pickle": {"build_intlist", "build_doublelist", "build_boollist", "build_tensorlist",
                          "build_tensor_from_id", "restore_type_tag"},
    "collections": {"OrderedDict"},
    "torch": {"device"},
}
"""Globals the pickles of a TorchScript archive may name besides tensor storages and the archive's own classes."""

SUSPICIOUS_WORDS = re.compile(
    r"\b(save|load|from_file|read_file|write_file|load_tensor|open|system|popen|subprocess|exec|eval|"
    r"__import__|socket|mmap)\b|\.classes\b|\b(os|sys|subprocess)\.")
"""Looked for anywhere in the source text, strings included, so that no parser difference can hide a call."""


@functools.cache
def _operator_schemas() -> dict[tuple[str, str], list]:
    """Every registered operator's schemas by (namespace, name); empty where torch does not list them."""
    schemas: dict[tuple[str, str], list] = {}
    try:
        registered = torch._C._jit_get_all_schemas()
    except Exception:  # a private list; without it every operator counts as unknown, and so is refused
        return schemas
    for schema in registered:
        namespace, _, name = schema.name.partition("::")
        schemas.setdefault((namespace, name), []).append(schema)
    return schemas


def operator_problem(namespace: str, name: str) -> str | None:
    """Why the operator ``namespace::name`` may not be called, or None when it is a known-safe tensor operator."""
    qualified = f"{namespace}::{name}"
    if namespace not in SAFE_NAMESPACES:
        return f"the operator {qualified} (outside the tensor operators)"
    if name in DENIED_OPERATORS:
        return f"the {DENIED_OPERATORS[name]} {qualified}"
    schemas = _operator_schemas().get((namespace, name))
    if not schemas:
        return f"the unknown operator {qualified}"
    for schema in schemas:
        for argument in schema.arguments:
            if argument.name in FILE_ARGUMENTS and "str" in str(argument.type):
                return f"the file operation {qualified} (it takes a file name)"
    return None


def _attribute_chain(node: ast.AST) -> list[str] | None:
    """``a.b.c`` as ["a", "b", "c"] (``getattr(a, "b")`` read as ``a.b``); None when it does not start at a name."""
    parts = []
    while True:
        if isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr"
              and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)):
            parts.append(node.args[1].value)
            node = node.args[0]
        elif isinstance(node, ast.Name):
            parts.append(node.id)
            return parts[::-1]
        else:
            return None


def _reference_problem(chain: list[str]) -> str | None:
    """Why a dotted reference rooted at ``torch``, ``ops`` or ``__torch__`` is refused, or None."""
    root = chain[0]
    if root == "torch":
        rest = chain[1:]
        if rest[:1] == ["ops"]:
            rest = rest[1:]
            return operator_problem(rest[0], rest[1]) if len(rest) >= 2 else f"the reference {'.'.join(chain)}"
        if rest[:1] == ["autograd"]:  # TorchScript reads torch.autograd.X as aten::X
            rest = rest[1:]
        return operator_problem("aten", rest[0]) if len(rest) == 1 else f"the reference {'.'.join(chain)}"
    if root == "ops":
        return operator_problem(chain[1], chain[2]) if len(chain) >= 3 else f"the reference {'.'.join(chain)}"
    if root == "__torch__" and chain[1:3] == ["torch", "classes"]:
        return f"the compiled extension class {'.'.join(chain)} (native code)"
    return None


class _CodeChecker(ast.NodeVisitor):
    """Walks one source file and keeps the first refused operation and the function it is in."""

    def __init__(self):
        self.problem: str | None = None
        self.function = ""

    def refuse(self, problem: str) -> None:
        if self.problem is None:
            where = {"": "", "__setstate__": " in __setstate__ (run by torch.jit.load itself)"}
            self.problem = problem + where.get(self.function, f" in {self.function}")

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        outer, self.function = self.function, node.name
        self.generic_visit(node)
        self.function = outer

    def visit_Import(self, node: ast.Import) -> None:
        if not all(alias.name.split(".")[0] == "__torch__" and alias.asname is None for alias in node.names):
            self.refuse("an import statement")  # serialised code may only name its own modules (torch skips those lines)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        self.refuse("an import statement")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        chain = _attribute_chain(node)
        if chain is None:
            self.generic_visit(node)
        else:
            self.check_reference(chain)  # the whole dotted name at once, not its prefixes

    def check_reference(self, chain: list[str]) -> None:
        if chain[0] in ("torch", "ops", "__torch__") and len(chain) >= 2:
            problem = _reference_problem(chain)
            if problem:
                self.refuse(problem)

    def visit_Call(self, node: ast.Call) -> None:
        function = node.func
        if isinstance(function, ast.Name) and function.id == "getattr":
            chain = _attribute_chain(node)
            if chain is None:
                self.refuse("getattr with a computed name")
            else:
                self.check_reference(chain)
        elif isinstance(function, ast.Name) and function.id not in BUILTINS and not re.fullmatch(r"_\d+", function.id):
            self.refuse(f"a call to {function.id}()")
        self.generic_visit(node)


def code_problem(source: str) -> str | None:
    """Why one TorchScript source file may not be loaded, or None when all its calls are known to be safe."""
    if not source.isascii():
        return "characters outside ASCII in its code"
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError) as error:
        return f"code that cannot be read ({error.msg if isinstance(error, SyntaxError) else error})"
    checker = _CodeChecker()
    checker.visit(tree)
    if checker.problem:
        return checker.problem
    word = SUSPICIOUS_WORDS.search(source)
    if word:
        line = source.count("\n", 0, word.start()) + 1
        return f"the word {word.group(0)!r} (line {line})"
    return None


STRING_OPCODES = frozenset({"SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8", "STRING", "BINSTRING",
                            "SHORT_BINSTRING"})
MEMO_PUTS = frozenset({"PUT", "BINPUT", "LONG_BINPUT"})
MEMO_GETS = frozenset({"GET", "BINGET", "LONG_BINGET"})


def pickle_problem(data: bytes) -> str | None:
    """Why one of the archive's pickles may not be loaded (a global outside the allow-list), or None.

    ``GLOBAL`` names its object directly; ``STACK_GLOBAL`` takes it from the two values pushed
    just before, which must be strings (literal or from the memo), else the pickle is refused.
    """
    pushed: list[str | None] = []  # what each opcode pushed, None for anything but a string
    memo: dict[int, str | None] = {}
    try:
        for opcode, argument, _ in pickletools.genops(io.BytesIO(data)):
            name = opcode.name
            if name in STRING_OPCODES:
                pushed.append(argument)
            elif name == "MEMOIZE":
                memo[len(memo)] = pushed[-1] if pushed else None
            elif name in MEMO_PUTS:
                memo[argument] = pushed[-1] if pushed else None
            elif name in MEMO_GETS:
                pushed.append(memo.get(argument))
            elif name in ("GLOBAL", "STACK_GLOBAL"):
                if name == "GLOBAL":
                    module, _, attribute = str(argument).partition(" ")
                else:
                    module, attribute = pushed[-2:] if len(pushed) >= 2 else (None, None)
                if not (isinstance(module, str) and isinstance(attribute, str)):
                    return "an object whose name cannot be read in its data"
                problem = _global_problem(module, attribute)
                if problem:
                    return problem
                pushed.append(None)
            else:
                pushed.append(None)
    except Exception as error:  # pickletools raises ValueError and others on malformed streams
        return f"a damaged pickle ({type(error).__name__}: {str(error)[:80]})"
    return None


def _global_problem(module: str, name: str) -> str | None:
    if module.startswith("__torch__") and not module.startswith("__torch__.torch.classes"):
        return None  # a class the archive's code defines (checked with that code)
    if module == "torch" and re.fullmatch(r"[A-Za-z0-9]*Storage", name):
        return None
    if name in SAFE_PICKLE_GLOBALS.get(module, ()):
        return None
    return f"the object {module}.{name} in its data"


def find_dangerous_code(archive: zipfile.ZipFile) -> str | None:
    """The first file-system, process or unknown operation in a TorchScript archive, as "<what> (<member>)", or None.

    Reads every member that is code (a name ending in ``.py``, or anything in a ``code`` folder: what
    ``torch.jit.load`` compiles) and every pickle (``data.pkl``, ``constants.pkl`` and the others);
    nothing is loaded or run. Names are compared without regard to case, as torch's zip reader finds
    them, so ``code/m.PY`` is inspected like ``code/m.py``.
    """
    for info in archive.infolist():
        name = info.filename
        kind = member_kind(name)
        if kind == "code":
            try:
                source = archive.read(info).decode("utf-8")
            except UnicodeDecodeError:
                return f"code that is not text in {name}"
            problem = code_problem(source)
        elif kind == "pickle":
            problem = pickle_problem(archive.read(info))
        else:
            continue
        if problem:
            return f"{problem} ({name})"
    return None


def member_kind(name: str) -> str | None:
    """"pickle", "code" or None (tensor data and version records) for an archive member's name, in any case."""
    lower = name.lower().replace("\\", "/")
    if lower.endswith(".pkl") or lower.endswith("_pkl"):
        return "pickle"
    if lower.endswith(".py") or "code" in lower.split("/")[:-1]:
        return "code"
    return None
