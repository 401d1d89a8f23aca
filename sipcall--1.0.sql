/* sipcall--1.0.sql: assembled by make from the files in src/sql, edit those */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION sipcall CASCADE" to load this file. \quit

/*
 * Tables.
 *
 * The six seed tables keep every seed column, name and default.  What the
 * seed could not do as written is fixed here:
 *
 *  - calls, call_events and audit_logs are range-partitioned by month
 *    (UTC) with a default partition each; sipcall.create_partition() makes
 *    the monthly partitions.  A primary key on a partitioned table must
 *    contain the partition key, so the keys grow by initiated_at/timestamp.
 *  - user_id is part of the keys of calls and call_events, so that both can
 *    later be distributed by user (Citus, see README).
 *  - Uniqueness that cannot live on a partitioned table (calls.id alone,
 *    calls.call_uuid) is kept in call_keys, a small unpartitioned registry
 *    maintained by triggers.  It also lets call_events find the partition
 *    key of its call without scanning every partition of calls.
 *  - Every foreign key is DEFERRABLE (INITIALLY IMMEDIATE): clients see no
 *    difference, and a restore in one transaction may load child rows
 *    before their parents (README, "Backup and restore").
 */

/*---- users ----*/

CREATE TABLE @extschema@.users (
    id                   uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    nextcloud_user_id    varchar(255) UNIQUE NOT NULL,
    email                varchar(255),
    display_name         varchar(255),
    permissions          jsonb DEFAULT '{"can_call": true, "is_admin": false}',
    privacy_consent      boolean DEFAULT false,
    privacy_consent_date timestamptz,
    created_at           timestamptz DEFAULT pg_catalog.now(),
    updated_at           timestamptz DEFAULT pg_catalog.now(),
    last_login           timestamptz
);
/* the seed's idx_users_nextcloud_id would duplicate the UNIQUE index */
CREATE INDEX idx_users_email ON @extschema@.users (email);

COMMENT ON TABLE @extschema@.users IS
    'SIPCall users, one per Nextcloud account';

/*---- calls ----*/

CREATE TABLE @extschema@.calls (
    id                     uuid NOT NULL DEFAULT pg_catalog.gen_random_uuid(),
    user_id                uuid NOT NULL,

    -- encrypted personal data (sipcall.encrypt_data)
    destination_number_enc bytea NOT NULL,
    caller_id_enc          bytea,

    -- call metadata
    call_uuid              varchar(255),    -- FreeSWITCH call UUID
    status                 varchar(50) NOT NULL DEFAULT 'initiated',
    direction              varchar(20) NOT NULL DEFAULT 'outbound',

    -- timing
    initiated_at           timestamptz NOT NULL DEFAULT pg_catalog.now(),
    answered_at            timestamptz,
    ended_at               timestamptz,
    duration_seconds       integer,

    -- cost and billing
    cost_cents             integer,
    currency               varchar(3) DEFAULT 'USD',

    -- technical details
    codec                  varchar(50),
    quality_score          numeric(3,2),    -- 1.00 to 5.00
    disconnect_reason      varchar(100),

    created_at             timestamptz DEFAULT pg_catalog.now(),
    updated_at             timestamptz DEFAULT pg_catalog.now(),

    CONSTRAINT calls_pkey PRIMARY KEY (id, initiated_at, user_id),
    CONSTRAINT calls_user_id_fkey FOREIGN KEY (user_id)
        REFERENCES @extschema@.users (id) ON DELETE CASCADE DEFERRABLE
) PARTITION BY RANGE (initiated_at);

CREATE INDEX idx_calls_user_id ON @extschema@.calls (user_id, initiated_at);
CREATE INDEX idx_calls_status ON @extschema@.calls (status);
CREATE INDEX idx_calls_initiated_at ON @extschema@.calls (initiated_at);
CREATE INDEX idx_calls_call_uuid ON @extschema@.calls (call_uuid);

CREATE TABLE @extschema@.calls_default
    PARTITION OF @extschema@.calls DEFAULT;

COMMENT ON TABLE @extschema@.calls IS
    'One row per call, partitioned by month of initiated_at (UTC); numbers are encrypted';
COMMENT ON TABLE @extschema@.calls_default IS
    'Calls whose month has no partition yet; sipcall.create_partition moves them out';

