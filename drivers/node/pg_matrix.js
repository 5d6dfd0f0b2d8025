'use strict'
// Driver matrix for node-postgres (`pg`, with pg-cursor and pg-copy-streams).
// node pg_matrix.js --driver pg --host H --port P --user U --password W --dbname D [--dialect postgres|sqlite]
process.env.TZ = 'UTC' // node-postgres parses date/timestamp as local time: make that deterministic

const pg = require('pg')
const Cursor = require('pg-cursor')
const copyStreams = require('pg-copy-streams')
const { pipeline } = require('stream/promises')
const { Readable } = require('stream')
const { parseArgs, sleep, within, errText, show, typeName, check, assert, runCells } = require('./common')

const args = parseArgs(process.argv, { driver: 'pg', dialect: 'postgres' })
const DRIVER = args.driver
const SQLITE = args.dialect === 'sqlite' // mdbd on SQLite: same cells; only connect and cursor_100k adapt
const P = `m_${DRIVER.replace(/[^A-Za-z0-9_]/g, '_').toLowerCase()}_` // table prefix
const CFG = {
  host: args.host,
  port: args.port,
  user: args.user,
  password: args.password,
  database: args.dbname,
  connectionTimeoutMillis: 10000,
}

// Per-cell context: clients opened through it are closed (or destroyed) after the cell.
function makeCtx() {
  const clients = []
  const pools = []
  return {
    async connect(extra) {
      const c = new pg.Client(Object.assign({}, CFG, extra))
      c.on('error', (e) => process.stderr.write(`client error: ${errText(e)}\n`))
      clients.push(c)
      await c.connect()
      return c
    },
    pool(extra) {
      const p = new pg.Pool(Object.assign({}, CFG, extra))
      p.on('error', (e) => process.stderr.write(`pool error: ${errText(e)}\n`))
      pools.push(p)
      return p
    },
    async release() {
      for (const c of clients) {
        if (c._ending || c._ended) continue
        try {
          await within(c.end(), 2000, 'end timeout')
        } catch (e) {
          if (c.connection && c.connection.stream) c.connection.stream.destroy()
        }
      }
      for (const p of pools) if (!p.ended && !p.ending) await within(p.end(), 2000, 'pool end timeout').catch(() => {})
    },
  }
}

async function recreate(c, table, cols) {
  await c.query(`DROP TABLE IF EXISTS ${table}`)
  await c.query(`CREATE TABLE ${table} (${cols})`)
}

// ---------------------------------------------------------------- type cells
// Each value: send (parameter), want (what node-postgres gives back), text (optional v::text check).
const v = (send, want = send, text) => ({ send, want, text })
const dateUTC = (s) => new Date(s + (s.length <= 10 ? 'T00:00:00Z' : 'Z'))
const ivNorm = (x) => (x && typeof x === 'object' ? Object.fromEntries(Object.entries(x).filter(([, n]) => n)) : x)
const bytesAll = Buffer.from(Array.from({ length: 256 }, (_, i) => i))
const jsonVals = [
  { a: 1, b: [1, 2, { c: 'héllo ✓', d: null }], e: true, f: { g: { h: -1.5 } } },
  [1, 'two', null, [3]],
  'just a string',
  12.5,
]

