"""The read-only SQL tool: one SELECT against the operator's PostgreSQL database, within an
allow-list of schemas and tables.

Three lines of defence, each enough on its own for writes:
1. the statement's syntax tree (tools.sql_guard): one query, nothing that writes or locks, an
   allow-list of functions; every relation it reads resolved through the catalogue (the same
   search path the query then runs with) and checked against LLM_TOOLS_SQL_ALLOWED_TABLES;
2. the transaction: READ ONLY, a statement timeout, a lock timeout, the search path reduced to
   pg_catalog while the (fully qualified) statement runs, so no function or table of the
   allowed schemas is found by an unqualified name;
3. the database role of LLM_TOOLS_SQL_URL, which the operator grants SELECT on the allowed
   tables only (README).
Rows are read through a server-side cursor, so a large result is never computed whole, and
nothing large reaches this process: the statement runs inside a query that cuts every cell that
can be long in the database (tools.sql_result: JSON and arrays come back structured when they
are short), and rows stop coming once the result holds MAX_RESULT_CHARS (a row of many wide
cells, or many rows of them). `SELECT repeat('x', 500000000)` costs the database its memory for
a moment, never the orchestrator.
"""

from __future__ import annotations

import datetime
import decimal
import json
import uuid
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql as pgsql

from llm_orchestrator.providers.base import ToolSpec
from llm_orchestrator.tools import sql_guard, sql_result
from llm_orchestrator.tools.base import ToolContext, ToolError, ToolResult
from llm_orchestrator.tools.sql_result import MAX_CELL_CHARS

# What the rows of one result may hold in all (characters of the cells as text); the observation
# the model reads is cut far shorter, this bounds what the client and the stored steps get.
MAX_RESULT_CHARS = 200_000
FETCH_BATCH_ROWS = 10
CONNECT_TIMEOUT_SECONDS = 5


class TableAllowList:
    """"schema.table" and "schema.*" entries, compared with the catalogue's (case-sensitive) names."""

    def __init__(self, entries: Sequence[str]) -> None:
        self.tables = {tuple(e.split(".", 1)) for e in entries if not e.endswith(".*")}
        self.schemas = {e[:-2] for e in entries if e.endswith(".*")}

    def allows(self, schema: str, table: str) -> bool:
        return schema in self.schemas or (schema, table) in self.tables

    def search_path(self) -> list[str]:
        """The schemas unqualified names are looked up in: those of the allow-list."""
        return sorted(self.schemas | {s for s, _ in self.tables})

    def describe(self) -> str:
        return ", ".join(sorted([f"{s}.*" for s in self.schemas] + [f"{s}.{t}" for s, t in self.tables])) or "none"


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (datetime.date, datetime.time, datetime.datetime)):
        return value.isoformat()
    if isinstance(value, (datetime.timedelta,)):
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "\\x" + bytes(value)[:64].hex() + ("…" if len(value) > 64 else "")
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


def _cell(value: Any) -> str:
    if value is None:
        text = "NULL"
    elif isinstance(value, (dict, list)):
        text = json.dumps(value, ensure_ascii=False)
    else:
        text = str(value)
    text = text.replace("\n", " ").replace("|", "\\|")
    return text if len(text) <= MAX_CELL_CHARS + 1 else text[:MAX_CELL_CHARS] + "…"


def table_text(columns: list[str], rows: list[list[Any]], truncated: bool) -> str:
    lines = [" | ".join(columns), " | ".join("---" for _ in columns)]
    lines += [" | ".join(_cell(v) for v in row) for row in rows]
    note = f"({len(rows)} rows; more rows exist, only the first {len(rows)} are shown)" if truncated else f"({len(rows)} rows)"
    return "\n".join([*lines, note])


