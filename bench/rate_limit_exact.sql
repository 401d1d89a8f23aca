-- bench/rate_limit_exact.sql: many clients on one fresh key with a limit of
-- :max; every answer is kept, and exactly :max of them must be true
INSERT INTO bench.rl_result
SELECT check_rate_limit('00000000-0000-4000-8000-000000000002'::uuid,
                        :endpoint, :max, 60);
