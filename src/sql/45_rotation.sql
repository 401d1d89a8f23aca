
/*---- key rotation (since 1.1; README "Key rotation") ----*/

/*
 * reencrypt: one value under old_key re-encrypted under new_key, NULL for
 * a value under another key (src/rotation.c).
 */
CREATE FUNCTION @extschema@.reencrypt(value bytea, old_key text, new_key text)
RETURNS bytea
AS 'MODULE_PATHNAME', 'sipcall_reencrypt'
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION @extschema@.reencrypt(bytea, text, text) IS
    'The value re-encrypted under new_key if it is under old_key (envelope: by key id; OpenPGP: if old_key decrypts it), else NULL; pass keys as bind parameters';

REVOKE ALL ON FUNCTION @extschema@.reencrypt(bytea, text, text) FROM PUBLIC;

/*
 * key_rotations: one row per run of rotate_key, brought up to date at
 * every batch commit.  Key ids only, never a key.  A row left with status
 * 'running' and no finished_at belongs to a run that was cancelled or
 * crashed (or still runs: pg_stat_activity tells).
 */
CREATE TABLE @extschema@.key_rotations (
    id               serial PRIMARY KEY,
    started_at       timestamptz NOT NULL DEFAULT pg_catalog.now(),
    finished_at      timestamptz,
    run_by           text NOT NULL DEFAULT CURRENT_USER,
    old_key_id       text NOT NULL,
    new_key_id       text NOT NULL,
    values_converted bigint NOT NULL DEFAULT 0,
    values_skipped   bigint NOT NULL DEFAULT 0,
    conflicts        bigint NOT NULL DEFAULT 0,
    errors           bigint NOT NULL DEFAULT 0,
    status           text NOT NULL DEFAULT 'running'
                     CONSTRAINT key_rotations_status_check
                     CHECK (status OPERATOR(pg_catalog.=) ANY (ARRAY['running', 'finished']))
);

COMMENT ON TABLE @extschema@.key_rotations IS
    'One row per run of sipcall.rotate_key: progress and outcome, by key id (sipcall.key_id), never a key';
COMMENT ON COLUMN @extschema@.key_rotations.values_skipped IS
    'Values under neither key (OpenPGP messages already under the new key count here too)';
COMMENT ON COLUMN @extschema@.key_rotations.conflicts IS
    'Rows changed by someone else between the read and the update of a batch, revisited at the end of their partition';

SELECT pg_catalog.pg_extension_config_dump('@extschema@.key_rotations', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.key_rotations_id_seq', '');

/*
 * rotate_key: every value under old_key in calls.destination_number_enc
 * and calls.caller_id_enc re-encrypted under new_key, a batch of rows per
 * transaction.  A procedure with COMMITs may be neither SECURITY DEFINER
 * nor carry SET search_path, so it runs with the caller's rights and the
 * caller's search_path: every name, type and operator below is
 * schema-qualified (STYLE.md 10a), the '=' of IS NOT DISTINCT FROM too,
 * which is spelled out for that reason.
 *
 * Partitions are visited one at a time (a dropped one is skipped), each
 * paged through by its primary key.  A batch is one statement: read
 * batch_size rows, re-encrypt, update each row only where both columns
 * still hold what was read.  The update finds its rows by the ctids read
 * (a TID scan of the batch, not a join with the whole partition); a row
 * updated meanwhile has a new ctid and so counts as changed.  A row
 * changed meanwhile is left to its
 * writer (an UPDATE waits for a writer still at work, then sees the new
 * version) and revisited once at the end of its partition.
 */
CREATE PROCEDURE @extschema@.rotate_key(old_key text, new_key text,
                                         batch_size integer DEFAULT 1000,
                                         duty real DEFAULT 1)
LANGUAGE plpgsql
AS $rotate$
DECLARE
    -- one batch: %1$s the partition, %2$s which of its rows
    batch_sql  CONSTANT pg_catalog.text := $batch$
WITH batch AS MATERIALIZED (
    SELECT t.ctid AS tid, t.id, t.initiated_at, t.user_id,
           t.destination_number_enc AS d0, t.caller_id_enc AS c0
      FROM %1$s t %2$s),
conv AS MATERIALIZED (
    SELECT b.*, @extschema@.reencrypt(b.d0, $5, $6) AS d1,
           @extschema@.reencrypt(b.c0, $5, $6) AS c1
      FROM batch b),
upd AS (
    UPDATE %1$s t
       SET destination_number_enc = COALESCE(v.d1, v.d0),
           caller_id_enc = COALESCE(v.c1, v.c0)
      FROM conv v
     WHERE t.ctid OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT c.tid FROM conv c))
       AND t.ctid OPERATOR(pg_catalog.=) v.tid
       AND t.id OPERATOR(pg_catalog.=) v.id
       AND t.initiated_at OPERATOR(pg_catalog.=) v.initiated_at
       AND t.user_id OPERATOR(pg_catalog.=) v.user_id
       AND (v.d1 IS NOT NULL OR v.c1 IS NOT NULL)
       AND t.destination_number_enc OPERATOR(pg_catalog.=) v.d0
       AND (t.caller_id_enc OPERATOR(pg_catalog.=) v.c0
            OR (t.caller_id_enc IS NULL AND v.c0 IS NULL))
    RETURNING v.id, v.initiated_at, v.user_id),
