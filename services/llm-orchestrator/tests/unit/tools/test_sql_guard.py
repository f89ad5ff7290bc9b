"""The SQL tool's first line, on the syntax tree alone: one read-only query, no write or lock
anywhere in it, only allowed functions, and the relations it reads listed (CTEs it defines
excluded, a real table behind a CTE's name in another scope not). The database-side lines are
tested on the real PostgreSQL (tests/integration/test_tools_sql.py)."""

import pytest

from llm_orchestrator.tools.base import ToolError
from llm_orchestrator.tools.sql_guard import check, reference_text


def relations(sql: str) -> list[str]:
    return [reference_text(t) for t in check(sql).relations]


@pytest.mark.parametrize(("sql", "expected"), [
    ("SELECT * FROM orders", ["orders"]),
    ("select o.id from reporting.orders o join regions r on r.id = o.region_id", ["reporting.orders", "regions"]),
    ('SELECT * FROM "Reporting"."Orders"', ['"Reporting"."Orders"']),
    ("SELECT (SELECT max(amount) FROM salaries) FROM orders", ["salaries", "orders"]),
    ("SELECT * FROM orders WHERE id IN (SELECT order_id FROM private.secrets)", ["orders", "private.secrets"]),
    ("SELECT 1 UNION SELECT id FROM salaries", ["salaries"]),
    ("WITH big AS (SELECT * FROM orders WHERE amount > 100) SELECT count(*) FROM big", ["orders"]),
    # A CTE named like a table hides it only inside its own scope: outside, the table is read.
    ("SELECT * FROM (WITH salaries AS (SELECT 1 AS x) SELECT * FROM salaries) q JOIN salaries ON true", ["salaries"]),
    ("WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) SELECT * FROM r", []),
    ("SELECT * FROM orders, LATERAL (SELECT * FROM lines l WHERE l.order_id = orders.id) x", ["orders", "lines"]),
    ("SELECT * FROM generate_series(1, 10) g", []),
    ("VALUES (1, 'a'), (2, 'b')", []),
    ("SELECT count(*), date_trunc('day', created), lower(customer), coalesce(note, '') FROM orders GROUP BY 2, 3, 4",
     ["orders"]),
    ("SELECT age(created), to_char(created, 'YYYY'), string_agg(customer, ',') FROM orders GROUP BY created", ["orders"]),
])
def test_allowed_queries_and_their_relations(sql, expected):
    assert sorted(relations(sql)) == sorted(expected)


@pytest.mark.parametrize(("sql", "reason"), [
    ("INSERT INTO orders VALUES (1)", "only SELECT queries are allowed, not INSERT"),
    ("UPDATE orders SET amount = 0", "not UPDATE"),
    ("DELETE FROM orders", "not DELETE"),
    ("DROP TABLE orders", "not DROP"),
    ("CREATE TABLE x AS SELECT * FROM orders", "not CREATE"),
    ("TRUNCATE orders", "not TRUNCATE"),
    ("ALTER TABLE orders ADD COLUMN x int", "not ALTER"),
    ("GRANT SELECT ON orders TO public", "only SELECT queries are allowed"),
    ("SET TRANSACTION READ WRITE", "only SELECT queries are allowed, not SET"),
    ("SET search_path = private", "not SET"),
    ("BEGIN READ WRITE", "only SELECT queries are allowed"),
    ("COPY orders TO '/tmp/x'", "not COPY"),
    ("EXPLAIN ANALYZE DELETE FROM orders", "only SELECT queries are allowed"),
    ("SELECT * FROM orders FOR UPDATE", "FOR UPDATE/SHARE is refused"),
    ("SELECT * FROM orders FOR SHARE", "FOR UPDATE/SHARE is refused"),
    ("SELECT * INTO copy_of_orders FROM orders", "SELECT INTO is refused"),
    ("WITH d AS (DELETE FROM orders RETURNING *) SELECT * FROM d", "DELETE is refused"),
    ("WITH u AS (UPDATE orders SET amount = 0 RETURNING id) SELECT count(*) FROM u", "UPDATE is refused"),
    ("WITH i AS (INSERT INTO orders VALUES (1) RETURNING id) SELECT * FROM i", "INSERT is refused"),
    ("SELECT 1; DELETE FROM orders", "exactly one SELECT"),
    ("SELECT 1; SELECT 2", "exactly one SELECT"),
    ("", "empty"),
    ("SELECT pg_read_file('/etc/passwd')", "pg_read_file() is not allowed"),
    ("SELECT pg_catalog.pg_read_file('/etc/passwd')", "not allowed"),
    ("SELECT pg_read_binary_file('/etc/passwd')", "pg_read_binary_file() is not allowed"),
    ("SELECT * FROM pg_ls_dir('.')", "pg_ls_dir() is not allowed"),
    ("SELECT lo_import('/etc/passwd')", "lo_import() is not allowed"),
    ("SELECT lo_export(1, '/tmp/x')", "lo_export() is not allowed"),
    ("SELECT * FROM dblink('host=evil', 'select 1') AS t(x int)", "dblink() is not allowed"),
    ("SELECT query_to_xml('select * from private.secrets', true, true, '')", "query_to_xml() is not allowed"),
    ("SELECT table_to_xml('private.secrets', true, true, '')", "table_to_xml() is not allowed"),
    ("SELECT pg_sleep(60)", "pg_sleep() is not allowed"),
    ("SELECT set_config('search_path', 'private', true)", "set_config() is not allowed"),
    ("SELECT current_setting('data_directory')", "current_setting() is not allowed"),
    ("SELECT nextval('orders_id_seq')", "nextval() is not allowed"),
    ("SELECT pg_terminate_backend(1)", "pg_terminate_backend() is not allowed"),
    ("SELECT * FROM otherdb.public.orders", "database-qualified"),
    ("SELECT * FROM orders WHERE id = $1", "parameters are not supported"),
    ("SELECT * FROM", "could not be parsed"),
])
def test_refused(sql, reason):
    with pytest.raises(ToolError, match=reason.replace("(", r"\(").replace(")", r"\)").replace("*", r"\*")):
        check(sql)


def test_what_runs_is_what_was_checked():
    # A nested comment is one comment to PostgreSQL: what runs is sqlglot's rewrite of the tree
    # that was checked, never the text as sent.
    checked = check("SELECT id /* a /* nested */ comment */ FROM orders")
    assert checked.sql().startswith("SELECT id") and "FROM orders" in checked.sql()
    assert check("SELECT 1 -- ; DROP TABLE orders").sql() == "SELECT 1 /* ; DROP TABLE orders */"
