"""The read-only SQL tool on the real PostgreSQL (127.0.0.1:5432): a database made for the test
with a read-only role as the README tells operators to create, except that the role may SELECT
every table here (the secret ones too), so each refusal below is the tool's own, not the role's.

Allow-list: reporting.* and public.products. Outside it: public.salaries, private.secrets and
the view private.v_orders (over an allowed table)."""

from __future__ import annotations

import re
import tracemalloc
import uuid
from datetime import date, timedelta

import psycopg
import pytest
import sqlglot
from psycopg import sql as pgsql

from llm_orchestrator.tools.base import ToolContext, ToolError
from llm_orchestrator.tools.running import run_tool
from llm_orchestrator.tools import sql_guard
from llm_orchestrator.tools.sql import MAX_CELL_CHARS, MAX_RESULT_CHARS, SqlQuery
from llm_orchestrator.tools.sql_guard import CheckedQuery
from llm_orchestrator.tools.sql_result import prepare

pytestmark = pytest.mark.contract

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
CTX = ToolContext(tenant_id="acme", user_id="usr_alice")
ALLOWED = ["reporting.*", "public.products"]

SETUP = """
CREATE SCHEMA reporting;
CREATE SCHEMA private;
CREATE TABLE reporting.orders (id int PRIMARY KEY, customer text NOT NULL, amount numeric(10,2) NOT NULL, created date);
INSERT INTO reporting.orders SELECT i, 'customer ' || i, i * 10.5, DATE '2026-01-01' + i FROM generate_series(1, 500) i;
CREATE TABLE reporting."Regions" (id int, "Name" text);
INSERT INTO reporting."Regions" VALUES (1, 'North'), (2, 'South');
CREATE VIEW reporting.big_orders AS SELECT * FROM reporting.orders WHERE amount > 5000;
CREATE TABLE public.products (id int, name text);
INSERT INTO public.products VALUES (1, 'widget'), (2, 'gadget');
CREATE TABLE public.salaries (employee text, salary int);
INSERT INTO public.salaries VALUES ('alice', 91000), ('bob', 87000);
CREATE TABLE private.secrets (id int, secret text);
INSERT INTO private.secrets VALUES (1, 'the launch code is 0000');
CREATE VIEW private.v_orders AS SELECT * FROM reporting.orders;
CREATE TABLE reporting.audit (id int);
CREATE SEQUENCE reporting.seq;
"""