class SqlQuery:
    """A tool: one read-only SELECT against the configured database."""

    def __init__(self, url: str, allowed_tables: Sequence[str], max_rows: int = 100, statement_timeout_ms: int = 5_000,
                 timeout: float = 15.0, sensitive: bool = True) -> None:
        self._url = url
        self._allow = TableAllowList(allowed_tables)
        self._max_rows = max_rows
        self._statement_timeout_ms = statement_timeout_ms
        self.timeout = timeout
        self.sensitive = sensitive
        sql_guard.quiet_parser()
        self.spec = ToolSpec(
            name="sql_query",
            description="Run one read-only SQL SELECT (PostgreSQL) and get the rows back as a table. Only these tables "
                        f"may be read: {self._allow.describe()}. At most {max_rows} rows are returned; aggregate in SQL "
                        "where you can.",
            parameters={
                "type": "object",
                "properties": {"query": {"type": "string", "minLength": 1, "maxLength": sql_guard.MAX_SQL_CHARS,
                                         "description": "one SELECT statement"}},
                "required": ["query"],
                "additionalProperties": False,
            },
        )

    async def call(self, arguments: dict[str, Any], context: ToolContext) -> ToolResult:
        return await self.run_checked(sql_guard.check(arguments["query"]))

    async def run_checked(self, checked: sql_guard.CheckedQuery) -> ToolResult:
        """A statement past the syntax checks, run under the transaction's and the role's limits
        (the second and third lines hold even for a statement the first one let through)."""
        try:
            conn = await psycopg.AsyncConnection.connect(self._url, connect_timeout=CONNECT_TIMEOUT_SECONDS, autocommit=False)
        except psycopg.OperationalError:
            raise ToolError("the database is unavailable") from None
        try:
            await conn.set_read_only(True)
            async with conn.transaction():
                await self._limits(conn)
                await self._resolve(conn, checked)
                # The statement is fully qualified now: nothing else may be found by name.
                await conn.execute("SET LOCAL search_path = pg_catalog")
                columns, rows, cut, truncated = await self._fetch(conn, checked)
        except psycopg.errors.QueryCanceled:
            raise ToolError(f"the query took longer than {self._statement_timeout_ms} ms and was stopped") from None
        except psycopg.errors.ReadOnlySqlTransaction:
            raise ToolError("the database refused: this connection is read-only") from None
        except psycopg.errors.InsufficientPrivilege:
            raise ToolError("the database refused: permission denied") from None
        except psycopg.Error as exc:
            # PostgreSQL's own words help the model fix its query; they reach only the model.
            primary = exc.diag.message_primary or type(exc).__name__
            raise ToolError(f"the database refused the query: {primary[:300]}") from None
        finally:
            await conn.close()
        # "cut": [row, column] of each cell cut to MAX_CELL_CHARS characters and "…".
        data = {"columns": columns, "rows": rows, "cut": cut, "truncated": truncated}
        return ToolResult(content=table_text(columns, rows, truncated), data=data)

    async def _limits(self, conn: psycopg.AsyncConnection) -> None:
        timeout = self._statement_timeout_ms
        await conn.execute(pgsql.SQL("SET LOCAL statement_timeout = {}").format(pgsql.Literal(f"{timeout}ms")))
        await conn.execute(pgsql.SQL("SET LOCAL lock_timeout = {}").format(pgsql.Literal(f"{min(timeout, 1000)}ms")))
        await conn.execute(pgsql.SQL("SET LOCAL idle_in_transaction_session_timeout = {}").format(
            pgsql.Literal(f"{max(timeout * 2, 1000)}ms")))
        await conn.execute(pgsql.SQL("SET LOCAL search_path = {}").format(
            pgsql.SQL(", ").join([pgsql.Identifier(s) for s in self._allow.search_path()] or [pgsql.Identifier("pg_catalog")])))

    async def _resolve(self, conn: psycopg.AsyncConnection, checked: sql_guard.CheckedQuery) -> None:
        """Each relation as PostgreSQL resolves it (quoting, case folding, search path, pg_catalog
        first), checked against the allow-list and rewritten fully qualified."""
        for table in checked.relations:
            written = sql_guard.reference_text(table)
            cur = await conn.execute(
                "SELECT n.nspname, c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.oid = pg_catalog.to_regclass(%s)", (written,))
            found = await cur.fetchone()
            if found is None:
                raise ToolError(f"no table {written[:100]} among the tables this tool may read: {self._allow.describe()}")
            schema, name = found
            if not self._allow.allows(schema, name):
                raise ToolError(f"the table {schema}.{name} may not be read; allowed: {self._allow.describe()}"[:500])
            sql_guard.qualify(table, schema, name)

    async def _fetch(self, conn: psycopg.AsyncConnection,
                     checked: sql_guard.CheckedQuery) -> tuple[list[str], list[list[Any]], list[list[int]], bool]:
        columns, statement = await sql_result.prepare(conn, checked.tree)
        rows: list[list[Any]] = []
        cut: list[list[int]] = []
        size, truncated = 0, False
        async with conn.cursor(name="sql_tool") as cur:
            await cur.execute(statement)
            while not truncated:
                batch = await cur.fetchmany(min(FETCH_BATCH_ROWS, self._max_rows + 1 - len(rows)))
                if not batch:
                    break
                for fetched in batch:
                    if len(rows) == self._max_rows or size >= MAX_RESULT_CHARS:
                        truncated = True
                        break
                    cells = [sql_result.read_cell(column, value) for column, value in zip(columns, fetched, strict=True)]
                    cut += [[len(rows), i] for i, cell in enumerate(cells) if cell.cut]
                    size += sum(cell.size for cell in cells)
                    rows.append([_jsonable(cell.value) for cell in cells])
        return [column.name for column in columns], rows, cut, truncated
