// Driver matrix for pgjdbc (PostgreSQL JDBC driver).
// java -cp /usr/share/java/postgresql.jar PgMatrix.java --driver pgjdbc --host H --port P --user U
//      --password W --dbname D [--dialect postgres|sqlite]
// One JSON line per cell on stdout, in a fixed order; diagnostics on stderr.

import java.io.*;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.sql.*;
import java.time.*;
import java.util.*;
import java.util.concurrent.*;
import org.postgresql.PGConnection;
import org.postgresql.PGStatement;
import org.postgresql.copy.CopyManager;
import org.postgresql.util.*;

public class PgMatrix {
    static Map<String, String> ARGS;
    static String DRIVER, P, URL;
    static boolean SQLITE; // --dialect sqlite (mdbd on SQLite): same cells; only connect and cursor_100k adapt

    // ------------------------------------------------------------ shared helpers
    static final class NA extends Exception { NA(String m) { super(m); } }
    static final class Fail extends Exception { Fail(String m) { super(m); } }
    interface Cell { String run(Ctx ctx) throws Exception; }

    /** Per-cell resources: every connection opened here is closed (or aborted) after the cell. */
    static final class Ctx {
        final List<Connection> conns = Collections.synchronizedList(new ArrayList<>());
        Connection connect(String... kv) throws SQLException {
            Properties p = new Properties();
            p.setProperty("user", ARGS.get("user"));
            p.setProperty("password", ARGS.getOrDefault("password", ""));
            p.setProperty("connectTimeout", "10");
            for (int i = 0; i + 1 < kv.length; i += 2) p.setProperty(kv[i], kv[i + 1]);
            Connection c = DriverManager.getConnection(URL, p);
            conns.add(c);
            return c;
        }
        void release(boolean abort) {
            for (Connection c : new ArrayList<>(conns)) {
                try {
                    if (abort) c.abort(Runnable::run); else if (!c.isClosed()) c.close();
                } catch (Exception e) { System.err.println("release: " + errText(e)); }
            }
        }
    }

    static String errText(Throwable e) {
        if (e instanceof Fail || e instanceof NA) return e.getMessage();
        StringBuilder sb = new StringBuilder(e.getClass().getSimpleName());
        if (e instanceof SQLException se) {
            if (se.getSQLState() != null) sb.append(' ').append(se.getSQLState());
            if (se.getErrorCode() != 0) sb.append(" errno=").append(se.getErrorCode());
        }
        sb.append(' ').append(String.valueOf(e.getMessage()).replaceAll("\\s+", " "));
        return sb.toString();
    }

    static String show(Object v) {
        if (v == null) return "null";
        if (v instanceof byte[] b) {
            StringBuilder sb = new StringBuilder("byte[" + b.length + "] ");
            for (int i = 0; i < Math.min(8, b.length); i++) sb.append(String.format("%02x", b[i]));
            return sb.toString();
        }
        if (v instanceof Object[] a) return Arrays.deepToString(a);
        String s = v.toString();
        if (s.length() > 50) s = s.substring(0, 50) + "…(" + s.length() + ")";
        return v.getClass().getSimpleName() + "(" + s + ")";
    }

    static void check(Object got, Object want, String what) throws Fail {
        if (!Objects.deepEquals(got, want)) throw new Fail(what + ": got " + show(got) + " want " + show(want));
    }

    static void require(boolean cond, String msg) throws Fail { if (!cond) throw new Fail(msg); }

