"""psycopg (3) and psycopg2 cells for pg_matrix.py."""
import io
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from matrix_common import NA, DbapiConn, Mismatch, check
from pg_common import (COPY_ROWS, PARAM_SQL, PARAMS, POOL_SQL, Base, copy_binary_decode,
                       copy_binary_encode, copy_text_decode, copy_text_encode)


class Psycopg(Base):
    name = "psycopg"

    def __init__(self, args):
        super().__init__(args)
        import psycopg
        self.pg = psycopg
        self.kw = dict(host=args.host, port=args.port, user=args.user, password=args.password,
                       dbname=args.dbname, connect_timeout=10)

    def conn(self):
        return DbapiConn(self.pg.connect(autocommit=True, **self.kw))

    def wrap(self, key, v):
        from psycopg.types.json import Json, Jsonb
        return {"json": Json, "jsonb": Jsonb}.get(key, lambda x: x)(v) if v is not None else v

    def select_all(self, c, key, t):
        out = super().select_all(c, key, t)
        if key != "enum":  # an unregistered enum has no binary loader: it comes back as bytes
            with c.raw.cursor(binary=True) as cur:
                out.append(("binary", cur.execute(f"SELECT id, v FROM {t} ORDER BY id").fetchall()))
        return out

    def err_fields(self, e):
        d = getattr(e, "diag", None)
        return dict(sqlstate=getattr(e, "sqlstate", None), constraint=d and d.constraint_name,
                    table=d and d.table_name, detail=d and d.message_detail)

    def cell_param_text(self):
        c = self.conn()
        try:
            return self.check_params(c.rows(PARAM_SQL.format("%t"), PARAMS)[0])
        finally:
            c.close()

    def cell_param_binary(self):
        with self.pg.connect(autocommit=True, **self.kw) as raw:
            row = raw.cursor().execute(PARAM_SQL.format("%b"), PARAMS, binary=True).fetchone()
            return self.check_params(row) + " (binary in and out)"

    def cell_rollback(self):
        c = self.conn()
        try:
            t = self.fresh(c, "rb")
            with c.raw.transaction():
                c.exec(f"INSERT INTO {t} VALUES (1, 'a')")
                raise self.pg.Rollback()
            check("ids after rollback", self.ids(c, t), [])
        finally:
            c.close()

    def cell_savepoint_rollback(self):
        c = self.conn()
        try:
            t = self.fresh(c, "sp")
            with c.raw.transaction():
                c.exec(f"INSERT INTO {t} VALUES (1, 'a')")
                try:
                    with c.raw.transaction():
                        c.exec(f"INSERT INTO {t} VALUES (1, 'dup')")
                    raise Mismatch("duplicate insert did not fail")
                except self.pg.errors.UniqueViolation:
                    pass
                c.exec(f"INSERT INTO {t} VALUES (2, 'b')")
            check("ids", self.ids(c, t), [1, 2])
        finally:
            c.close()

    def cell_savepoint_release(self):
        c = self.conn()
        try:
            t = self.fresh(c, "sr")
            with c.raw.transaction():
                c.exec(f"INSERT INTO {t} VALUES (1, 'a')")
                with c.raw.transaction():
                    c.exec(f"INSERT INTO {t} VALUES (2, 'b')")
            check("ids", self.ids(c, t), [1, 2])
        finally:
            c.close()

    def cell_cursor_100k(self):
        c = self.conn()
        try:
            t = self.fill_big(c)
            ids, sizes = [], []
            with c.raw.transaction(), c.raw.cursor(name=f"{self.p}_cur") as cur:
                cur.itersize = 1000
                cur.execute(f"SELECT id FROM {t} ORDER BY id")
                while page := cur.fetchmany(1000):
                    sizes.append(len(page))
                    ids += [r[0] for r in page]
            return self.check_big(ids, sizes)
        finally:
            c.close()

    def executemany(self, c, sql, rows):
        with c.raw.cursor() as cur:
            cur.executemany(sql, rows)

    def cell_copy_text(self):
        c = self.conn()
        try:
            t = self.fresh(c, "copyt")
            with c.raw.cursor() as cur:
                with cur.copy(f"COPY {t} (id, v) FROM STDIN") as cp:
                    for r in COPY_ROWS:
                        cp.write_row(r)
                with cur.copy(f"COPY (SELECT id, v FROM {t} ORDER BY id) TO STDOUT") as cp:
                    out = b"".join(bytes(b) for b in cp)
            return self.copy_check(c, t, copy_text_decode(out))
        finally:
            c.close()

    def cell_copy_binary(self):
        c = self.conn()
        try:
            t = self.fresh(c, "copyb")
            with c.raw.cursor() as cur:
                with cur.copy(f"COPY {t} (id, v) FROM STDIN (FORMAT BINARY)") as cp:
                    cp.set_types(["int4", "text"])
                    for r in COPY_ROWS:
                        cp.write_row(r)
                with cur.copy(f"COPY (SELECT id, v FROM {t} ORDER BY id) TO STDOUT (FORMAT BINARY)") as cp:
                    cp.set_types(["int4", "text"])
                    out = list(cp.rows())
            return self.copy_check(c, t, out)
        finally:
            c.close()

    def prepared_exec(self, c, sql, params):
        return c.raw.execute(sql, params, prepare=True).fetchone()

    def cell_pool_reuse(self):
        try:
            from psycopg_pool import ConnectionPool
        except ImportError:
            raise NA("psycopg_pool is not installed")
        conninfo = self.pg.conninfo.make_conninfo(**self.kw)
        pool = ConnectionPool(conninfo, min_size=3, max_size=3, kwargs={"autocommit": True}, open=True)

        def q(i):
            with pool.connection() as raw:
                return i, (raw.execute(POOL_SQL, (i,)).fetchone()[0], id(raw))
        with ThreadPoolExecutor(6) as ex:
            results = list(ex.map(q, range(30)))
        pool.close(timeout=5)
        return self.pool_check(results)

    def cell_cancel(self):
        c = self.conn()
        try:
            threading.Timer(0.5, c.raw.cancel).start()
            t0 = time.monotonic()
            try:
                c.exec("SELECT pg_sleep(10)")
                raise Mismatch("pg_sleep(10) was not cancelled")
            except self.pg.Error as e:
                return self.cancel_check(e, time.monotonic() - t0, c)
        finally:
            c.close()


