"""The query language: a Python-like expression over fact names, compiled to a SQL WHERE clause.

Parsed with :mod:`ast` (mode ``eval``) and checked node by node against a
whitelist, so nothing is ever evaluated by Python. What it accepts::

    model_type == "llama" and hidden_size >= 4096 and context >= 32768
    parameters < 3e9 or not (layers > 24)
    "MoE" in architectures             substring of a string field, or of any list element
    model_type in ["llama", "mistral"]  and  model_type not in (...)
    dtype is None / dtype is not None   absent / present
    model_id.startswith("meta-llama/"), model_id.endswith("-it"),
    glob(model_id, "*/Llama-3*"), matches(model_id, "(?i)instruct")

A comparison with an absent field is unknown: neither it nor its negation
matches (test absence with ``is None``). Values compare only with values of
their kind (numbers with numbers, strings with strings).

>>> compile_expression('hidden_size >= 4096').fields
('hidden_size',)
"""

from __future__ import annotations

import ast
import difflib
import re
from collections.abc import Iterator, Mapping
from typing import Any

import attrs

from hgloc.errors import ExpressionError
from hgloc.facts.normalize import FACT_FIELDS, SUB_CONFIGS

__all__ = [
    "COLUMN_FIELDS",
    "DERIVED_FIELDS",
    "LIST_FIELDS",
    "Compiled",
    "ExpressionError",
    "SortKey",
    "compile_expression",
    "compile_sort",
    "field_path",
    "field_sql",
    "known_field",
]

# Fields kept in their own columns of the index rather than in the facts JSON.
COLUMN_FIELDS = {"model_id": "model_id", "revision": "revision", "commit": "commit_sha"}
DERIVED_FIELDS = ("parameters", "weight_bytes", "kv_cache_bytes_per_token")
LIST_FIELDS = frozenset({"architectures", *(f"{s}.architectures" for s in SUB_CONFIGS)})
_LITERAL_NAMES: dict[str, Any] = {"true": True, "false": False, "null": None, "none": None}
_MAX_LENGTH = 4000
_SAFE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*")

_ORDERING = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}
_EQUALITY = {ast.Eq: "=", ast.NotEq: "!="}
_NUMERIC = "typeof({0}) IN ('integer', 'real')"
_TEXT = "typeof({0}) = 'text'"


@attrs.frozen
class Compiled:
    """A WHERE clause over the index's ``models`` table, its parameters, the fields it reads."""

    where: str
    params: Mapping[str, Any]  # named parameters (``:q0``...) of ``where``
    fields: tuple[str, ...]


@attrs.frozen
class SortKey:
    """An ORDER BY term: absent values last whichever the direction."""

    field: str
    descending: bool
    sql: str


def known_field(name: str) -> bool:
    """Whether ``name`` is a field the facts can hold (dotted names included)."""
    if name in COLUMN_FIELDS or name in FACT_FIELDS or name in DERIVED_FIELDS:
        return True
    head, _, tail = name.partition(".")
    if head == "parameters":
        return bool(re.fullmatch(r"[A-Z0-9_]+", tail))
    return head in SUB_CONFIGS and tail in FACT_FIELDS


def field_path(name: str) -> str:
    """The JSON path of a fact inside the facts object (names are keys, dots included)."""
    return f'$."{name}"'


def field_sql(name: str) -> str:
    """The SQL that reads field ``name`` of a row of the index's ``models`` table.

    Only known names get here (letters, digits, ``_`` and dots), so the JSON
    path is written into the SQL as a literal: values still go as parameters.
    """
    if not _SAFE_NAME.fullmatch(name):
        raise ValueError(f"unsafe field name {name!r}")
    if name in COLUMN_FIELDS:
        return COLUMN_FIELDS[name]
    return f"json_extract(facts, '{field_path(name)}')"


