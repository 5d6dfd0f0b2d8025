"""PostgreSQL matrix: the cell list, the type table, COPY helpers and the cells written once
against a small sync connection API (class Base).  Driver families live in pg_<family>.py."""
import datetime as dt
import re
import struct
import threading
import time
import uuid
from decimal import Decimal

from matrix_common import NA, Mismatch, check, check_pages

CELLS = """connect crud type_int2 type_int4 type_int8 type_numeric type_float4 type_float8 type_bool
type_text type_bytea type_date type_time type_timestamp type_timestamptz type_interval type_uuid
type_json type_jsonb type_int_array type_text_array type_enum param_text param_binary rollback
savepoint_rollback savepoint_release duplicate_key cursor_100k executemany copy_text copy_binary
prepared_reuse pool_reuse cancel close""".split()

INF, NAN = float("inf"), float("nan")
TZ_IN, TZ_WEST = dt.timezone(dt.timedelta(hours=5, minutes=30)), dt.timezone(dt.timedelta(hours=-8))
U1 = uuid.UUID("12345678-1234-5678-1234-567812345678")
JSON_VALUES = [{"a": 1, "b": [1, 2, {"c": None, "d": "é ✓"}]}, [1, "two", [3.5, {"four": True}]], {}]
# A year is 365 days and a month 30 in every driver's timedelta (observed directly).
IV_LITERALS = [("CAST('1 year 2 months 3 days 04:05:06.5' AS interval)",
                dt.timedelta(days=428, hours=4, minutes=5, seconds=6.5)),
               ("CAST('-1 year -2 mons +3 days -04:05:06' AS interval)",
                dt.timedelta(days=-423, seconds=71694))]

# key -> (SQL type, values sent as parameters, literal select, its expected value).
# {p} is the per-driver table prefix.  NULL is always added as one more row.
TYPES = {
    "int2": ("int2", [-32768, 0, 32767], "SELECT CAST(32767 AS int2)", 32767),
    "int4": ("int4", [-2147483648, 0, 2147483647], "SELECT CAST(-2147483648 AS int4)", -2147483648),
    "int8": ("int8", [-2**63, 0, 2**63 - 1], "SELECT CAST(9223372036854775807 AS int8)", 2**63 - 1),
    "numeric": ("numeric", [Decimal("-12345678901234.5678"), Decimal("0"), Decimal("0.000001"),
                            Decimal("123456789012345678901234567890.123456789"), Decimal("NaN")],
                "SELECT CAST(1.5 AS numeric)", Decimal("1.5")),
    "float4": ("float4", [0.1, -1.5, 3.4e38, INF, NAN], "SELECT CAST(1.5 AS float4)", 1.5),
    "float8": ("float8", [0.1, 1e300, -2.5e-300, -INF, NAN], "SELECT CAST('1e300' AS float8)", 1e300),
    "bool": ("bool", [True, False], "SELECT true", True),
    "text": ("text", ["", "héllo ✓", "tab\tnl\n bs\\ \"q\" 's' 😀", "x" * 1000],
             "SELECT CAST('héllo ✓' AS text)", "héllo ✓"),
    "bytea": ("bytea", [bytes(range(256)), b"", b"\x00"], "SELECT CAST('\\x00ff' AS bytea)", b"\x00\xff"),
    "date": ("date", [dt.date(1, 1, 1), dt.date(9999, 12, 31), dt.date(2024, 2, 29)],
             "SELECT CAST('9999-12-31' AS date)", dt.date(9999, 12, 31)),
    "time": ("time", [dt.time(0, 0), dt.time(23, 59, 59, 999999), dt.time(12, 34, 56, 789012)],
             "SELECT CAST('23:59:59.999999' AS time)", dt.time(23, 59, 59, 999999)),
    "timestamp": ("timestamp", [dt.datetime(2024, 2, 29, 12, 34, 56, 789012),
                                dt.datetime(1, 1, 1), dt.datetime(9999, 12, 31, 23, 59, 59, 999999)],
                  "SELECT CAST('2024-02-29 12:34:56.789012' AS timestamp)",
                  dt.datetime(2024, 2, 29, 12, 34, 56, 789012)),
    "timestamptz": ("timestamptz", [dt.datetime(2024, 2, 29, 12, 34, 56, 789012, TZ_IN),
                                    dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc),
                                    dt.datetime(1999, 12, 31, 23, 59, 59, 999999, TZ_WEST)],
                    "SELECT CAST('2024-02-29 12:34:56.789012+05:30' AS timestamptz)",
                    dt.datetime(2024, 2, 29, 12, 34, 56, 789012, TZ_IN)),
    "interval": ("interval", [dt.timedelta(days=3, hours=4, minutes=5, seconds=6.5),
                              -dt.timedelta(days=3, hours=4, minutes=5, seconds=6),
                              dt.timedelta(0), dt.timedelta(microseconds=1)],
                 "SELECT CAST('3 days 04:05:06.5' AS interval)",
                 dt.timedelta(days=3, hours=4, minutes=5, seconds=6.5)),
    "uuid": ("uuid", [U1, uuid.UUID(int=0), uuid.UUID(int=2**128 - 1)],
             f"SELECT CAST('{U1}' AS uuid)", U1),
    "json": ("json", JSON_VALUES, "SELECT CAST('{\"a\": [1, null]}' AS json)", {"a": [1, None]}),
    "jsonb": ("jsonb", JSON_VALUES, "SELECT CAST('{\"a\": [1, null]}' AS jsonb)", {"a": [1, None]}),
    "int_array": ("int[]", [[1, None, 3], [], [-2147483648, 2147483647]],
                  "SELECT CAST(ARRAY[1, NULL, 3] AS int[])", [1, None, 3]),
    "text_array": ("text[]", [["", "a b", 'a"b\\', "NULL", None, "é,{}"]],
                   "SELECT CAST(ARRAY['', 'a b', NULL] AS text[])", ["", "a b", None]),
    "enum": ("{p}_mood", ["sad", "happy"], "SELECT CAST('happy' AS {p}_mood)", "happy"),
}

