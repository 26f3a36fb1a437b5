// CatalogClient prints what PgJDBC's DatabaseMetaData (DBeaver, Metabase,
// Tableau's JDBC path) reads of a database, one fact per line, so that the
// output from cubegate can be compared with the output from PostgreSQL.
//   java -cp postgresql.jar CatalogClient.java URL USER PASSWORD
import java.sql.*;
import java.util.*;

public class CatalogClient {
    static void dump(String what, ResultSet rs, String... cols) throws SQLException {
        int n = 0;
        List<String> lines = new ArrayList<>();
        while (rs.next()) {
            StringBuilder b = new StringBuilder();
            for (String c : cols) {
                if (b.length() > 0) b.append('|');
                b.append(rs.getString(c));
            }
            lines.add(b.toString());
            n++;
        }
        rs.close();
        Collections.sort(lines);
        for (String l : lines) System.out.println(what + "=" + l);
        System.out.println(what + ".count=" + n);
    }

    public static void main(String[] args) throws Exception {
        Properties p = new Properties();
        p.setProperty("user", args[1]);
        p.setProperty("password", args[2]);
        p.setProperty("sslmode", "disable");
        try (Connection c = DriverManager.getConnection(args[0], p)) {
            DatabaseMetaData md = c.getMetaData();
            System.out.println("product=" + md.getDatabaseProductName() + " " + md.getDatabaseMajorVersion());
            dump("catalogs", md.getCatalogs(), "TABLE_CAT");
            dump("schemas", md.getSchemas(), "TABLE_SCHEM", "TABLE_CATALOG");
            dump("tables", md.getTables(null, "public", "%", null), "TABLE_SCHEM", "TABLE_NAME", "TABLE_TYPE", "REMARKS");
            dump("table_types", md.getTableTypes(), "TABLE_TYPE");
            dump("columns", md.getColumns(null, "public", "%", "%"), "TABLE_NAME", "COLUMN_NAME", "DATA_TYPE",
                "TYPE_NAME", "COLUMN_SIZE", "DECIMAL_DIGITS", "NULLABLE", "REMARKS", "ORDINAL_POSITION", "IS_NULLABLE",
                "IS_AUTOINCREMENT");
            for (String t : new String[] {"Logs", "KibanaSampleDataEcommerce"}) {
                dump("primary_keys." + t, md.getPrimaryKeys(null, "public", t), "COLUMN_NAME", "KEY_SEQ", "PK_NAME");
                dump("imported_keys." + t, md.getImportedKeys(null, "public", t), "PKTABLE_NAME", "FKCOLUMN_NAME");
                dump("exported_keys." + t, md.getExportedKeys(null, "public", t), "FKTABLE_NAME", "FKCOLUMN_NAME");
                dump("indexes." + t, md.getIndexInfo(null, "public", t, false, true), "INDEX_NAME", "COLUMN_NAME");
            }
            dump("type_info", md.getTypeInfo(), "TYPE_NAME", "DATA_TYPE", "PRECISION", "NULLABLE", "CASE_SENSITIVE", "SEARCHABLE");
            dump("functions.now", md.getFunctions(null, "pg_catalog", "now"), "FUNCTION_NAME", "FUNCTION_TYPE");
            dump("functions.lower", md.getFunctions(null, "pg_catalog", "lower"), "FUNCTION_NAME", "FUNCTION_TYPE");
            dump("procedures", md.getProcedures(null, "public", "%"), "PROCEDURE_NAME");
            // A result's metadata, as a grid shows it.
            try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("SELECT \"agentCount\", \"content\", \"read\" FROM \"Logs\" LIMIT 0")) {
                ResultSetMetaData rm = rs.getMetaData();
                for (int i = 1; i <= rm.getColumnCount(); i++) {
                    System.out.println("rsmd=" + rm.getColumnName(i) + "|" + rm.getColumnTypeName(i) + "|" + rm.getTableName(i));
                }
            }
        }
    }
}
