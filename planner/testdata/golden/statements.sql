-- Golden cases for the planner, statements other than SELECT: their route and the plans they wrap (see golden_test.go).
-- cursors and COPY wrap their query's plan
DECLARE c CURSOR WITH HOLD FOR SELECT status, MEASURE(count) FROM orders GROUP BY 1
DECLARE c CURSOR FOR SELECT relname FROM pg_class WHERE relname = 'orders'
COPY (SELECT status, MEASURE(count) FROM orders GROUP BY 1) TO STDOUT
COPY (SELECT status, upper(status) AS s FROM (SELECT status FROM orders) o) TO STDOUT WITH (FORMAT csv, HEADER)
COPY (SELECT 1) TO STDOUT (FORMAT binary)
-- what COPY does not do is refused before its query is planned
COPY (SELECT nope FROM orders) TO STDOUT (FORMAT xml)
COPY orders FROM STDIN
COPY (SELECT 1) TO '/tmp/out'
-- session commands and temporary tables are cubegate's own
SET TimeZone = 'Europe/Paris'
SHOW search_path
BEGIN
FETCH 10 FROM c
PREPARE q AS SELECT 1
DISCARD ALL
CREATE TEMPORARY TABLE t (a int)
SELECT 1 AS a INTO TEMPORARY t2
-- a model is read-only
UPDATE orders SET status = 'x'
TRUNCATE orders
LISTEN x
-- the command names
RESET ALL
START TRANSACTION
ROLLBACK TO SAVEPOINT a
MOVE 1 IN c
CLOSE c
CREATE TEMP TABLE t3 AS SELECT 1 AS a
DROP TABLE t
DEALLOCATE ALL