PARAMS = [42, "héllo ✓", Decimal("-12345678901234.5678"), dt.date(2024, 2, 29), U1, bytes(range(256))]
PARAM_SQL = ("SELECT CAST({0} AS int4), CAST({0} AS text), CAST({0} AS numeric), CAST({0} AS date), "
             "CAST({0} AS uuid), CAST({0} AS bytea)")
PREP_SQL = "SELECT CAST(%s AS int4) * 2, CAST(%s AS text) || 'x'"
# A pool is checked by the client-side connection objects it hands out (`id(conn)`), not
# by pg_backend_pid(): behind a proxy the server process is not the client's connection.
POOL_SQL = "SELECT CAST(%s AS int4) + 1"
COPY_ROWS = [(i, None if i % 7 == 0 else f"r{i} tab\t nl\n bs\\ é ✓") for i in range(1, 1001)]
PGCOPY = b"PGCOPY\n\xff\r\n\x00"
# The crud cell: SQL that PostgreSQL and SQLite both accept; values and their Python types.
CRUD_DDL = "id INTEGER PRIMARY KEY, name TEXT NOT NULL, score DOUBLE PRECISION, active BOOLEAN, qty BIGINT"
CRUD_COLS = ("id", "name", "score", "active", "qty")
CRUD_ROWS = [(1, "ann", 1.5, True, 10), (2, "bob", -0.25, False, 9007199254740993),
             (3, "cé ✓", None, None, None)]
CRUD_SCORE, CRUD_ACTIVE = 2.75, True  # row 2 after the UPDATE
CRUD_AFTER = [CRUD_ROWS[0], (2, "bob", CRUD_SCORE, CRUD_ACTIVE, CRUD_ROWS[1][4])]


def copy_text_encode(rows):
    esc = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}
    return "".join(f"{i}\t" + ("\\N" if v is None else "".join(esc.get(ch, ch) for ch in v)) + "\n"
                   for i, v in rows).encode()


def copy_text_decode(data):
    unesc = {"\\\\": "\\", "\\t": "\t", "\\n": "\n", "\\r": "\r"}
    rows = []
    for line in data.decode().split("\n")[:-1]:
        i, v = line.split("\t")
        rows.append((int(i), None if v == "\\N" else re.sub(r"\\.", lambda m: unesc[m[0]], v)))
    return rows


def copy_binary_encode(rows):
    out = [PGCOPY, struct.pack("!ii", 0, 0)]
    for i, v in rows:
        out.append(struct.pack("!hii", 2, 4, i))
        b = None if v is None else v.encode()
        out.append(struct.pack("!i", -1) if b is None else struct.pack("!i", len(b)) + b)
    out.append(struct.pack("!h", -1))
    return b"".join(out)


