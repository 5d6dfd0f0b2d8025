#!/usr/bin/env python3
"""MySQL/MariaDB driver matrix: one JSON line per cell on stdout (see drivers/README.md).

python mysql_matrix.py --driver pymysql|mysql-connector --host H --port P
                       --user U --password W --dbname D
"""
import datetime as dt
import json
import os
import queue
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

from matrix_common import NA, DbapiConn, Mismatch, check, check_pages, parse_args, run_matrix

CELLS = """connect type_tinyint type_int type_bigint type_decimal type_float type_double type_bool
type_varchar type_blob type_date type_time type_datetime type_timestamp type_json type_enum
param_text param_binary rollback savepoint_rollback savepoint_release duplicate_key cursor_100k
executemany load_data_local prepared_reuse pool_reuse cancel close""".split()

TD = dt.timedelta
BLOB = bytes(range(256))
JSON_VALUES = [{"a": 1, "b": [1, 2, {"c": None, "d": "é ✓"}]}, [1, "two", [3.5, {"four": True}]], {}]

# key -> (SQL type, values sent, values expected back (None: the same), literal select, its value).
# Expected values are what both drivers return on a direct MariaDB 10.11 server: BOOLEAN is an
# int, TIME a timedelta, JSON a str (compared after json.loads).  NULL is always one more row.
TYPES = {
    "tinyint": ("TINYINT", [-128, 0, 127], None, "SELECT 127", 127),
    "int": ("INT", [-2147483648, 0, 2147483647], None, "SELECT -2147483648", -2147483648),
    "bigint": ("BIGINT", [-2**63, 0, 2**63 - 1], None, "SELECT 9223372036854775807", 2**63 - 1),
    "decimal": ("DECIMAL(12,2)", [Decimal("-9999999999.99"), Decimal("0.00"), Decimal("1.50"),
                                  Decimal("1234567890.12")], None,
                "SELECT CAST(1.5 AS DECIMAL(12,2))", Decimal("1.50")),
    "float": ("FLOAT", [0.1, -1.5, 3.4e38], None, "SELECT CAST(1.5 AS FLOAT)", 1.5),
    "double": ("DOUBLE", [0.1, 1e300, -2.5e-300], None, "SELECT 1e300", 1e300),
    "bool": ("BOOLEAN", [True, False], [1, 0], "SELECT TRUE", 1),
    "varchar": ("VARCHAR(2000)", ["", "héllo ✓", "tab\tnl\n bs\\ \"q\" 's' 😀", "x" * 1000], None,
                "SELECT 'héllo ✓'", "héllo ✓"),
    "blob": ("BLOB", [BLOB, b"", b"\x00", b"'\\\"%s?"], None, "SELECT X'00ff'", b"\x00\xff"),
    "date": ("DATE", [dt.date(1, 1, 1), dt.date(9999, 12, 31), dt.date(2024, 2, 29)], None,
             "SELECT DATE '9999-12-31'", dt.date(9999, 12, 31)),
    "time": ("TIME(6)", [TD(hours=12, minutes=34, seconds=56, microseconds=789012), TD(0),
                         TD(hours=838, minutes=59, seconds=59), -TD(hours=1, minutes=2, seconds=3),
                         dt.time(23, 59, 59, 999999)],
             [TD(hours=12, minutes=34, seconds=56, microseconds=789012), TD(0),
              TD(hours=838, minutes=59, seconds=59), -TD(hours=1, minutes=2, seconds=3),
              TD(hours=23, minutes=59, seconds=59, microseconds=999999)],
             "SELECT TIME '12:34:56.789012'", TD(hours=12, minutes=34, seconds=56, microseconds=789012)),
    "datetime": ("DATETIME(6)", [dt.datetime(2024, 2, 29, 12, 34, 56, 789012), dt.datetime(1000, 1, 1),
                                 dt.datetime(9999, 12, 31, 23, 59, 59, 999999)], None,
                 "SELECT TIMESTAMP '2024-02-29 12:34:56.789012'",
                 dt.datetime(2024, 2, 29, 12, 34, 56, 789012)),
    "timestamp": ("TIMESTAMP(6) NULL", [dt.datetime(2024, 2, 29, 12, 34, 56, 789012),
                                        dt.datetime(1970, 1, 2), dt.datetime(2038, 1, 18, 1, 2, 3, 4)],
                  None, "SELECT CAST('2038-01-18 01:02:03.000004' AS DATETIME(6))",
                  dt.datetime(2038, 1, 18, 1, 2, 3, 4)),
    "json": ("JSON", [json.dumps(v) for v in JSON_VALUES], JSON_VALUES,
             "SELECT JSON_OBJECT('a', JSON_ARRAY(1, NULL))", {"a": [1, None]}),
    "enum": ("ENUM('sad','ok','happy')", ["sad", "happy"], None, "SELECT 'happy'", "happy"),
}