/*
 * call_keys: what must be unique across all partitions of calls.  Filled
 * and kept in step by triggers on calls; never dumped (a restore rebuilds
 * it from the restored calls).
 */
CREATE TABLE @extschema@.call_keys (
    id           uuid NOT NULL CONSTRAINT calls_id_key PRIMARY KEY,
    call_uuid    varchar(255) CONSTRAINT calls_call_uuid_key UNIQUE,
    user_id      uuid NOT NULL,
    initiated_at timestamptz NOT NULL
);

COMMENT ON TABLE @extschema@.call_keys IS
    'Registry of calls.id and calls.call_uuid, unique across all partitions of calls (maintained by triggers)';

CREATE FUNCTION @extschema@.calls_keys_trigger()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO @extschema@.call_keys (id, call_uuid, user_id, initiated_at)
             VALUES (NEW.id, NEW.call_uuid, NEW.user_id, NEW.initiated_at);
        RETURN NEW;
    ELSIF TG_OP = 'UPDATE' THEN
        IF (NEW.id, NEW.call_uuid, NEW.user_id, NEW.initiated_at)
           IS DISTINCT FROM (OLD.id, OLD.call_uuid, OLD.user_id, OLD.initiated_at) THEN
            UPDATE @extschema@.call_keys
               SET id = NEW.id, call_uuid = NEW.call_uuid,
                   user_id = NEW.user_id, initiated_at = NEW.initiated_at
             WHERE id = OLD.id;
        END IF;
        RETURN NEW;
    ELSE
        DELETE FROM @extschema@.call_keys WHERE id = OLD.id;
        RETURN OLD;
    END IF;
END;
$$;

COMMENT ON FUNCTION @extschema@.calls_keys_trigger() IS
    'Keeps sipcall.call_keys in step with sipcall.calls';

CREATE TRIGGER calls_keys
    BEFORE INSERT OR UPDATE OR DELETE ON @extschema@.calls
    FOR EACH ROW EXECUTE FUNCTION @extschema@.calls_keys_trigger();

CREATE FUNCTION @extschema@.calls_truncate_trigger()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    TRUNCATE @extschema@.call_keys;
    RETURN NULL;
END;
$$;

COMMENT ON FUNCTION @extschema@.calls_truncate_trigger() IS
    'Empties sipcall.call_keys when sipcall.calls is truncated';

CREATE TRIGGER calls_truncate
    AFTER TRUNCATE ON @extschema@.calls
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.calls_truncate_trigger();

/*---- call_events ----*/

CREATE TABLE @extschema@.call_events (
    id                serial,
    call_id           uuid NOT NULL,
    event_type        varchar(50) NOT NULL,
    event_data        jsonb,
    "timestamp"       timestamptz NOT NULL DEFAULT pg_catalog.now(),

    -- copied from the call by a trigger when the client leaves them out
    user_id           uuid NOT NULL,
    call_initiated_at timestamptz NOT NULL,

    CONSTRAINT call_events_pkey PRIMARY KEY (id, "timestamp", user_id),
    CONSTRAINT call_events_call_id_fkey
        FOREIGN KEY (call_id, call_initiated_at, user_id)
        REFERENCES @extschema@.calls (id, initiated_at, user_id)
        ON DELETE CASCADE ON UPDATE CASCADE DEFERRABLE
) PARTITION BY RANGE ("timestamp");

CREATE INDEX idx_call_events_call_id ON @extschema@.call_events (call_id);
CREATE INDEX idx_call_events_type ON @extschema@.call_events (event_type);
CREATE INDEX idx_call_events_timestamp ON @extschema@.call_events ("timestamp");
CREATE INDEX idx_call_events_user_id ON @extschema@.call_events (user_id);

CREATE TABLE @extschema@.call_events_default
    PARTITION OF @extschema@.call_events DEFAULT;

COMMENT ON TABLE @extschema@.call_events IS
    'FreeSWITCH events of a call, partitioned by month of "timestamp" (UTC); removed after the retention period';
COMMENT ON TABLE @extschema@.call_events_default IS
    'Call events whose month has no partition yet';
COMMENT ON COLUMN @extschema@.call_events.user_id IS
    'The call''s user, filled in from the call when not given';
COMMENT ON COLUMN @extschema@.call_events.call_initiated_at IS
    'The call''s initiated_at (its partition key), filled in from the call when not given';