def copy_binary_decode(data):
    if data[:11] != PGCOPY:
        raise Mismatch(f"binary COPY header {data[:11]!r}")
    pos = 19 + struct.unpack("!i", data[15:19])[0]
    rows = []
    while True:
        (n,) = struct.unpack("!h", data[pos:pos + 2])
        pos += 2
        if n == -1:
            return rows
        fields = []
        for _ in range(n):
            (ln,) = struct.unpack("!i", data[pos:pos + 4])
            fields.append(None if ln < 0 else data[pos + 4:pos + 4 + ln])
            pos += 4 + max(ln, 0)
        rows.append((struct.unpack("!i", fields[0])[0], None if fields[1] is None else fields[1].decode()))


def check_rows(what, got, want):
    got = [tuple(r) for r in got]
    if got != want:
        bad = next((k for k, (g, w) in enumerate(zip(got, want)) if g != w), min(len(got), len(want)))
        raise Mismatch(f"{what}: {len(got)} rows vs {len(want)}; first difference at {bad}: "
                       f"got {got[bad] if bad < len(got) else None!r} want "
                       f"{want[bad] if bad < len(want) else None!r}")


def check_crud_row(what, got, want):
    """Every column's value and Python type (a bool must be a bool, not 0/1)."""
    got = tuple(got)
    check(f"{what}: columns", len(got), len(want))
    for col, g, w in zip(CRUD_COLS, got, want):
        check(f"{what} {col}", g, w)


def check_crud_rows(what, got, want):
    check(f"{what}: ids", [r[0] for r in got], [r[0] for r in want])
    for g, w in zip(got, want):
        check_crud_row(f"{what} id {w[0]}", g, w)


def check_count(what, got, want):
    """count(*) comes back as an int, or as its decimal text on some targets."""
    if isinstance(got, str) and got.strip().isdigit():
        got = int(got)
    check(what, got, want)


def check_version(v):
    if not isinstance(v, str) or "PostgreSQL" not in v:
        raise Mismatch(f"SELECT version(): got {v!r}, want text containing 'PostgreSQL'")