PARAM_COLS = "i BIGINT, s VARCHAR(100), n DECIMAL(20,4), d DATE, ts DATETIME(6), b BLOB"
PARAMS = [-42, "héllo ✓ 😀", Decimal("-12345678.1234"), dt.date(2024, 2, 29),
          dt.datetime(2024, 2, 29, 12, 34, 56, 789012), BLOB]
DIGITS = "(SELECT 0 i UNION ALL " + " UNION ALL ".join(f"SELECT {n}" for n in range(1, 10)) + ")"


def normalize(key, v):
    if key == "json" and isinstance(v, (str, bytes, bytearray)):
        return json.loads(v)
    if key == "blob" and isinstance(v, bytearray):
        return bytes(v)
    return v


class Base:
    """Cells written once against conn() -> exec(sql, params), rows(sql, params), close()."""
    name = ""

    def __init__(self, args):
        self.a, self.p = args, "m_" + args.driver.replace("-", "_")

    def t(self, suffix):
        return f"{self.p}_{suffix}"

    def fresh(self, c, suffix, cols="v VARCHAR(100)"):
        t = self.t(suffix)
        c.exec(f"DROP TABLE IF EXISTS {t}")
        c.exec(f"CREATE TABLE {t} (id INT PRIMARY KEY, {cols}) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4")
        return t

    def one(self, c, sql, params=()):
        return c.rows(sql, params)[0][0]

    def ids(self, c, t):
        return [r[0] for r in c.rows(f"SELECT id FROM {t} ORDER BY id")]

    def cell_connect(self):
        c = self.conn()
        try:
            check("SELECT 1", self.one(c, "SELECT 1"), 1)
            return f"{self.one(c, 'SELECT VERSION()')} via {type(c.raw).__name__}"
        finally:
            c.close()

    def __getattr__(self, name):
        if name.startswith("cell_type_") and name[10:] in TYPES:
            f = lambda: self.type_cell(name[10:])  # noqa: E731
            f.__name__ = name
            return f
        raise AttributeError(name)

    def type_cell(self, key):
        sqltype, values, expect, lit, lit_want = TYPES[key]
        c = self.conn()
        try:
            t = self.fresh(c, key, f"v {sqltype}")
            for i, v in enumerate(values + [None], 1):
                c.exec(f"INSERT INTO {t} (id, v) VALUES (%s, %s)", (i, v))
            want = list(enumerate((expect or values) + [None], 1))
            if key == "blob":  # the same bytes written by hand as a hex literal in the query text
                c.exec(f"INSERT INTO {t} (id, v) VALUES (50, X'{BLOB.hex()}')")
                want.append((50, BLOB))
            f4 = key == "float"
            for mode, q in self.readers(c):
                for i, v in want:
                    got = normalize(key, q(f"SELECT v FROM {t} WHERE id = %s", (i,))[0][0])
                    self.check_value(f"{mode} id {i}", key, got, self.adjust(mode, v), f4)
                rows = q(f"SELECT id, v FROM {t} ORDER BY id", ())
                check(f"{mode} ids", [r[0] for r in rows], [i for i, _ in want])
                for (i, got), (_, v) in zip(rows, want):
                    self.check_value(f"{mode} all id {i}", key, normalize(key, got), self.adjust(mode, v), f4)
                self.check_value(f"{mode} {lit}", key, normalize(key, q(lit, ())[0][0]), lit_want, f4)
            return f"{len(want)} rows + literal"
        finally:
            c.close()

    def check_value(self, what, key, got, want, f4):
        check(what, got, want, f4)
        if key == "decimal" and got is not None and got.as_tuple().exponent != -2:
            raise Mismatch(f"{what}: {got!r} does not have 2 decimal places")

    def readers(self, c):
        return [("text", c.rows)]

    def adjust(self, mode, want):
        return want

    def param_cell(self, suffix, make_run):
        c = self.conn()
        try:
            t = self.fresh(c, suffix, PARAM_COLS)
            run = make_run(c)
            run(f"INSERT INTO {t} VALUES (%s, %s, %s, %s, %s, %s, %s)", [1] + PARAMS)
            row = run(f"SELECT i, s, n, d, ts, b FROM {t} WHERE id = %s AND s = %s", [1, PARAMS[1]])[0]
            for n, (g, w) in enumerate(zip(row, PARAMS)):
                check(f"param {n + 1}", bytes(g) if isinstance(g, bytearray) else g, w)
            return f"{len(PARAMS)} params round-tripped"
        finally:
            c.close()

    def cell_param_text(self):
        return self.param_cell("pt", lambda c: c.rows)

    def cell_param_binary(self):
        raise NA(f"{self.name} has no server-side prepared statements")

    def cell_rollback(self):
        c = self.conn()
        try:
            t = self.fresh(c, "rb")
            self.begin(c)
            c.exec(f"INSERT INTO {t} VALUES (1, 'a')")
            c.raw.rollback()
            check("ids after rollback", self.ids(c, t), [])
            return "row absent after rollback()"
        finally:
            c.close()

    def cell_savepoint_rollback(self):
        c = self.conn()
        try:
            t = self.fresh(c, "sp")
            self.begin(c)
            c.exec(f"INSERT INTO {t} VALUES (1, 'a')")
            c.exec("SAVEPOINT s")
            try:
                c.exec(f"INSERT INTO {t} VALUES (1, 'dup')")
                raise Mismatch("duplicate insert did not fail")
            except self.db.IntegrityError:
                pass
            c.exec("ROLLBACK TO SAVEPOINT s")
            c.exec(f"INSERT INTO {t} VALUES (2, 'b')")
            c.raw.commit()
            check("ids", self.ids(c, t), [1, 2])
            return "a and b present"
        finally:
            c.close()

    def cell_savepoint_release(self):
        c = self.conn()
        try:
            t = self.fresh(c, "sr")
            self.begin(c)
            for sql in [f"INSERT INTO {t} VALUES (1, 'a')", "SAVEPOINT s",
                        f"INSERT INTO {t} VALUES (2, 'b')", "RELEASE SAVEPOINT s"]:
                c.exec(sql)
            c.raw.commit()
            check("ids", self.ids(c, t), [1, 2])
            return "a and b present"
        finally:
            c.close()

    def cell_duplicate_key(self):
        c = self.conn()
        try:
            t = self.fresh(c, "dup")
            c.exec(f"INSERT INTO {t} VALUES (1, 'a')")
            try:
                c.exec(f"INSERT INTO {t} VALUES (1, 'b')")
                raise Mismatch("duplicate insert did not fail")
            except self.db.IntegrityError as e:
                errno, state, msg = self.err_fields(e)
            bad = [] if errno == 1062 else [f"errno {errno} want 1062"]
            if state != "23000":
                bad.append(f"sqlstate {state!r} want 23000")
            if "Duplicate entry '1'" not in msg or "PRIMARY" not in msg:
                bad.append(f"message {msg!r} lacks the entry or key name")
            if bad:
                raise Mismatch("; ".join(bad))
            return f"{errno} {state}: {msg}"
        finally:
            c.close()

    def cell_cursor_100k(self):
        c = self.conn()
        try:
            t = self.fresh(c, "big", "v INT")
            n = "a.i + 10 * b.i + 100 * c.i + 1000 * d.i + 10000 * e.i + 1"
            c.exec(f"INSERT INTO {t} SELECT {n}, {n} FROM {DIGITS} a, {DIGITS} b, {DIGITS} c, "
                   f"{DIGITS} d, {DIGITS} e")
            ids, sizes = self.stream(f"SELECT id FROM {t} ORDER BY id")
            check("count", len(ids), 100000)
            check("sum(id)", sum(ids), 100000 * 100001 // 2)
            check_pages(sizes, 100000, 1000)
            return f"{len(sizes)} pages, unbuffered"
        finally:
            c.close()

    def page_loop(self, cur, sql):
        cur.execute(sql)
        ids, sizes = [], []
        while page := cur.fetchmany(1000):
            sizes.append(len(page))
            ids += [int(r[0]) for r in page]
        return ids, sizes

    def cell_executemany(self):
        c = self.conn()
        try:
            t = self.fresh(c, "many")
            cur = c.raw.cursor()
            cur.executemany(f"INSERT INTO {t} (id, v) VALUES (%s, %s)",
                            [(i, f"v{i}") for i in range(1, 1001)])
            cur.close()
            got = tuple(int(x) for x in c.rows(f"SELECT COUNT(*), SUM(id) FROM {t}")[0])
            check("count, sum", got, (1000, 500500))
            return "1000 rows"
        finally:
            c.close()

    def cell_load_data_local(self):
        with tempfile.NamedTemporaryFile("w", suffix=".tsv", delete=False, encoding="utf-8") as f:
            f.write("".join(f"{i}\tv{i} é\n" for i in range(1, 101)))
        c = self.conn(local_infile=True)
        try:
            t = self.fresh(c, "load")
            c.exec(f"LOAD DATA LOCAL INFILE '{f.name}' INTO TABLE {t} CHARACTER SET utf8mb4 (id, v)")
            rows = c.rows(f"SELECT id, v FROM {t} ORDER BY id")
            check("rows", [tuple(r) for r in rows], [(i, f"v{i} é") for i in range(1, 101)])
            return "100 rows loaded"
        finally:
            c.close()
            os.unlink(f.name)

    def cell_prepared_reuse(self):
        c = self.conn()
        try:
            run = self.prepared(c)
            for i in range(20):
                got = tuple(run("SELECT %s * 2, CONCAT(%s, 'x')", (i, f"s{i}")))
                check(f"run {i}", (int(got[0]), got[1]), (i * 2, f"s{i}x"))
            return "20 runs"
        finally:
            c.close()

    def pool_check(self, results):
        for i, (v, cid) in results:
            check(f"query {i}", int(v), i + 1)
        cids = {cid for _, (_, cid) in results}
        if len(results) != 30 or len(cids) > 3:
            raise Mismatch(f"{len(results)} results over {len(cids)} connections (want 30 over <= 3)")
        return f"30 queries over {len(cids)} connections"

    def cell_cancel(self):
        c, killer = self.conn(), self.conn()
        try:
            cid = self.one(c, "SELECT CONNECTION_ID()")
            threading.Timer(0.5, lambda: killer.exec(f"KILL QUERY {cid}")).start()
            t0 = time.monotonic()
            try:
                got = self.one(c, "SELECT SLEEP(10)")
                outcome = f"SLEEP returned {got}"
                if got != 1:
                    raise Mismatch(f"SLEEP(10) returned {got!r}, not interrupted")
            except self.db.Error as e:
                outcome = f"{type(e).__name__} {self.err_fields(e)[0]}"
            elapsed = time.monotonic() - t0
            if elapsed > 3:
                raise Mismatch(f"KILL QUERY took {elapsed:.1f} s ({outcome})")
            check("SELECT 1 after kill", self.one(c, "SELECT 1"), 1)
            return f"{outcome} after {elapsed:.2f} s"
        finally:
            c.close()
            killer.close()

    def cell_close(self):
        c = self.conn()
        check("SELECT 1", self.one(c, "SELECT 1"), 1)
        t0 = time.monotonic()
        th = threading.Thread(target=c.close, daemon=True)
        th.start()
        th.join(2.0)
        if th.is_alive():
            raise Mismatch("close() did not return within 2 s")
        return f"closed in {time.monotonic() - t0:.3f} s"


class Pymysql(Base):
    name = "pymysql"

    def __init__(self, args):
        super().__init__(args)
        import pymysql
        import pymysql.cursors
        self.db = pymysql
        self.kw = dict(host=args.host, port=args.port, user=args.user, password=args.password,
                       database=args.dbname, charset="utf8mb4", connect_timeout=10, read_timeout=25,
                       autocommit=True,
                       init_command="SET time_zone = '+00:00'")

    def conn(self, local_infile=False):
        return DbapiConn(self.db.connect(local_infile=local_infile, **self.kw))

    def begin(self, c):
        c.raw.begin()

    def err_fields(self, e):
        return e.args[0], getattr(e, "sqlstate", None), e.args[1]  # sqlstate: PyMySQL >= 1.2

    def stream(self, sql):
        raw = self.db.connect(cursorclass=self.db.cursors.SSCursor, **self.kw)
        try:
            with raw.cursor() as cur:
                return self.page_loop(cur, sql)
        finally:
            raw.close()

    def prepared(self, c):
        return lambda sql, p: c.rows(sql, p)[0]

    def cell_pool_reuse(self):
        pool = queue.Queue()  # PyMySQL has no pool: three connections handed round by a queue
        for _ in range(3):
            pool.put(self.db.connect(**self.kw))

        def q(i):
            raw = pool.get(timeout=20)
            try:
                with raw.cursor() as cur:
                    # The connection's identity is the id its handshake gave it (through a
                    # proxy a statement's CONNECTION_ID() may be a server thread's).
                    cur.execute("SELECT %s + 1", (i,))
                    return i, (cur.fetchone()[0], raw.thread_id())
            finally:
                pool.put(raw)
        with ThreadPoolExecutor(6) as ex:
            results = list(ex.map(q, range(30)))
        for _ in range(3):
            pool.get().close()
        return self.pool_check(results)


class MysqlConnector(Base):
    name = "mysql-connector"

    def __init__(self, args):
        super().__init__(args)
        import mysql.connector
        import mysql.connector.pooling
        self.db = mysql.connector
        self.kw = dict(host=args.host, port=args.port, user=args.user, password=args.password,
                       database=args.dbname, charset="utf8mb4", connection_timeout=10, autocommit=True,
                       time_zone="+00:00")

    def conn(self, local_infile=False):
        return DbapiConn(self.db.connect(allow_local_infile=local_infile, **self.kw))

    def begin(self, c):
        c.raw.start_transaction()

    def err_fields(self, e):
        return e.errno, e.sqlstate, e.msg

    def prepared(self, c):
        cur = c.raw.cursor(prepared=True)

        def run(sql, params):
            cur.execute(sql, tuple(params))
            return cur.fetchall() if cur.description else None
        return run

    def readers(self, c):
        run = self.prepared(c)
        return [("text", c.rows), ("prepared", run)]

    def adjust(self, mode, want):
        # Driver bug (observed directly, 26.10): the binary-protocol TIME decoder applies the
        # sign only to the days part, so -01:02:03 comes back as +01:02:03.
        if mode == "prepared" and isinstance(want, dt.timedelta) and -TD(days=1) < want < TD(0):
            return -want
        return want

    def cell_param_binary(self):
        return self.param_cell("pb", self.prepared) + " (server-side prepared)"

    def stream(self, sql):
        raw = self.db.connect(**self.kw)
        try:
            cur = raw.cursor(buffered=False, raw=True)
            out = self.page_loop(cur, sql)
            cur.close()
            return out
        finally:
            raw.close()

    def cell_prepared_reuse(self):
        c = self.conn()
        try:
            run = self.prepared(c)
            for i in range(20):
                got = run("SELECT ? * 2, CONCAT(?, 'x')", (i, f"s{i}"))[0]
                check(f"run {i}", (int(got[0]), got[1]), (i * 2, f"s{i}x"))
            return "20 runs of one server-side prepared statement"
        finally:
            c.close()

    def cell_pool_reuse(self):
        pool = self.db.pooling.MySQLConnectionPool(pool_name=f"{self.p}_{time.time_ns()}",
                                                   pool_size=3, **self.kw)

        def q(i):
            raw = pool.get_connection()
            try:
                cur = raw.cursor()
                cur.execute("SELECT %s + 1", (i,))
                row = (cur.fetchone()[0], raw.connection_id)
                cur.close()
                return i, row
            finally:
                raw.close()  # back to the pool
        with ThreadPoolExecutor(3) as ex:  # the pool raises PoolError when exhausted
            results = list(ex.map(q, range(30)))
        pool._remove_connections()
        return self.pool_check(results)


DRIVERS = {"pymysql": Pymysql, "mysql-connector": MysqlConnector}

if __name__ == "__main__":
    args = parse_args(DRIVERS, with_dialect=False)
    run_matrix(args.driver, DRIVERS[args.driver](args), CELLS)
