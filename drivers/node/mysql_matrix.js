'use strict'
// Driver matrix for mysql2 (promise API).
// node mysql_matrix.js --driver mysql2 --host H --port P --user U --password W --dbname D
process.env.TZ = 'UTC' // mysql2 reads DATE/DATETIME/TIMESTAMP in local time: make that deterministic

const mysql = require('mysql2/promise')
const { Readable } = require('stream')
const { parseArgs, sleep, within, errText, show, typeName, check, assert, runCells } = require('./common')

const args = parseArgs(process.argv, { driver: 'mysql2' })
const DRIVER = args.driver
const P = `m_${DRIVER.replace(/[^A-Za-z0-9_]/g, '_').toLowerCase()}_` // table prefix
const CFG = {
  host: args.host,
  port: args.port,
  user: args.user,
  password: args.password,
  database: args.dbname,
  connectTimeout: 10000,
}
const ENGINE = 'ENGINE=InnoDB DEFAULT CHARSET=utf8mb4'

function makeCtx() {
  const conns = []
  const pools = []
  return {
    async connect(extra) {
      const c = await mysql.createConnection(Object.assign({}, CFG, extra))
      c.on('error', (e) => process.stderr.write(`connection error: ${errText(e)}\n`))
      conns.push(c)
      return c
    },
    pool(extra) {
      const p = mysql.createPool(Object.assign({}, CFG, extra))
      pools.push(p)
      return p
    },
    async release() {
      for (const c of conns) {
        if (c.connection._closing || c.connection._fatalError) { c.connection.destroy(); continue }
        await within(c.end(), 2000, 'end timeout').catch(() => c.connection.destroy())
      }
      for (const p of pools) await within(p.end(), 2000, 'pool end timeout').catch(() => {})
    },
  }
}

async function recreate(c, table, cols) {
  await c.query(`DROP TABLE IF EXISTS ${table}`)
  await c.query(`CREATE TABLE ${table} (${cols}) ${ENGINE}`)
}

// ---------------------------------------------------------------- type cells
// send: the parameter; want: what mysql2 returns over the text protocol (query); wantBin: over the
// binary protocol (execute) when it differs; text: CAST(v AS CHAR) check.
const v = (send, want = send, extra = {}) => ({ send, want, ...extra })
const dateUTC = (s) => new Date(s.length <= 10 ? s + 'T00:00:00Z' : s.replace(' ', 'T') + 'Z')
const bytesAll = Buffer.from(Array.from({ length: 256 }, (_, i) => i))
const jsonVals = [{ a: 1, b: [1, 2, { c: 'héllo ✓', d: null }], e: true }, [1, 'two', null], 'str', 12.5]

