// PgJDBC against cubegate, run by cmd/cubegate/app/clients_test.go as a
// single-file program: java -cp postgresql.jar CubegateClient.java URL USER PASSWORD
// Prints "key=value" lines the Go test compares with the warehouse.
import java.sql.*;

public class CubegateClient {
    public static void main(String[] args) throws Exception {
        try (Connection c = DriverManager.getConnection(args[0], args[1], args[2])) {
            // Past prepareThreshold (5) PgJDBC switches to a named server-side statement.
            try (PreparedStatement ps = c.prepareStatement(
                    "SELECT status, MEASURE(count) AS n, SUM(total_amount) AS amount FROM orders WHERE channel = ? GROUP BY 1 ORDER BY 1")) {
                for (int round = 0; round < 7; round++) {
                    ps.setString(1, "web");
                    long total = 0;
                    StringBuilder amounts = new StringBuilder();
                    try (ResultSet rs = ps.executeQuery()) {
                        while (rs.next()) {
                            total += rs.getLong("n");
                            amounts.append(rs.getString(1)).append(':').append(rs.getBigDecimal("amount").toPlainString()).append(' ');
                        }
                    }
                    System.out.println("round" + round + ".web_count=" + total);
                    if (round == 6) System.out.println("web_amounts=" + amounts.toString().trim());
                }
            }
            // Paging with autocommit off: portals with a row limit, suspended and resumed.
            c.setAutoCommit(false);
            try (Statement st = c.createStatement()) {
                st.setFetchSize(10);
                int rows = 0;
                long sum = 0;
                try (ResultSet rs = st.executeQuery("SELECT date_trunc('month', created_at) AS m, MEASURE(count) AS n FROM orders GROUP BY 1 ORDER BY 1")) {
                    while (rs.next()) {
                        rows++;
                        sum += rs.getLong(2);
                        if (rows == 1) System.out.println("first_month=" + rs.getTimestamp(1).toString());
                    }
                }
                System.out.println("paged_rows=" + rows);
                System.out.println("paged_sum=" + sum);
            }
            c.commit();
            // An error, then the connection goes on after rollback.
            try (Statement st = c.createStatement()) {
                st.executeQuery("SELECT nope FROM orders");
            } catch (SQLException e) {
                System.out.println("error_state=" + e.getSQLState());
            }
            c.rollback();
            try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT COUNT(*) FROM orders")) {
                rs.next();
                System.out.println("after_error_count=" + rs.getLong(1));
            }
            // setTimestamp sends "2022-03-01 00:00:00+00" with no type (timestamp or
            // timestamptz, the server's choice), and infinity as "infinity".
            c.setAutoCommit(true);
            java.util.Calendar utc = java.util.Calendar.getInstance(java.util.TimeZone.getTimeZone("UTC"));
            String[] tsQueries = {
                "SELECT MEASURE(count) FROM orders WHERE created_at >= ? AND created_at < ?",
                "SELECT count(*) FROM (SELECT created_at FROM orders) o WHERE created_at >= ? AND created_at < ?",
            };
            for (int q = 0; q < tsQueries.length; q++) {
                try (PreparedStatement ps = c.prepareStatement(tsQueries[q])) {
                    ps.setTimestamp(1, Timestamp.valueOf("2022-03-01 00:00:00"), utc);
                    ps.setTimestamp(2, Timestamp.valueOf("2022-04-01 00:00:00"), utc);
                    try (ResultSet rs = ps.executeQuery()) {
                        rs.next();
                        System.out.println("march_count" + q + "=" + rs.getLong(1));
                    }
                    ps.setTimestamp(2, new Timestamp(org.postgresql.PGStatement.DATE_POSITIVE_INFINITY));
                    try (ResultSet rs = ps.executeQuery()) {
                        rs.next();
                        System.out.println("since_march_count" + q + "=" + rs.getLong(1));
                    }
                }
            }
            DatabaseMetaData md = c.getMetaData();
            System.out.println("product=" + md.getDatabaseProductName() + " " + md.getDatabaseMajorVersion());
        }
    }
}