st AS (
    SELECT v.*, u.id IS NOT NULL AS updated,
           u.id IS NULL AND (v.d1 IS NOT NULL OR v.c1 IS NOT NULL) AS pending
      FROM conv v
      LEFT JOIN upd u ON u.id OPERATOR(pg_catalog.=) v.id
                     AND u.initiated_at OPERATOR(pg_catalog.=) v.initiated_at
                     AND u.user_id OPERATOR(pg_catalog.=) v.user_id),
last AS (
    SELECT b.id, b.initiated_at, b.user_id FROM batch b
     ORDER BY b.id DESC, b.initiated_at DESC, b.user_id DESC LIMIT 1)
SELECT a.*, l.id AS last_id, l.initiated_at AS last_at, l.user_id AS last_user
  FROM (SELECT pg_catalog.count(*) AS n_rows,
               pg_catalog.count(s.d0) OPERATOR(pg_catalog.+) pg_catalog.count(s.c0) AS n_values,
               pg_catalog.count(*) FILTER (WHERE s.updated) AS n_updated,
               pg_catalog.count(*) FILTER (WHERE s.updated AND s.d1 IS NOT NULL)
                 OPERATOR(pg_catalog.+)
               pg_catalog.count(*) FILTER (WHERE s.updated AND s.c1 IS NOT NULL) AS converted,
               pg_catalog.count(*) FILTER (WHERE NOT s.pending AND s.d1 IS NULL
                   AND NOT (pg_catalog.substr(s.d0, 1, 3) OPERATOR(pg_catalog.=) $7
                            AND pg_catalog.substr(s.d0, 7, 4) OPERATOR(pg_catalog.=) $8))
                 OPERATOR(pg_catalog.+)
               pg_catalog.count(*) FILTER (WHERE NOT s.pending AND s.c0 IS NOT NULL AND s.c1 IS NULL
                   AND NOT (pg_catalog.substr(s.c0, 1, 3) OPERATOR(pg_catalog.=) $7
                            AND pg_catalog.substr(s.c0, 7, 4) OPERATOR(pg_catalog.=) $8)) AS skipped,
               pg_catalog.array_agg(s.id) FILTER (WHERE s.pending) AS p_id,
               pg_catalog.array_agg(s.initiated_at) FILTER (WHERE s.pending) AS p_at,
               pg_catalog.array_agg(s.user_id) FILTER (WHERE s.pending) AS p_user
          FROM st s) a
  LEFT JOIN last l ON true
