// Driver matrix for MariaDB Connector/J (Debian's libmariadb-java, 2.7.x).
// java -cp /usr/share/java/mariadb-java-client.jar MysqlMatrix.java --driver connector-j --host H --port P
//      --user U --password W --dbname D
// One JSON line per cell on stdout, in a fixed order; diagnostics on stderr.
// The shared helpers below are the same as in PgMatrix.java (single-file programs cannot share a class).

import java.io.*;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.nio.file.*;
import java.sql.*;
import java.time.*;
import java.util.*;
import java.util.concurrent.*;

public class MysqlMatrix {
    static Map<String, String> ARGS;
    static String DRIVER, P, URL;

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
            p.setProperty("connectTimeout", "10000");
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

    static final String ENGINE = " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4";

    static void table(Connection c, String table, String cols) throws SQLException {
        exec(c, "DROP TABLE IF EXISTS " + table, "CREATE TABLE " + table + " (" + cols + ")" + ENGINE);
    }

    static byte[] allBytes() { byte[] b = new byte[256]; for (int i = 0; i < 256; i++) b[i] = (byte) i; return b; }

    // Five cross-joined digit tables give 1..100000 (MariaDB caps WITH RECURSIVE at max_recursive_iterations=1000).
    static final String DIGITS = "(SELECT 0 AS n UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4"
        + " UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9)";
    static final String SEQ_100K = "SELECT 1 + a.n + 10 * b.n + 100 * c.n + 1000 * d.n + 10000 * e.n AS id FROM "
        + DIGITS + " a, " + DIGITS + " b, " + DIGITS + " c, " + DIGITS + " d, " + DIGITS + " e";

    // ------------------------------------------------------------ type cells
    /** send: the parameter; want: the value read back; binOk: false to skip the binary-protocol read. */
    record V(Object send, Object want, boolean binOk) {}
    static V v(Object x) { return new V(x, x, true); }
    static V v(Object send, Object want) { return new V(send, want, true); }
    interface Reader { Object read(ResultSet rs, int i) throws SQLException; }
    static final Reader OBJ = (rs, i) -> rs.getObject(i);
    static Reader as(Class<?> k) { return (rs, i) -> rs.getObject(i, k); }

    /** name; SQL type; getColumnTypeName; class of getObject(); reader for the compared value; session SQL before/after the inserts; values. */
    record T(String name, String sql, String colType, Class<?> cls, Reader reader, String before, String after, List<V> vals) {}