CREATE FUNCTION @extschema@.call_events_fill_trigger()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF NEW.user_id IS NULL OR NEW.call_initiated_at IS NULL
       OR (TG_OP = 'UPDATE' AND NEW.call_id IS DISTINCT FROM OLD.call_id
           AND NEW.call_initiated_at IS NOT DISTINCT FROM OLD.call_initiated_at) THEN
        SELECT k.user_id, k.initiated_at
          INTO NEW.user_id, NEW.call_initiated_at
          FROM @extschema@.call_keys k
         WHERE k.id = NEW.call_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'call % does not exist', NEW.call_id
                USING ERRCODE = 'foreign_key_violation',
                      DETAIL = 'Every call event must refer to an existing row of sipcall.calls.',
                      TABLE = 'call_events',
                      CONSTRAINT = 'call_events_call_id_fkey';
        END IF;
    END IF;
    RETURN NEW;
END;
$$;

COMMENT ON FUNCTION @extschema@.call_events_fill_trigger() IS
    'Fills call_events.user_id and call_initiated_at from the call, or rejects an unknown call_id (23503)';

CREATE TRIGGER call_events_fill
    BEFORE INSERT OR UPDATE OF call_id, user_id, call_initiated_at
    ON @extschema@.call_events
    FOR EACH ROW EXECUTE FUNCTION @extschema@.call_events_fill_trigger();

/*---- system_config ----*/

CREATE TABLE @extschema@.system_config (
    id           serial PRIMARY KEY,
    config_key   varchar(255) UNIQUE NOT NULL,
    config_value jsonb NOT NULL,
    description  text,
    is_encrypted boolean DEFAULT false,
    created_at   timestamptz DEFAULT pg_catalog.now(),
    updated_at   timestamptz DEFAULT pg_catalog.now(),
    is_default   boolean NOT NULL DEFAULT false
);
/* the seed's idx_system_config_key would duplicate the UNIQUE index */

COMMENT ON TABLE @extschema@.system_config IS
    'Settings of the application and of sipcall''s maintenance (keys in README)';
COMMENT ON COLUMN @extschema@.system_config.is_default IS
    'True for a row installed by sipcall and never changed; an INSERT of the same key replaces it';

/*
 * A default row installed by CREATE EXTENSION yields to an inserted row
 * with the same key.  This is what lets a restore bring back the settings
 * of the dumped database (the dump carries the rows, CREATE EXTENSION has
 * already made the defaults), and it lets an operator simply INSERT a
 * setting.  An update marks the row as no longer default.
 */
CREATE FUNCTION @extschema@.system_config_defaults_trigger()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        DELETE FROM @extschema@.system_config
         WHERE config_key = NEW.config_key AND is_default;
    ELSIF NEW.config_value IS DISTINCT FROM OLD.config_value THEN
        NEW.is_default := false;
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END;
$$;

COMMENT ON FUNCTION @extschema@.system_config_defaults_trigger() IS
    'Lets an inserted system_config row replace the installed default of the same key';

CREATE TRIGGER system_config_defaults
    BEFORE INSERT OR UPDATE ON @extschema@.system_config
    FOR EACH ROW EXECUTE FUNCTION @extschema@.system_config_defaults_trigger();

INSERT INTO @extschema@.system_config (config_key, config_value, description, is_default)
VALUES
    ('retention.call_events', '"90 days"',
     'How long call events are kept (an interval); older months are dropped', true),
    ('retention.audit_logs', '"1 year"',
     'How long audit log entries are kept (an interval); older months are dropped', true),
    ('retention.calls', 'null',
     'How long calls are kept (an interval), or null to keep them forever', true),
    ('partition.premake_months', '3',
     'How many months ahead of the current one get their partitions made (1 to 24)', true);

/*---- audit_logs ----*/

CREATE TABLE @extschema@.audit_logs (
    id            serial,
    user_id       uuid,
    action        varchar(100) NOT NULL,
    resource_type varchar(50),
    resource_id   varchar(255),
    details       jsonb,
    ip_address    inet,
    user_agent    text,
    "timestamp"   timestamptz NOT NULL DEFAULT pg_catalog.now(),

    CONSTRAINT audit_logs_pkey PRIMARY KEY (id, "timestamp"),
    CONSTRAINT audit_logs_user_id_fkey FOREIGN KEY (user_id)
        REFERENCES @extschema@.users (id) ON DELETE SET NULL DEFERRABLE
) PARTITION BY RANGE ("timestamp");