$batch$;
    key_order  CONSTANT pg_catalog.text := ' ORDER BY t.id, t.initiated_at, t.user_id LIMIT $4';
    next_page  CONSTANT pg_catalog.text :=
        ' WHERE ROW(t.id, t.initiated_at, t.user_id) OPERATOR(pg_catalog.>) ROW($1, $2, $3)';
    key_list   CONSTANT pg_catalog.text :=
        ' JOIN ROWS FROM (pg_catalog.unnest($9), pg_catalog.unnest($10), pg_catalog.unnest($11))'
        ' AS k(id, initiated_at, user_id)'
        ' ON t.id OPERATOR(pg_catalog.=) k.id'
        ' AND t.initiated_at OPERATOR(pg_catalog.=) k.initiated_at'
        ' AND t.user_id OPERATOR(pg_catalog.=) k.user_id';
    -- the keys of a batch's rows, in order
    keys_sql   CONSTANT pg_catalog.text :=
        'SELECT pg_catalog.array_agg(b.id), pg_catalog.array_agg(b.initiated_at),'
        ' pg_catalog.array_agg(b.user_id)'
        ' FROM (SELECT t.id, t.initiated_at, t.user_id FROM %1$s t %2$s) b';
    magic      CONSTANT pg_catalog.bytea := '\x534345';    -- "SCE", an envelope
    run_id     integer;
    old_id     pg_catalog.text;
    new_id     pg_catalog.text;
    new_id_b   pg_catalog.bytea;
    parts      pg_catalog.text[];
    part       pg_catalog.text;
    src        pg_catalog.text;
    gone       boolean;
    one_by_one boolean;
    -- what a batch statement returns (b_), and one row of it (x_)
    b_rows     bigint;
    b_values   bigint;
    b_updated  bigint;
    b_converted bigint;
    b_skipped  bigint;
    b_pid      pg_catalog.uuid[];
    b_pat      pg_catalog.timestamptz[];
    b_puser    pg_catalog.uuid[];
    b_last_id  pg_catalog.uuid;
    b_last_at  pg_catalog.timestamptz;
    b_last_user pg_catalog.uuid;
    x_rows     bigint;
    x_values   bigint;
    x_updated  bigint;
    x_converted bigint;
    x_skipped  bigint;
    x_pid      pg_catalog.uuid[];
    x_pat      pg_catalog.timestamptz[];
    x_puser    pg_catalog.uuid[];
    x_last_id  pg_catalog.uuid;
    x_last_at  pg_catalog.timestamptz;
    x_last_user pg_catalog.uuid;
    k_id       pg_catalog.uuid[];
    k_at       pg_catalog.timestamptz[];
    k_user     pg_catalog.uuid[];
    last_id    pg_catalog.uuid;
    last_at    pg_catalog.timestamptz;
    last_user  pg_catalog.uuid;
    p_id       pg_catalog.uuid[];
    p_at       pg_catalog.timestamptz[];
    p_user     pg_catalog.uuid[];
    s_id       pg_catalog.uuid[];
    s_at       pg_catalog.timestamptz[];
    s_user     pg_catalog.uuid[];
    revisit    boolean;
    pos        integer;
    started    pg_catalog.timestamptz := pg_catalog.clock_timestamp();
    wal_start  pg_catalog.pg_lsn := pg_catalog.pg_current_wal_lsn();
    total      bigint;
    visited    bigint := 0;
    n_converted bigint := 0;
    n_skipped  bigint := 0;
    n_conflicts bigint := 0;
    n_errors   bigint := 0;
    left_over  bigint := 0;
    n_updated  bigint := 0;
    batch_start pg_catalog.timestamptz;
