"""asyncpg cells for pg_matrix.py: a sync facade runs each cell on its own event loop."""
import asyncio
import io
import json
import re
import time

from matrix_common import NA, Mismatch, check
from pg_common import (COPY_ROWS, PARAM_SQL, PARAMS, Base, copy_binary_decode, copy_text_decode,
                       copy_text_encode)


class AsyncpgConn:
    """Sync facade over one asyncpg connection with its own event loop (one per cell thread)."""

    def __init__(self, drv):
        self.loop = asyncio.new_event_loop()
        self.raw = self.run(drv.connect())

    def run(self, coro, timeout=25):
        return self.loop.run_until_complete(asyncio.wait_for(coro, timeout))

    @staticmethod
    def dollar(sql):
        n = iter(range(1, 100))
        return re.sub(r"%s", lambda m: f"${next(n)}", sql)

    def exec(self, sql, params=()):
        """Runs one statement; returns the row count of its command tag ("UPDATE 1" -> 1), or None."""
        tag = self.run(self.raw.execute(self.dollar(sql), *params)) or ""
        last = tag.split()[-1] if tag.split() else ""
        return int(last) if last.isdigit() else None

    def rows(self, sql, params=()):
        return [tuple(r) for r in self.run(self.raw.fetch(self.dollar(sql), *params))]

    def close(self):
        try:
            self.run(self.raw.close(), 5)
        finally:
            self.loop.close()


class Asyncpg(Base):
    name = "asyncpg"

    def __init__(self, args):
        super().__init__(args)
        import asyncpg
        self.apg = asyncpg
        self.kw = dict(host=args.host, port=args.port, user=args.user, password=args.password,
                       database=args.dbname)

    @staticmethod
    async def setup(conn):
        for t in ("json", "jsonb"):
            await conn.set_type_codec(t, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")

    async def connect(self):
        conn = await self.apg.connect(timeout=10, **self.kw)
        if not self.sqlite:
            await self.setup(conn)
        return conn

    def conn(self):
        return AsyncpgConn(self)

    def err_fields(self, e):
        return dict(sqlstate=getattr(e, "sqlstate", None), constraint=getattr(e, "constraint_name", None),
                    table=getattr(e, "table_name", None), detail=getattr(e, "detail", None))

    def cell_param_text(self):
        raise NA("asyncpg always sends parameters in binary (see param_binary)")

    def cell_param_binary(self):
        c = self.conn()
        try:
            return self.check_params(c.rows(PARAM_SQL.format("%s"), PARAMS)[0]) + " (binary)"
        finally:
            c.close()

    def tx_cell(self, suffix, body, want):
        c = self.conn()
        try:
            t = self.fresh(c, suffix)
            c.run(body(c.raw, t))
            check("ids", self.ids(c, t), want)
        finally:
            c.close()

    def cell_rollback(self):
        async def body(conn, t):
            tx = conn.transaction()
            await tx.start()
            await conn.execute(f"INSERT INTO {t} VALUES (1, 'a')")
            await tx.rollback()
        self.tx_cell("rb", body, [])

    def cell_savepoint_rollback(self):
        async def body(conn, t):
            async with conn.transaction():
                await conn.execute(f"INSERT INTO {t} VALUES (1, 'a')")
                try:
                    async with conn.transaction():
                        await conn.execute(f"INSERT INTO {t} VALUES (1, 'dup')")
                    raise Mismatch("duplicate insert did not fail")
                except self.apg.UniqueViolationError:
                    pass
                await conn.execute(f"INSERT INTO {t} VALUES (2, 'b')")
        self.tx_cell("sp", body, [1, 2])

    def cell_savepoint_release(self):
        async def body(conn, t):
            async with conn.transaction():
                await conn.execute(f"INSERT INTO {t} VALUES (1, 'a')")
                async with conn.transaction():
                    await conn.execute(f"INSERT INTO {t} VALUES (2, 'b')")
        self.tx_cell("sr", body, [1, 2])

    def cell_cursor_100k(self):
        c = self.conn()

        async def read(t):
            ids, sizes = [], []
            async with c.raw.transaction():
                cur = await c.raw.cursor(f"SELECT id FROM {t} ORDER BY id")
                n = 10
                while page := await cur.fetch(n):
                    sizes.append(len(page))
                    ids += [r[0] for r in page]
                    n = 1000
            return ids, sizes
        try:
            t = self.fill_big(c)
            return self.check_big(*c.run(read(t)), first=10)
        finally:
            c.close()

    def executemany(self, c, sql, rows):
        c.run(c.raw.executemany(c.dollar(sql), rows))

    def cell_copy_text(self):
        c = self.conn()
        try:
            t = self.fresh(c, "copyt")
            c.run(c.raw.copy_to_table(t, source=io.BytesIO(copy_text_encode(COPY_ROWS)),
                                      columns=["id", "v"], format="text"))
            out = io.BytesIO()
            c.run(c.raw.copy_from_query(f"SELECT id, v FROM {t} ORDER BY id", output=out, format="text"))
            return self.copy_check(c, t, copy_text_decode(out.getvalue()))
        finally:
            c.close()

    def cell_copy_binary(self):
        c = self.conn()
        try:
            t = self.fresh(c, "copyb")
            c.run(c.raw.copy_records_to_table(t, records=COPY_ROWS, columns=["id", "v"]))
            out = io.BytesIO()
            c.run(c.raw.copy_from_query(f"SELECT id, v FROM {t} ORDER BY id", output=out, format="binary"))
            return self.copy_check(c, t, copy_binary_decode(out.getvalue()))
        finally:
            c.close()

    def prepared_exec(self, c, sql, params):
        if not hasattr(c, "stmt"):
            c.stmt = c.run(c.raw.prepare(c.dollar(sql)))
        return tuple(c.run(c.stmt.fetchrow(*params)))

    def cell_pool_reuse(self):
        async def go():
            pool = await self.apg.create_pool(min_size=3, max_size=3, timeout=10, **self.kw)

            async def q(i):
                async with pool.acquire() as conn:
                    row = await conn.fetchrow("SELECT CAST($1 AS int4) + 1", i)
                    # The pool's own connection object, not the proxied connection wrapper.
                    return i, (row[0], id(conn._con))
            results = await asyncio.gather(*(q(i) for i in range(30)))
            try:
                await asyncio.wait_for(pool.close(), 10)
            except asyncio.TimeoutError:
                raise Mismatch("pool.close() did not return within 10 s")
            return self.pool_check(results)
        loop = asyncio.new_event_loop()
        try:
            return loop.run_until_complete(go())
        finally:
            loop.close()

    def cell_cancel(self):
        c = self.conn()
        try:
            t0 = time.monotonic()
            try:
                c.run(c.raw.fetch("SELECT pg_sleep(10)"), 0.5)
                raise Mismatch("pg_sleep(10) was not cancelled")
            except asyncio.TimeoutError:
                pass
            check("SELECT 1 after cancel", self.one(c, "SELECT 1"), 1)
            elapsed = time.monotonic() - t0
            if elapsed > 3:
                raise Mismatch(f"cancel + SELECT 1 took {elapsed:.1f} s")
            return f"wait_for timeout cancelled the query; SELECT 1 after {elapsed:.2f} s"
        finally:
            c.close()

    def cell_close(self):
        c = self.conn()
        check("SELECT 1", self.one(c, "SELECT 1"), 1)
        t0 = time.monotonic()
        try:
            c.run(c.raw.close(), 2)
        except asyncio.TimeoutError:
            raise Mismatch("close() did not return within 2 s")
        return f"closed in {time.monotonic() - t0:.3f} s"