CREATE INDEX idx_audit_logs_user_id ON @extschema@.audit_logs (user_id);
CREATE INDEX idx_audit_logs_action ON @extschema@.audit_logs (action);
CREATE INDEX idx_audit_logs_timestamp ON @extschema@.audit_logs ("timestamp");

CREATE TABLE @extschema@.audit_logs_default
    PARTITION OF @extschema@.audit_logs DEFAULT;

COMMENT ON TABLE @extschema@.audit_logs IS
    'Audit trail, partitioned by month of "timestamp" (UTC); anonymised, not deleted, on erasure';
COMMENT ON TABLE @extschema@.audit_logs_default IS
    'Audit log entries whose month has no partition yet';

/*---- rate_limits ----*/

CREATE TABLE @extschema@.rate_limits (
    id                      serial PRIMARY KEY,
    user_id                 uuid NOT NULL,
    endpoint                varchar(255) NOT NULL,
    request_count           integer DEFAULT 0,
    window_start            timestamptz DEFAULT pg_catalog.now(),
    window_duration_minutes integer DEFAULT 60,

    CONSTRAINT rate_limits_user_id_endpoint_key UNIQUE (user_id, endpoint),
    CONSTRAINT rate_limits_user_id_fkey FOREIGN KEY (user_id)
        REFERENCES @extschema@.users (id) ON DELETE CASCADE DEFERRABLE
);
/* the seed's idx_rate_limits_user_endpoint is the UNIQUE index above */
CREATE INDEX idx_rate_limits_window ON @extschema@.rate_limits (window_start);

COMMENT ON TABLE @extschema@.rate_limits IS
    'Fixed-window request counters per user and endpoint (sipcall.check_rate_limit)';

/*---- daily_call_summary ----*/

CREATE TABLE @extschema@.daily_call_summary (
    call_date        date NOT NULL,
    total_calls      bigint NOT NULL,
    completed_calls  bigint NOT NULL,
    avg_duration     numeric,
    total_cost_cents bigint,
    CONSTRAINT idx_daily_call_summary_date PRIMARY KEY (call_date)
);

COMMENT ON TABLE @extschema@.daily_call_summary IS
    'Calls per UTC day, kept up to date by sipcall.refresh_daily_summary()';
/*
 * Analytics views.  Days are UTC days, whatever the session's TimeZone.
 */

CREATE VIEW @extschema@.call_statistics AS
SELECT pg_catalog.date_trunc('day', initiated_at, 'UTC') AS call_date,
       count(*) AS total_calls,
       count(CASE WHEN status = 'completed' THEN 1 END) AS completed_calls,
       avg(duration_seconds) AS avg_duration,
       sum(cost_cents) AS total_cost_cents,
       avg(quality_score) AS avg_quality
  FROM @extschema@.calls
 GROUP BY pg_catalog.date_trunc('day', initiated_at, 'UTC')
 ORDER BY call_date DESC;

COMMENT ON VIEW @extschema@.call_statistics IS
    'Calls per UTC day, computed live from sipcall.calls';

CREATE VIEW @extschema@.user_activity AS
SELECT u.id,
       u.display_name,
       count(c.id) AS total_calls,
       max(c.initiated_at) AS last_call,
       sum(c.cost_cents) AS total_cost_cents,
       avg(c.quality_score) AS avg_quality
  FROM @extschema@.users u
  LEFT JOIN @extschema@.calls c ON u.id = c.user_id
 GROUP BY u.id, u.display_name;

COMMENT ON VIEW @extschema@.user_activity IS
    'Per user: number of calls, last call, total cost and average quality';
/*
 * Monthly partitions (src/partition.c).
 */

CREATE FUNCTION @extschema@.create_partition(parent regclass, for_date date)
RETURNS regclass
LANGUAGE c STRICT VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'sipcall_create_partition';

COMMENT ON FUNCTION @extschema@.create_partition(regclass, date) IS
    'Creates, if missing, the monthly (UTC) partition of calls, call_events or audit_logs holding for_date, moving its rows out of the default partition; returns it';

REVOKE ALL ON FUNCTION @extschema@.create_partition(regclass, date) FROM PUBLIC;

