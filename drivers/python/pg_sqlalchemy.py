"""SQLAlchemy 2 (over psycopg 3) cells for pg_matrix.py."""
from concurrent.futures import ThreadPoolExecutor

from matrix_common import NA, Mismatch, check
from pg_common import (CRUD_ACTIVE, CRUD_AFTER, CRUD_COLS, CRUD_DDL, CRUD_ROWS, CRUD_SCORE, PARAMS, Base,
                       check_count, check_crud_row, check_crud_rows)
from pg_psycopg import Psycopg


class SaConn:
    def __init__(self, engine):
        self.engine = engine
        self.raw = engine.connect().execution_options(isolation_level="AUTOCOMMIT")

    def exec(self, sql, params=()):
        return self.raw.exec_driver_sql(sql, tuple(params)).rowcount

    def rows(self, sql, params=()):
        return [tuple(r) for r in self.raw.exec_driver_sql(sql, tuple(params))]

    def close(self):
        self.raw.close()
        self.engine.dispose()


class Sqlalchemy(Base):
    """SQLAlchemy 2 over psycopg 3: typed Core tables for the type cells, the ORM elsewhere."""
    name = "sqlalchemy"

    def __init__(self, args):
        super().__init__(args)
        import sqlalchemy as sa
        from sqlalchemy.dialects import postgresql as pg
        from sqlalchemy import orm
        self.sa, self.orm = sa, orm
        self.url = sa.URL.create("postgresql+psycopg", username=args.user, password=args.password,
                                 host=args.host, port=args.port, database=args.dbname)
        self.types = dict(
            int2=sa.SmallInteger, int4=sa.Integer, int8=sa.BigInteger, numeric=sa.Numeric,
            float4=sa.REAL, float8=sa.Double, bool=sa.Boolean, text=sa.Text, bytea=sa.LargeBinary,
            date=sa.Date, time=sa.Time, timestamp=sa.DateTime, timestamptz=sa.DateTime(timezone=True),
            interval=pg.INTERVAL, uuid=sa.Uuid, json=pg.JSON(none_as_null=True),
            jsonb=pg.JSONB(none_as_null=True), int_array=pg.ARRAY(sa.Integer),
            text_array=pg.ARRAY(sa.Text),
            enum=pg.ENUM("sad", "ok", "happy", name=f"{self.p}_mood", create_type=False))

    def engine(self, **kw):
        return self.sa.create_engine(self.url, connect_args={"connect_timeout": 10}, **kw)

    def conn(self):
        return SaConn(self.engine())

    def table(self, t, vtype):
        sa = self.sa
        return sa.Table(t, sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True),
                        sa.Column("v", vtype))

    def model(self, t):
        sa, orm = self.sa, self.orm

        class B(orm.DeclarativeBase):
            pass
        return type("Row", (B,), {"__tablename__": t, "id": orm.mapped_column(sa.Integer, primary_key=True),
                                  "v": orm.mapped_column(sa.Text, nullable=True)})

    def crud_model(self, t):
        sa, orm = self.sa, self.orm

        class B(orm.DeclarativeBase):
            pass
        return type("CrudRow", (B,), {
            "__tablename__": t,
            "id": orm.mapped_column(sa.Integer, primary_key=True, autoincrement=False),
            "name": orm.mapped_column(sa.Text, nullable=False),
            "score": orm.mapped_column(sa.Float, nullable=True),
            "active": orm.mapped_column(sa.Boolean, nullable=True),
            "qty": orm.mapped_column(sa.BigInteger, nullable=True)})

    def cell_crud(self):
        """The ORM: a mapped class and Sessions (version() is asked by the dialect at connect)."""
        sa, Session = self.sa, self.orm.Session
        c = self.conn()
        try:
            t = self.t("crud")
            c.exec(f"DROP TABLE IF EXISTS {t}")
            c.exec(f"CREATE TABLE {t} ({CRUD_DDL})")
            M = self.crud_model(t)
            values = lambda o: tuple(getattr(o, col) for col in CRUD_COLS)  # noqa: E731
            with Session(c.engine) as s, s.begin():
                s.add_all([M(**dict(zip(CRUD_COLS, r))) for r in CRUD_ROWS])
            with Session(c.engine) as s:
                check_crud_row("id 1", values(s.execute(sa.select(M).where(M.id == 1)).scalar_one()),
                               CRUD_ROWS[0])
            with Session(c.engine) as s, s.begin():
                res = s.execute(sa.update(M).where(M.id == 2).values(score=CRUD_SCORE, active=CRUD_ACTIVE))
                check("UPDATE row count", res.rowcount, 1)
            with Session(c.engine) as s:
                check_crud_row("id 2 after UPDATE",
                               values(s.execute(sa.select(M).where(M.id == 2)).scalar_one()), CRUD_AFTER[1])
            with Session(c.engine) as s, s.begin():
                res = s.execute(sa.delete(M).where(M.id == 3))
                check("DELETE row count", res.rowcount, 1)
            with Session(c.engine) as s:
                check_count("SELECT count(*)", s.scalar(sa.select(sa.func.count()).select_from(M)), 2)
                rows = [values(o) for o in s.scalars(sa.select(M).order_by(M.id))]
            check_crud_rows("ORDER BY id", rows, CRUD_AFTER)
            return "ORM: add_all 3, select/update/delete by parameter, 2 rows with Python types as sent"
        finally:
            c.close()

    def insert_typed(self, c, key, t, rows):
        c.raw.execute(self.table(t, self.types[key]).insert(), [{"id": i, "v": v} for i, v in rows])

    def select_one(self, c, key, t, i):
        tb = self.table(t, self.types[key])
        return c.raw.execute(self.sa.select(tb.c.v).where(tb.c.id == i)).scalar_one()

    def select_all(self, c, key, t):
        tb = self.table(t, self.types[key])
        return [("all", c.raw.execute(self.sa.select(tb.c.id, tb.c.v).order_by(tb.c.id)).all())]

    def literal(self, c, key, sql):
        stmt = self.sa.text(sql).columns(self.sa.column("v", self.types[key]))
        return c.raw.execute(stmt).scalar_one()

    def err_fields(self, e):
        return Psycopg.err_fields(self, getattr(e, "orig", e))

    def cell_param_text(self):
        c = self.conn()
        try:
            names = "i s n d u b".split()
            sql = ("SELECT CAST(:i AS int4), CAST(:s AS text), CAST(:n AS numeric), CAST(:d AS date), "
                   "CAST(:u AS uuid), CAST(:b AS bytea)")
            row = c.raw.execute(self.sa.text(sql), dict(zip(names, PARAMS))).one()
            return self.check_params(row)
        finally:
            c.close()

    def cell_param_binary(self):
        raise NA("SQLAlchemy's psycopg dialect has no switch for binary parameters")

    def orm_cell(self, suffix, body, want):
        c = self.conn()
        try:
            t = self.fresh(c, suffix)
            M = self.model(t)
            with self.orm.Session(c.engine) as s:
                body(s, M)
            check("ids", self.ids(c, t), want)
        finally:
            c.close()

    def cell_rollback(self):
        def body(s, M):
            s.add(M(id=1, v="a"))
            s.flush()
            s.rollback()
        self.orm_cell("rb", body, [])

    def cell_savepoint_rollback(self):
        def body(s, M):
            with s.begin():
                s.add(M(id=1, v="a"))
                s.flush()
                try:
                    with s.begin_nested():
                        s.execute(self.sa.insert(M.__table__).values(id=1, v="dup"))
                    raise Mismatch("duplicate insert did not fail")
                except self.sa.exc.IntegrityError:
                    pass
                s.add(M(id=2, v="b"))
        self.orm_cell("sp", body, [1, 2])

    def cell_savepoint_release(self):
        def body(s, M):
            with s.begin():
                s.add(M(id=1, v="a"))
                with s.begin_nested():
                    s.add(M(id=2, v="b"))
        self.orm_cell("sr", body, [1, 2])

    def cell_duplicate_key(self):
        c = self.conn()
        try:
            t = self.fresh(c, "dup")
            M = self.model(t)
            with self.orm.Session(c.engine) as s:
                s.add(M(id=1, v="a"))
                s.commit()
            with self.orm.Session(c.engine) as s:
                s.add(M(id=1, v="b"))
                try:
                    s.commit()
                except self.sa.exc.IntegrityError as e:
                    return self.check_dup(e, t)
            raise Mismatch("duplicate insert did not fail")
        finally:
            c.close()

    def cell_cursor_100k(self):
        c = self.conn()
        try:
            t = self.fill_big(c)
            M = self.model(t)
            ids, sizes = [], []
            with self.orm.Session(c.engine) as s:
                res = s.execute(self.sa.select(M.id).order_by(M.id).execution_options(yield_per=1000))
                for part in res.partitions():
                    sizes.append(len(part))
                    ids += [r[0] for r in part]
            return self.check_big(ids, sizes)
        finally:
            c.close()

    def cell_executemany(self):
        c = self.conn()
        try:
            t = self.fresh(c, "many")
            M = self.model(t)
            with self.orm.Session(c.engine) as s, s.begin():
                s.execute(self.sa.insert(M), [{"id": i, "v": f"v{i}"} for i in range(1, 1001)])
            check("count, sum", tuple(c.rows(f"SELECT count(*), sum(id) FROM {t}")[0]), (1000, 500500))
        finally:
            c.close()

    def cell_copy_text(self):
        raise NA("SQLAlchemy has no COPY API")

    def cell_copy_binary(self):
        raise NA("SQLAlchemy has no COPY API")

    def prepared_exec(self, c, sql, params):
        stmt = self.sa.text("SELECT CAST(:a AS int4) * 2, CAST(:b AS text) || 'x'")
        return c.raw.execute(stmt, {"a": params[0], "b": params[1]}).one()

    def cell_pool_reuse(self):
        eng = self.engine(pool_size=3, max_overflow=0, pool_timeout=20)

        def q(i):
            with eng.connect() as k:
                v = k.execute(self.sa.text("SELECT CAST(:i AS int4) + 1"), {"i": i}).scalar_one()
                return i, (v, id(k.connection.dbapi_connection))
        with ThreadPoolExecutor(6) as ex:
            results = list(ex.map(q, range(30)))
        self.timed_close(eng.dispose)
        return self.pool_check(results)

    def cell_cancel(self):
        raise NA("SQLAlchemy has no cancel API")

    def cell_close(self):
        eng = self.engine()
        k = eng.connect()
        check("SELECT 1", k.execute(self.sa.text("SELECT 1")).scalar_one(), 1)
        return self.timed_close(lambda: (k.close(), eng.dispose()))