const TYPES = [
  { name: 'tinyint', sql: 'TINYINT', col: [1], vals: [v(-128), v(0), v(127)] },
  { name: 'int', sql: 'INT', col: [3], vals: [v(-2147483648), v(0), v(2147483647)] },
  {
    name: 'bigint', sql: 'BIGINT', col: [8], opts: { supportBigNumbers: true }, // unsafe integers as strings
    vals: [v('-9223372036854775808'), v('0', 0), v('9007199254740993'), v('9223372036854775807'), v('123', 123)],
  },
  { name: 'decimal', sql: 'DECIMAL(12,2)', col: [246], vals: [v('1234.5', '1234.50'), v('-9999999999.99'), v('0', '0.00'), v('0.01')] },
  {
    name: 'float', sql: 'FLOAT', col: [4], // the binary protocol carries a float32
    vals: [v(0.1, 0.1, { wantBin: Math.fround(0.1) }), v(-1.5), v(3.4e38, 3.4e38, { wantBin: Math.fround(3.4e38) }), v(0)],
  },
  { name: 'double', sql: 'DOUBLE', col: [5], vals: [v(0.1), v(1e300), v(-2.2250738585072014e-308), v(1.7976931348623157e308), v(-0.5)] },
  { name: 'bool', sql: 'TINYINT(1)', col: [1], vals: [v(true, 1), v(false, 0)] },
  {
    name: 'varchar', sql: 'VARCHAR(300)', col: [253],
    vals: [v(''), v('héllo ✓'), v('emoji 😀 and 漢字'), v("quote ' back \\ tab\t nl\n"), v('x'.repeat(300))],
  },
  { name: 'blob', sql: 'BLOB', col: [252], vals: [v(bytesAll), v(Buffer.alloc(0))] },
  { name: 'date', sql: 'DATE', col: [10], vals: ['1000-01-01', '9999-12-31', '2024-02-29', '1970-01-01'].map((s) => v(s, dateUTC(s), { text: s })) },
  {
    name: 'time', sql: 'TIME(6)', col: [11],
    vals: [
      v('12:34:56.123456'),
      v('00:00:00', '00:00:00.000000', { wantBin: '00:00:00' }),
      v('-838:59:59', '-838:59:59.000000', { wantBin: '-838:59:59' }),
      v('838:59:59.5', '838:59:59.500000', { wantBin: '838:59:59.5' }),
    ],
  },
  {
    name: 'datetime', sql: 'DATETIME(6)', col: [12],
    vals: [
      v('1000-01-01 00:00:00', dateUTC('1000-01-01 00:00:00'), { text: '1000-01-01 00:00:00.000000' }),
      v('2024-02-29 12:34:56.123456', dateUTC('2024-02-29 12:34:56.123'), { text: '2024-02-29 12:34:56.123456' }),
      v('9999-12-31 23:59:59.999999', dateUTC('9999-12-31 23:59:59.999'), { text: '9999-12-31 23:59:59.999999' }),
    ],
  },
  {
    // Inserted with the session in +05:30, read back in +00:00: compared as instants.
    name: 'timestamp', sql: 'TIMESTAMP(6) NULL', col: [7],
    beforeInsert: "SET time_zone = '+05:30'", afterInsert: "SET time_zone = '+00:00'",
    vals: [
      v('2024-06-01 12:34:56.123456', new Date('2024-06-01T07:04:56.123Z'), { text: '2024-06-01 07:04:56.123456' }),
      v('1970-01-02 05:30:00', new Date('1970-01-02T00:00:00Z'), { text: '1970-01-02 00:00:00.000000' }),
      v('2038-01-19 08:44:07', new Date('2038-01-19T03:14:07Z'), { text: '2038-01-19 03:14:07.000000' }),
    ],
  },
  // MariaDB's JSON is LONGTEXT; mysql2 parses it only when the column definition carries the
  // extended type info "json" (MARIADB_CLIENT_EXTENDED_METADATA).
  { name: 'json', sql: 'JSON', col: [245, 252], vals: jsonVals.map((j) => v(JSON.stringify(j), j)) },
  { name: 'enum', sql: "ENUM('sad','ok','happy')", col: [254], vals: [v('sad'), v('ok'), v('happy')] },
]

function typeCell(spec) {
  return async (ctx) => {
    const c = await ctx.connect(spec.opts)
    const table = `${P}${spec.name}`
    await recreate(c, table, `id INT PRIMARY KEY, v ${spec.sql}`)
    const rows = spec.vals.map((x, i) => ({ id: i + 1, ...x })).concat([{ id: spec.vals.length + 1, send: null, want: null }])
    if (spec.beforeInsert) await c.query(spec.beforeInsert)
    for (const r of rows) await c.query(`INSERT INTO ${table} (id, v) VALUES (?, ?)`, [r.id, r.send])
    if (spec.afterInsert) await c.query(spec.afterInsert)
    // One row at a time, server-side prepared (binary protocol).
    for (const r of rows) {
      const [res, fields] = await c.execute(`SELECT v FROM ${table} WHERE id = ?`, [r.id])
      assert(res.length === 1, `id ${r.id}: ${res.length} rows`)
      assert(spec.col.includes(fields[0].columnType), `column type ${fields[0].columnType} want ${spec.col.join('|')}`)
      const want = 'wantBin' in r ? r.wantBin : r.want
      if (want !== null) assert(typeName(res[0].v) === typeName(want), `id ${r.id} (execute): JS type ${typeName(res[0].v)} want ${typeName(want)} (${show(res[0].v)})`)
      check(res[0].v, want, `id ${r.id} (execute)`)
      if (r.text !== undefined) {
        const [t] = await c.query(`SELECT CAST(v AS CHAR) AS t FROM ${table} WHERE id = ?`, [r.id])
        check(t[0].t, r.text, `id ${r.id} as text`)
      }
    }
    // The whole table (text protocol).
    const [all, fields] = await c.query(`SELECT id, v FROM ${table} ORDER BY id`)
    check(all.length, rows.length, 'row count')
    assert(spec.col.includes(fields[1].columnType), `column type ${fields[1].columnType} want ${spec.col.join('|')}`)
    all.forEach((row, i) => {
      if (rows[i].want !== null) assert(typeName(row.v) === typeName(rows[i].want), `whole table id ${row.id}: JS type ${typeName(row.v)} want ${typeName(rows[i].want)}`)
      check(row.v, rows[i].want, `whole table id ${row.id}`)
    })
    return `${rows.length - 1} values + NULL as ${typeName(rows[0].want)}, column type ${fields[1].columnType}`
  }
}