class Base:
    """Cells written once against a small sync connection API:
    conn() -> object with exec(sql, params=()), rows(sql, params=()), close(); SQL uses %s."""
    name = ""

    def __init__(self, args):
        self.a, self.p, self.sqlite = args, "m_" + args.driver, args.dialect == "sqlite"

    def t(self, suffix):
        return f"{self.p}_{suffix}"

    def fresh(self, c, suffix, coltype="text"):
        t = self.t(suffix)
        c.exec(f"DROP TABLE IF EXISTS {t}")
        c.exec(f"CREATE TABLE {t} (id int PRIMARY KEY, v {coltype})")
        return t

    def one(self, c, sql, params=()):
        return c.rows(sql, params)[0][0]

    def cell_connect(self):
        c = self.conn()
        try:
            check("SELECT 1", self.one(c, "SELECT 1"), 1)
            return "SELECT 1 ok" if self.sqlite else self.one(c, "SELECT version()")[:80]
        finally:
            c.close()

    def cell_crud(self):
        """Plain CRUD with %s parameters on SQL that SQLite accepts too."""
        c = self.conn()
        try:
            check_version(self.one(c, "SELECT version()"))
            t = self.t("crud")
            c.exec(f"DROP TABLE IF EXISTS {t}")
            c.exec(f"CREATE TABLE {t} ({CRUD_DDL})")
            cols = ", ".join(CRUD_COLS)
            for r in CRUD_ROWS:
                c.exec(f"INSERT INTO {t} ({cols}) VALUES (%s, %s, %s, %s, %s)", r)
            by_id = f"SELECT {cols} FROM {t} WHERE id = %s"
            got = c.rows(by_id, (1,))
            check("rows with id 1", len(got), 1)
            check_crud_row("id 1", got[0], CRUD_ROWS[0])
            n = c.exec(f"UPDATE {t} SET score = %s, active = %s WHERE id = %s", (CRUD_SCORE, CRUD_ACTIVE, 2))
            check("UPDATE row count", n, 1)
            got = c.rows(by_id, (2,))
            check("rows with id 2", len(got), 1)
            check_crud_row("id 2 after UPDATE", got[0], CRUD_AFTER[1])
            n = c.exec(f"DELETE FROM {t} WHERE id = %s", (3,))
            check("DELETE row count", n, 1)
            check_count("SELECT count(*)", self.one(c, f"SELECT count(*) FROM {t}"), 2)
            check_crud_rows("ORDER BY id", c.rows(f"SELECT {cols} FROM {t} ORDER BY id"), CRUD_AFTER)
            return "version() ok; 3 inserts, select/update/delete by parameter, Python types as sent"
        finally:
            c.close()

    # ---- type_* cells ----
    def __getattr__(self, name):
        if name.startswith("cell_type_") and name[10:] in TYPES:
            key = name[10:]
            f = lambda: self.type_cell(key)  # noqa: E731
            f.__name__ = name
            return f
        raise AttributeError(name)

    def type_cell(self, key):
        sqltype, values, lit, lit_want = TYPES[key]
        sqltype, lit = sqltype.replace("{p}", self.p), lit.replace("{p}", self.p)
        f4 = key == "float4"
        c = self.conn()
        try:
            t = self.t(key)
            c.exec(f"DROP TABLE IF EXISTS {t}")
            if key == "enum":
                c.exec(f"DROP TYPE IF EXISTS {sqltype}")
                c.exec(f"CREATE TYPE {sqltype} AS ENUM ('sad', 'ok', 'happy')")
            c.exec(f"CREATE TABLE {t} (id int PRIMARY KEY, v {sqltype})")
            want = list(enumerate(values + [None], 1))
            self.insert_typed(c, key, t, want)
            if key == "interval":
                for n, (sql, v) in enumerate(IV_LITERALS, 50):
                    c.exec(f"INSERT INTO {t} VALUES ({n}, {sql})")
                    want.append((n, v))
            for i, v in want:
                check(f"id {i}", self.select_one(c, key, t, i), v, f4)
            for mode, rows in self.select_all(c, key, t):
                check(f"{mode} ids", [r[0] for r in rows], [i for i, _ in want])
                for (i, got), (_, v) in zip(rows, want):
                    check(f"{mode} id {i}", got, v, f4)
            check(lit, self.literal(c, key, lit), lit_want, f4)
            return f"{len(want)} rows + literal"
        finally:
            c.close()

    def wrap(self, key, v):
        return v

    def insert_typed(self, c, key, t, rows):
        for i, v in rows:
            c.exec(f"INSERT INTO {t} (id, v) VALUES (%s, %s)", (i, self.wrap(key, v)))

    def select_one(self, c, key, t, i):
        return self.one(c, f"SELECT v FROM {t} WHERE id = %s", (i,))

    def select_all(self, c, key, t):
        return [("all", c.rows(f"SELECT id, v FROM {t} ORDER BY id"))]

    def literal(self, c, key, sql):
        return self.one(c, sql)

    # ---- parameters ----
    def check_params(self, row):
        for n, (g, w) in enumerate(zip(row, PARAMS)):
            check(f"param {n + 1}", g, w)
        return f"{len(PARAMS)} params round-tripped"

    def cell_param_text(self):
        c = self.conn()
        try:
            return self.check_params(c.rows(PARAM_SQL.format("%s"), PARAMS)[0])
        finally:
            c.close()

    def cell_param_binary(self):
        raise NA(f"{self.name} has no binary parameters")

    # ---- transactions: plain SQL by default ----
    def ids(self, c, t):
        return [r[0] for r in c.rows(f"SELECT id FROM {t} ORDER BY id")]

    def cell_rollback(self):
        c = self.conn()
        try:
            t = self.fresh(c, "rb")
            c.exec("BEGIN")
            c.exec(f"INSERT INTO {t} VALUES (1, 'a')")
            c.exec("ROLLBACK")
            check("ids after rollback", self.ids(c, t), [])
        finally:
            c.close()

    def cell_savepoint_rollback(self):
        c = self.conn()
        try:
            t = self.fresh(c, "sp")
            c.exec("BEGIN")
            c.exec(f"INSERT INTO {t} VALUES (1, 'a')")
            c.exec("SAVEPOINT s")
            try:
                c.exec(f"INSERT INTO {t} VALUES (1, 'dup')")
                raise Mismatch("duplicate insert did not fail")
            except Mismatch:
                raise
            except Exception:
                pass
            c.exec("ROLLBACK TO SAVEPOINT s")
            c.exec(f"INSERT INTO {t} VALUES (2, 'b')")
            c.exec("COMMIT")
            check("ids", self.ids(c, t), [1, 2])
        finally:
            c.close()

    def cell_savepoint_release(self):
        c = self.conn()
        try:
            t = self.fresh(c, "sr")
            for sql in ["BEGIN", f"INSERT INTO {t} VALUES (1, 'a')", "SAVEPOINT s",
                        f"INSERT INTO {t} VALUES (2, 'b')", "RELEASE SAVEPOINT s", "COMMIT"]:
                c.exec(sql)
            check("ids", self.ids(c, t), [1, 2])
        finally:
            c.close()

    # ---- errors ----
    def check_dup(self, e, t):
        f = self.err_fields(e)
        want = {"sqlstate": "23505", "constraint": f"{t}_pkey", "table": t}
        bad = [f"{k}={f.get(k)!r} want {v!r}" for k, v in want.items() if f.get(k) != v]
        if "already exists" not in (f.get("detail") or ""):
            bad.append(f"detail={f.get('detail')!r} lacks 'already exists'")
        if bad:
            raise Mismatch("; ".join(bad))
        return f"23505 {f['constraint']}: {f['detail']}"

    def cell_duplicate_key(self):
        c = self.conn()
        try:
            t = self.fresh(c, "dup")
            c.exec(f"INSERT INTO {t} VALUES (1, 'a')")
            try:
                c.exec(f"INSERT INTO {t} VALUES (1, 'b')")
            except Exception as e:  # noqa: BLE001
                return self.check_dup(e, t)
            raise Mismatch("duplicate insert did not fail")
        finally:
            c.close()

    # ---- bulk ----
    def fill_big(self, c):
        t = self.fresh(c, "big", "int")
        if self.sqlite:
            c.exec(f"WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 100000) "
                   f"INSERT INTO {t} SELECT i, i FROM s")
        else:
            c.exec(f"INSERT INTO {t} SELECT i, i FROM generate_series(1, 100000) i")
        return t

    def check_big(self, ids, sizes, first=None):
        check("count", len(ids), 100000)
        check("sum(id)", sum(ids), 100000 * 100001 // 2)
        check_pages(sizes, 100000, 1000, first)
        return f"{len(sizes)} pages"

    def cell_executemany(self):
        c = self.conn()
        try:
            t = self.fresh(c, "many")
            self.executemany(c, f"INSERT INTO {t} (id, v) VALUES (%s, %s)",
                             [(i, f"v{i}") for i in range(1, 1001)])
            check("count, sum", tuple(c.rows(f"SELECT count(*), sum(id) FROM {t}")[0]), (1000, 500500))
        finally:
            c.close()

    def copy_check(self, c, t, rows_out):
        check_rows("COPY TO", rows_out, COPY_ROWS)
        check_rows("SELECT", c.rows(f"SELECT id, v FROM {t} ORDER BY id"), COPY_ROWS)
        return f"{len(COPY_ROWS)} rows"

    def cell_prepared_reuse(self):
        c = self.conn()
        try:
            for i in range(20):
                got = tuple(self.prepared_exec(c, PREP_SQL, (i, f"s{i}")))
                check(f"run {i}", got, (i * 2, f"s{i}x"))
            return "20 runs"
        finally:
            c.close()

    def pool_check(self, results):
        for i, (v, conn) in results:
            check(f"query {i}", v, i + 1)
        pids = {conn for _, (_, conn) in results}
        if len(results) != 30 or len(pids) > 3:
            raise Mismatch(f"{len(results)} results over {len(pids)} connections (want 30 over <= 3)")
        return f"30 queries over {len(pids)} connections"

    def timed_close(self, close):
        t0 = time.monotonic()
        th = threading.Thread(target=close, daemon=True)
        th.start()
        th.join(2.0)
        if th.is_alive():
            raise Mismatch("close() did not return within 2 s")
        return f"closed in {time.monotonic() - t0:.3f} s"

    def cell_close(self):
        c = self.conn()
        check("SELECT 1", self.one(c, "SELECT 1"), 1)
        return self.timed_close(c.close)

    def cancel_check(self, e, elapsed, c):
        state = self.err_fields(e).get("sqlstate")
        if state != "57014":
            raise Mismatch(f"got {type(e).__name__} sqlstate {state!r}: {e} (want 57014)")
        if elapsed > 3:
            raise Mismatch(f"cancel took {elapsed:.1f} s")
        check("SELECT 1 after cancel", self.one(c, "SELECT 1"), 1)
        return f"57014 after {elapsed:.2f} s"


