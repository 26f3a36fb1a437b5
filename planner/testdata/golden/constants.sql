-- Golden cases for the planner, constants: one statement per line (see golden_test.go).
-- statements without relations
SELECT 1
SELECT 1 + 2 AS three, 'x' AS s
SELECT version()
SELECT current_setting('TimeZone')
