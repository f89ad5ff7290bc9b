"""What the SQL tool runs to read a checked statement's rows, and how each cell comes back.

The statement runs as a subquery of one the tool writes, so the database itself cuts every cell
that can be long before it is sent: nothing large reaches the orchestrator. Per column, by its
type (`column_kinds`):
- short types (numbers, dates, booleans, uuid): the value itself;
- JSON, JSONB and arrays of any element type: `to_json(col)` as text, cut to MAX_CELL_CHARS + 1
  characters; a text that was not cut is parsed here, so the cell is the structured value;
- every other type: `col::text`, cut the same way.
A cut cell is its first MAX_CELL_CHARS characters and "…", and the result lists it (`Cell.cut`).

The order of the rows is the outer query's own: an ORDER BY on the statement's top level is
repeated outside, on the subquery's columns that carry its sort keys (an output column named or
numbered, or the key's expression added to the statement's select list as a column of its own),
with the same direction and NULLS placement. SQL guarantees the order of a query's result only
by that query's ORDER BY, never by a subquery's; PostgreSQL's planner sees that the subquery's
rows already come in that order, so the second ORDER BY costs no second sort.
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql as pgsql
from sqlglot import exp

from llm_orchestrator.tools.base import ToolError

MAX_CELL_CHARS = 200

# Types whose text is short whatever the value (PostgreSQL's OIDs): their cells come back as
# values (numbers stay numbers).
BOUNDED_TYPES = frozenset({
    16,  # bool
    20, 21, 23, 26,  # int8, int2, int4, oid
    700, 701,  # float4, float8
    1082, 1083, 1114, 1184, 1186, 1266,  # date, time, timestamp, timestamptz, interval, timetz
    2950,  # uuid
})
JSON_TYPES = (114, 3802)  # json, jsonb

VALUE, TEXT, STRUCTURED = "value", "text", "structured"


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # VALUE | TEXT | STRUCTURED


# Arrays (a domain over one is of the same category) and JSON (or a domain over it) by OID.
KINDS_QUERY = ("SELECT t.oid::pg_catalog.int8, t.typcategory = 'A' OR t.oid::pg_catalog.int8 = ANY(%(json)s::pg_catalog.int8[]) "
               "OR t.typbasetype::pg_catalog.int8 = ANY(%(json)s::pg_catalog.int8[]) "
               "FROM pg_catalog.pg_type t WHERE t.oid::pg_catalog.int8 = ANY(%(oids)s::pg_catalog.int8[])")


def column_kinds(described: list[tuple[str, int]], structured: set[int]) -> list[Column]:
    """The columns as the cursor described them, each with how its cells are read;
    `structured` holds the OIDs KINDS_QUERY found to be arrays or JSON."""
    return [Column(name, VALUE if oid in BOUNDED_TYPES else STRUCTURED if oid in structured else TEXT)
            for name, oid in described]


async def prepare(conn: psycopg.AsyncConnection, tree: exp.Expression) -> tuple[list[Column], pgsql.Composable]:
    """The statement's result columns and the query that reads its rows, on the connection (and
    search path) it will run on."""
    # Declaring a cursor plans the statement and describes its columns; no row is computed.
    async with conn.cursor(name="sql_tool_columns") as cur:
        await cur.execute(tree.sql(dialect="postgres"))
        described = [(c.name, c.type_code) for c in cur.description or []]
    cur = await conn.execute(KINDS_QUERY, {"oids": [oid for _, oid in described], "json": list(JSON_TYPES)})
    columns = column_kinds(described, {oid for oid, structured in await cur.fetchall() if structured})
    return columns, result_statement(tree, columns)


@dataclass(frozen=True)
class Cell:
    value: Any
    size: int  # characters, as they count against the result's budget
    cut: bool


def read_cell(column: Column, value: Any) -> Cell:
    """One fetched cell (already cut by the database) as the result holds it."""
    if column.kind == VALUE or value is None:
        return Cell(value, 8, False)
    if len(value) > MAX_CELL_CHARS:
        return Cell(value[:MAX_CELL_CHARS] + "…", MAX_CELL_CHARS + 1, True)
    if column.kind == STRUCTURED:
        return Cell(json.loads(value), len(value), False)
    return Cell(value, len(value), False)


def _sorted_level(tree: exp.Expression) -> tuple[exp.Expression, exp.Order | None]:
    """The query whose select list the result's columns are, and the ORDER BY of the statement's
    top level: parentheses around the whole statement (`(SELECT ... ORDER BY a) LIMIT 5`) are
    one query level in PostgreSQL, which allows one ORDER BY among them."""
    node, order = tree, None
    while True:
        order = order or node.args.get("order")
        if not isinstance(node, exp.Subquery):
            return node, order
        node = node.this


def _folded(name: str) -> str:
    """An unquoted identifier as PostgreSQL folds it: ASCII letters only (`É` stays `É`)."""
    return name.translate(_ASCII_LOWER)


_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def _output_column(key: exp.Expression, columns: list[Column]) -> int | None:
    """The result column an ORDER BY key names, by PostgreSQL's rule: a bare integer is a
    position, a bare name an output column's name; anything else (None) is an expression."""
    if isinstance(key, exp.Literal) and key.is_int:
        position = int(key.this)
        return position - 1 if 1 <= position <= len(columns) else None
    if isinstance(key, exp.Column) and not key.table and isinstance(key.this, exp.Identifier):
        name = key.this.this if key.this.quoted else _folded(key.this.this)
        return next((i for i, column in enumerate(columns) if column.name == name), None)
    return None


