-- bench/select1.sql: the round-trip ceiling, SELECT 1
SELECT 1;
