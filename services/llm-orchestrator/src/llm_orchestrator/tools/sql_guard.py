"""What the SQL tool lets through, decided on the statement's syntax tree (sqlglot, PostgreSQL
dialect) before the database sees it: exactly one query (SELECT, set operations, VALUES), no
statement or clause that writes or locks anywhere in it (a data-modifying CTE, SELECT INTO,
FOR UPDATE/SHARE), only the functions of an allow-list (nothing that reads files, runs a query
given as text, sleeps, talks to other servers or changes settings), and a list of the relations
it reads (the CTEs it defines excluded, by sqlglot's scope analysis), which the tool resolves
through the database's catalogue and checks against the operator's allow-list.

What runs is the statement as sqlglot writes it back after the check, with every relation
rewritten to the schema and name the catalogue resolved: nothing the parser read differently
from PostgreSQL (nested comments, quoting) can reach the database unchecked.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.scope import Scope, traverse_scope

from llm_orchestrator.tools.base import ToolError

MAX_SQL_CHARS = 10_000

# Nodes that write, lock, or are no query at all, refused wherever they appear in the tree.
_FORBIDDEN = tuple(getattr(exp, name) for name in (
    "Insert", "Update", "Delete", "Merge", "Create", "Drop", "Alter", "TruncateTable", "Command", "Into", "Lock",
    "Set", "Transaction", "Commit", "Rollback", "Copy", "Grant", "Revoke", "Use", "Pragma", "Analyze", "LoadData",
    "Refresh", "Cache", "Uncache", "Describe", "Kill", "Declare",
) if hasattr(exp, name))

# Functions sqlglot does not model as typed expressions, allowed by name. Everything else it
# parses as an anonymous call (pg_read_file, lo_import, dblink, query_to_xml, pg_sleep,
# set_config, nextval, ...) is refused. Typed functions (count, lower, date_trunc, ...) are the
# portable SQL ones and allowed.
ALLOWED_FUNCTIONS = frozenset({
    "age", "date_part", "date_bin", "make_date", "make_time", "make_timestamp", "justify_hours", "justify_interval",
    "isfinite", "to_number", "translate", "strpos", "starts_with", "chr", "ascii", "cbrt", "div", "gcd", "lcm", "pi",
    "degrees", "radians", "mode", "every", "num_nulls", "num_nonnulls", "array_length", "array_to_string",
    "cardinality", "regexp_matches", "regexp_split_to_array", "row_to_json", "to_json", "to_jsonb", "json_build_object",
    "jsonb_build_object", "json_build_array", "jsonb_build_array", "jsonb_agg", "json_object_agg", "jsonb_object_agg",
    "json_array_length", "jsonb_array_length", "json_extract_path_text", "jsonb_extract_path_text", "regr_slope",
    "regr_intercept", "covar_pop", "covar_samp", "stddev_pop", "stddev_samp", "var_pop", "var_samp",
})


@dataclass(frozen=True)
class CheckedQuery:
    """A statement that passed the syntax checks: its tree, and the relation references in it
    (exp.Table nodes, to be resolved and qualified by the caller before it runs)."""

    tree: exp.Expression
    relations: list[exp.Table]

    def sql(self) -> str:
        return self.tree.sql(dialect="postgres")


def quiet_parser() -> None:
    """sqlglot warns with the statement's text when it falls back to a generic command; the
    text is the model's (and may hold personal data), so its warnings stay out of the logs."""
    logging.getLogger("sqlglot").setLevel(logging.ERROR)


def check(sql: str) -> CheckedQuery:
    """The statement's tree if it is one read-only query; ToolError saying what is refused."""
    if len(sql) > MAX_SQL_CHARS:
        raise ToolError(f"the statement is too long (at most {MAX_SQL_CHARS} characters)")
    try:
        statements = [s for s in sqlglot.parse(sql, read="postgres") if s is not None]
    except SqlglotError as exc:
        raise ToolError(f"the statement could not be parsed: {str(exc).splitlines()[0][:200]}") from None
    if len(statements) != 1:
        raise ToolError("send exactly one SELECT statement" if statements else "the statement is empty")
    tree = statements[0]
    if not isinstance(tree, (exp.Query, exp.Values)):
        raise ToolError(f"only SELECT queries are allowed, not {tree.key.upper()}")
    for node in tree.walk():
        if isinstance(node, _FORBIDDEN):
            what = {"into": "SELECT INTO", "lock": "FOR UPDATE/SHARE"}.get(node.key, node.key.upper())
            raise ToolError(f"only reading is allowed: {what} is refused")
        if isinstance(node, (exp.Anonymous, exp.AnonymousAggFunc)):
            name = node.name.lower()
            if name not in ALLOWED_FUNCTIONS:
                raise ToolError(f"the function {name[:60]}() is not allowed")
        if isinstance(node, exp.Dot) and isinstance(node.expression, exp.Func):
            raise ToolError("schema-qualified function calls are not allowed")
        if isinstance(node, exp.Placeholder) or isinstance(node, exp.Parameter):
            raise ToolError("parameters are not supported: write the values into the query")
    return CheckedQuery(tree, _relations(tree))


def _cte_references(tree: exp.Expression) -> set[int]:
    """The exp.Table nodes that name a CTE in scope (by identity), not a relation."""
    refs: set[int] = set()
    try:
        scopes = traverse_scope(tree)
    except SqlglotError:
        raise ToolError("the statement's structure is not supported") from None
    for scope in scopes:
        for table in scope.tables:
            if isinstance(scope.sources.get(table.alias_or_name), Scope) and not table.db and not table.catalog:
                refs.add(id(table))
    return refs


def _relations(tree: exp.Expression) -> list[exp.Table]:
    ctes = _cte_references(tree)
    relations = []
    for table in tree.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            continue  # a set-returning function in FROM (generate_series): its function was checked
        if id(table) in ctes:
            continue
        if table.catalog:
            raise ToolError("database-qualified names (db.schema.table) are not allowed")
        relations.append(table)
    return relations


def reference_text(table: exp.Table) -> str:
    """The relation as written (quotes kept), for the database's own name resolution."""
    parts = [table.args["db"], table.this] if table.args.get("db") else [table.this]
    return ".".join(p.sql(dialect="postgres") for p in parts)


def qualify(table: exp.Table, schema: str, name: str) -> None:
    """Rewrites a reference to the schema and name the catalogue resolved it to. Columns
    qualified by the name as written (orders.id, "Orders".id) still match: the name only gains
    its schema and PostgreSQL's case folding."""
    table.set("db", exp.to_identifier(schema, quoted=True))
    table.set("this", exp.to_identifier(name, quoted=True))