    static List<T> types() {
        return List.of(
            new T("tinyint", "TINYINT", "TINYINT", Integer.class, OBJ, null, null, List.of(v(-128), v(0), v(127))),
            new T("int", "INT", "INTEGER", Integer.class, OBJ, null, null, List.of(v(Integer.MIN_VALUE), v(0), v(Integer.MAX_VALUE))),
            new T("bigint", "BIGINT", "BIGINT", Long.class, OBJ, null, null, List.of(v(Long.MIN_VALUE), v(0L), v(Long.MAX_VALUE))),
            new T("decimal", "DECIMAL(12,2)", "DECIMAL", BigDecimal.class, OBJ, null, null,
                List.of(v(new BigDecimal("1234.5"), new BigDecimal("1234.50")), v(new BigDecimal("-9999999999.99")),
                    v(BigDecimal.ZERO, new BigDecimal("0.00")), v(new BigDecimal("0.01")))),
            new T("float", "FLOAT", "FLOAT", Float.class, OBJ, null, null, List.of(v(0.1f), v(-1.5f), v(3.4e38f), v(0f))),
            new T("double", "DOUBLE", "DOUBLE", Double.class, OBJ, null, null,
                List.of(v(0.1), v(1e300), v(-2.2250738585072014e-308), v(Double.MAX_VALUE), v(-0.5))),
            new T("bool", "TINYINT(1)", "TINYINT", Boolean.class, OBJ, null, null, List.of(v(true), v(false))),
            new T("varchar", "VARCHAR(300)", "VARCHAR", String.class, OBJ, null, null,
                List.of(v(""), v("héllo ✓"), v("emoji 😀 and 漢字"), v("quote ' back \\ tab\t nl\n"), v("x".repeat(300)))),
            new T("blob", "BLOB", "BLOB", byte[].class, (rs, i) -> rs.getBytes(i), null, null, List.of(v(allBytes()), v(new byte[0]))),
            new T("date", "DATE", "DATE", java.sql.Date.class, as(LocalDate.class), null, null,
                List.of(v(LocalDate.of(1000, 1, 1)), v(LocalDate.of(9999, 12, 31)), v(LocalDate.of(2024, 2, 29)), v(LocalDate.of(1970, 1, 1)))),
            new T("time", "TIME(6)", "TIME", java.sql.Time.class, as(LocalTime.class), null, null,
                // Connector/J 2.7 reads a binary-protocol TIME 00:00:00 (sent as length 0) as NULL: text protocol only.
                List.of(new V(LocalTime.of(0, 0), LocalTime.of(0, 0), false), v(LocalTime.of(12, 34, 56, 123456000)), v(LocalTime.of(23, 59, 59, 999999000)))),
            new T("datetime", "DATETIME(6)", "DATETIME", Timestamp.class, as(LocalDateTime.class), null, null,
                List.of(v(LocalDateTime.of(1000, 1, 1, 0, 0)), v(LocalDateTime.of(2024, 2, 29, 12, 34, 56, 123456000)),
                    v(LocalDateTime.of(9999, 12, 31, 23, 59, 59, 999999000)))),
            // Inserted with the session in +05:30, read back in +00:00: the wall times move by the offset.
            new T("timestamp", "TIMESTAMP(6) NULL", "TIMESTAMP", Timestamp.class, as(LocalDateTime.class), "SET time_zone = '+05:30'", "SET time_zone = '+00:00'",
                List.of(v(LocalDateTime.of(2024, 6, 1, 12, 34, 56, 123456000), LocalDateTime.of(2024, 6, 1, 7, 4, 56, 123456000)),
                    v(LocalDateTime.of(1970, 1, 2, 5, 30), LocalDateTime.of(1970, 1, 2, 0, 0)),
                    v(LocalDateTime.of(2038, 1, 19, 8, 44, 7), LocalDateTime.of(2038, 1, 19, 3, 14, 7)))),
            new T("json", "JSON", "LONGTEXT", String.class, OBJ, null, null,
                List.of(v("{\"a\": 1, \"b\": [1, 2, {\"c\": \"héllo ✓\", \"d\": null}], \"e\": true}"), v("[1, \"two\", null]"), v("\"str\""), v("12.5"))),
            new T("enum", "ENUM('sad','ok','happy')", "CHAR", String.class, OBJ, null, null, List.of(v("sad"), v("ok"), v("happy"))));
    }

    static void readRows(T t, PreparedStatement sel, List<V> rows, String how) throws Exception {
        for (int k = 0; k < rows.size(); k++) {
            if (how.equals("(binary)") && !rows.get(k).binOk()) continue;
            sel.setInt(1, k + 1);
            try (ResultSet rs = sel.executeQuery()) {
                require(rs.next(), "id " + (k + 1) + ": no row");
                String ct = rs.getMetaData().getColumnTypeName(1);
                require(ct.equals(t.colType()), "id " + (k + 1) + " " + how + ": column type " + ct + " want " + t.colType());
                Object o = rs.getObject(1);
                if (rows.get(k).want() != null)
                    require(t.cls().isInstance(o), "id " + (k + 1) + " " + how + ": getObject gave " + (o == null ? "null" : o.getClass().getName()) + " want " + t.cls().getName());
                check(t.reader().read(rs, 1), rows.get(k).want(), "id " + (k + 1) + " " + how);
            }
        }
    }