// ---------------------------------------------------------------- cells
const CELLS = [
  ['connect', async (ctx) => {
    const c = await ctx.connect()
    const [r] = await c.query('SELECT 1 AS one, VERSION() AS ver')
    check(r[0].one, 1, 'SELECT 1')
    return `SELECT 1 ok, VERSION() ${r[0].ver}, threadId ${c.connection.threadId}`
  }],
  ...TYPES.map((t) => [`type_${t.name}`, typeCell(t)]),
  ['param_text', async (ctx) => {
    // mysql2 query(): placeholders are escaped and interpolated client-side (COM_QUERY).
    const c = await ctx.connect()
    const s = "héllo ✓ ' \" \\ \n end"
    const [r] = await c.query('SELECT ? AS a, ? AS b, ? AS c, ? AS d, ? AS e, CAST(? AS DECIMAL(10,2)) AS f, HEX(?) AS g', [s, 42, -0.5, null, true, '12.5', Buffer.from([0, 39, 92, 255])])
    check(r[0], { a: s, b: 42, c: '-0.5', d: null, e: 1, f: '12.50', g: '00275CFF' }, 'row')
    const table = `${P}ptext`
    await recreate(c, table, 'id INT PRIMARY KEY, s VARCHAR(100), b BLOB, d DATETIME(3)')
    await c.query(`INSERT INTO ${table} VALUES (?, ?, ?, ?)`, [1, s, bytesAll, new Date('2024-02-29T12:34:56.789Z')])
    const [back] = await c.query(`SELECT s, b, d FROM ${table} WHERE id = ?`, [1])
    check(back[0], { s, b: bytesAll, d: new Date('2024-02-29T12:34:56.789Z') }, 'inserted row')
    return 'client-side interpolation (COM_QUERY) of string/number/null/bool/Buffer/Date'
  }],
  ['param_binary', async (ctx) => {
    // mysql2 execute(): COM_STMT_PREPARE + COM_STMT_EXECUTE with typed binary parameters.
    const c = await ctx.connect()
    const s = "héllo ✓ ' \" \\ \n end"
    const [r] = await c.execute('SELECT ? AS a, ? + 0 AS b, ? AS d, HEX(?) AS g, CAST(? AS DECIMAL(10,2)) AS f', [s, 42, null, Buffer.from([0, 39, 92, 255]), '12.5'])
    check(r[0], { a: s, b: 42, d: null, g: '00275CFF', f: '12.50' }, 'row')
    const table = `${P}pbin`
    await recreate(c, table, 'id INT PRIMARY KEY, s VARCHAR(100), b BLOB, d DATETIME(3), n DECIMAL(12,2), f DOUBLE, big BIGINT')
    await c.execute(`INSERT INTO ${table} VALUES (?, ?, ?, ?, ?, ?, ?)`, [1, s, bytesAll, new Date('2024-02-29T12:34:56.789Z'), '1234.5', 0.1, -2147483649])
    const [back] = await c.execute(`SELECT s, b, d, n, f, big FROM ${table} WHERE id = ?`, [1])
    check(back[0], { s, b: bytesAll, d: new Date('2024-02-29T12:34:56.789Z'), n: '1234.50', f: 0.1, big: -2147483649 }, 'inserted row')
    return 'server-side prepared (COM_STMT_EXECUTE) with string/int/null/Buffer/Date/double params'
  }],
  ['rollback', async (ctx) => {
    const c = await ctx.connect()
    const table = `${P}rb`
    await recreate(c, table, 'id INT PRIMARY KEY, v VARCHAR(20)')
    await c.beginTransaction()
    await c.execute(`INSERT INTO ${table} VALUES (?, ?)`, [1, 'gone'])
    check((await c.query(`SELECT COUNT(*) AS n FROM ${table}`))[0][0].n, 1, 'count inside tx')
    await c.rollback()
    check((await c.query(`SELECT COUNT(*) AS n FROM ${table}`))[0][0].n, 0, 'count after rollback')
    await c.beginTransaction()
    await c.execute(`INSERT INTO ${table} VALUES (?, ?)`, [2, 'kept'])
    await c.commit()
    check((await c.query(`SELECT id FROM ${table}`))[0], [{ id: 2 }], 'after commit')
    return 'rolled back insert gone, committed insert kept'
  }],
  ['savepoint_rollback', async (ctx) => {
    const c = await ctx.connect()
    const table = `${P}sp`
    await recreate(c, table, 'id INT PRIMARY KEY, v VARCHAR(20)')
    await c.beginTransaction()
    await c.query(`INSERT INTO ${table} VALUES (1, 'a')`)
    await c.query('SAVEPOINT s')
    await c.query(`INSERT INTO ${table} VALUES (3, 'c')`)
    let err = null
    try { await c.query(`INSERT INTO ${table} VALUES (1, 'dup')`) } catch (e) { err = e }
    assert(err && err.errno === 1062, `failing statement: ${err ? errText(err) : 'no error'}`)
    await c.query('ROLLBACK TO SAVEPOINT s')
    await c.query(`INSERT INTO ${table} VALUES (2, 'b')`)
    await c.commit()
    check((await c.query(`SELECT v FROM ${table} ORDER BY id`))[0].map((r) => r.v), ['a', 'b'], 'rows')
    return 'a and b committed, c rolled back to the savepoint'
  }],
  ['savepoint_release', async (ctx) => {
    const c = await ctx.connect()
    const table = `${P}spr`
    await recreate(c, table, 'id INT PRIMARY KEY, v VARCHAR(20)')
    await c.beginTransaction()
    await c.query(`INSERT INTO ${table} VALUES (1, 'a')`)
    await c.query('SAVEPOINT s')
    await c.query(`INSERT INTO ${table} VALUES (2, 'b')`)
    await c.query('RELEASE SAVEPOINT s')
    await c.commit()
    check((await c.query(`SELECT v FROM ${table} ORDER BY id`))[0].map((r) => r.v), ['a', 'b'], 'rows')
    return 'a and b committed after RELEASE SAVEPOINT'
  }],
  ['duplicate_key', async (ctx) => {
    const c = await ctx.connect()
    const table = `${P}dup`
    await recreate(c, table, 'id INT PRIMARY KEY, v VARCHAR(20)')
    await c.execute(`INSERT INTO ${table} VALUES (?, ?)`, [1, 'x'])
    let err = null
    try { await c.execute(`INSERT INTO ${table} VALUES (?, ?)`, [1, 'y']) } catch (e) { err = e }
    assert(err, 'no error on duplicate insert')
    check({ errno: err.errno, sqlState: err.sqlState, code: err.code }, { errno: 1062, sqlState: '23000', code: 'ER_DUP_ENTRY' }, 'error')
    check((await c.query('SELECT 1 AS one'))[0][0].one, 1, 'usable after error')
    return `${err.code} ${err.errno}/${err.sqlState}: ${err.message}`
  }],
  ['cursor_100k', async (ctx) => {
    const c = await ctx.connect()
    // Five cross-joined digit tables (MariaDB caps WITH RECURSIVE at max_recursive_iterations=1000).
    const d = '(SELECT 0 AS n UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9)'
    const sql = `SELECT 1 + a.n + 10 * b.n + 100 * c.n + 1000 * d.n + 10000 * e.n AS id FROM ${d} a, ${d} b, ${d} c, ${d} d, ${d} e`
    let count = 0, sum = 0
    await new Promise((resolve, reject) => {
      const stream = c.connection.query(sql).stream({ highWaterMark: 1000 })
      stream.on('data', (row) => { count++; sum += row.id })
      stream.on('error', reject)
      stream.on('end', resolve)
    })
    check(count, 100000, 'count')
    check(sum, 5000050000, 'sum of ids')
    return '100000 rows through query().stream()'
  }],
  ['executemany', async (ctx) => {
    const c = await ctx.connect()
    const table = `${P}many`
    await recreate(c, table, 'id INT PRIMARY KEY, v VARCHAR(20)')
    await c.beginTransaction()
    for (let i = 1; i <= 1000; i++) await c.execute(`INSERT INTO ${table} VALUES (?, ?)`, [i, `row ${i}`])
    await c.commit()
    // Bulk form: VALUES ? with a nested array (expanded client-side).
    const rows = Array.from({ length: 1000 }, (_, k) => [1001 + k, `row ${1001 + k}`])
    const [res] = await c.query(`INSERT INTO ${table} (id, v) VALUES ?`, [rows])
    check(res.affectedRows, 1000, 'bulk affectedRows')
    const [r] = await c.query(`SELECT COUNT(*) AS n, CAST(SUM(id) AS SIGNED) AS s, COUNT(DISTINCT v) AS d FROM ${table}`)
    check(r[0], { n: 2000, s: 2001000, d: 2000 }, 'table')
    return '1000 prepared inserts in one transaction + one 1000-row VALUES ? insert'
  }],
  ['load_data_local', async (ctx) => {
    const lines = Array.from({ length: 1000 }, (_, k) => `${k + 1},row ${k + 1}\n`).join('')
    const c = await ctx.connect({ infileStreamFactory: () => Readable.from([Buffer.from(lines)]) })
    const table = `${P}load`
    await recreate(c, table, 'id INT PRIMARY KEY, v VARCHAR(20)')
    const [res] = await c.query(`LOAD DATA LOCAL INFILE 'm_rows.csv' INTO TABLE ${table} FIELDS TERMINATED BY ',' LINES TERMINATED BY '\\n' (id, v)`)
    check(res.affectedRows, 1000, 'affectedRows')
    const [r] = await c.query(`SELECT COUNT(*) AS n, CAST(SUM(id) AS SIGNED) AS s FROM ${table}`)
    check(r[0], { n: 1000, s: 500500 }, 'table')
    return '1000 rows through infileStreamFactory'
  }],
  ['prepared_reuse', async (ctx) => {
    const c = await ctx.connect()
    const stmt = await c.prepare('SELECT ? * 2 AS v, CONCAT(?, \'\') AS t')
    for (let i = 0; i < 20; i++) {
      const [r] = await stmt.execute([i, `n${i}`])
      check(r[0], { v: i * 2, t: `n${i}` }, `run ${i + 1}`)
    }
    await stmt.close()
    return `statement ${stmt.statement && stmt.statement.id} prepared once, executed 20 times, closed`
  }],
  ['pool_reuse', async (ctx) => {
    const pool = ctx.pool({ connectionLimit: 3 })
    const conns = new Set()
    pool.pool.on('connection', (conn) => conns.add(conn))
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => pool.query('SELECT ? AS i, SLEEP(0.01) AS s', [i])))
    results.forEach(([r], i) => check(r[0].i, i, `query ${i}`))
    assert(conns.size <= 3, `pool opened ${conns.size} connections, max 3`)
    const t0 = Date.now()
    await within(pool.end(), 10000, 'pool.end() did not return within 10 s')
    return `30 concurrent queries over ${conns.size} connections; pool.end() took ${Date.now() - t0} ms`
  }],
  ['cancel', async (ctx) => {
    const c = await ctx.connect()
    const killer = await ctx.connect()
    const t0 = Date.now()
    const sleeping = c.query('SELECT SLEEP(10) AS s').then(([r]) => ({ r }), (e) => ({ e }))
    await sleep(500)
    await killer.query(`KILL QUERY ${c.connection.threadId}`)
    const out = await within(sleeping, 5000, 'SLEEP(10) still running 5 s after KILL QUERY')
    const took = Date.now() - t0
    assert(took < 3000, `query ended after ${took} ms`)
    const how = out.e ? `${out.e.code} ${out.e.errno}` : `SLEEP returned ${out.r[0].s}`
    assert(out.e ? out.e.errno === 1317 : out.r[0].s === 1, `unexpected end: ${out.e ? errText(out.e) : show(out.r)}`)
    check((await c.query('SELECT 1 AS one'))[0][0].one, 1, 'SELECT 1 after cancel')
    return `KILL QUERY ${c.connection.threadId} from a second connection: ${how} after ${took} ms`
  }],
  ['close', async (ctx) => {
    const c = await ctx.connect()
    check((await c.query('SELECT 1 AS one'))[0][0].one, 1, 'SELECT 1')
    const t0 = Date.now()
    await within(c.end(), 2000, 'end() did not return within 2 s')
    return `end() took ${Date.now() - t0} ms`
  }],
  ['change_user', async (ctx) => {
    const c = await ctx.connect()
    await c.query('SET @m_marker = 42')
    check((await c.query('SELECT @m_marker AS m'))[0][0].m, 42, 'session variable before')
    await c.changeUser({ user: args.user, password: args.password, database: args.dbname })
    // CURRENT_USER() is the server's account: through a proxy, the proxy's own.
    const [r] = await c.query('SELECT DATABASE() AS d, @m_marker AS m')
    check({ d: r[0].d, m: r[0].m }, { d: args.dbname, m: null }, 'after changeUser (session reset)')
    const bad = await ctx.connect()
    let refused = null
    try {
      await bad.changeUser({ user: args.user, password: `${args.password}-wrong`, database: args.dbname })
    } catch (e) {
      refused = e.errno
    }
    check(refused, 1045, 'changeUser with a wrong password')
    return 'COM_CHANGE_USER ok, session variables reset; a wrong password refused with 1045'
  }],
]

runCells(DRIVER, CELLS, makeCtx)
  .then(() => process.exit(0))
  .catch((e) => { process.stderr.write(`fatal: ${errText(e)}\n`); process.exit(1) })