def result_statement(tree: exp.Expression, columns: list[Column]) -> pgsql.Composable:
    """The statement (a checked tree, left unchanged) inside the query the tool runs."""
    if not columns:  # `SELECT FROM t`: rows without cells, nothing to cut
        return pgsql.SQL(tree.sql(dialect="postgres"))
    tree = tree.copy()
    body, order = _sorted_level(tree)
    taken = {identifier.name.lower() for identifier in tree.find_all(exp.Identifier)}
    aliases = [f"c{i}" for i in range(len(columns))]
    keys = []
    for ordered in order.expressions if order is not None else []:
        index = _output_column(ordered.this, columns)
        if index is not None:
            alias = aliases[index]
        elif isinstance(body, exp.Select):
            # A key that is no output column: its value becomes one (the same expression, valid
            # in the select list wherever it is valid in ORDER BY; under DISTINCT, PostgreSQL
            # requires it to be in the select list already, so the rows stay as distinct).
            name = f"tool_sort_key_{len(aliases) - len(columns)}"
            while name in taken:
                name = "_" + name
            body.append("expressions", exp.alias_(ordered.this.copy(), exp.to_identifier(name, quoted=True)))
            alias = f"s{len(aliases) - len(columns)}"
            aliases.append(alias)
        else:  # PostgreSQL sorts a set operation by result columns only; the statement was described
            raise ToolError("the statement's ORDER BY could not be kept: sort by result columns (names or positions)")
        keys.append(pgsql.SQL("q.{} {} NULLS {}").format(
            pgsql.Identifier(alias), pgsql.SQL("DESC" if ordered.args.get("desc") else "ASC"),
            pgsql.SQL("FIRST" if ordered.args.get("nulls_first") else "LAST")))
    cells = []
    for alias, column in zip(aliases, columns):
        value = pgsql.SQL("q.{}").format(pgsql.Identifier(alias))
        if column.kind == STRUCTURED:
            value = pgsql.SQL("pg_catalog.to_json({})").format(value)
        if column.kind != VALUE:
            value = pgsql.SQL("pg_catalog.left(({})::pg_catalog.text, {})").format(value, pgsql.Literal(MAX_CELL_CHARS + 1))
        cells.append(pgsql.SQL("{} AS {}").format(value, pgsql.Identifier(column.name)))
    statement = pgsql.SQL("SELECT {} FROM ({}) AS q ({})").format(
        pgsql.SQL(", ").join(cells), pgsql.SQL(tree.sql(dialect="postgres")),
        pgsql.SQL(", ").join(pgsql.Identifier(a) for a in aliases))
    if keys:
        statement = pgsql.SQL("{} ORDER BY {}").format(statement, pgsql.SQL(", ").join(keys))
    return statement