    static String json(String s) {
        StringBuilder sb = new StringBuilder("\"");
        for (char ch : s.toCharArray()) {
            switch (ch) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                default -> { if (ch < 0x20 || ch > 0x7f) sb.append(String.format("\\u%04x", (int) ch)); else sb.append(ch); }
            }
        }
        return sb.append('"').toString();
    }

    static void emit(String cell, String status, String detail) {
        if (detail == null) detail = "";
        if (detail.length() > 290) detail = detail.substring(0, 289) + "…";
        System.out.println("{\"driver\": " + json(DRIVER) + ", \"cell\": " + json(cell) + ", \"status\": " + json(status)
                + ", \"detail\": " + json(detail) + "}");
        System.out.flush();
    }

    /** For running by hand: MATRIX_CELLS=a,b runs only those cells; MATRIX_CELL_TIMEOUT=seconds (default 30). */
    static void runCells(LinkedHashMap<String, Cell> cells) {
        String only = System.getenv("MATRIX_CELLS");
        double timeout = Double.parseDouble(Optional.ofNullable(System.getenv("MATRIX_CELL_TIMEOUT")).orElse("30"));
        for (Map.Entry<String, Cell> e : cells.entrySet()) {
            if (only != null && !Arrays.asList(only.split(",")).contains(e.getKey())) continue;
            Ctx ctx = new Ctx();
            ExecutorService ex = Executors.newSingleThreadExecutor(r -> { Thread t = new Thread(r); t.setDaemon(true); return t; });
            Future<String> f = ex.submit(() -> e.getValue().run(ctx));
            String status = "ok", detail;
            boolean timedOut = false;
            try {
                detail = f.get((long) (timeout * 1000), TimeUnit.MILLISECONDS);
            } catch (TimeoutException te) {
                status = "fail"; detail = "timeout after " + timeout + "s"; timedOut = true;
            } catch (ExecutionException ee) {
                Throwable c = ee.getCause();
                status = c instanceof NA ? "n/a" : "fail";
                detail = errText(c);
            } catch (InterruptedException ie) {
                status = "fail"; detail = "interrupted";
            }
            if (timedOut) f.cancel(true);
            ctx.release(timedOut);
            ex.shutdownNow();
            emit(e.getKey(), status, detail);
        }
    }

    static Map<String, String> parseArgs(String[] argv) {
        Map<String, String> m = new HashMap<>();
        for (int i = 0; i < argv.length; i++) {
            String a = argv[i];
            if (!a.startsWith("--")) throw new IllegalArgumentException("unexpected argument " + a);
            int eq = a.indexOf('=');
            if (eq > 0) m.put(a.substring(2, eq), a.substring(eq + 1)); else m.put(a.substring(2), argv[++i]);
        }
        for (String k : List.of("host", "port", "user", "dbname"))
            if (!m.containsKey(k)) throw new IllegalArgumentException("missing --" + k);
        return m;
    }

    static void exec(Connection c, String... sqls) throws SQLException {
        try (Statement st = c.createStatement()) { for (String s : sqls) st.execute(s); }
    }

    static void recreate(Connection c, String table, String cols) throws SQLException {
        exec(c, "DROP TABLE IF EXISTS " + table, "CREATE TABLE " + table + " (" + cols + ")");
    }

    static Object scalar(Connection c, String sql, Object... params) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            for (int i = 0; i < params.length; i++) ps.setObject(i + 1, params[i]);
            try (ResultSet rs = ps.executeQuery()) { rs.next(); return rs.getObject(1); }
        }
    }

    static List<String> strings(Connection c, String sql) throws SQLException {
        List<String> out = new ArrayList<>();
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) { while (rs.next()) out.add(rs.getString(1)); }
        return out;
    }

    // ------------------------------------------------------------ type cells
    /** A value to send and the value expected back (after the spec's reader). */
    record V(Object send, Object want) {}
    static V v(Object x) { return new V(x, x); }
    static V v(Object send, Object want) { return new V(send, want); }
    /** An array parameter: created with Connection.createArrayOf(elemType, elems). */
    record Arr(String elemType, Object[] elems) {}

    /**
     * name; SQL type; getColumnTypeName; class of getObject(); reader for the compared value;
     * literal SQL and its expected value; how to bind (null: setObject); values.
     */
    record T(String name, String sql, String colType, Class<?> cls, Reader reader, String lit, Object litWant, Integer sqlType, List<V> vals) {}
    interface Reader { Object read(ResultSet rs, int i) throws SQLException; }
    static final Reader OBJ = (rs, i) -> rs.getObject(i);
    static Reader as(Class<?> k) { return (rs, i) -> rs.getObject(i, k); }
    static final Reader INSTANT = (rs, i) -> { OffsetDateTime o = rs.getObject(i, OffsetDateTime.class); return o == null ? null : o.toInstant(); };
    static final Reader ARRAY = (rs, i) -> { java.sql.Array a = rs.getArray(i); return a == null ? null : a.getArray(); };
    static final Reader PGVALUE = (rs, i) -> { Object o = rs.getObject(i); return o instanceof PGobject p ? p.getValue() : o; };

    static PGobject pgobj(String type, String value) {
        try { PGobject o = new PGobject(); o.setType(type); o.setValue(value); return o; } catch (SQLException e) { throw new RuntimeException(e); }
    }

    static byte[] allBytes() { byte[] b = new byte[256]; for (int i = 0; i < 256; i++) b[i] = (byte) i; return b; }

    static final String[] JSONS = {
        "{\"a\": 1, \"b\": [1, 2, {\"c\": \"héllo ✓\", \"d\": null}], \"e\": true}",
        "[1, \"two\", null, [3]]", "\"just a string\"", "12.5" };

    static List<T> types() {
        List<V> json = new ArrayList<>(), jsonb = new ArrayList<>();
        for (String j : JSONS) { json.add(v(pgobj("json", j), j)); jsonb.add(v(pgobj("jsonb", j), j)); }
        return List.of(
            new T("int2", "int2", "int2", Integer.class, OBJ, "32767::int2", 32767, null, List.of(v(-32768), v(0), v(32767))),
            new T("int4", "int4", "int4", Integer.class, OBJ, "(-2147483648)::int4", -2147483648, null, List.of(v(Integer.MIN_VALUE), v(0), v(Integer.MAX_VALUE))),
            new T("int8", "int8", "int8", Long.class, OBJ, "9223372036854775807::int8", Long.MAX_VALUE, null, List.of(v(Long.MIN_VALUE), v(0L), v(Long.MAX_VALUE))),
            new T("numeric", "numeric", "numeric", BigDecimal.class, OBJ, "1.5::numeric", new BigDecimal("1.5"), null,
                List.of(v(new BigDecimal("-12345678901234.5678")), v(new BigDecimal("0")), v(new BigDecimal("1.50")),
                    v(new BigDecimal("123456789012345678901234567890.123456789")), v(new BigDecimal("0.000000001")))),
            new T("float4", "float4", "float4", Float.class, OBJ, "0.1::float4", 0.1f, null,
                List.of(v(0.1f), v(-1.5f), v(3.4e38f), v(1e-30f), v(Float.POSITIVE_INFINITY), v(Float.NEGATIVE_INFINITY))),
            new T("float8", "float8", "float8", Double.class, OBJ, "1e300::float8", 1e300, null,
                List.of(v(0.1), v(1e300), v(-2.2250738585072014e-308), v(Double.MAX_VALUE), v(Double.POSITIVE_INFINITY), v(Double.NaN))),
            new T("bool", "bool", "bool", Boolean.class, OBJ, "true", true, null, List.of(v(true), v(false))),
            new T("text", "text", "text", String.class, OBJ, "'héllo ✓'::text", "héllo ✓", null,
                List.of(v(""), v("héllo ✓"), v("emoji 😀 and 漢字"), v("quote ' back \\ tab\t nl\n"), v("x".repeat(100000)))),
            new T("bytea", "bytea", "bytea", byte[].class, OBJ, "'\\x00ff'::bytea", new byte[] {0, (byte) 255}, null,
                List.of(v(allBytes()), v(new byte[0]))),
            new T("date", "date", "date", java.sql.Date.class, as(LocalDate.class), "'2024-02-29'::date", LocalDate.of(2024, 2, 29), null,
                List.of(v(LocalDate.of(1, 1, 1)), v(LocalDate.of(9999, 12, 31)), v(LocalDate.of(2024, 2, 29)), v(LocalDate.of(1970, 1, 1)))),
            new T("time", "time", "time", java.sql.Time.class, as(LocalTime.class), "'12:34:56.123456'::time", LocalTime.of(12, 34, 56, 123456000), null,
                List.of(v(LocalTime.of(0, 0)), v(LocalTime.of(12, 34, 56, 123456000)), v(LocalTime.of(23, 59, 59, 999999000)))),
            new T("timestamp", "timestamp", "timestamp", Timestamp.class, as(LocalDateTime.class), "'2024-02-29 12:34:56.5'::timestamp",
                LocalDateTime.of(2024, 2, 29, 12, 34, 56, 500000000), null,
                List.of(v(LocalDateTime.of(1, 1, 1, 0, 0)), v(LocalDateTime.of(2024, 2, 29, 12, 34, 56, 123456000)),
                    v(LocalDateTime.of(9999, 12, 31, 23, 59, 59, 999999000)))),
            new T("timestamptz", "timestamptz", "timestamptz", Timestamp.class, INSTANT, "'2024-06-01 12:34:56+05:30'::timestamptz",
                Instant.parse("2024-06-01T07:04:56Z"), null,
                List.of(v(OffsetDateTime.of(2024, 6, 1, 12, 34, 56, 123456000, ZoneOffset.ofHoursMinutes(5, 30)), Instant.parse("2024-06-01T07:04:56.123456Z")),
                    v(OffsetDateTime.of(1999, 12, 31, 23, 59, 59, 0, ZoneOffset.ofHours(-8)), Instant.parse("2000-01-01T07:59:59Z")),
                    v(OffsetDateTime.of(2000, 1, 1, 0, 0, 0, 0, ZoneOffset.UTC), Instant.parse("2000-01-01T00:00:00Z")))),
            new T("interval", "interval", "interval", PGInterval.class, OBJ, "'1 day 02:00:00'::interval", new PGInterval(0, 0, 1, 2, 0, 0), null,
                List.of(v(new PGInterval(1, 2, 3, 4, 5, 6.789)), v(new PGInterval(0, 0, -1, 0, 0, -1)), v(new PGInterval(-1, -2, 3, 0, 0, 0)),
                    v(new PGInterval(0, 0, 0, 0, 0, 0.000001)), v(new PGInterval(0, 0, 0, 0, 0, 0)))),
            new T("uuid", "uuid", "uuid", UUID.class, OBJ, "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid", UUID.fromString("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"), null,
                List.of(v(UUID.fromString("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")), v(new UUID(0, 0)), v(new UUID(-1, -1)))),
            new T("json", "json", "json", PGobject.class, PGVALUE, "'{\"k\": [1, null]}'::json", "{\"k\": [1, null]}", null, json),
            new T("jsonb", "jsonb", "jsonb", PGobject.class, PGVALUE, "'{\"k\": [1, null]}'::jsonb", "{\"k\": [1, null]}", null, jsonb),
            new T("int_array", "int4[]", "_int4", java.sql.Array.class, ARRAY, "ARRAY[1,NULL,3]::int4[]", new Integer[] {1, null, 3}, null,
                List.of(v(new Arr("int4", new Integer[] {1, null, 3}), new Integer[] {1, null, 3}), v(new Arr("int4", new Integer[0]), new Integer[0]),
                    v(new Arr("int4", new Integer[] {Integer.MIN_VALUE, Integer.MAX_VALUE}), new Integer[] {Integer.MIN_VALUE, Integer.MAX_VALUE}),
                    v(new Arr("int4", new Integer[][] {{1, 2}, {3, 4}}), new Integer[][] {{1, 2}, {3, 4}}))),
            new T("text_array", "text[]", "_text", java.sql.Array.class, ARRAY, "ARRAY['', 'a b', 'NULL', NULL]::text[]", new String[] {"", "a b", "NULL", null}, null,
                List.of(v(new Arr("text", new String[] {"", "a b", "a\"b\\", "NULL", null, "héllo ✓", "{x,y}"}), new String[] {"", "a b", "a\"b\\", "NULL", null, "héllo ✓", "{x,y}"}),
                    v(new Arr("text", new String[0]), new String[0]))),
            new T("enum", P + "mood", P + "mood", String.class, OBJ, "'happy'::" + P + "mood", "happy", Types.OTHER,
                List.of(v("sad"), v("ok"), v("happy"))));
    }

    static void bind(Connection c, PreparedStatement ps, int i, Object x, Integer sqlType) throws SQLException {
        if (x instanceof Arr a) ps.setArray(i, c.createArrayOf(a.elemType(), a.elems()));
        else if (x == null) ps.setNull(i, sqlType == null ? Types.NULL : sqlType);
        else if (sqlType != null) ps.setObject(i, x, sqlType);
        else ps.setObject(i, x);
    }

    static Cell typeCell(T t) {
        return ctx -> {
            Connection c = ctx.connect();
            String table = P + t.name();
            if (t.name().equals("enum"))
                exec(c, "DROP TABLE IF EXISTS " + table, "DROP TYPE IF EXISTS " + P + "mood", "CREATE TYPE " + P + "mood AS ENUM ('sad', 'ok', 'happy')");
            recreate(c, table, "id int PRIMARY KEY, v " + t.sql());
            List<V> rows = new ArrayList<>(t.vals());
            rows.add(new V(null, null));
            try (PreparedStatement ins = c.prepareStatement("INSERT INTO " + table + " (id, v) VALUES (?, ?)")) {
                for (int k = 0; k < rows.size(); k++) {
                    ins.setInt(1, k + 1);
                    bind(c, ins, 2, rows.get(k).send(), t.sqlType());
                    ins.executeUpdate();
                }
            }
            // One row at a time, parameterised; the statement becomes server-prepared (and binary) after 5 uses.
            try (PreparedStatement sel = c.prepareStatement("SELECT v FROM " + table + " WHERE id = ?")) {
                for (int k = 0; k < rows.size(); k++) {
                    sel.setInt(1, k + 1);
                    try (ResultSet rs = sel.executeQuery()) {
                        require(rs.next(), "id " + (k + 1) + ": no row");
                        String ct = rs.getMetaData().getColumnTypeName(1);
                        require(ct.equals(t.colType()), "id " + (k + 1) + ": column type " + ct + " want " + t.colType());
                        Object o = rs.getObject(1);
                        if (rows.get(k).want() != null)
                            require(t.cls().isInstance(o), "id " + (k + 1) + ": getObject gave " + (o == null ? "null" : o.getClass().getName()) + " want " + t.cls().getName());
                        check(t.reader().read(rs, 1), rows.get(k).want(), "id " + (k + 1));
                    }
                }
            }
            // The whole table.
            try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT id, v FROM " + table + " ORDER BY id")) {
                int k = 0;
                while (rs.next()) { check(t.reader().read(rs, 2), rows.get(k).want(), "whole table id " + rs.getInt(1)); k++; }
                check(k, rows.size(), "row count");
            }
            // A literal of the type, and its type name.
            try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT " + t.lit() + " AS v")) {
                rs.next();
                String ct = rs.getMetaData().getColumnTypeName(1);
                require(ct.equals(t.colType()), "literal column type " + ct + " want " + t.colType());
                check(t.reader().read(rs, 1), t.litWant(), "literal");
            }
            return (rows.size() - 1) + " values + NULL as " + t.cls().getSimpleName() + ", type " + t.colType();
        };
    }

    // ------------------------------------------------------------ binary COPY helpers
    static void copyField(DataOutputStream out, byte[] b) throws IOException {
        if (b == null) { out.writeInt(-1); return; }
        out.writeInt(b.length); out.write(b);
    }
    static byte[] int4(int n) { return java.nio.ByteBuffer.allocate(4).putInt(n).array(); }
    static byte[] int8(long n) { return java.nio.ByteBuffer.allocate(8).putLong(n).array(); }

    // ------------------------------------------------------------ crud cell
    // SQL that PostgreSQL and SQLite both accept; values with the class getObject gives them.
    static final String[] CRUD_COLS = {"id", "name", "score", "active", "qty"};
    static final String CRUD_DDL = "id INTEGER PRIMARY KEY, name TEXT NOT NULL, score DOUBLE PRECISION, active BOOLEAN, qty BIGINT";
    static final Object[][] CRUD_ROWS = {{1, "ann", 1.5, true, 10L}, {2, "bob", -0.25, false, 9007199254740993L}, {3, "cé ✓", null, null, null}};
    static final Object[][] CRUD_AFTER = {CRUD_ROWS[0], {2, "bob", 2.75, true, 9007199254740993L}};
    /** getObject classes accepted per column: id Integer (or Long), then String, Double, Boolean, Long. */
    static final List<List<Class<?>>> CRUD_CLASSES = List.of(List.of(Integer.class, Long.class), List.of(String.class),
        List.of(Double.class), List.of(Boolean.class), List.of(Long.class));

    static void checkCrudRow(ResultSet rs, Object[] want, String what) throws Exception {
        require(rs.next(), what + ": no row");
        for (int i = 0; i < CRUD_COLS.length; i++) {
            Object got = rs.getObject(i + 1);
            String col = what + " " + CRUD_COLS[i];
            if (want[i] != null) {
                Object g = got;
                require(CRUD_CLASSES.get(i).stream().anyMatch(k -> k.isInstance(g)),
                    col + ": getObject gave " + (got == null ? "null" : got.getClass().getName()) + " want " + CRUD_CLASSES.get(i));
            }
            if (i == 0 && got instanceof Long l) got = Math.toIntExact(l);
            check(got, want[i], col);
        }
    }

    static String crudCell(Ctx ctx) throws Exception {
        Connection c = ctx.connect();
        Object ver = scalar(c, "SELECT version()");
        require(ver instanceof String v && v.contains("PostgreSQL"), "SELECT version(): got " + show(ver) + ", want text containing PostgreSQL");
        String table = P + "crud", cols = String.join(", ", CRUD_COLS);
        recreate(c, table, CRUD_DDL);
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO " + table + " (" + cols + ") VALUES (?, ?, ?, ?, ?)")) {
            for (Object[] r : CRUD_ROWS) {
                ps.setInt(1, (Integer) r[0]);
                ps.setString(2, (String) r[1]);
                if (r[2] == null) ps.setNull(3, Types.DOUBLE); else ps.setDouble(3, (Double) r[2]);
                if (r[3] == null) ps.setNull(4, Types.BOOLEAN); else ps.setBoolean(4, (Boolean) r[3]);
                if (r[4] == null) ps.setNull(5, Types.BIGINT); else ps.setLong(5, (Long) r[4]);
                ps.executeUpdate();
            }
        }
        try (PreparedStatement sel = c.prepareStatement("SELECT " + cols + " FROM " + table + " WHERE id = ?")) {
            sel.setInt(1, 1);
            try (ResultSet rs = sel.executeQuery()) { checkCrudRow(rs, CRUD_ROWS[0], "id 1"); require(!rs.next(), "id 1: more than one row"); }
            try (PreparedStatement ps = c.prepareStatement("UPDATE " + table + " SET score = ?, active = ? WHERE id = ?")) {
                ps.setDouble(1, 2.75); ps.setBoolean(2, true); ps.setInt(3, 2);
                check(ps.executeUpdate(), 1, "UPDATE row count");
            }
            sel.setInt(1, 2);
            try (ResultSet rs = sel.executeQuery()) { checkCrudRow(rs, CRUD_AFTER[1], "id 2 after UPDATE"); require(!rs.next(), "id 2: more than one row"); }
        }
        try (PreparedStatement ps = c.prepareStatement("DELETE FROM " + table + " WHERE id = ?")) {
            ps.setInt(1, 3);
            check(ps.executeUpdate(), 1, "DELETE row count");
        }
        Object n = scalar(c, "SELECT count(*) FROM " + table);
        require(n instanceof Number || n instanceof String, "count(*): getObject gave " + show(n));
        check(n instanceof Number x ? x.longValue() : Long.parseLong(n.toString().trim()), 2L, "SELECT count(*)");
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT " + cols + " FROM " + table + " ORDER BY id")) {
            for (Object[] w : CRUD_AFTER) checkCrudRow(rs, w, "ORDER BY id: id " + w[0]);
            require(!rs.next(), "ORDER BY id: more than " + CRUD_AFTER.length + " rows");
        }
        return "version() ok; 3 inserts, select/update/delete by ?, 2 rows with getObject classes Integer/String/Double/Boolean/Long";
    }

    // ------------------------------------------------------------ cells
    static LinkedHashMap<String, Cell> cells() {
        LinkedHashMap<String, Cell> m = new LinkedHashMap<>();
        m.put("connect", ctx -> {
            Connection c = ctx.connect();
            Object one = scalar(c, "SELECT 1");
            check(SQLITE ? String.valueOf(one) : one, SQLITE ? "1" : 1, "SELECT 1");
            DatabaseMetaData md = c.getMetaData();
            return "SELECT 1 ok, " + md.getDatabaseProductName() + " " + md.getDatabaseProductVersion() + ", driver " + md.getDriverVersion();
        });
        m.put("crud", PgMatrix::crudCell);
        for (T t : types()) m.put("type_" + t.name(), typeCell(t));
        m.put("param_text", ctx -> {
            Connection c = ctx.connect("binaryTransfer", "false", "prepareThreshold", "0");
            try (PreparedStatement ps = c.prepareStatement("SELECT ?::text, ?::int4, ?::numeric, ?::date, ?::bool, ?::float8, ?::text, ?::int8, ?::bytea, ?::uuid")) {
                UUID u = UUID.fromString("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
                ps.setString(1, "héllo ✓"); ps.setInt(2, 42); ps.setBigDecimal(3, new BigDecimal("-1.25"));
                ps.setObject(4, LocalDate.of(2024, 2, 29)); ps.setBoolean(5, true); ps.setDouble(6, 0.5);
                ps.setNull(7, Types.VARCHAR); ps.setLong(8, Long.MIN_VALUE); ps.setBytes(9, allBytes()); ps.setObject(10, u);
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    Object[] got = {rs.getString(1), rs.getObject(2), rs.getObject(3), rs.getObject(4, LocalDate.class), rs.getObject(5), rs.getObject(6), rs.getObject(7), rs.getObject(8), rs.getBytes(9), rs.getObject(10)};
                    Object[] want = {"héllo ✓", 42, new BigDecimal("-1.25"), LocalDate.of(2024, 2, 29), true, 0.5, null, Long.MIN_VALUE, allBytes(), u};
                    check(got, want, "row");
                }
            }
            return "binaryTransfer=false, prepareThreshold=0: text parameters and results";
        });
        m.put("param_binary", ctx -> {
            Connection c = ctx.connect("binaryTransfer", "true", "prepareThreshold", "-1");
            UUID u = UUID.fromString("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
            BigDecimal n = new BigDecimal("-12345678901234.5678");
            LocalDateTime ts = LocalDateTime.of(2024, 2, 29, 12, 34, 56, 123456000);
            try (PreparedStatement ps = c.prepareStatement("SELECT ?::numeric, ?::uuid, ?::bytea, ?::date, ?::int8, ?::float8, ?::timestamp, ?::int4, ?::text")) {
                ps.setBigDecimal(1, n); ps.setObject(2, u); ps.setBytes(3, allBytes()); ps.setDate(4, java.sql.Date.valueOf("2024-02-29"));
                ps.setLong(5, Long.MIN_VALUE); ps.setDouble(6, 0.1); ps.setObject(7, ts); ps.setInt(8, -300); ps.setString(9, "héllo ✓");
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    Object[] got = {rs.getBigDecimal(1), rs.getObject(2), rs.getBytes(3), rs.getDate(4).toString(), rs.getLong(5), rs.getDouble(6), rs.getObject(7, LocalDateTime.class), rs.getInt(8), rs.getString(9)};
                    Object[] want = {n, u, allBytes(), "2024-02-29", Long.MIN_VALUE, 0.1, ts, -300, "héllo ✓"};
                    check(got, want, "row");
                }
            }
            String table = P + "pbin";
            recreate(c, table, "id int4 PRIMARY KEY, n numeric, u uuid, b bytea, d date");
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO " + table + " VALUES (?, ?, ?, ?, ?)")) {
                ps.setInt(1, 7); ps.setBigDecimal(2, new BigDecimal("0.000001")); ps.setObject(3, u); ps.setBytes(4, allBytes()); ps.setDate(5, java.sql.Date.valueOf("1999-12-31"));
                ps.executeUpdate();
            }
            try (PreparedStatement ps = c.prepareStatement("SELECT n, u, b, d FROM " + table + " WHERE id = ?")) {
                ps.setInt(1, 7);
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    check(new Object[] {rs.getBigDecimal(1), rs.getObject(2), rs.getBytes(3), rs.getDate(4).toString()},
                        new Object[] {new BigDecimal("0.000001"), u, allBytes(), "1999-12-31"}, "inserted row");
                }
            }
            return "binaryTransfer=true, prepareThreshold=-1: setBigDecimal/setObject(UUID)/setBytes/setDate/... + insert";
        });
        m.put("rollback", ctx -> {
            Connection c = ctx.connect();
            String table = P + "rb";
            recreate(c, table, "id int PRIMARY KEY, v text");
            c.setAutoCommit(false);
            exec(c, "INSERT INTO " + table + " VALUES (1, 'gone')");
            check(scalar(c, "SELECT count(*)::int FROM " + table), 1, "count inside tx");
            c.rollback();
            check(scalar(c, "SELECT count(*)::int FROM " + table), 0, "count after rollback");
            exec(c, "INSERT INTO " + table + " VALUES (2, 'kept')");
            c.commit();
            c.setAutoCommit(true);
            check(strings(c, "SELECT id FROM " + table), List.of("2"), "after commit");
            return "rolled back insert gone, committed insert kept";
        });
        m.put("savepoint_rollback", ctx -> {
            Connection c = ctx.connect();
            String table = P + "sp";
            recreate(c, table, "id int PRIMARY KEY, v text");
            c.setAutoCommit(false);
            exec(c, "INSERT INTO " + table + " VALUES (1, 'a')");
            Savepoint sp = c.setSavepoint("s");
            try { exec(c, "INSERT INTO " + table + " VALUES (1, 'dup')"); throw new Fail("duplicate insert did not fail"); }
            catch (SQLException e) { require("23505".equals(e.getSQLState()), "failing statement: " + errText(e)); }
            c.rollback(sp);
            exec(c, "INSERT INTO " + table + " VALUES (2, 'b')");
            c.commit();
            c.setAutoCommit(true);
            check(strings(c, "SELECT v FROM " + table + " ORDER BY id"), List.of("a", "b"), "rows");
            return "a and b committed after rollback(Savepoint)";
        });
        m.put("savepoint_release", ctx -> {
            Connection c = ctx.connect();
            String table = P + "spr";
            recreate(c, table, "id int PRIMARY KEY, v text");
            c.setAutoCommit(false);
            exec(c, "INSERT INTO " + table + " VALUES (1, 'a')");
            Savepoint sp = c.setSavepoint("s");
            exec(c, "INSERT INTO " + table + " VALUES (2, 'b')");
            c.releaseSavepoint(sp);
            c.commit();
            c.setAutoCommit(true);
            check(strings(c, "SELECT v FROM " + table + " ORDER BY id"), List.of("a", "b"), "rows");
            return "a and b committed after releaseSavepoint";
        });
        m.put("duplicate_key", ctx -> {
            Connection c = ctx.connect();
            String table = P + "dup";
            recreate(c, table, "id int PRIMARY KEY, v text");
            exec(c, "INSERT INTO " + table + " VALUES (1, 'x')");
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO " + table + " VALUES (?, ?)")) {
                ps.setInt(1, 1); ps.setString(2, "y");
                ps.executeUpdate();
                throw new Fail("no error on duplicate insert");
            } catch (PSQLException e) {
                ServerErrorMessage sem = e.getServerErrorMessage();
                require(sem != null, "no ServerErrorMessage: " + errText(e));
                check(new Object[] {e.getSQLState(), sem.getConstraint(), sem.getTable(), sem.getDetail()},
                    new Object[] {"23505", table + "_pkey", table, "Key (id)=(1) already exists."}, "error fields");
                check(scalar(c, "SELECT 1"), 1, "usable after error");
                return "23505 " + sem.getConstraint() + " on " + sem.getTable() + ": " + sem.getDetail();
            }
        });
        m.put("cursor_100k", ctx -> {
            Connection c = ctx.connect();
            c.setAutoCommit(false);
            long count = 0, sum = 0;
            try (PreparedStatement ps = c.prepareStatement(SQLITE
                    ? "WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < 100000) SELECT g FROM s"
                    : "SELECT g FROM generate_series(1, 100000) AS g")) {
                ps.setFetchSize(1000);
                try (ResultSet rs = ps.executeQuery()) { while (rs.next()) { count++; sum += rs.getLong(1); } }
            }
            c.commit();
            check(count, 100000L, "count");
            check(sum, 5000050000L, "sum of ids");
            return "100000 rows with autocommit off and setFetchSize(1000) (portal fetches)";
        });
        m.put("executemany", ctx -> {
            String table = P + "many";
            Connection c = ctx.connect();
            recreate(c, table, "id int PRIMARY KEY, v text");
            for (int pass = 0; pass < 2; pass++) {
                Connection bc = pass == 0 ? c : ctx.connect("reWriteBatchedInserts", "true");
                bc.setAutoCommit(false);
                try (PreparedStatement ps = bc.prepareStatement("INSERT INTO " + table + " (id, v) VALUES (?, ?)")) {
                    for (int i = 1 + pass * 1000; i <= 1000 + pass * 1000; i++) { ps.setInt(1, i); ps.setString(2, "row " + i); ps.addBatch(); }
                    int[] res = ps.executeBatch();
                    check(res.length, 1000, "executeBatch result count (pass " + pass + ")");
                    for (int r : res) require(r == 1 || r == Statement.SUCCESS_NO_INFO, "batch update count " + r);
                }
                bc.commit();
                bc.setAutoCommit(true);
            }
            check(new Object[] {scalar(c, "SELECT count(*)::int FROM " + table), scalar(c, "SELECT sum(id)::int8 FROM " + table)},
                new Object[] {2000, 2001000L}, "table");
            return "1000 addBatch/executeBatch, then 1000 with reWriteBatchedInserts=true";
        });
        m.put("copy_text", ctx -> {
            Connection c = ctx.connect();
            String table = P + "copyt";
            recreate(c, table, "id int PRIMARY KEY, v text, n numeric");
            StringBuilder sb = new StringBuilder();
            for (int i = 1; i <= 1000; i++)
                sb.append(i).append('\t').append(i % 10 == 0 ? "\\N" : "row " + i + " tab\\there nl\\nback\\\\slash héllo ✓").append('\t')
                    .append(i % 7 == 0 ? "\\N" : i + "." + (i % 100)).append('\n');
            String sent = sb.toString();
            CopyManager cm = c.unwrap(PGConnection.class).getCopyAPI();
            long n = cm.copyIn("COPY " + table + " (id, v, n) FROM STDIN", new ByteArrayInputStream(sent.getBytes(StandardCharsets.UTF_8)));
            check(n, 1000L, "rows copied in");
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            long m2 = cm.copyOut("COPY (SELECT id, v, n FROM " + table + " ORDER BY id) TO STDOUT", out);
            check(m2, 1000L, "rows copied out");
            String back = out.toString(StandardCharsets.UTF_8);
            require(back.equals(sent), "COPY TO STDOUT differs (" + back.length() + " vs " + sent.length() + " chars)");
            check(scalar(c, "SELECT v FROM " + table + " WHERE id = 3"), "row 3 tab\there nl\nback\\slash héllo ✓", "row 3");
            return "1000 rows through CopyManager copyIn/copyOut, text identical";
        });
        m.put("copy_binary", ctx -> {
            Connection c = ctx.connect();
            String table = P + "copyb";
            recreate(c, table, "id int4 PRIMARY KEY, v text, b bytea, n int8");
            ByteArrayOutputStream buf = new ByteArrayOutputStream();
            DataOutputStream out = new DataOutputStream(buf);
            out.write("PGCOPY\n\377\r\n\0".getBytes(StandardCharsets.ISO_8859_1));
            out.writeInt(0); out.writeInt(0);
            List<Object[]> rowsIn = new ArrayList<>();
            for (int i = 1; i <= 1000; i++) {
                Object[] r = {i, "héllo " + i, new byte[] {(byte) i, 0, (byte) 255, (byte) (i * 7)}, i % 5 == 0 ? null : i * 1000000000L};
                rowsIn.add(r);
                out.writeShort(4);
                copyField(out, int4(i)); copyField(out, ((String) r[1]).getBytes(StandardCharsets.UTF_8)); copyField(out, (byte[]) r[2]);
                copyField(out, r[3] == null ? null : int8((Long) r[3]));
            }
            out.writeShort(-1);
            byte[] data = buf.toByteArray();
            CopyManager cm = c.unwrap(PGConnection.class).getCopyAPI();
            check(cm.copyIn("COPY " + table + " FROM STDIN (FORMAT BINARY)", new ByteArrayInputStream(data)), 1000L, "rows copied in");
            try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT id, v, b, n FROM " + table + " ORDER BY id")) {
                int k = 0;
                while (rs.next()) { check(new Object[] {rs.getInt(1), rs.getString(2), rs.getBytes(3), rs.getObject(4)}, rowsIn.get(k), "row " + (k + 1)); k++; }
                check(k, 1000, "rows");
            }
            ByteArrayOutputStream back = new ByteArrayOutputStream();
            cm.copyOut("COPY (SELECT id, v, b, n FROM " + table + " ORDER BY id) TO STDOUT (FORMAT BINARY)", back);
            require(Arrays.equals(back.toByteArray(), data), "COPY TO STDOUT (FORMAT BINARY) gave " + back.size() + " bytes, sent " + data.length);
            return "1000 rows, hand-written PGCOPY (" + data.length + " bytes) in, identical bytes out";
        });
        m.put("prepared_reuse", ctx -> {
            Connection c = ctx.connect("prepareThreshold", "5");
            boolean server = false;
            try (PreparedStatement ps = c.prepareStatement("SELECT ?::int4 * 2, ?::text")) {
                for (int i = 0; i < 20; i++) {
                    ps.setInt(1, i); ps.setString(2, "n" + i);
                    try (ResultSet rs = ps.executeQuery()) { rs.next(); check(new Object[] {rs.getInt(1), rs.getString(2)}, new Object[] {i * 2, "n" + i}, "run " + (i + 1)); }
                }
                server = ps.unwrap(PGStatement.class).isUseServerPrepare();
            }
            require(server, "statement did not become server-prepared");
            return "one PreparedStatement run 20 times, server-prepared past prepareThreshold=5";
        });
        m.put("pool_reuse", ctx -> {
            List<Connection> pool = new ArrayList<>();
            for (int i = 0; i < 3; i++) pool.add(ctx.connect());
            ExecutorService ex = Executors.newFixedThreadPool(3);
            try {
                List<Future<Integer>> fs = new ArrayList<>();
                for (int q = 0; q < 30; q++) {
                    final int qq = q;
                    final Connection pc = pool.get(q % 3);
                    fs.add(ex.submit(() -> { synchronized (pc) { return (Integer) scalar(pc, "SELECT ?::int4 + 0 FROM (SELECT pg_sleep(0.01)) s", qq); } }));
                }
                for (int q = 0; q < 30; q++) check(fs.get(q).get(), q, "query " + q);
            } finally { ex.shutdownNow(); }
            long t0 = System.nanoTime();
            for (Connection pc : pool) pc.close();
            long ms = (System.nanoTime() - t0) / 1_000_000;
            require(ms < 5000, "closing took " + ms + " ms");
            return "30 queries from 3 threads over 3 connections; closed in " + ms + " ms";
        });
        m.put("cancel", ctx -> {
            Connection c = ctx.connect();
            long t0 = System.nanoTime();
            try (Statement st = c.createStatement()) {
                ScheduledExecutorService sch = Executors.newSingleThreadScheduledExecutor();
                sch.schedule(() -> { try { st.cancel(); } catch (SQLException e) { System.err.println("cancel: " + errText(e)); } return null; }, 500, TimeUnit.MILLISECONDS);
                try { st.execute("SELECT pg_sleep(10)"); throw new Fail("pg_sleep(10) completed without error"); }
                catch (SQLException e) { require("57014".equals(e.getSQLState()), "want SQLSTATE 57014, got " + errText(e)); }
                finally { sch.shutdownNow(); }
            }
            long ms = (System.nanoTime() - t0) / 1_000_000;
            require(ms < 3000, "cancel took " + ms + " ms");
            check(scalar(c, "SELECT 1"), 1, "SELECT 1 after cancel");
            return "57014 after " + ms + " ms via Statement.cancel() (CancelRequest), connection reusable";
        });
        m.put("close", ctx -> {
            Connection c = ctx.connect();
            check(scalar(c, "SELECT 1"), 1, "SELECT 1");
            long t0 = System.nanoTime();
            c.close();
            long ms = (System.nanoTime() - t0) / 1_000_000;
            require(ms < 2000 && c.isClosed(), "close() took " + ms + " ms");
            return "close() took " + ms + " ms";
        });
        return m;
    }

    public static void main(String[] argv) throws Exception {
        System.setOut(new PrintStream(new FileOutputStream(FileDescriptor.out), true, StandardCharsets.UTF_8));
        TimeZone.setDefault(TimeZone.getTimeZone("UTC")); // java.sql.Date/Timestamp conversions
        ARGS = parseArgs(argv);
        DRIVER = ARGS.getOrDefault("driver", "pgjdbc");
        SQLITE = "sqlite".equals(ARGS.get("dialect"));
        P = "m_" + DRIVER.replaceAll("[^A-Za-z0-9_]", "_").toLowerCase() + "_";
        URL = "jdbc:postgresql://" + ARGS.get("host") + ":" + ARGS.get("port") + "/" + ARGS.get("dbname");
        DriverManager.setLoginTimeout(10);
        runCells(cells());
        System.exit(0);
    }
}