    static Cell typeCell(T t) {
        return ctx -> {
            Connection c = ctx.connect();
            String table = P + t.name();
            table(c, table, "id INT PRIMARY KEY, v " + t.sql());
            List<V> rows = new ArrayList<>(t.vals());
            rows.add(new V(null, null, true));
            if (t.before() != null) exec(c, t.before());
            try (PreparedStatement ins = c.prepareStatement("INSERT INTO " + table + " (id, v) VALUES (?, ?)")) {
                for (int k = 0; k < rows.size(); k++) {
                    ins.setInt(1, k + 1);
                    if (rows.get(k).send() == null) ins.setNull(2, Types.NULL); else ins.setObject(2, rows.get(k).send());
                    ins.executeUpdate();
                }
            }
            if (t.after() != null) exec(c, t.after());
            String sql = "SELECT v FROM " + table + " WHERE id = ?";
            // One row at a time: client-side prepared (text protocol), then server-side prepared (binary protocol).
            try (PreparedStatement sel = c.prepareStatement(sql)) { readRows(t, sel, rows, "(text)"); }
            Connection sc = ctx.connect("useServerPrepStmts", "true");
            if (t.after() != null) exec(sc, t.after());
            try (PreparedStatement sel = sc.prepareStatement(sql)) { readRows(t, sel, rows, "(binary)"); }
            // The whole table.
            try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT id, v FROM " + table + " ORDER BY id")) {
                int k = 0;
                while (rs.next()) { check(t.reader().read(rs, 2), rows.get(k).want(), "whole table id " + rs.getInt(1)); k++; }
                check(k, rows.size(), "row count");
            }
            return (rows.size() - 1) + " values + NULL as " + t.cls().getSimpleName() + ", type " + t.colType();
        };
    }

    static final String PSTR = "héllo ✓ ' \" \\ \n end";

    /** Bind the same parameter set in both param cells and check what comes back. */
    static String params(Connection c, String how) throws Exception {
        LocalDateTime ts = LocalDateTime.of(2024, 2, 29, 12, 34, 56, 789000000);
        try (PreparedStatement ps = c.prepareStatement("SELECT ?, ? + 0, ?, HEX(?), CAST(? AS DECIMAL(10,2)), ? + 0")) {
            ps.setString(1, PSTR); ps.setInt(2, 42); ps.setNull(3, Types.VARCHAR); ps.setBytes(4, new byte[] {0, 39, 92, (byte) 255});
            ps.setBigDecimal(5, new BigDecimal("12.5")); ps.setLong(6, -2147483649L);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                check(new Object[] {rs.getString(1), rs.getLong(2), rs.getString(3), rs.getString(4), rs.getBigDecimal(5), rs.getLong(6)},
                    new Object[] {PSTR, 42L, null, "00275CFF", new BigDecimal("12.50"), -2147483649L}, how + " select");
            }
        }
        String table = P + "p" + how;
        table(c, table, "id INT PRIMARY KEY, s VARCHAR(100), b BLOB, d DATETIME(3), n DECIMAL(12,2), f DOUBLE, big BIGINT");
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO " + table + " VALUES (?, ?, ?, ?, ?, ?, ?)")) {
            ps.setInt(1, 1); ps.setString(2, PSTR); ps.setBytes(3, allBytes()); ps.setObject(4, ts);
            ps.setBigDecimal(5, new BigDecimal("1234.5")); ps.setDouble(6, 0.1); ps.setLong(7, Long.MIN_VALUE);
            ps.executeUpdate();
        }
        try (PreparedStatement ps = c.prepareStatement("SELECT s, b, d, n, f, big FROM " + table + " WHERE id = ?")) {
            ps.setInt(1, 1);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                check(new Object[] {rs.getString(1), rs.getBytes(2), rs.getObject(3, LocalDateTime.class), rs.getBigDecimal(4), rs.getDouble(5), rs.getLong(6)},
                    new Object[] {PSTR, allBytes(), ts, new BigDecimal("1234.50"), 0.1, Long.MIN_VALUE}, how + " inserted row");
            }
        }
        return "string/int/null/bytes/decimal/long/datetime/double parameters";
    }

    // ------------------------------------------------------------ cells
    static LinkedHashMap<String, Cell> cells() {
        LinkedHashMap<String, Cell> m = new LinkedHashMap<>();
        m.put("connect", ctx -> {
            Connection c = ctx.connect();
            check(scalar(c, "SELECT 1"), 1, "SELECT 1");
            DatabaseMetaData md = c.getMetaData();
            return "SELECT 1 ok, " + md.getDatabaseProductName() + " " + md.getDatabaseProductVersion() + ", driver " + md.getDriverVersion();
        });
        for (T t : types()) m.put("type_" + t.name(), typeCell(t));
        m.put("param_text", ctx -> "client-side prepare (useServerPrepStmts=false): " + params(ctx.connect("useServerPrepStmts", "false"), "text"));
        m.put("param_binary", ctx -> "server-side prepare (useServerPrepStmts=true): " + params(ctx.connect("useServerPrepStmts", "true"), "binary"));
        m.put("rollback", ctx -> {
            Connection c = ctx.connect();
            String table = P + "rb";
            table(c, table, "id INT PRIMARY KEY, v VARCHAR(20)");
            c.setAutoCommit(false);
            exec(c, "INSERT INTO " + table + " VALUES (1, 'gone')");
            check(((Number) scalar(c, "SELECT COUNT(*) FROM " + table)).intValue(), 1, "count inside tx");
            c.rollback();
            check(((Number) scalar(c, "SELECT COUNT(*) FROM " + table)).intValue(), 0, "count after rollback");
            exec(c, "INSERT INTO " + table + " VALUES (2, 'kept')");
            c.commit();
            c.setAutoCommit(true);
            check(strings(c, "SELECT id FROM " + table), List.of("2"), "after commit");
            return "rolled back insert gone, committed insert kept";
        });
        m.put("savepoint_rollback", ctx -> {
            Connection c = ctx.connect();
            String table = P + "sp";
            table(c, table, "id INT PRIMARY KEY, v VARCHAR(20)");
            c.setAutoCommit(false);
            exec(c, "INSERT INTO " + table + " VALUES (1, 'a')");
            Savepoint sp = c.setSavepoint("s");
            exec(c, "INSERT INTO " + table + " VALUES (3, 'c')");
            try { exec(c, "INSERT INTO " + table + " VALUES (1, 'dup')"); throw new Fail("duplicate insert did not fail"); }
            catch (SQLException e) { require(e.getErrorCode() == 1062, "failing statement: " + errText(e)); }
            c.rollback(sp);
            exec(c, "INSERT INTO " + table + " VALUES (2, 'b')");
            c.commit();
            c.setAutoCommit(true);
            check(strings(c, "SELECT v FROM " + table + " ORDER BY id"), List.of("a", "b"), "rows");
            return "a and b committed, c rolled back with rollback(Savepoint)";
        });
        m.put("savepoint_release", ctx -> {
            Connection c = ctx.connect();
            String table = P + "spr";
            table(c, table, "id INT PRIMARY KEY, v VARCHAR(20)");
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
            table(c, table, "id INT PRIMARY KEY, v VARCHAR(20)");
            exec(c, "INSERT INTO " + table + " VALUES (1, 'x')");
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO " + table + " VALUES (?, ?)")) {
                ps.setInt(1, 1); ps.setString(2, "y");
                ps.executeUpdate();
                throw new Fail("no error on duplicate insert");
            } catch (SQLException e) {
                check(new Object[] {e.getErrorCode(), e.getSQLState()}, new Object[] {1062, "23000"}, "error " + errText(e));
                require(e instanceof SQLIntegrityConstraintViolationException, "exception class " + e.getClass().getName());
                check(scalar(c, "SELECT 1"), 1, "usable after error");
                return e.getClass().getSimpleName() + " 1062/23000: " + e.getMessage();
            }
        });
        m.put("cursor_100k", ctx -> {
            Connection c = ctx.connect();
            long count = 0, sum = 0;
            try (Statement st = c.createStatement()) {
                st.setFetchSize(1000);
                try (ResultSet rs = st.executeQuery(SEQ_100K)) { while (rs.next()) { count++; sum += rs.getLong(1); } }
            }
            check(count, 100000L, "count");
            check(sum, 5000050000L, "sum of ids");
            check(scalar(c, "SELECT 1"), 1, "usable after streaming");
            return "100000 rows streamed with setFetchSize(1000)";
        });
        m.put("executemany", ctx -> {
            String table = P + "many";
            Connection c = ctx.connect();
            table(c, table, "id INT PRIMARY KEY, v VARCHAR(20)");
            for (int pass = 0; pass < 2; pass++) {
                Connection bc = pass == 0 ? c : ctx.connect("rewriteBatchedStatements", "true", "useBulkStmts", "false");
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
            check(new Object[] {((Number) scalar(c, "SELECT COUNT(*) FROM " + table)).longValue(), ((Number) scalar(c, "SELECT SUM(id) FROM " + table)).longValue()},
                new Object[] {2000L, 2001000L}, "table");
            return "1000 addBatch/executeBatch (driver defaults), then 1000 with rewriteBatchedStatements=true";
        });
        m.put("load_data_local", ctx -> {
            Connection c = ctx.connect("allowLocalInfile", "true");
            String table = P + "load";
            table(c, table, "id INT PRIMARY KEY, v VARCHAR(20)");
            Path f = Files.createTempFile("m_rows", ".csv");
            try {
                StringBuilder sb = new StringBuilder();
                for (int i = 1; i <= 1000; i++) sb.append(i).append(",row ").append(i).append('\n');
                Files.writeString(f, sb.toString());
                try (Statement st = c.createStatement()) {
                    int n = st.executeUpdate("LOAD DATA LOCAL INFILE '" + f + "' INTO TABLE " + table + " FIELDS TERMINATED BY ',' LINES TERMINATED BY '\\n' (id, v)");
                    check(n, 1000, "update count");
                }
            } finally { Files.deleteIfExists(f); }
            check(new Object[] {((Number) scalar(c, "SELECT COUNT(*) FROM " + table)).longValue(), ((Number) scalar(c, "SELECT SUM(id) FROM " + table)).longValue()},
                new Object[] {1000L, 500500L}, "table");
            return "1000 rows with allowLocalInfile=true";
        });
        m.put("prepared_reuse", ctx -> {
            Connection c = ctx.connect("useServerPrepStmts", "true");
            try (PreparedStatement ps = c.prepareStatement("SELECT ? * 2, CONCAT(?, '')")) {
                for (int i = 0; i < 20; i++) {
                    ps.setInt(1, i); ps.setString(2, "n" + i);
                    try (ResultSet rs = ps.executeQuery()) { rs.next(); check(new Object[] {rs.getLong(1), rs.getString(2)}, new Object[] {i * 2L, "n" + i}, "run " + (i + 1)); }
                }
            }
            return "one server-prepared statement (useServerPrepStmts=true) run 20 times";
        });
        m.put("pool_reuse", ctx -> {
            List<Connection> pool = new ArrayList<>();
            for (int i = 0; i < 3; i++) pool.add(ctx.connect());
            ExecutorService ex = Executors.newFixedThreadPool(3);
            try {
                List<Future<Long>> fs = new ArrayList<>();
                for (int q = 0; q < 30; q++) {
                    final long qq = q;
                    final Connection pc = pool.get(q % 3);
                    fs.add(ex.submit(() -> { synchronized (pc) { return ((Number) scalar(pc, "SELECT ? + 0 FROM (SELECT SLEEP(0.01)) s", qq)).longValue(); } }));
                }
                for (int q = 0; q < 30; q++) check(fs.get(q).get(), (long) q, "query " + q);
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
            String how;
            try (Statement st = c.createStatement()) {
                ScheduledExecutorService sch = Executors.newSingleThreadScheduledExecutor();
                sch.schedule(() -> { try { st.cancel(); } catch (SQLException e) { System.err.println("cancel: " + errText(e)); } return null; }, 500, TimeUnit.MILLISECONDS);
                try (ResultSet rs = st.executeQuery("SELECT SLEEP(10)")) {
                    rs.next();
                    how = "SLEEP returned " + rs.getInt(1);
                    require(rs.getInt(1) == 1, how);
                } catch (SQLException e) {
                    how = errText(e);
                    require(e.getErrorCode() == 1317 || "70100".equals(e.getSQLState()), "unexpected error: " + how);
                } finally { sch.shutdownNow(); }
            }
            long ms = (System.nanoTime() - t0) / 1_000_000;
            require(ms < 3000, "query ended after " + ms + " ms");
            check(scalar(c, "SELECT 1"), 1, "SELECT 1 after cancel");
            return "Statement.cancel() (KILL QUERY on a new connection): " + how + " after " + ms + " ms";
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
        m.put("change_user", ctx -> { throw new NA("Connector/J has no COM_CHANGE_USER API"); });
        return m;
    }

    public static void main(String[] argv) throws Exception {
        System.setOut(new PrintStream(new FileOutputStream(FileDescriptor.out), true, StandardCharsets.UTF_8));
        TimeZone.setDefault(TimeZone.getTimeZone("UTC"));
        ARGS = parseArgs(argv);
        DRIVER = ARGS.getOrDefault("driver", "connector-j");
        P = "m_" + DRIVER.replaceAll("[^A-Za-z0-9_]", "_").toLowerCase() + "_";
        URL = "jdbc:mariadb://" + ARGS.get("host") + ":" + ARGS.get("port") + "/" + ARGS.get("dbname");
        DriverManager.setLoginTimeout(10);
        runCells(cells());
        System.exit(0);
    }
}