BEGIN
    IF batch_size IS NULL OR batch_size OPERATOR(pg_catalog.<) 1 THEN
        RAISE EXCEPTION 'batch_size must be at least 1'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF duty IS NULL OR NOT (duty OPERATOR(pg_catalog.>) 0 AND duty OPERATOR(pg_catalog.<=) 1) THEN
        RAISE EXCEPTION 'duty must be more than 0 and at most 1'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'duty is the share of the time the rotation works: 0.5 sleeps as long after each batch as the batch took.';
    END IF;
    IF old_key IS NULL OR new_key IS NULL THEN
        RAISE EXCEPTION 'old_key and new_key must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    old_id := @extschema@.key_id(old_key);
    new_id := @extschema@.key_id(new_key);
    new_id_b := pg_catalog.decode(new_id, 'hex');

    INSERT INTO @extschema@.key_rotations (old_key_id, new_key_id)
         VALUES (old_id, new_id)
      RETURNING id INTO run_id;
    COMMIT;

    parts := ARRAY(SELECT pg_catalog.format('%I.%I', n.nspname, c.relname)
                     FROM pg_catalog.pg_inherits i
                     JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) i.inhrelid
                     JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
                    WHERE i.inhparent OPERATOR(pg_catalog.=) '@extschema@.calls'::pg_catalog.regclass
                    ORDER BY c.relname);
    SELECT pg_catalog.sum(GREATEST(c.reltuples, 0::real))::bigint
             OPERATOR(pg_catalog.*) 2
      INTO total
      FROM pg_catalog.pg_inherits i
      JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) i.inhrelid
     WHERE i.inhparent OPERATOR(pg_catalog.=) '@extschema@.calls'::pg_catalog.regclass;

    FOREACH part IN ARRAY parts LOOP
        last_id := NULL;
        p_id := '{}';
        p_at := '{}';
        p_user := '{}';
        revisit := false;
        pos := 1;
        LOOP
            batch_start := pg_catalog.clock_timestamp();
            IF pg_catalog.to_regclass(part) IS NULL THEN
                RAISE NOTICE 'partition % is gone, going on with the next one', part;
                EXIT;
            END IF;
            IF NOT revisit THEN
                src := CASE WHEN last_id IS NULL THEN key_order
                            ELSE next_page OPERATOR(pg_catalog.||) key_order END;
            ELSE
                EXIT WHEN pos OPERATOR(pg_catalog.>) COALESCE(pg_catalog.array_length(s_id, 1), 0);
                src := key_list;
                p_id := s_id[pos:pos OPERATOR(pg_catalog.+) batch_size OPERATOR(pg_catalog.-) 1];
                p_at := s_at[pos:pos OPERATOR(pg_catalog.+) batch_size OPERATOR(pg_catalog.-) 1];
                p_user := s_user[pos:pos OPERATOR(pg_catalog.+) batch_size OPERATOR(pg_catalog.-) 1];
                pos := pos OPERATOR(pg_catalog.+) batch_size;
            END IF;
            gone := false;
            one_by_one := false;
            BEGIN
                EXECUTE pg_catalog.format(batch_sql, part, src)
                   INTO b_rows, b_values, b_updated, b_converted, b_skipped,
                        b_pid, b_pat, b_puser, b_last_id, b_last_at, b_last_user
                  USING last_id, last_at, last_user, batch_size, old_key, new_key,
                        magic, new_id_b, p_id, p_at, p_user;
            EXCEPTION
                WHEN undefined_table THEN
                    gone := true;
                WHEN external_routine_invocation_exception OR data_exception
                     OR program_limit_exceeded THEN
                    one_by_one := true;
            END;
            IF gone THEN
                RAISE NOTICE 'partition % is gone, going on with the next one', part;
                EXIT;
            END IF;

            IF one_by_one THEN
                -- a value that cannot be re-encrypted: the batch row by row,
                -- counting the rows that fail as errors
                EXECUTE pg_catalog.format(keys_sql, part, src)
                   INTO k_id, k_at, k_user
                  USING last_id, last_at, last_user, batch_size, old_key, new_key,
                        magic, new_id_b, p_id, p_at, p_user;
                b_rows := COALESCE(pg_catalog.array_length(k_id, 1), 0);
                b_values := 0;
                b_updated := 0;
                b_converted := 0;
                b_skipped := 0;
                b_pid := NULL;
                b_pat := NULL;
                b_puser := NULL;
                b_last_id := k_id[b_rows];
                b_last_at := k_at[b_rows];
                b_last_user := k_user[b_rows];
                FOR i IN 1 .. b_rows LOOP
                    BEGIN
                        EXECUTE pg_catalog.format(batch_sql, part, key_list)
                           INTO x_rows, x_values, x_updated, x_converted, x_skipped,
                                x_pid, x_pat, x_puser, x_last_id, x_last_at, x_last_user
                          USING last_id, last_at, last_user, 1, old_key, new_key,
                                magic, new_id_b, k_id[i:i], k_at[i:i], k_user[i:i];
                        b_values := b_values OPERATOR(pg_catalog.+) x_values;
                        b_updated := b_updated OPERATOR(pg_catalog.+) x_updated;
                        b_converted := b_converted OPERATOR(pg_catalog.+) x_converted;
                        b_skipped := b_skipped OPERATOR(pg_catalog.+) x_skipped;
                        b_pid := pg_catalog.array_cat(b_pid, x_pid);
                        b_pat := pg_catalog.array_cat(b_pat, x_pat);
                        b_puser := pg_catalog.array_cat(b_puser, x_puser);
                    EXCEPTION
                        WHEN external_routine_invocation_exception OR data_exception
                             OR program_limit_exceeded THEN
                            n_errors := n_errors OPERATOR(pg_catalog.+) 1;
                            RAISE WARNING 'call % in % could not be re-encrypted (SQLSTATE %), left as it is',
                                k_id[i], part, SQLSTATE;
                    END;
                END LOOP;
            END IF;

            visited := visited OPERATOR(pg_catalog.+) b_values;
            n_converted := n_converted OPERATOR(pg_catalog.+) b_converted;
            n_skipped := n_skipped OPERATOR(pg_catalog.+) b_skipped;
            n_updated := n_updated OPERATOR(pg_catalog.+) b_updated;
            IF NOT revisit THEN
                last_id := b_last_id;
                last_at := b_last_at;
                last_user := b_last_user;
                s_id := pg_catalog.array_cat(s_id, b_pid);
                s_at := pg_catalog.array_cat(s_at, b_pat);
                s_user := pg_catalog.array_cat(s_user, b_puser);
            ELSE
                -- rows found again: real conflicts (the others were deleted)
                n_conflicts := n_conflicts OPERATOR(pg_catalog.+) b_rows;
                left_over := left_over OPERATOR(pg_catalog.+)
                             COALESCE(pg_catalog.array_length(b_pid, 1), 0);
            END IF;

            UPDATE @extschema@.key_rotations
               SET values_converted = n_converted, values_skipped = n_skipped,
                   conflicts = n_conflicts, errors = n_errors
             WHERE id OPERATOR(pg_catalog.=) run_id;
            COMMIT;
            RAISE NOTICE 'key rotation: % of about % values done, % converted, % skipped (% values/s)',
                visited, GREATEST(total, visited), n_converted, n_skipped,
                pg_catalog.round((visited::numeric OPERATOR(pg_catalog./)
                    GREATEST(pg_catalog.date_part('epoch',
                        pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) started), 0.001)::numeric));
            IF duty OPERATOR(pg_catalog.<) 1 THEN
                -- leave the machine to the app for (1 - duty) of the time
                PERFORM pg_catalog.pg_sleep(pg_catalog.date_part('epoch',
                            pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) batch_start)
                        OPERATOR(pg_catalog.*) (1 OPERATOR(pg_catalog.-) duty)
                        OPERATOR(pg_catalog./) duty);
            END IF;

            IF NOT revisit AND b_rows OPERATOR(pg_catalog.<) batch_size THEN
                -- the end of the partition: now the rows that were busy
                revisit := true;
                pos := 1;
            END IF;
        END LOOP;
        s_id := NULL;
        s_at := NULL;
        s_user := NULL;
    END LOOP;

    UPDATE @extschema@.key_rotations
       SET values_converted = n_converted, values_skipped = n_skipped,
           conflicts = n_conflicts, errors = n_errors, finished_at = pg_catalog.clock_timestamp(),
           status = 'finished'
     WHERE id OPERATOR(pg_catalog.=) run_id;
    INSERT INTO @extschema@.audit_logs (action, resource_type, resource_id, details)
    VALUES ('key_rotation', 'calls', run_id::pg_catalog.text,
            pg_catalog.jsonb_build_object(
                'old_key_id', old_id, 'new_key_id', new_id,
                'values_converted', n_converted, 'values_skipped', n_skipped,
                'conflicts', n_conflicts, 'errors', n_errors,
                'requested_by', CURRENT_USER));
    COMMIT;
    RAISE NOTICE 'key rotation % finished: % values converted, % skipped, % conflicts (% left for the next run), % errors',
        run_id, n_converted, n_skipped, n_conflicts, left_over, n_errors
        USING DETAIL = pg_catalog.format(
            '%s rows rewritten, leaving as many dead row versions; %s of WAL written.',
            n_updated, pg_catalog.pg_size_pretty(pg_catalog.pg_wal_lsn_diff(
                pg_catalog.pg_current_wal_lsn(), wal_start))),
              HINT = CASE WHEN n_updated OPERATOR(pg_catalog.>) 0
                          THEN 'Run VACUUM sipcall.calls (or let autovacuum do it) to reclaim the dead row versions.'
                          ELSE 'Nothing was rewritten: no VACUUM is needed.'
                     END;