/* Partitions for the current month and the next three (UTC). */
SELECT @extschema@.create_partition(t, (m.month)::date)
  FROM unnest(ARRAY['@extschema@.calls', '@extschema@.call_events',
                    '@extschema@.audit_logs']::regclass[]) AS t,
       generate_series(date_trunc('month', now() AT TIME ZONE 'UTC'),
                       date_trunc('month', now() AT TIME ZONE 'UTC') + interval '3 months',
                       interval '1 month') AS m(month);
/*
 * TEMPORARY stand-in for sipcall.encrypt_data / sipcall.decrypt_data,
 * written by the gdpr branch so that export_user_data can be developed and
 * tested before src/crypto.c is merged.  DROP THIS FILE AT MERGE: the real
 * functions (branch crypto) replace it with the same signatures.
 *
 * They wrap pgcrypto's pgp_sym_encrypt / pgp_sym_decrypt, which raise
 * SQLSTATE 39000 on a wrong key, like the real ones.  pgcrypto's schema is
 * looked up once, here, and written into the function bodies.
 */
DO $stub$
DECLARE
    pgcrypto_schema text := (SELECT n.nspname
                               FROM pg_catalog.pg_extension e
                               JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
                              WHERE e.extname = 'pgcrypto');
BEGIN
    EXECUTE pg_catalog.format($f$
        CREATE FUNCTION @extschema@.encrypt_data(data text, key text)
        RETURNS bytea LANGUAGE plpgsql STRICT VOLATILE PARALLEL SAFE
        AS 'BEGIN RETURN %I.pgp_sym_encrypt(data, key); END'$f$, pgcrypto_schema);
    EXECUTE pg_catalog.format($f$
        CREATE FUNCTION @extschema@.decrypt_data(encrypted_data bytea, key text)
        RETURNS text LANGUAGE plpgsql STRICT IMMUTABLE PARALLEL SAFE
        AS 'BEGIN RETURN %I.pgp_sym_decrypt(encrypted_data, key); END'$f$, pgcrypto_schema);
END;
$stub$;

COMMENT ON FUNCTION @extschema@.encrypt_data(text, text) IS
    'TEMPORARY stub (pgcrypto pgp_sym_encrypt), replaced by the C implementation at merge';
COMMENT ON FUNCTION @extschema@.decrypt_data(bytea, text) IS
    'TEMPORARY stub (pgcrypto pgp_sym_decrypt), replaced by the C implementation at merge';
/*
 * GDPR export and erasure (src/gdpr.c).
 *
 * Both run their statements as the extension's owner, so a role needs
 * only EXECUTE (and USAGE on the schema), never privileges on the tables:
 *
 *   GRANT USAGE ON SCHEMA sipcall TO app;
 *   GRANT EXECUTE ON FUNCTION sipcall.export_user_data(uuid, text),
 *                             sipcall.delete_user_data(uuid) TO app;
 */

CREATE FUNCTION @extschema@.export_user_data(target_user_id uuid, encryption_key text)
RETURNS jsonb
LANGUAGE c STRICT VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'sipcall_export_user_data';

COMMENT ON FUNCTION @extschema@.export_user_data(uuid, text) IS
    'Everything stored about a user (user, calls with decrypted numbers, call events, audit entries) as jsonb; records the export in audit_logs';

REVOKE ALL ON FUNCTION @extschema@.export_user_data(uuid, text) FROM PUBLIC;

CREATE FUNCTION @extschema@.delete_user_data(target_user_id uuid)
RETURNS boolean
LANGUAGE c STRICT VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'sipcall_delete_user_data';

COMMENT ON FUNCTION @extschema@.delete_user_data(uuid) IS
    'Erases a user with their calls, call events and rate limits, anonymises the audit entries that name them, records the erasure; false if there was no such user';

REVOKE ALL ON FUNCTION @extschema@.delete_user_data(uuid) FROM PUBLIC;
/*
 * pg_dump: the tables' rows belong to the user, not to the extension.
 * Partitions made later by sipcall.create_partition are registered the
 * same way when they are made.  call_keys is left out on purpose: it is
 * rebuilt by the triggers on calls while a dump is restored.
 */
SELECT pg_catalog.pg_extension_config_dump('@extschema@.users', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.calls', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.calls_default', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.call_events', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.call_events_default', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.call_events_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.system_config', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.system_config_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.audit_logs', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.audit_logs_default', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.audit_logs_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.rate_limits', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.rate_limits_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.daily_call_summary', '');