@pytest.fixture(scope="module")
def database():
    """A database and a LOGIN role with SELECT on everything in it and nothing else."""
    suffix = uuid.uuid4().hex[:10]
    name, role = f"tools_sql_{suffix}", f"tools_reader_{suffix}"
    with psycopg.connect(ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        admin.execute(f'CREATE ROLE "{role}" LOGIN')
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{name}", autocommit=True) as conn:
        conn.execute(SETUP)
        conn.execute(f'REVOKE ALL ON SCHEMA public FROM PUBLIC; GRANT CONNECT ON DATABASE "{name}" TO "{role}"')
        for schema in ("reporting", "public", "private"):
            conn.execute(f'GRANT USAGE ON SCHEMA {schema} TO "{role}"; GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO "{role}"')
    yield {"reader": f"postgresql://{role}@127.0.0.1:5432/{name}", "owner": f"postgresql://postgres@127.0.0.1:5432/{name}"}
    with psycopg.connect(ADMIN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.execute(f'DROP ROLE "{role}"')


@pytest.fixture
def tool(database):
    return SqlQuery(database["reader"], ALLOWED, max_rows=50, statement_timeout_ms=300)


async def query(tool, sql):
    return await run_tool(tool, {"query": sql}, CTX)


async def test_select_in_the_allow_list_works_and_is_row_limited(tool):
    result = await query(tool, "SELECT id, customer, amount FROM orders ORDER BY id")
    assert not result.is_error, result.content
    assert result.data["columns"] == ["id", "customer", "amount"]
    assert len(result.data["rows"]) == 50 and result.data["truncated"] is True
    assert result.data["rows"][0] == [1, "customer 1", "10.50"]
    lines = result.content.splitlines()
    assert lines[0] == "id | customer | amount" and lines[2] == "1 | customer 1 | 10.50"
    assert lines[-1] == "(50 rows; more rows exist, only the first 50 are shown)"

    total = await query(tool, "SELECT count(*) AS n, sum(amount) AS total FROM reporting.orders WHERE created >= '2026-06-01'")
    since = [i for i in range(1, 501) if date(2026, 1, 1) + timedelta(days=i) >= date(2026, 6, 1)]
    assert total.data["rows"] == [[len(since), f"{sum(since) * 10.5:.2f}"]] and total.data["truncated"] is False

    joined = await query(tool, 'SELECT p.name, r."Name" FROM public.products p JOIN reporting."Regions" r ON r.id = p.id ORDER BY 1')
    assert joined.data["rows"] == [["gadget", "South"], ["widget", "North"]], joined.content
    view = await query(tool, "WITH b AS (SELECT * FROM big_orders) SELECT min(id) FROM b")
    assert view.data["rows"] == [[477]]
    qualified_columns = await query(tool, "SELECT orders.id FROM orders WHERE orders.id < 3 ORDER BY orders.id")
    assert qualified_columns.data["rows"] == [[1], [2]], qualified_columns.content


@pytest.mark.parametrize("sql", [
    "INSERT INTO reporting.orders VALUES (9999, 'x', 1, NULL)",
    "UPDATE reporting.orders SET amount = 0",
    "DELETE FROM reporting.orders",
    "DROP TABLE reporting.orders",
    "CREATE TABLE reporting.x (id int)",
    "TRUNCATE reporting.orders",
    "SELECT * FROM reporting.orders FOR UPDATE",
    "WITH d AS (DELETE FROM reporting.orders RETURNING *) SELECT count(*) FROM d",
    "SET TRANSACTION READ WRITE",
    "SELECT 1; DELETE FROM reporting.orders",
    "SELECT * INTO reporting.copy FROM reporting.orders",
    "SELECT pg_read_file('/etc/passwd')",
    "SELECT lo_import('/etc/passwd')",
    "SELECT pg_sleep(5)",
    "SELECT query_to_xml('select * from private.secrets', true, true, '')",
])
async def test_writes_and_dangerous_functions_are_refused(tool, database, sql):
    result = await query(tool, sql)
    assert result.is_error
    assert result.content.startswith("Error: ")
    with psycopg.connect(database["owner"]) as conn:
        assert conn.execute("SELECT count(*), sum(amount) FROM reporting.orders").fetchone() == (500, 1315125)
        assert conn.execute("SELECT to_regclass('reporting.x'), to_regclass('reporting.copy')").fetchone() == (None, None)


@pytest.mark.parametrize("sql", [
    "SELECT * FROM salaries",                       # unqualified, resolved through the search path
    "SELECT * FROM public.salaries",
    'SELECT * FROM "public"."salaries"',            # quoting
    "SELECT * FROM PUBLIC.SALARIES",                # case folding
    "SELECT * FROM private.secrets",
    "SELECT * FROM private.v_orders",               # a view outside the allow-list (over an allowed table)
    "SELECT id FROM reporting.orders WHERE id IN (SELECT length(secret) FROM private.secrets)",
    "SELECT (SELECT max(salary) FROM public.salaries) FROM reporting.orders LIMIT 1",
    "SELECT 1 UNION ALL SELECT salary FROM salaries",
    "SELECT * FROM (WITH salaries AS (SELECT 1 AS x) SELECT * FROM salaries) q CROSS JOIN salaries",
    "SELECT * FROM pg_catalog.pg_authid",
    "SELECT * FROM pg_class",                       # pg_catalog, searched first
    "SELECT * FROM information_schema.tables",
    'SELECT * FROM "reporting.orders"',             # a name with a dot in it is no schema
])
async def test_outside_the_allow_list_is_refused(tool, sql):
    result = await query(tool, sql)
    assert result.is_error, result.content
    assert "may not be read" in result.content or "no table" in result.content, result.content
    for secret in ("91000", "launch code"):
        assert secret not in result.content


async def traced(coro):
    """The coroutine's result and the most this process allocated (Python's allocators, which the
    driver's conversion of a value into a str goes through) while it ran."""
    tracemalloc.start()
    try:
        result = await coro
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


async def test_long_cells_are_cut_in_the_database(database):
    """A 30 MB value never reaches the orchestrator: the database cuts each long cell (text,
    bytea, arrays, JSON; numbers stay numbers), and the tool's memory stays far below the value.
    (A generous statement timeout: what is measured here is memory, on any machine.)"""
    tool = SqlQuery(database["reader"], ALLOWED, max_rows=50, statement_timeout_ms=10_000)
    result, peak = await traced(query(tool, "SELECT repeat('x', 30000000) AS big, 7 AS n, 2.5 AS price, "
                                            "repeat('y', 1000000)::bytea AS raw, array_agg(id) AS ids, "
                                            "jsonb_build_object('k', repeat('z', 1000)) AS doc, 'short' AS s "
                                            "FROM reporting.orders"))
    assert not result.is_error, result.content
    assert result.data["columns"] == ["big", "n", "price", "raw", "ids", "doc", "s"]
    (row,) = result.data["rows"]
    assert row[0] == "x" * MAX_CELL_CHARS + "…"
    assert row[1:3] == [7, "2.5"] and row[6] == "short"
    assert row[3].startswith("\\x7979") and len(row[3]) == MAX_CELL_CHARS + 1
    # Long JSON and arrays are cut as JSON text, marked like every cut cell.
    assert row[4].startswith("[1,2,3,") and row[5].startswith('{"k": "zzz') and len(row[4]) == len(row[5]) == MAX_CELL_CHARS + 1
    assert row[4].endswith("…") and row[5].endswith("…")
    assert result.data["cut"] == [[0, 0], [0, 3], [0, 4], [0, 5]]
    assert "x" * MAX_CELL_CHARS + "…" in result.content.splitlines()[2]
    assert peak < 3_000_000, f"{peak} bytes allocated for a result of {len(result.content)} characters"

    # Names may repeat, as PostgreSQL allows; each column keeps its own.
    same = await query(tool, "SELECT 1, 'a', 2 AS id, 'b' AS id")
    assert same.data["columns"] == ["?column?", "?column?", "id", "id"] and same.data["rows"] == [[1, "a", 2, "b"]]
    assert (await query(tool, "VALUES (1, 'one')")).data["rows"] == [[1, "one"]]


async def test_json_and_arrays_come_back_as_json_values(tool):
    """JSON, JSONB and arrays of any element type are structured values when they fit in a cell,
    and cut (as JSON text, marked) only when they are long."""
    result = await query(tool, """SELECT '{"a": [1, 2.5], "b": null, "c": "x"}'::jsonb AS doc, '[1, "x", true]'::json AS j,
        '"str"'::jsonb AS s, 'null'::jsonb AS jnull, NULL::jsonb AS missing, ARRAY[1, 2] AS ints, ARRAY['a', NULL] AS texts,
        ARRAY[[1, 2], [3, 4]] AS matrix, '{}'::int[] AS empty, ARRAY[DATE '2026-01-02'] AS dates,
        ARRAY['{"k": 1}'::jsonb] AS docs, (SELECT array_agg(id ORDER BY id) FROM orders WHERE id <= 5) AS ids,
        (SELECT jsonb_agg(customer ORDER BY id) FROM orders) AS customers""")
    assert not result.is_error, result.content
    (row,) = result.data["rows"]
    assert row[:-1] == [{"a": [1, 2.5], "b": None, "c": "x"}, [1, "x", True], "str", None, None, [1, 2], ["a", None],
                        [[1, 2], [3, 4]], [], ["2026-01-02"], [{"k": 1}], [1, 2, 3, 4, 5]]
    assert row[-1].startswith('["customer 1", "customer 2", ') and row[-1].endswith("…")
    assert len(row[-1]) == MAX_CELL_CHARS + 1 and result.data["cut"] == [[0, 12]]
    # The model reads them as JSON too.
    line = result.content.splitlines()[2]
    assert line.startswith('{"a": [1, 2.5], "b": null, "c": "x"} | [1, "x", true] | str | NULL | NULL | [1, 2]'), line


# Statements whose order is theirs to say: a key named or numbered among the result's columns,
# keys that are expressions outside them, directions and NULLS placement, a collation, DISTINCT,
# DISTINCT ON, grouping, a set operation, parentheses around the whole statement, a limit.
ORDERED = [
    "SELECT id, customer FROM orders ORDER BY amount DESC LIMIT 5",
    "SELECT customer FROM orders ORDER BY created DESC, id LIMIT 7",
    "SELECT id FROM orders ORDER BY 1 DESC LIMIT 3",
    "SELECT id, customer FROM orders WHERE id < 30 ORDER BY customer COLLATE \"C\" DESC, id",
    "SELECT x FROM (VALUES (2), (NULL), (1)) v (x) ORDER BY x DESC",
    "SELECT x FROM (VALUES (2), (NULL), (1)) v (x) ORDER BY x NULLS FIRST",
    "SELECT x AS y FROM (VALUES (2), (NULL), (1)) v (x) ORDER BY y DESC NULLS LAST",
    "SELECT DISTINCT customer FROM orders WHERE id < 20 ORDER BY orders.customer DESC",
    "SELECT DISTINCT ON (id % 3) id % 3 AS k, id FROM orders ORDER BY id % 3, id DESC",
    "SELECT count(*) AS n, id % 4 AS r FROM orders WHERE id < 10 GROUP BY 2 ORDER BY n DESC, r",
    "SELECT name FROM products UNION ALL SELECT \"Name\" FROM \"Regions\" ORDER BY name DESC",
    "SELECT \"Name\" FROM \"Regions\" ORDER BY \"Name\" DESC",
    "(SELECT id FROM orders ORDER BY id DESC) LIMIT 4",
    "SELECT id, customer FROM orders ORDER BY length(customer) DESC, id DESC LIMIT 6",
    # PostgreSQL folds ASCII letters only: É names the column "É" (review of 5637947).
    "SELECT customer AS É, id FROM orders WHERE id < 12 ORDER BY É DESC, id",
]


@pytest.mark.parametrize("sql", ORDERED)
async def test_the_result_is_ordered_by_the_outer_query(tool, database, sql):
    """SQL orders a query's rows by that query's ORDER BY only, never by a subquery's: the query
    the tool runs around the statement repeats the statement's order itself, on the subquery's
    columns, and PostgreSQL sees the rows already come in that order (no second sort)."""
    result = await query(tool, sql)
    assert not result.is_error, result.content
    async with await psycopg.AsyncConnection.connect(database["owner"]) as conn:
        await conn.execute("SET search_path = reporting, public")
        expected = [list(r) for r in await (await conn.execute(sql)).fetchall()]
        assert result.data["rows"] == expected
        columns, statement = await prepare(conn, sql_guard.check(sql).tree)
        text = statement.as_string(conn)
        outer = sqlglot.parse_one(text, read="postgres")
        keys = outer.args["order"].expressions if outer.args.get("order") else []
        asked = sqlglot.parse_one(sql, read="postgres")
        asked = asked.args.get("order") or asked.this.args.get("order")
        directions = [bool(k.args.get("desc")) for k in asked.expressions]
        assert [(k.this.table, bool(k.args.get("desc"))) for k in keys] == [("q", desc) for desc in directions], text
        assert [list(r) for r in await (await conn.execute(statement)).fetchall()] == expected

        def sorts(plan: list[tuple[str]]) -> int:
            return sum(bool(re.match(r"\s*(->\s+)?(Incremental )?Sort\s+\(", line)) for (line,) in plan)

        plain = await (await conn.execute(f"EXPLAIN {sql}")).fetchall()
        wrapped = await (await conn.execute(pgsql.SQL("EXPLAIN {}").format(statement))).fetchall()
        assert sorts(wrapped) == sorts(plain), "\n".join(line for (line,) in wrapped)


async def test_rows_stop_at_the_result_budget(tool):
    """Wide rows: 40 cells of 1,000 characters each, 50 rows asked for. The rows stop once the
    result holds MAX_RESULT_CHARS, and the note says more exist."""
    cells = ", ".join(f"repeat('w', 1000) AS c{i}" for i in range(40))
    # The tool's own result (run_tool would cut the observation for the model at 8,000 characters).
    result, peak = await traced(tool.call({"query": f"SELECT {cells} FROM generate_series(1, 50)"}, CTX))
    rows = result.data["rows"]
    size = sum(len(cell) for row in rows for cell in row)
    assert result.data["truncated"] is True and 0 < len(rows) < 50
    assert MAX_RESULT_CHARS <= size < MAX_RESULT_CHARS + 40 * (MAX_CELL_CHARS + 1)
    assert result.content.splitlines()[-1] == f"({len(rows)} rows; more rows exist, only the first {len(rows)} are shown)"
    assert peak < 10_000_000


async def test_statement_timeout_stops_a_long_query(tool):
    result = await query(tool, "SELECT count(*) FROM generate_series(1, 1000000000)")
    assert result.is_error and "took longer than 300 ms" in result.content


async def test_the_transaction_refuses_writes_the_parser_let_through(database):
    """Second line: even as the database owner, a write that reached the database (as if the
    parser had missed it) fails in the read-only transaction."""
    owner = SqlQuery(database["owner"], ALLOWED, statement_timeout_ms=1000)
    for statement in ("INSERT INTO reporting.audit VALUES (1)", "CREATE TABLE reporting.y (id int)",
                      "SELECT nextval('reporting.seq')"):
        checked = CheckedQuery(sqlglot.parse_one(statement, read="postgres"), [])
        with pytest.raises(ToolError, match="read-only|refused"):
            await owner.run_checked(checked)
    with psycopg.connect(database["owner"]) as conn:
        assert conn.execute("SELECT count(*) FROM reporting.audit").fetchone() == (0,)
        assert conn.execute("SELECT to_regclass('reporting.y')").fetchone() == (None,)
        assert conn.execute("SELECT is_called FROM reporting.seq").fetchone() == (False,)


async def test_the_role_is_the_third_line(database):
    """Without SELECT on a table, the role cannot read it even when the allow-list says yes."""
    with psycopg.connect(database["owner"], autocommit=True) as conn:
        role = conn.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE 'tools_reader_%' ORDER BY oid DESC LIMIT 1").fetchone()[0]
        conn.execute(f'REVOKE SELECT ON reporting.audit FROM "{role}"')
    tool = SqlQuery(database["reader"], ALLOWED)
    result = await query(tool, "SELECT * FROM reporting.audit")
    assert result.is_error and "permission denied" in result.content


async def test_unavailable_database_is_an_error_observation():
    tool = SqlQuery("postgresql://postgres@127.0.0.1:1/none", ALLOWED)
    result = await query(tool, "SELECT 1")
    assert result.is_error and "unavailable" in result.content