class Psycopg2(Psycopg):
    name = "psycopg2"

    def __init__(self, args):
        Base.__init__(self, args)
        import psycopg2
        import psycopg2.extras
        import psycopg2.pool
        psycopg2.extras.register_uuid()
        self.pg, self.Json = psycopg2, psycopg2.extras.Json
        self.kw = dict(host=args.host, port=args.port, user=args.user, password=args.password,
                       dbname=args.dbname, connect_timeout=10)

    def conn(self):
        raw = self.pg.connect(**self.kw)
        raw.autocommit = True
        return DbapiConn(raw)

    def wrap(self, key, v):
        return self.Json(v) if key in ("json", "jsonb") and v is not None else v

    def select_all(self, c, key, t):
        return Base.select_all(self, c, key, t)

    def err_fields(self, e):
        d = getattr(e, "diag", None)
        return dict(sqlstate=getattr(e, "pgcode", None), constraint=d and d.constraint_name,
                    table=d and d.table_name, detail=d and d.message_detail)

    cell_param_text = Base.cell_param_text
    cell_param_binary = Base.cell_param_binary
    cell_rollback = Base.cell_rollback
    cell_savepoint_rollback = Base.cell_savepoint_rollback
    cell_savepoint_release = Base.cell_savepoint_release

    def cell_cursor_100k(self):
        c = self.conn()
        try:
            t = self.fill_big(c)
            c.raw.autocommit = False  # a named cursor lives in a transaction
            ids, sizes = [], []
            with c.raw.cursor(name=f"{self.p}_cur") as cur:
                cur.itersize = 1000
                cur.execute(f"SELECT id FROM {t} ORDER BY id")
                while page := cur.fetchmany(1000):
                    sizes.append(len(page))
                    ids += [r[0] for r in page]
            c.raw.rollback()
            return self.check_big(ids, sizes)
        finally:
            c.close()

    def executemany(self, c, sql, rows):
        c.raw.autocommit = False
        with c.raw.cursor() as cur:
            cur.executemany(sql, rows)
        c.raw.commit()
        c.raw.autocommit = True

    def copy_cell(self, suffix, fmt, encode, decode):
        c = self.conn()
        try:
            t = self.fresh(c, suffix)
            with c.raw.cursor() as cur:
                cur.copy_expert(f"COPY {t} (id, v) FROM STDIN{fmt}", io.BytesIO(encode(COPY_ROWS)))
                out = io.BytesIO()
                cur.copy_expert(f"COPY (SELECT id, v FROM {t} ORDER BY id) TO STDOUT{fmt}", out)
            return self.copy_check(c, t, decode(out.getvalue()))
        finally:
            c.close()

    def cell_copy_text(self):
        return self.copy_cell("copyt", "", copy_text_encode, copy_text_decode)

    def cell_copy_binary(self):
        return self.copy_cell("copyb", " (FORMAT BINARY)", copy_binary_encode,
                              copy_binary_decode) + " (format encoded by this script)"

    def prepared_exec(self, c, sql, params):
        return c.rows(sql, params)[0]

    def cell_pool_reuse(self):
        pool = self.pg.pool.ThreadedConnectionPool(3, 3, **self.kw)

        def q(i):
            raw = pool.getconn()
            try:
                with raw.cursor() as cur:
                    cur.execute(POOL_SQL, (i,))
                    row = cur.fetchone()
                raw.commit()
                return i, (row[0], id(raw))
            finally:
                pool.putconn(raw)
        with ThreadPoolExecutor(3) as ex:
            results = list(ex.map(q, range(30)))
        pool.closeall()
        return self.pool_check(results)