END
$rotate$;

COMMENT ON PROCEDURE @extschema@.rotate_key(text, text, integer, real) IS
    'Re-encrypts every number under old_key under new_key, committing every batch_size rows; resumable and idempotent; pass keys as bind parameters';

REVOKE ALL ON PROCEDURE @extschema@.rotate_key(text, text, integer, real) FROM PUBLIC;

/*
 * key_inventory: how many values per column, format and key id.  The
 * format test is that of sipcall_envelope_format (src/envelope.c): the
 * magic "SCE", or an OpenPGP symmetric-key session key packet (tag 3) in
 * new or old packet format.
 */
CREATE FUNCTION @extschema@.key_inventory()
RETURNS TABLE (column_name text, format text, key_id text, "values" bigint)
LANGUAGE sql STABLE PARALLEL SAFE
AS $inventory$
SELECT v.column_name, f.format,
       CASE WHEN f.format OPERATOR(pg_catalog.=) 'envelope'
            THEN pg_catalog.encode(pg_catalog.substr(v.val, 7, 4), 'hex') END,
       pg_catalog.count(*)
  FROM @extschema@.calls t
 CROSS JOIN LATERAL (VALUES ('destination_number_enc', t.destination_number_enc),
                            ('caller_id_enc', t.caller_id_enc)) AS v(column_name, val)
 CROSS JOIN LATERAL (
       SELECT CASE
              WHEN pg_catalog.substr(v.val, 1, 3) OPERATOR(pg_catalog.=) '\x534345'::pg_catalog.bytea
                THEN 'envelope'
              WHEN pg_catalog.length(v.val) OPERATOR(pg_catalog.>=) 2
               AND pg_catalog.get_byte(v.val, 0) OPERATOR(pg_catalog.&) 128 OPERATOR(pg_catalog.<>) 0
               AND CASE WHEN pg_catalog.get_byte(v.val, 0) OPERATOR(pg_catalog.&) 64 OPERATOR(pg_catalog.<>) 0
                        THEN pg_catalog.get_byte(v.val, 0) OPERATOR(pg_catalog.&) 63
                        ELSE (pg_catalog.get_byte(v.val, 0) OPERATOR(pg_catalog.>>) 2) OPERATOR(pg_catalog.&) 15
                   END OPERATOR(pg_catalog.=) 3
                THEN 'openpgp'
              ELSE 'unknown'
              END AS format) AS f
 WHERE v.val IS NOT NULL
 GROUP BY 1, 2, 3
 ORDER BY 1 DESC, 2, 3
$inventory$;

COMMENT ON FUNCTION @extschema@.key_inventory() IS
    'How many encrypted values each column of sipcall.calls holds per format (envelope, openpgp, unknown) and key id (hex, as sipcall.key_id gives)';

REVOKE ALL ON FUNCTION @extschema@.key_inventory() FROM PUBLIC;
