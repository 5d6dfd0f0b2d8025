'use strict'
// Shared helpers for the Node driver-matrix programs (pg_matrix.js, mysql_matrix.js).
// Output contract: one JSON object per cell on stdout, in a fixed order, nothing else on stdout.

class NA extends Error {} // the driver has no such feature
class Fail extends Error {} // a wrong value (got vs want)

function parseArgs(argv, defaults) {
  const out = Object.assign({}, defaults)
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i]
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`)
    const eq = a.indexOf('=')
    if (eq > 0) out[a.slice(2, eq)] = a.slice(eq + 1)
    else out[a.slice(2)] = argv[++i]
  }
  for (const k of ['host', 'port', 'user', 'dbname']) {
    if (out[k] === undefined) throw new Error(`missing --${k}`)
  }
  out.port = Number(out.port)
  if (out.password === undefined) out.password = ''
  return out
}

// Same format as Python's json.dumps (ASCII only, non-ASCII as \uXXXX): {"driver": "pg", "cell": ..., "status": ..., "detail": ...}
function emit(driver, cell, status, detail) {
  const d = clip(detail === undefined || detail === null ? '' : String(detail))
  const obj = { driver, cell, status, detail: d }
  const enc = (x) => JSON.stringify(x).replace(/[\u0080-\uffff]/g, (ch) => '\\u' + ch.charCodeAt(0).toString(16).padStart(4, '0'))
  const line = '{' + Object.entries(obj).map(([k, v]) => `${enc(k)}: ${enc(v)}`).join(', ') + '}'
  process.stdout.write(line + '\n')
}

function clip(s, n = 290) {
  return s.length > n ? s.slice(0, n - 1) + '…' : s
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

// Reject with `label` if `p` does not settle within `ms`.
function within(p, ms, label) {
  let t
  return Promise.race([p, new Promise((_, rej) => (t = setTimeout(() => rej(new Fail(label)), ms)))]).finally(() =>
    clearTimeout(t)
  )
}

// Error text: class, code/SQLSTATE/errno, message.
function errText(e) {
  if (!(e instanceof Error)) return `thrown ${show(e)}`
  if (e instanceof Fail || e instanceof NA) return e.message
  const parts = [e.constructor && e.constructor.name ? e.constructor.name : 'Error']
  if (e.code) parts.push(String(e.code))
  if (e.errno) parts.push(`errno=${e.errno}`)
  if (e.sqlState) parts.push(`sqlstate=${e.sqlState}`)
  parts.push(e.message || String(e))
  return parts.join(' ')
}

// Compact, bounded rendering of a value for details.
function show(v) {
  if (v === undefined) return 'undefined'
  if (v === null) return 'null'
  if (Buffer.isBuffer(v)) return `<Buffer ${v.length}B ${v.subarray(0, 8).toString('hex')}${v.length > 8 ? '..' : ''}>`
  if (v instanceof Date) return `Date(${isNaN(v.getTime()) ? 'Invalid' : v.toISOString()})`
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v)
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' + `(${v.length})` : v)
  if (Array.isArray(v)) return '[' + v.slice(0, 8).map(show).join(',') + (v.length > 8 ? `,…(${v.length})` : '') + ']'
  if (typeof v === 'object') {
    const name = v.constructor && v.constructor.name !== 'Object' ? v.constructor.name : ''
    return name + '{' + Object.entries(v).slice(0, 8).map(([k, x]) => `${k}:${show(x)}`).join(',') + '}'
  }
  return String(v)
}

function typeName(v) {
  if (v === null) return 'null'
  if (Buffer.isBuffer(v)) return 'Buffer'
  if (v instanceof Date) return 'Date'
  if (Array.isArray(v)) return 'Array'
  if (typeof v === 'object') return v.constructor && v.constructor.name !== 'Object' ? v.constructor.name : 'object'
  return typeof v
}

// Deep equality: Buffers by bytes, Dates by instant, NaN equals NaN, objects ignoring key order.
function same(a, b) {
  if (typeof a === 'number' && typeof b === 'number') return a === b || (Number.isNaN(a) && Number.isNaN(b))
  if (a === b) return true
  if (a === null || b === null || a === undefined || b === undefined) return false
  if (Buffer.isBuffer(a) || Buffer.isBuffer(b)) return Buffer.isBuffer(a) && Buffer.isBuffer(b) && a.equals(b)
  if (a instanceof Date || b instanceof Date) return a instanceof Date && b instanceof Date && a.getTime() === b.getTime()
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => same(x, b[i]))
  }
  if (typeof a === 'object' && typeof b === 'object') {
    const ka = Object.keys(a).sort()
    const kb = Object.keys(b).sort()
    return same(ka, kb) && ka.every((k) => same(a[k], b[k]))
  }
  return false
}

function check(got, want, what) {
  if (!same(got, want)) throw new Fail(`${what}: got ${show(got)} want ${show(want)}`)
}

function assert(cond, msg) {
  if (!cond) throw new Fail(msg)
}

// Run the cells in order. Each cell gets a fresh context whose resources are released afterwards,
// and a 30 s timeout; a cell's detail is the string it returns.
// For running by hand: MATRIX_CELLS=a,b runs only those cells; MATRIX_CELL_TIMEOUT=seconds (default 30).
async function runCells(driver, cells, makeCtx, timeoutMs = 1000 * Number(process.env.MATRIX_CELL_TIMEOUT || 30)) {
  const only = process.env.MATRIX_CELLS ? process.env.MATRIX_CELLS.split(',') : null
  for (const [name, fn] of cells) {
    if (only && !only.includes(name)) continue
    const ctx = makeCtx()
    let status = 'ok'
    let detail = ''
    try {
      detail = await within(Promise.resolve().then(() => fn(ctx)), timeoutMs, `timeout after ${timeoutMs / 1000}s`)
    } catch (e) {
      status = e instanceof NA ? 'n/a' : 'fail'
      detail = errText(e)
    }
    try {
      await within(ctx.release(), 5000, 'release timeout')
    } catch (e) {
      process.stderr.write(`[${name}] release: ${errText(e)}\n`)
    }
    emit(driver, name, status, detail)
  }
}

module.exports = { NA, Fail, parseArgs, emit, sleep, within, errText, show, typeName, same, check, assert, runCells }