def _suggest(name: str) -> str:
    choices = [*COLUMN_FIELDS, *FACT_FIELDS, *DERIVED_FIELDS]
    close = difflib.get_close_matches(name, choices, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


class _Compiler:
    def __init__(self, text: str) -> None:
        self.text = text
        self.params: dict[str, Any] = {}
        self.fields: list[str] = []

    # -- positions and errors ------------------------------------------------

    def fail(self, node: ast.AST, message: str) -> ExpressionError:
        start = self._column(getattr(node, "col_offset", 0))
        end = self._column(getattr(node, "end_col_offset", None) or 0)
        return ExpressionError(message, self.text, start, end - start)

    def _column(self, byte_offset: int) -> int:
        # ast reports UTF-8 byte offsets; the caret counts characters
        return len(self.text.encode()[:byte_offset].decode(errors="ignore"))

    # -- leaves --------------------------------------------------------------

    def dotted(self, node: ast.expr) -> str | None:
        if isinstance(node, ast.Name):
            return node.id
        if isinstance(node, ast.Attribute):
            head = self.dotted(node.value)
            return None if head is None else f"{head}.{node.attr}"
        return None

    def field(self, node: ast.expr) -> tuple[str, str] | None:
        """``(name, sql)`` if ``node`` names a field; unknown names are errors."""
        name = self.dotted(node)
        if name is None or name.lower() in _LITERAL_NAMES:
            return None
        if not known_field(name):
            raise self.fail(node, f"unknown field {name!r}{_suggest(name)}")
        if name not in self.fields:
            self.fields.append(name)
        return name, field_sql(name)

    def param(self, value: Any) -> str:
        key = f"q{len(self.params)}"
        self.params[key] = value
        return f":{key}"

    def constant(self, node: ast.expr) -> tuple[bool, Any]:
        """``(True, value)`` for a literal (number, string, bool, None), else ``(False, _)``."""
        if isinstance(node, ast.Constant):
            if isinstance(node.value, str | int | float | bool) or node.value is None:
                return True, node.value
            raise self.fail(node, f"{type(node.value).__name__} literals are not allowed")
        if isinstance(node, ast.Name) and node.id.lower() in _LITERAL_NAMES:
            return True, _LITERAL_NAMES[node.id.lower()]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            ok, value = self.constant(node.operand)
            if ok and isinstance(value, int | float) and not isinstance(value, bool):
                return True, -value if isinstance(node.op, ast.USub) else value
            raise self.fail(node, "a sign goes before a number only")
        return False, None

    def value(self, node: ast.expr) -> tuple[str, Any, str | None]:
        """``(sql, literal, field name)`` of one side of a comparison."""
        ok, literal = self.constant(node)
        if ok:
            return self.param(literal), literal, None
        found = self.field(node)
        if found is None:
            raise self.fail(node, f"{_describe(node)} is not allowed in a comparison")
        return found[1], None, found[0]

    # -- the tree ------------------------------------------------------------

    def predicate(self, node: ast.expr) -> str:
        if isinstance(node, ast.BoolOp):
            joiner = " AND " if isinstance(node.op, ast.And) else " OR "
            return "(" + joiner.join(self.predicate(v) for v in node.values) + ")"
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return f"(NOT {self.predicate(node.operand)})"
        if isinstance(node, ast.Compare):
            return self.comparison(node)
        if isinstance(node, ast.Call):
            return self.call(node)
        found = self.field(node)
        if found is not None:  # a bare field: true when it holds a true or non-zero number
            return f"(CASE WHEN {_NUMERIC.format(found[1])} THEN {found[1]} != 0 END)"
        ok, _ = self.constant(node)
        if ok:
            raise self.fail(node, "a literal alone is not a condition; compare it with a field")
        raise self.fail(node, f"{_describe(node)} is not allowed in a query")

    def comparison(self, node: ast.Compare) -> str:
        parts = []
        left = node.left
        for op, right in zip(node.ops, node.comparators, strict=True):
            parts.append(self.pair(node, left, op, right))
            left = right
        return parts[0] if len(parts) == 1 else "(" + " AND ".join(parts) + ")"

    def pair(self, node: ast.Compare, left: ast.expr, op: ast.cmpop, right: ast.expr) -> str:
        if isinstance(op, ast.In | ast.NotIn):
            sql = self.membership(node, left, right)
            return f"(NOT {sql})" if isinstance(op, ast.NotIn) else sql
        if isinstance(op, ast.Is | ast.IsNot):
            ok, value = self.constant(right)
            if not ok or value is not None:
                raise self.fail(right, "'is' and 'is not' take None only (absent fields)")
            sql, _, name = self.value(left)
            if name is None:
                raise self.fail(left, "expected a field name before 'is'")
            return f"({sql} IS {'NOT ' if isinstance(op, ast.IsNot) else ''}NULL)"
        lsql, lval, lname = self.value(left)
        rsql, rval, rname = self.value(right)
        if lname is None and rname is None:
            raise self.fail(node, "compare a field, not two literals")
        for name, side in ((lname, left), (rname, right)):
            if name in LIST_FIELDS:
                raise self.fail(side, f"{name} is a list: write '\"Name\" in {name}'")
        if (lval is None and lname is None) or (rval is None and rname is None):
            raise self.fail(node, "compare with None using 'is None' or 'is not None'")
        symbol = {**_EQUALITY, **_ORDERING}[type(op)]
        if type(op) in _EQUALITY:
            return f"({lsql} {symbol} {rsql})"
        literal = lval if lname is None else rval
        guards = [
            (_TEXT if isinstance(literal, str) else _NUMERIC).format(sql)
            for sql, name in ((lsql, lname), (rsql, rname))
            if name is not None
        ]
        if isinstance(literal, bool):
            raise self.fail(node, "True and False compare with == and != only")
        return f"(CASE WHEN {' AND '.join(guards)} THEN {lsql} {symbol} {rsql} END)"

    def membership(self, node: ast.Compare, left: ast.expr, right: ast.expr) -> str:
        if isinstance(right, ast.List | ast.Tuple | ast.Set):
            sql, _, name = self.value(left)
            if name is None:
                raise self.fail(left, "expected a field name before 'in [...]'")
            if name in LIST_FIELDS:
                raise self.fail(left, f"{name} is a list: write '\"Name\" in {name}'")
            items = []
            for element in right.elts:
                ok, value = self.constant(element)
                if not ok or value is None:
                    raise self.fail(element, "a list after 'in' holds literal values only")
                items.append(self.param(value))
            if not items:
                raise self.fail(right, "the list after 'in' is empty")
            return f"({sql} IN ({', '.join(items)}))"
        ok, needle = self.constant(left)
        if not ok or not isinstance(needle, str):
            raise self.fail(left, "'in' takes a string before a field, or a field before a list")
        found = self.field(right)
        if found is None:
            raise self.fail(right, "expected a field name or a list after 'in'")
        name, sql = found
        needle_sql = self.param(needle)
        if name in COLUMN_FIELDS:
            return f"(instr({sql}, {needle_sql}) > 0)"
        # json_each walks a list's elements, or yields a scalar once
        return (
            f"(CASE WHEN {sql} IS NULL THEN NULL ELSE EXISTS (SELECT 1 FROM json_each(facts, "
            f"'{field_path(name)}') WHERE type = 'text' AND instr(value, {needle_sql}) > 0) END)"
        )

    def call(self, node: ast.Call) -> str:
        if node.keywords:
            raise self.fail(node.keywords[0].value, "keyword arguments are not allowed")
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in ("startswith", "endswith"):
            target, args = func.value, node.args
            how = func.attr
        elif isinstance(func, ast.Name) and func.id in ("glob", "matches"):
            if len(node.args) != 2:
                raise self.fail(node, f"{func.id}() takes a field and a pattern")
            target, args = node.args[0], node.args[1:]
            how = func.id
        else:
            raise self.fail(
                func, "the functions are glob(), matches(), .startswith() and .endswith()"
            )
        found = self.field(target)
        if found is None:
            raise self.fail(target, f"{how}() applies to a field")
        if len(args) != 1:
            raise self.fail(node, f"{how}() takes one string")
        ok, pattern = self.constant(args[0])
        if not ok or not isinstance(pattern, str):
            raise self.fail(args[0], f"{how}() takes a string literal")
        sql = found[1]
        if how == "matches":
            try:
                re.compile(pattern)
            except re.error as exc:
                raise self.fail(args[0], f"not a regular expression: {exc}") from None
            return f"(CASE WHEN {_TEXT.format(sql)} THEN regexp({self.param(pattern)}, {sql}) END)"
        if how == "glob":
            return f"(CASE WHEN {_TEXT.format(sql)} THEN {sql} GLOB {self.param(pattern)} END)"
        p = self.param(pattern)
        if how == "startswith":
            return f"(CASE WHEN {_TEXT.format(sql)} THEN substr({sql}, 1, length({p})) = {p} END)"
        return (
            f"(CASE WHEN {_TEXT.format(sql)} THEN length({p}) <= length({sql}) "
            f"AND substr({sql}, length({sql}) - length({p}) + 1) = {p} END)"
        )


def _describe(node: ast.AST) -> str:
    names = {
        ast.BinOp: "arithmetic",
        ast.Subscript: "indexing",
        ast.Lambda: "lambda",
        ast.Call: "a function call",
        ast.BoolOp: "and/or",
        ast.Compare: "a comparison",
    }
    return names.get(type(node), type(node).__name__)


def _walk_check(tree: ast.AST, compiler: _Compiler) -> Iterator[None]:
    """Refuse node types nothing handles before compiling (a walrus, f-strings...)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.NamedExpr | ast.JoinedStr | ast.Starred | ast.Await):
            raise compiler.fail(node, f"{_describe(node)} is not allowed in a query")
        yield None


def _syntax_error(exc: SyntaxError, text: str) -> ExpressionError:
    indent = len(text) - len(text.lstrip())
    if not exc.offset:  # the parser ran out of input: point past the end
        return ExpressionError("syntax error: the expression ends too early", text, len(text))
    offset = exc.offset - 1 + indent
    message = f"syntax error: {exc.msg}"
    if text[offset : offset + 1] == "=":
        message += " (compare with '==')"
    return ExpressionError(message, text, offset)


def compile_expression(expression: str) -> Compiled:
    """Compile a query expression; raises :class:`ExpressionError` pointing at the fault."""
    text = " ".join(expression.splitlines())  # one line: error columns match what was typed
    if not text.strip():
        raise ExpressionError("the expression is empty", text, 0)
    if len(text) > _MAX_LENGTH:
        raise ExpressionError(f"the expression is longer than {_MAX_LENGTH} characters", text, 0)
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise _syntax_error(exc, text) from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise ExpressionError(f"cannot parse: {exc}", text, 0) from None
    compiler = _Compiler(text)
    indent = len(text) - len(text.lstrip())
    if indent:  # parsed stripped: shift every node back to where it was typed
        for node in ast.walk(tree):
            for attr in ("col_offset", "end_col_offset"):
                if getattr(node, attr, None) is not None:
                    setattr(node, attr, getattr(node, attr) + indent)
    for _ in _walk_check(tree, compiler):
        pass
    try:
        where = compiler.predicate(tree.body)
    except RecursionError:
        raise ExpressionError("the expression nests too deeply", text, 0) from None
    return Compiled(where, compiler.params, tuple(compiler.fields))


def compile_sort(spec: str) -> SortKey:
    """``FIELD`` (ascending) or ``-FIELD`` (descending) as an ORDER BY term."""
    descending = spec.startswith("-")
    name = spec.removeprefix("-").strip()
    if not known_field(name):
        raise ExpressionError(
            f"unknown sort field {name!r}{_suggest(name)}", spec, int(descending), len(name)
        )
    sql = field_sql(name)
    direction = "DESC" if descending else "ASC"
    # absent last: the IS NULL term sorts 0 (present) before 1 (absent)
    return SortKey(name, descending, f"{sql} IS NULL, {sql} {direction}")