const TYPES = [
  { name: 'int2', sql: 'int2', oid: 21, lit: ['32767::int2', 32767], vals: [v(-32768), v(0), v(32767)] },
  { name: 'int4', sql: 'int4', oid: 23, lit: ['(-2147483648)::int4', -2147483648], vals: [v(-2147483648), v(0), v(2147483647)] },
  {
    name: 'int8', sql: 'int8', oid: 20, lit: ['9223372036854775807::int8', '9223372036854775807'],
    vals: [v('-9223372036854775808'), v('0'), v('9223372036854775807')],
  },
  {
    name: 'numeric', sql: 'numeric', oid: 1700, lit: ['1.5::numeric', '1.5'],
    vals: [v('-12345678901234.5678'), v('0'), v('1.50'), v('123456789012345678901234567890.123456789'), v('0.000000001'), v('NaN')],
  },
  { name: 'float4', sql: 'float4', oid: 700, lit: ['0.1::float4', 0.1], vals: [v(0.1), v(-1.5), v(3.4e38), v(1e-30), v(Infinity), v(-Infinity)] },
  {
    name: 'float8', sql: 'float8', oid: 701, lit: ['1e300::float8', 1e300],
    vals: [v(0.1), v(1e300), v(-2.2250738585072014e-308), v(1.7976931348623157e308), v(Infinity), v(NaN)],
  },
  { name: 'bool', sql: 'bool', oid: 16, lit: ['true', true], vals: [v(true), v(false)] },
  {
    name: 'text', sql: 'text', oid: 25, lit: ["'héllo ✓'::text", 'héllo ✓'],
    vals: [v(''), v('héllo ✓'), v('emoji 😀 and 漢字'), v("quote ' back \\ tab\t nl\n"), v('x'.repeat(100000))],
  },
  { name: 'bytea', sql: 'bytea', oid: 17, lit: ["'\\x00ff'::bytea", Buffer.from([0, 255])], vals: [v(bytesAll), v(Buffer.alloc(0))] },
  {
    name: 'date', sql: 'date', oid: 1082, lit: ["'2024-02-29'::date", dateUTC('2024-02-29')],
    vals: ['0001-01-01', '9999-12-31', '2024-02-29', '1970-01-01'].map((s) => v(s, dateUTC(s), s)),
  },
  {
    name: 'time', sql: 'time', oid: 1083, lit: ["'12:34:56.123456'::time", '12:34:56.123456'],
    vals: [v('00:00:00'), v('12:34:56.123456'), v('23:59:59.999999')],
  },
  {
    name: 'timestamp', sql: 'timestamp', oid: 1114, lit: ["'2024-02-29 12:34:56.5'::timestamp", dateUTC('2024-02-29T12:34:56.500')],
    vals: [
      v('0001-01-01 00:00:00', dateUTC('0001-01-01T00:00:00'), '0001-01-01 00:00:00'),
      v('2024-02-29 12:34:56.123456', dateUTC('2024-02-29T12:34:56.123'), '2024-02-29 12:34:56.123456'),
      v('9999-12-31 23:59:59.999999', dateUTC('9999-12-31T23:59:59.999'), '9999-12-31 23:59:59.999999'),
    ],
  },
  {
    name: 'timestamptz', sql: 'timestamptz', oid: 1184, textExpr: "(v AT TIME ZONE 'UTC')::text",
    lit: ["'2024-06-01 12:34:56+05:30'::timestamptz", new Date('2024-06-01T07:04:56Z')],
    vals: [
      v('2024-06-01 12:34:56.123456+05:30', new Date('2024-06-01T07:04:56.123Z'), '2024-06-01 07:04:56.123456'),
      v('1999-12-31 23:59:59-08:00', new Date('2000-01-01T07:59:59Z'), '2000-01-01 07:59:59'),
      v('2000-01-01 00:00:00+00', new Date('2000-01-01T00:00:00Z'), '2000-01-01 00:00:00'),
    ],
  },
  {
    name: 'interval', sql: 'interval', oid: 1186, norm: ivNorm, kind: 'PostgresInterval',
    lit: ["'1 day 02:00:00'::interval", { days: 1, hours: 2 }],
    vals: [
      v('1 year 2 mons 3 days 04:05:06.789', { years: 1, months: 2, days: 3, hours: 4, minutes: 5, seconds: 6, milliseconds: 789 }, '1 year 2 mons 3 days 04:05:06.789'),
      v('-1 days -00:00:01', { days: -1, seconds: -1 }, '-1 days -00:00:01'),
      v('-1 years -2 mons +3 days', { years: -1, months: -2, days: 3 }, '-1 years -2 mons +3 days'),
      v('00:00:00.000001', { milliseconds: 0.001 }, '00:00:00.000001'),
      v('00:00:00', {}, '00:00:00'),
    ],
  },
  {
    name: 'uuid', sql: 'uuid', oid: 2950, lit: ["'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid", 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'],
    vals: [v('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'), v('00000000-0000-0000-0000-000000000000'), v('ffffffff-ffff-ffff-ffff-ffffffffffff')],
  },
  { name: 'json', sql: 'json', oid: 114, lit: [`'{"k": [1, null]}'::json`, { k: [1, null] }], vals: jsonVals.map((j) => v(JSON.stringify(j), j)) },
  { name: 'jsonb', sql: 'jsonb', oid: 3802, lit: [`'{"k": [1, null]}'::jsonb`, { k: [1, null] }], vals: jsonVals.map((j) => v(JSON.stringify(j), j)) },
  {
    name: 'int_array', sql: 'int4[]', oid: 1007, lit: ["ARRAY[1,NULL,3]::int4[]", [1, null, 3]],
    vals: [v([1, null, 3]), v([]), v([-2147483648, 2147483647]), v([[1, 2], [3, 4]])],
  },
  {
    name: 'text_array', sql: 'text[]', oid: 1009, lit: [`ARRAY['', 'a b', 'NULL', NULL]::text[]`, ['', 'a b', 'NULL', null]],
    vals: [v(['', 'a b', 'a"b\\', 'NULL', null, 'héllo ✓', '{x,y}']), v([])],
  },
  {
    name: 'enum', sql: `${P}mood`, oid: null, lit: [`'happy'::${P}mood`, 'happy'],
    setup: [`DROP TABLE IF EXISTS ${P}enum`, `DROP TYPE IF EXISTS ${P}mood`, `CREATE TYPE ${P}mood AS ENUM ('sad', 'ok', 'happy')`],
    vals: [v('sad'), v('ok'), v('happy')],
  },
]

function typeCell(spec) {
  return async (ctx) => {
    const c = await ctx.connect()
    const table = `${P}${spec.name}`
    for (const s of spec.setup || []) await c.query(s)
    await recreate(c, table, `id int PRIMARY KEY, v ${spec.sql}`)
    let oid = spec.oid
    if (oid === null) oid = Number((await c.query('SELECT oid FROM pg_type WHERE typname = $1', [spec.sql])).rows[0].oid)
    const norm = spec.norm || ((x) => x)
    const kindOf = (want) => spec.kind || typeName(want)
    const rows = spec.vals.map((x, i) => ({ id: i + 1, ...x })).concat([{ id: spec.vals.length + 1, send: null, want: null }])
    for (const r of rows) await c.query(`INSERT INTO ${table} (id, v) VALUES ($1, $2)`, [r.id, r.send])
    // One row at a time, parameterised (extended protocol).
    for (const r of rows) {
      const res = await c.query(`SELECT v FROM ${table} WHERE id = $1`, [r.id])
      assert(res.rows.length === 1, `id ${r.id}: ${res.rows.length} rows`)
      assert(res.fields[0].dataTypeID === oid, `id ${r.id}: column oid ${res.fields[0].dataTypeID} want ${oid}`)
      const got = res.rows[0].v
      if (r.want !== null) assert(typeName(got) === kindOf(r.want), `id ${r.id}: JS type ${typeName(got)} want ${kindOf(r.want)} (${show(got)})`)
      check(norm(got), r.want, `id ${r.id}`)
      if (r.text !== undefined) {
        const t = await c.query(`SELECT ${spec.textExpr || 'v::text'} AS t FROM ${table} WHERE id = $1`, [r.id])
        check(t.rows[0].t, r.text, `id ${r.id} as text`)
      }
    }
    // The whole table (simple query protocol: no parameters).
    const all = await c.query(`SELECT id, v FROM ${table} ORDER BY id`)
    check(all.rows.length, rows.length, 'row count')
    all.rows.forEach((row, i) => check(norm(row.v), rows[i].want, `whole table id ${row.id}`))
    // A literal of this type, and its type OID.
    const lit = await c.query(`SELECT ${spec.lit[0]} AS v`)
    assert(lit.fields[0].dataTypeID === oid, `literal oid ${lit.fields[0].dataTypeID} want ${oid}`)
    check(norm(lit.rows[0].v), spec.lit[1], 'literal')
    return `${rows.length - 1} values + NULL as ${kindOf(rows[0].want)}, oid ${oid}`
  }
}

// ---------------------------------------------------------------- binary parameter encoders
const be = {
  int4: (n) => { const b = Buffer.alloc(4); b.writeInt32BE(n); return b },
  int8: (n) => { const b = Buffer.alloc(8); b.writeBigInt64BE(BigInt(n)); return b },
  float8: (n) => { const b = Buffer.alloc(8); b.writeDoubleBE(n); return b },
  bool: (x) => Buffer.from([x ? 1 : 0]),
  uuid: (s) => Buffer.from(s.replace(/-/g, ''), 'hex'),
  text: (s) => Buffer.from(s, 'utf8'),
  jsonb: (s) => Buffer.concat([Buffer.from([1]), Buffer.from(s, 'utf8')]),
  date: (s) => be.int4(Math.round((Date.parse(s + 'T00:00:00Z') - Date.UTC(2000, 0, 1)) / 86400000)),
  timestamp: (s, micros = 0) => be.int8(BigInt(Date.parse(s + 'Z') - Date.UTC(2000, 0, 1)) * 1000n + BigInt(micros)),
  numeric(s) {
    const neg = s.startsWith('-')
    const [ip, fp = ''] = s.replace(/^[-+]/, '').split('.')
    const intDigits = ip.replace(/^0+/, '')
    const ipad = intDigits.padStart(Math.ceil(intDigits.length / 4) * 4, '0')
    const fpad = fp.padEnd(Math.ceil(fp.length / 4) * 4, '0')
    let digits = (ipad + fpad).match(/.{4}/g) || []
    let weight = ipad.length / 4 - 1
    digits = digits.map(Number)
    while (digits.length && digits[0] === 0) { digits.shift(); weight-- }
    while (digits.length && digits[digits.length - 1] === 0) digits.pop()
    const b = Buffer.alloc(8 + 2 * digits.length)
    b.writeInt16BE(digits.length, 0)
    b.writeInt16BE(digits.length ? weight : 0, 2)
    b.writeUInt16BE(neg ? 0x4000 : 0, 4)
    b.writeInt16BE(fp.length, 6)
    digits.forEach((d, i) => b.writeInt16BE(d, 8 + 2 * i))
    return b
  },
}

// ---------------------------------------------------------------- crud cell
// SQL that PostgreSQL and SQLite both accept; values with the JS type node-postgres gives them.
const CRUD_COLS = ['id', 'name', 'score', 'active', 'qty']
const CRUD_DDL = 'id INTEGER PRIMARY KEY, name TEXT NOT NULL, score DOUBLE PRECISION, active BOOLEAN, qty BIGINT'
// qty (int8) is sent as a BigInt (beyond 2^53) and read back as node-postgres's default: a string.
const CRUD_ROWS = [
  { id: 1, name: 'ann', score: 1.5, active: true, qty: 10n },
  { id: 2, name: 'bob', score: -0.25, active: false, qty: 9007199254740993n },
  { id: 3, name: 'cé ✓', score: null, active: null, qty: null },
]
const crudWant = (r) => ({ ...r, qty: r.qty === null ? null : String(r.qty) })

function checkCrudRow(row, want, what) {
  assert(row !== undefined, `${what}: no row`)
  check(Object.keys(row), CRUD_COLS, `${what} columns`)
  // On SQLite an INTEGER column is 64 bits, announced as int8: node-postgres's string.
  const kinds = { id: SQLITE ? ['string'] : ['number'], name: ['string'], score: ['number'], active: ['boolean'], qty: ['string', 'number', 'bigint'] }
  for (const col of CRUD_COLS) {
    const got = row[col]
    if (want[col] !== null) assert(kinds[col].includes(typeof got), `${what} ${col}: JS type ${typeName(got)} want ${kinds[col].join(' or ')} (${show(got)})`)
    if (col === 'id') assert(Number.isInteger(Number(got)), `${what} id: ${show(got)} is not an integer`)
    // int8: the string '10' by default; a number or BigInt only counts with the same digits.
    const asText = (col === 'qty' || (col === 'id' && SQLITE)) && got !== null
    check(asText ? String(got) : got, asText ? String(want[col]) : want[col], `${what} ${col}`)
  }
}

async function crudCell(ctx) {
  const c = await ctx.connect()
  const ver = (await c.query('SELECT version() AS v')).rows[0].v
  assert(typeof ver === 'string' && ver.includes('PostgreSQL'), `SELECT version(): got ${show(ver)}, want text containing "PostgreSQL"`)
  const table = `${P}crud`
  const cols = CRUD_COLS.join(', ')
  await recreate(c, table, CRUD_DDL)
  for (const r of CRUD_ROWS) await c.query(`INSERT INTO ${table} (${cols}) VALUES ($1, $2, $3, $4, $5)`, CRUD_COLS.map((k) => r[k]))
  const byId = `SELECT ${cols} FROM ${table} WHERE id = $1`
  const one = await c.query(byId, [1])
  check(one.rows.length, 1, 'rows with id 1')
  checkCrudRow(one.rows[0], crudWant(CRUD_ROWS[0]), 'id 1')
  const upd = await c.query(`UPDATE ${table} SET score = $1, active = $2 WHERE id = $3`, [2.75, true, 2])
  check(upd.rowCount, 1, 'UPDATE rowCount')
  const after = [crudWant(CRUD_ROWS[0]), { ...crudWant(CRUD_ROWS[1]), score: 2.75, active: true }]
  const two = await c.query(byId, [2])
  check(two.rows.length, 1, 'rows with id 2')
  checkCrudRow(two.rows[0], after[1], 'id 2 after UPDATE')
  const del = await c.query(`DELETE FROM ${table} WHERE id = $1`, [3])
  check(del.rowCount, 1, 'DELETE rowCount')
  const n = (await c.query(`SELECT count(*) AS n FROM ${table}`)).rows[0].n
  assert(typeof n === 'string' || typeof n === 'number', `count(*): JS type ${typeName(n)} (${show(n)})`)
  check(Number(n), 2, 'SELECT count(*)')
  const all = await c.query(`SELECT ${cols} FROM ${table} ORDER BY id`)
  check(all.rows.map((r) => Number(r.id)), after.map((r) => r.id), 'ORDER BY id: ids')
  all.rows.forEach((r, i) => checkCrudRow(r, after[i], `ORDER BY id: id ${after[i].id}`))
  return 'version() ok; 3 inserts, select/update/delete by $n, 2 rows with JS types (int8 as string)'
}

// ---------------------------------------------------------------- cells
const CELLS = [
  ['connect', async (ctx) => {
    const c = await ctx.connect()
    const r = await c.query('SELECT 1 AS one')
    check(SQLITE ? String(r.rows[0].one) : r.rows[0].one, SQLITE ? '1' : 1, 'SELECT 1')
    return `SELECT 1 ok (processID ${c.processID}, secretKey ${c.secretKey ? 'set' : 'unset'})`
  }],
  ['crud', crudCell],
  ...TYPES.map((t) => [`type_${t.name}`, typeCell(t)]),
  ['param_text', async (ctx) => {
    const c = await ctx.connect()
    const r = await c.query(
      'SELECT $1::text AS a, $2::int4 AS b, $3::numeric AS c, $4::date AS d, $5::bool AS e, $6::float8 AS f, $7::text AS g, $8::int8 AS h',
      ['héllo ✓', 42, '-1.25', '2024-02-29', true, 0.5, null, '-9223372036854775808']
    )
    check(r.rows[0], { a: 'héllo ✓', b: 42, c: '-1.25', d: dateUTC('2024-02-29'), e: true, f: 0.5, g: null, h: '-9223372036854775808' }, 'row')
    return 'text-format parameters (node-postgres default)'
  }],
  ['param_binary', async (ctx) => {
    const c = await ctx.connect()
    // 1. Binary-format parameters: node-postgres sends every Buffer value with format code 1.
    const num = '-12345678901234.5678'
    const uuid = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'
    const r = await c.query(
      'SELECT $1::int4 AS i4, $2::int8 AS i8, $3::float8 AS f8, $4::bool AS b, $5::uuid AS u, $6::bytea AS by, $7::numeric AS n, $8::date AS d, $9::timestamp AS ts, $10::text AS t, $11::jsonb AS j',
      [be.int4(-300), be.int8('-9223372036854775808'), be.float8(0.1), be.bool(true), be.uuid(uuid), bytesAll,
        be.numeric(num), be.date('2024-02-29'), be.timestamp('2024-02-29T12:34:56.123', 456), be.text('héllo ✓'), be.jsonb('{"a": [1, 2]}')]
    )
    check(r.rows[0], {
      i4: -300, i8: '-9223372036854775808', f8: 0.1, b: true, u: uuid, by: bytesAll, n: num,
      d: dateUTC('2024-02-29'), ts: dateUTC('2024-02-29T12:34:56.123'), t: 'héllo ✓', j: { a: [1, 2] },
    }, 'binary params')
    // Binary parameters into untyped placeholders (the server infers the column types).
    const table = `${P}pbin`
    await recreate(c, table, 'id int4 PRIMARY KEY, n numeric, u uuid, b bytea, ts timestamp')
    await c.query(`INSERT INTO ${table} VALUES ($1, $2, $3, $4, $5)`, [be.int4(7), be.numeric('0.000001'), be.uuid(uuid), bytesAll, be.timestamp('0001-01-01T00:00:00', 1)])
    const back = await c.query(`SELECT id, n, u, b, ts::text AS ts FROM ${table}`)
    check(back.rows[0], { id: 7, n: '0.000001', u: uuid, b: bytesAll, ts: '0001-01-01 00:00:00.000001' }, 'inserted row')
    // 2. Binary-format results (`binary: true` query config); node-postgres decodes result bytes as
    //    UTF-8 before parsing, so only values whose binary form is ASCII-safe round-trip.
    const rb = await c.query({ text: 'SELECT $1::int4 AS a, $2::text AS t, $3::bool AS b, $4::int8 AS i8', values: [42, 'héllo', true, '7'], binary: true })
    assert(rb.fields.every((f) => f.format === 'binary'), `result formats ${rb.fields.map((f) => f.format)}`)
    check(rb.rows[0], { a: 42, t: 'héllo', b: true, i8: '7' }, 'binary results')
    return 'Buffer params (format 1) for 11 types + insert; binary:true results'
  }],
  ['rollback', async (ctx) => {
    const c = await ctx.connect()
    const table = `${P}rb`
    await recreate(c, table, 'id int PRIMARY KEY, v text')
    await c.query('BEGIN')
    await c.query(`INSERT INTO ${table} VALUES ($1, $2)`, [1, 'gone'])
    check((await c.query(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n, 1, 'count inside tx')
    await c.query('ROLLBACK')
    check((await c.query(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n, 0, 'count after rollback')
    await c.query('BEGIN')
    await c.query(`INSERT INTO ${table} VALUES ($1, $2)`, [2, 'kept'])
    await c.query('COMMIT')
    check((await c.query(`SELECT id FROM ${table}`)).rows, [{ id: 2 }], 'after commit')
    return 'rolled back insert gone, committed insert kept'
  }],
  ['savepoint_rollback', async (ctx) => {
    const c = await ctx.connect()
    const table = `${P}sp`
    await recreate(c, table, 'id int PRIMARY KEY, v text')
    await c.query('BEGIN')
    await c.query(`INSERT INTO ${table} VALUES (1, 'a')`)
    await c.query('SAVEPOINT s')
    let err = null
    try { await c.query(`INSERT INTO ${table} VALUES (1, 'dup')`) } catch (e) { err = e }
    assert(err && err.code === '23505', `failing statement: ${err ? errText(err) : 'no error'}`)
    await c.query('ROLLBACK TO SAVEPOINT s')
    await c.query(`INSERT INTO ${table} VALUES (2, 'b')`)
    await c.query('COMMIT')
    check((await c.query(`SELECT v FROM ${table} ORDER BY id`)).rows.map((r) => r.v), ['a', 'b'], 'rows')
    return 'a and b committed after ROLLBACK TO SAVEPOINT'
  }],
  ['savepoint_release', async (ctx) => {
    const c = await ctx.connect()
    const table = `${P}spr`
    await recreate(c, table, 'id int PRIMARY KEY, v text')
    await c.query('BEGIN')
    await c.query(`INSERT INTO ${table} VALUES (1, 'a')`)
    await c.query('SAVEPOINT s')
    await c.query(`INSERT INTO ${table} VALUES (2, 'b')`)
    await c.query('RELEASE SAVEPOINT s')
    await c.query('COMMIT')
    check((await c.query(`SELECT v FROM ${table} ORDER BY id`)).rows.map((r) => r.v), ['a', 'b'], 'rows')
    return 'a and b committed after RELEASE SAVEPOINT'
  }],
  ['duplicate_key', async (ctx) => {
    const c = await ctx.connect()
    const table = `${P}dup`
    await recreate(c, table, 'id int PRIMARY KEY, v text')
    await c.query(`INSERT INTO ${table} VALUES ($1, $2)`, [1, 'x'])
    let err = null
    try { await c.query(`INSERT INTO ${table} VALUES ($1, $2)`, [1, 'y']) } catch (e) { err = e }
    assert(err, 'no error on duplicate insert')
    const got = { code: err.code, constraint: err.constraint, table: err.table, detail: err.detail }
    check(got, { code: '23505', constraint: `${table}_pkey`, table, detail: 'Key (id)=(1) already exists.' }, 'error fields')
    check((await c.query('SELECT 1 AS one')).rows[0].one, 1, 'usable after error')
    return `23505 ${err.constraint} on ${err.table}: ${err.detail}`
  }],
  ['cursor_100k', async (ctx) => {
    const c = await ctx.connect()
    const sql = SQLITE
      ? 'WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < 100000) SELECT CAST(g AS int) AS id FROM s'
      : 'SELECT g AS id FROM generate_series(1, 100000) AS g ORDER BY g'
    const cursor = c.query(new Cursor(sql))
    let count = 0, sum = 0, reads = 0
    for (;;) {
      const rows = await cursor.read(1000)
      reads++
      if (rows.length === 0) break
      assert(rows.length === 1000, `read ${reads} returned ${rows.length} rows, want 1000`)
      for (const r of rows) { count++; sum += Number(r.id) }
    }
    await cursor.close()
    check(count, 100000, 'count')
    check(sum, 5000050000, 'sum of ids')
    return `${reads - 1} reads of 1000 rows through pg-cursor (portal + Execute rows=1000)`
  }],
  ['executemany', async (ctx) => {
    const c = await ctx.connect()
    const table = `${P}many`
    await recreate(c, table, 'id int PRIMARY KEY, v text')
    await c.query('BEGIN')
    for (let i = 1; i <= 1000; i++) await c.query({ name: `${P}ins`, text: `INSERT INTO ${table} VALUES ($1, $2)`, values: [i, `row ${i}`] })
    await c.query('COMMIT')
    // And a 1,000-row multi-row insert with 2,000 parameters.
    const vals = []
    const ph = []
    for (let i = 1001; i <= 2000; i++) { ph.push(`($${vals.length + 1}, $${vals.length + 2})`); vals.push(i, `row ${i}`) }
    const ins = await c.query(`INSERT INTO ${table} VALUES ${ph.join(', ')}`, vals)
    check(ins.rowCount, 1000, 'multi-row rowCount')
    const r = await c.query(`SELECT count(*)::int AS n, sum(id)::int8 AS s, count(DISTINCT v)::int AS d FROM ${table}`)
    check(r.rows[0], { n: 2000, s: '2001000', d: 2000 }, 'table')
    return '1000 prepared inserts in one transaction + one 1000-row insert'
  }],
  ['copy_text', async (ctx) => {
    const c = await ctx.connect()
    const table = `${P}copyt`
    await recreate(c, table, 'id int PRIMARY KEY, v text, n numeric')
    const lines = []
    for (let i = 1; i <= 1000; i++) {
      const txt = i % 10 === 0 ? '\\N' : `row ${i} tab\\there nl\\nback\\\\slash héllo ✓`
      lines.push(`${i}\t${txt}\t${i % 7 === 0 ? '\\N' : `${i}.${i % 100}`}\n`)
    }
    const sent = lines.join('')
    await pipeline(Readable.from([Buffer.from(sent)]), c.query(copyStreams.from(`COPY ${table} (id, v, n) FROM STDIN`)))
    const chunks = []
    const out = c.query(copyStreams.to(`COPY (SELECT id, v, n FROM ${table} ORDER BY id) TO STDOUT`))
    for await (const chunk of out) chunks.push(chunk)
    const back = Buffer.concat(chunks).toString('utf8')
    assert(back === sent, `COPY TO STDOUT differs (${back.length} vs ${sent.length} chars): ${show(back.slice(0, 60))}`)
    check((await c.query(`SELECT v FROM ${table} WHERE id = 3`)).rows[0].v, 'row 3 tab\there nl\nback\\slash héllo ✓', 'row 3')
    return `1000 rows in and out, ${sent.length} chars identical`
  }],
  ['copy_binary', async (ctx) => {
    const c = await ctx.connect()
    const table = `${P}copyb`
    await recreate(c, table, 'id int4 PRIMARY KEY, v text, b bytea, n int8')
    const field = (buf) => (buf === null ? be.int4(-1) : Buffer.concat([be.int4(buf.length), buf]))
    const rowsIn = []
    for (let i = 1; i <= 1000; i++) rowsIn.push([i, `héllo ${i}`, Buffer.from([i & 255, 0, 255, (i * 7) & 255]), i % 5 === 0 ? null : String(i * 1000000000)])
    const parts = [Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'), be.int4(0), be.int4(0)]
    for (const [id, t, b, n] of rowsIn) {
      const cnt = Buffer.alloc(2); cnt.writeInt16BE(4)
      parts.push(cnt, field(be.int4(id)), field(be.text(t)), field(b), field(n === null ? null : be.int8(n)))
    }
    const trailer = Buffer.alloc(2); trailer.writeInt16BE(-1); parts.push(trailer)
    const data = Buffer.concat(parts)
    await pipeline(Readable.from([data]), c.query(copyStreams.from(`COPY ${table} FROM STDIN (FORMAT BINARY)`)))
    const r = await c.query(`SELECT id, v, b, n FROM ${table} ORDER BY id`)
    check(r.rows.length, 1000, 'rows')
    r.rows.forEach((row, i) => check([row.id, row.v, row.b, row.n], rowsIn[i], `row ${i + 1}`))
    // Binary out: same bytes as we sent (same column order, same values).
    const chunks = []
    for await (const chunk of c.query(copyStreams.to(`COPY (SELECT id, v, b, n FROM ${table} ORDER BY id) TO STDOUT (FORMAT BINARY)`))) chunks.push(chunk)
    const back = Buffer.concat(chunks)
    assert(back.equals(data), `COPY TO STDOUT (FORMAT BINARY) gave ${back.length} bytes, sent ${data.length}`)
    return `1000 rows, hand-written PGCOPY (${data.length} bytes) in, identical bytes out`
  }],
  ['prepared_reuse', async (ctx) => {
    const c = await ctx.connect()
    for (let i = 0; i < 20; i++) {
      const r = await c.query({ name: `${P}q1`, text: 'SELECT $1::int4 * 2 AS v, $2::text AS t', values: [i, `n${i}`] })
      check(r.rows[0], { v: i * 2, t: `n${i}` }, `run ${i + 1}`)
    }
    return 'named statement parsed once, executed 20 times'
  }],
  ['pool_reuse', async (ctx) => {
    const pool = ctx.pool({ max: 3 })
    const pids = new Set()
    pool.on('connect', (client) => pids.add(client.processID))
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => pool.query('SELECT $1::int4 AS i, pg_sleep(0.01)::text AS s', [i])))
    results.forEach((r, i) => check(r.rows[0].i, i, `query ${i}`))
    assert(pool.totalCount <= 3 && pids.size <= 3, `pool opened ${pids.size} connections, max 3`)
    const t0 = Date.now()
    await within(pool.end(), 10000, 'pool.end() did not return within 10 s')
    return `30 concurrent queries over ${pids.size} connections; pool.end() took ${Date.now() - t0} ms`
  }],
  ['cancel', async (ctx) => {
    // node-postgres has no documented cancel API, but Client#cancel(target, query) opens a new
    // connection and sends the protocol CancelRequest (processID + secretKey of the target).
    const c = await ctx.connect()
    const t0 = Date.now()
    const sleeping = c.query('SELECT pg_sleep(10)').then(() => null, (e) => e)
    await sleep(500)
    const canceller = new pg.Client(CFG)
    canceller.on('error', () => {})
    canceller.cancel(c, c.activeQuery)
    const err = await within(sleeping, 5000, 'pg_sleep(10) still running 5 s after CancelRequest')
    const took = Date.now() - t0
    assert(err, 'pg_sleep(10) completed without error')
    assert(err.code === '57014', `want SQLSTATE 57014, got ${errText(err)}`)
    assert(took < 3000, `cancel took ${took} ms`)
    check((await c.query('SELECT 1 AS one')).rows[0].one, 1, 'SELECT 1 after cancel')
    return `57014 after ${took} ms via CancelRequest (Client#cancel), connection reusable`
  }],
  ['close', async (ctx) => {
    const c = await ctx.connect()
    check((await c.query('SELECT 1 AS one')).rows[0].one, 1, 'SELECT 1')
    const t0 = Date.now()
    await within(c.end(), 2000, 'end() did not return within 2 s')
    return `end() took ${Date.now() - t0} ms`
  }],
]

runCells(DRIVER, CELLS, makeCtx)
  .then(() => process.exit(0))
  .catch((e) => { process.stderr.write(`fatal: ${errText(e)}\n`); process.exit(1) })
