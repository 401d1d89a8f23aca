/* sipcall--1.0.sql: version 1.0, released 2026-12-03; frozen, never edited */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION sipcall CASCADE" to load this file. \quit


/*
 * Every name and operator below resolves through pg_catalog and sipcall's
 * own schema only, whatever search_path CREATE EXTENSION runs with (which
 * holds the schema of pgcrypto, often public): the views and defaults are
 * bound now, by OID.  SET LOCAL ends with this script.
 */
SET LOCAL search_path = pg_catalog, pg_temp;

/*
 * The schema must be a new one of our own.  CREATE EXTENSION uses a schema
 * sipcall that exists already, whoever made it: a database owner could make
 * it before a superuser installs sipcall, fill it with operators such as
 * =(varchar, varchar) that pg_catalog lacks, and every comparison below and
 * in the triggers would then run the owner's code as a superuser.  So the
 * schema has to belong to the installing role or a superuser, and hold
 * nothing yet.  (pg_dump writes CREATE SCHEMA sipcall before CREATE
 * EXTENSION; that schema is the restoring superuser's, and empty.)  This
 * runs before anything resolves a name through @extschema@, and names
 * every operator it uses.
 */
DO $check_schema$
DECLARE
    nsp   oid;
    owner oid;
    held  text;
BEGIN
    SELECT n.oid, n.nspowner INTO nsp, owner
      FROM pg_catalog.pg_namespace n
     WHERE n.nspname OPERATOR(pg_catalog.=) 'sipcall';
    IF owner OPERATOR(pg_catalog.<>) (SELECT r.oid FROM pg_catalog.pg_roles r
                                        WHERE r.rolname OPERATOR(pg_catalog.=) current_user)
       AND NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r
                 WHERE r.oid OPERATOR(pg_catalog.=) owner) THEN
        RAISE EXCEPTION 'schema "sipcall" already exists and is owned by role "%"',
                        pg_catalog.pg_get_userbyid(owner)
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'sipcall installs only into a schema of the installing role or of a superuser, which another role could not have filled with its own operators and functions.',
                  HINT = 'Drop the schema or give it to the installing role (ALTER SCHEMA sipcall OWNER TO ...), check what it holds, then install again.';
    END IF;
    -- everything but sipcall's own pg_extension row, being made
    SELECT pg_catalog.string_agg(o.what, ', ' ORDER BY o.what)
      INTO held
      FROM (SELECT pg_catalog.pg_describe_object(d.classid, d.objid, d.objsubid) AS what
              FROM pg_catalog.pg_depend d
             WHERE d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_namespace'::pg_catalog.regclass
               AND d.refobjid OPERATOR(pg_catalog.=) nsp
               AND d.classid OPERATOR(pg_catalog.<>) 'pg_catalog.pg_extension'::pg_catalog.regclass) o;
    IF held IS NOT NULL THEN
        RAISE EXCEPTION 'schema "sipcall" already exists and is not empty'
            USING ERRCODE = 'duplicate_schema',
                  DETAIL = 'It holds: ' || held || '.  sipcall installs only into an empty schema: objects already there could take the place of the ones it resolves by name.',
                  HINT = 'Move or drop what the schema holds, then install again.';
    END IF;
END
$check_schema$;

SET LOCAL search_path = pg_catalog, @extschema@, pg_temp;
/*
 * Tables.
 *
 * The six seed tables keep every seed column, name and default.  What the
 * seed could not do as written is fixed here:
 *
 *  - calls, call_events and audit_logs are range-partitioned by month
 *    (UTC) with a default partition each; sipcall.create_partition() makes
 *    the monthly partitions (none is made here: the first maintenance
 *    cycle or create_partition makes them).  The partitioned parents carry
 *    no index and no primary key: every partition has its own, made with
 *    it (the default partitions here, the monthly ones by create_partition
 *    as copies of the default partition's).  A partition that is not a
 *    member of the extension is then dumped by pg_dump with its rows and
 *    its own index definitions, and nothing that ATTACH PARTITION would
 *    make collides with them on restore (README, "Backup and restore").
 *    A primary key must contain the partition key, so the keys grow by
 *    initiated_at/timestamp.
 *  - user_id is part of the keys of calls and call_events, so that both can
 *    later be distributed by user (Citus, see README).
 *  - Uniqueness that cannot live on a partitioned table (calls.id alone,
 *    calls.call_uuid) is kept in call_keys, an unpartitioned registry of
 *    calls maintained by triggers.  call_events refers to its call through
 *    it: one index probe instead of a search of every partition of calls.
 *  - The foreign keys of the partitioned tables are not DEFERRABLE: a
 *    restore in one transaction with SET CONSTRAINTS ALL DEFERRED would
 *    leave trigger events pending on a partition whose keys the dump
 *    creates after its rows, and PostgreSQL refuses that ALTER TABLE.
 *    pg_dump loads the rows in an order that needs no deferral.
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

    CONSTRAINT calls_user_id_fkey FOREIGN KEY (user_id)
        REFERENCES @extschema@.users (id) ON DELETE CASCADE
) PARTITION BY RANGE (initiated_at);

/*
 * The keys and indexes of the seed (idx_calls_*), per partition: the
 * default partition's are the template that create_partition copies.
 */
CREATE TABLE @extschema@.calls_default
    PARTITION OF @extschema@.calls DEFAULT;
ALTER TABLE @extschema@.calls_default
    ADD CONSTRAINT calls_default_pkey PRIMARY KEY (id, initiated_at, user_id);
CREATE INDEX calls_default_user_id_initiated_at_idx
    ON @extschema@.calls_default (user_id, initiated_at);
CREATE INDEX calls_default_status_idx ON @extschema@.calls_default (status);
CREATE INDEX calls_default_initiated_at_idx ON @extschema@.calls_default (initiated_at);
CREATE INDEX calls_default_call_uuid_idx ON @extschema@.calls_default (call_uuid);

COMMENT ON TABLE @extschema@.calls IS
    'One row per call, partitioned by month of initiated_at (UTC); numbers are encrypted';
COMMENT ON TABLE @extschema@.calls_default IS
    'Calls whose month has no partition yet; sipcall.create_partition moves them out';

/*
 * call_keys: what must be unique across all partitions of calls.  Filled
 * and kept in step by triggers on calls.  It is dumped like the other
 * tables (90_dump.sql), and every call refers to its row (calls_id_fkey),
 * which makes pg_dump load call_keys before calls and before call_events
 * (whose foreign key refers to it too): a restore then finds each call's
 * row already there, identical, which calls_keys_trigger accepts.
 */
CREATE TABLE @extschema@.call_keys (
    id           uuid NOT NULL CONSTRAINT calls_id_key PRIMARY KEY,
    call_uuid    varchar(255) CONSTRAINT calls_call_uuid_key UNIQUE,
    user_id      uuid NOT NULL,
    initiated_at timestamptz NOT NULL
);

/*
 * It cannot fail, since calls_keys_trigger makes the row before the call
 * is inserted; its use is the order of a restore (see above).
 */
ALTER TABLE @extschema@.calls
    ADD CONSTRAINT calls_id_fkey FOREIGN KEY (id)
        REFERENCES @extschema@.call_keys (id);

COMMENT ON TABLE @extschema@.call_keys IS
    'Registry of calls.id and calls.call_uuid, unique across all partitions of calls (maintained by triggers)';

/*
 * The check every trigger function of sipcall makes first: raises 39P01
 * unless the trigger fires on the named table of sipcall or one of its
 * partitions (privileged.c).  Executable by all: it only ever refuses.
 */
CREATE FUNCTION @extschema@.trigger_check_table(funcname text, relname text,
                                                relid oid, tgname name)
RETURNS void
LANGUAGE c STABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'sipcall_trigger_check_table_sql';

COMMENT ON FUNCTION @extschema@.trigger_check_table(text, text, oid, name) IS
    'Raises 39P01 unless a trigger function fires on its own sipcall table (used by sipcall''s trigger functions)';

/*
 * Every trigger function of sipcall pins its search_path, fires only on its
 * own table (or that table's partitions; elsewhere it raises 39P01) and is
 * not executable by PUBLIC (firing a trigger needs no EXECUTE privilege;
 * attaching one does).
 *
 * Keeping call_keys in step with calls.  An UPDATE that changes a call's
 * month moves the row to another partition, which PostgreSQL carries out
 * as BEFORE UPDATE on the old partition, a DELETE there and an INSERT into
 * the new one.  The registry row must survive the move (its deletion would
 * cascade to the call's events), so:
 *  - BEFORE UPDATE brings the registry row up to date; a new id gets a
 *    registry row of its own, and the events move to it (the old row
 *    cannot take the new id: calls_id_fkey still sees the old id in the
 *    call until its update is done);
 *  - BEFORE INSERT adds the registry row, or finds it already up to date
 *    when the insert is the second half of such a move, or when a restore
 *    has loaded call_keys first;
 *  - AFTER DELETE, and AFTER UPDATE of id, remove the registry row of the
 *    old id (and by cascade its events) only if no row of calls has that
 *    id any more.
 */
CREATE FUNCTION @extschema@.calls_keys_trigger()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
BEGIN
    PERFORM @extschema@.trigger_check_table('calls_keys_trigger', 'calls', TG_RELID, TG_NAME);
    IF TG_OP = 'INSERT' THEN
        INSERT INTO @extschema@.call_keys (id, call_uuid, user_id, initiated_at)
             VALUES (NEW.id, NEW.call_uuid, NEW.user_id, NEW.initiated_at)
        ON CONFLICT (id) DO NOTHING;
        IF NOT FOUND AND NOT EXISTS (
               SELECT FROM @extschema@.call_keys k
                WHERE k.id = NEW.id
                  AND (k.call_uuid, k.user_id, k.initiated_at)
                      IS NOT DISTINCT FROM (NEW.call_uuid, NEW.user_id, NEW.initiated_at)) THEN
            RAISE EXCEPTION 'duplicate key value violates unique constraint "calls_id_key"'
                USING ERRCODE = 'unique_violation',
                      DETAIL = format('Key (id)=(%s) already exists.', NEW.id),
                      TABLE = 'calls',
                      CONSTRAINT = 'calls_id_key';
        END IF;
    ELSIF NEW.id IS DISTINCT FROM OLD.id THEN
        UPDATE @extschema@.call_keys SET call_uuid = NULL WHERE id = OLD.id;
        INSERT INTO @extschema@.call_keys (id, call_uuid, user_id, initiated_at)
             VALUES (NEW.id, NEW.call_uuid, NEW.user_id, NEW.initiated_at);
        UPDATE @extschema@.call_events SET call_id = NEW.id, user_id = NEW.user_id
         WHERE call_id = OLD.id;
    ELSIF (NEW.call_uuid, NEW.user_id, NEW.initiated_at)
          IS DISTINCT FROM (OLD.call_uuid, OLD.user_id, OLD.initiated_at) THEN
        UPDATE @extschema@.call_keys
           SET call_uuid = NEW.call_uuid,
               user_id = NEW.user_id, initiated_at = NEW.initiated_at
         WHERE id = OLD.id;
        IF NEW.user_id IS DISTINCT FROM OLD.user_id THEN
            UPDATE @extschema@.call_events SET user_id = NEW.user_id
             WHERE call_id = NEW.id;
        END IF;
    END IF;
    RETURN NEW;
END;
$$;

COMMENT ON FUNCTION @extschema@.calls_keys_trigger() IS
    'Adds and updates the row of sipcall.call_keys of a call';

REVOKE ALL ON FUNCTION @extschema@.calls_keys_trigger() FROM PUBLIC;

CREATE TRIGGER calls_keys
    BEFORE INSERT OR UPDATE ON @extschema@.calls
    FOR EACH ROW EXECUTE FUNCTION @extschema@.calls_keys_trigger();

CREATE FUNCTION @extschema@.calls_forget_trigger()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
BEGIN
    PERFORM @extschema@.trigger_check_table('calls_forget_trigger', 'calls', TG_RELID, TG_NAME);
    IF NOT EXISTS (SELECT FROM @extschema@.calls WHERE id = OLD.id) THEN
        DELETE FROM @extschema@.call_keys WHERE id = OLD.id;
    END IF;
    RETURN NULL;
END;
$$;

COMMENT ON FUNCTION @extschema@.calls_forget_trigger() IS
    'Removes the row of sipcall.call_keys, and so the events, of a deleted call (or of the old id of a call)';

REVOKE ALL ON FUNCTION @extschema@.calls_forget_trigger() FROM PUBLIC;

CREATE TRIGGER calls_forget
    AFTER DELETE ON @extschema@.calls
    FOR EACH ROW EXECUTE FUNCTION @extschema@.calls_forget_trigger();
CREATE TRIGGER calls_forget_old_id
    AFTER UPDATE OF id ON @extschema@.calls
    FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id)
    EXECUTE FUNCTION @extschema@.calls_forget_trigger();

CREATE FUNCTION @extschema@.calls_truncate_trigger()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
BEGIN
    PERFORM @extschema@.trigger_check_table('calls_truncate_trigger', 'calls', TG_RELID, TG_NAME);
    /*
     * call_keys cannot be truncated while calls refers to it (calls_id_fkey)
     * unless calls is truncated in the same statement, which it cannot be
     * from its own trigger: its rows go by DELETE, after the events.
     */
    TRUNCATE @extschema@.call_events;
    DELETE FROM @extschema@.call_keys;
    RETURN NULL;
END;
$$;

COMMENT ON FUNCTION @extschema@.calls_truncate_trigger() IS
    'Empties sipcall.call_events and sipcall.call_keys when sipcall.calls is truncated';

REVOKE ALL ON FUNCTION @extschema@.calls_truncate_trigger() FROM PUBLIC;

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

    -- copied from the call by a trigger when the client leaves it out;
    -- always the call's user (the trigger rejects another with 23503)
    user_id           uuid NOT NULL,

    /*
     * The call, through its registry row: a foreign key check against
     * call_keys costs one index probe, against the partitioned calls
     * several times more.  Deleting a call deletes its registry row (see
     * calls_keys_trigger), and so its events.
     */
    CONSTRAINT call_events_call_id_fkey FOREIGN KEY (call_id)
        REFERENCES @extschema@.call_keys (id)
        ON DELETE CASCADE ON UPDATE CASCADE
) PARTITION BY RANGE ("timestamp");

/* keys and indexes per partition, as for calls */
CREATE TABLE @extschema@.call_events_default
    PARTITION OF @extschema@.call_events DEFAULT;
ALTER TABLE @extschema@.call_events_default
    ADD CONSTRAINT call_events_default_pkey PRIMARY KEY (id, "timestamp", user_id);
CREATE INDEX call_events_default_call_id_idx ON @extschema@.call_events_default (call_id);
CREATE INDEX call_events_default_event_type_idx ON @extschema@.call_events_default (event_type);
CREATE INDEX call_events_default_timestamp_idx ON @extschema@.call_events_default ("timestamp");
CREATE INDEX call_events_default_user_id_idx ON @extschema@.call_events_default (user_id);

COMMENT ON TABLE @extschema@.call_events IS
    'FreeSWITCH events of a call, partitioned by month of "timestamp" (UTC); removed after the retention period';
COMMENT ON TABLE @extschema@.call_events_default IS
    'Call events whose month has no partition yet';
COMMENT ON COLUMN @extschema@.call_events.user_id IS
    'The call''s user, filled in from the call when not given; never another user';

CREATE FUNCTION @extschema@.call_events_fill_trigger()
RETURNS trigger
LANGUAGE c
SET search_path = pg_catalog, @extschema@, pg_temp
AS 'MODULE_PATHNAME', 'sipcall_call_events_fill';

COMMENT ON FUNCTION @extschema@.call_events_fill_trigger() IS
    'Fills call_events.user_id from the call; rejects an unknown call_id, or a user_id not the call''s (23503)';

REVOKE ALL ON FUNCTION @extschema@.call_events_fill_trigger() FROM PUBLIC;

CREATE TRIGGER call_events_fill
    BEFORE INSERT OR UPDATE OF call_id, user_id
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
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
BEGIN
    PERFORM @extschema@.trigger_check_table('system_config_defaults_trigger', 'system_config', TG_RELID, TG_NAME);
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

REVOKE ALL ON FUNCTION @extschema@.system_config_defaults_trigger() FROM PUBLIC;

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

    CONSTRAINT audit_logs_user_id_fkey FOREIGN KEY (user_id)
        REFERENCES @extschema@.users (id) ON DELETE SET NULL
) PARTITION BY RANGE ("timestamp");

/* keys and indexes per partition, as for calls */
CREATE TABLE @extschema@.audit_logs_default
    PARTITION OF @extschema@.audit_logs DEFAULT;
ALTER TABLE @extschema@.audit_logs_default
    ADD CONSTRAINT audit_logs_default_pkey PRIMARY KEY (id, "timestamp");
CREATE INDEX audit_logs_default_user_id_idx ON @extschema@.audit_logs_default (user_id);
CREATE INDEX audit_logs_default_action_idx ON @extschema@.audit_logs_default (action);
CREATE INDEX audit_logs_default_timestamp_idx ON @extschema@.audit_logs_default ("timestamp");

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
 *
 * Every function and operator is schema-qualified, and the script runs
 * with search_path pinned to pg_catalog and sipcall's schema, so the
 * views are bound to pg_catalog's (by OID) whatever schemas and search
 * paths exist when they are created or read.
 */

CREATE VIEW @extschema@.call_statistics AS
SELECT pg_catalog.date_trunc('day', initiated_at, 'UTC') AS call_date,
       pg_catalog.count(*) AS total_calls,
       pg_catalog.count(CASE WHEN status OPERATOR(pg_catalog.=) 'completed' THEN 1 END) AS completed_calls,
       pg_catalog.avg(duration_seconds) AS avg_duration,
       pg_catalog.sum(cost_cents) AS total_cost_cents,
       pg_catalog.avg(quality_score) AS avg_quality
  FROM @extschema@.calls
 GROUP BY pg_catalog.date_trunc('day', initiated_at, 'UTC')
 ORDER BY call_date DESC;

COMMENT ON VIEW @extschema@.call_statistics IS
    'Calls per UTC day, computed live from sipcall.calls';

CREATE VIEW @extschema@.user_activity AS
SELECT u.id,
       u.display_name,
       pg_catalog.count(c.id) AS total_calls,
       pg_catalog.max(c.initiated_at) AS last_call,
       pg_catalog.sum(c.cost_cents) AS total_cost_cents,
       pg_catalog.avg(c.quality_score) AS avg_quality
  FROM @extschema@.users u
  LEFT JOIN @extschema@.calls c ON u.id OPERATOR(pg_catalog.=) c.user_id
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

/*
 * No monthly partition is made here: what CREATE EXTENSION makes from
 * now() would differ between the day of a dump and the day of its
 * restore, and the restore's CREATE TABLE of a month made here would fail.
 * The first maintenance cycle (premake_partitions) or create_partition
 * makes them; rows arriving before wait in the default partitions and are
 * moved by the next drain.
 */
/*
 * Encryption of personal data (src/crypto.c, README "Encryption").
 *
 * The salt that stretches passphrases into keys is made per installation,
 * here, and kept as a default row: a restored dump's row replaces it (the
 * system_config_defaults trigger).  Every encrypted value carries the salt
 * it was made with, so changing or losing this row never makes old data
 * unreadable; it only changes the key new values are encrypted with.
 */
INSERT INTO @extschema@.system_config (config_key, config_value, description, is_default)
VALUES ('crypto.kdf_salt',
        pg_catalog.to_jsonb(pg_catalog.encode(pg_catalog.substr(
            pg_catalog.sha256(pg_catalog.convert_to(
                pg_catalog.gen_random_uuid()::text || pg_catalog.gen_random_uuid()::text,
                'UTF8')), 1, 16), 'hex')),
        'Salt (hex) with which encrypt_data stretches passphrases into keys; made at installation, read once per session',
        true);

CREATE FUNCTION @extschema@.encrypt_data(data text, key text)
RETURNS bytea
AS 'MODULE_PATHNAME', 'sipcall_encrypt_data'
LANGUAGE C STRICT VOLATILE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.encrypt_data(text, text) IS
    'Encrypts text with AES-256-GCM under a key stretched from the passphrase (PBKDF2-HMAC-SHA256, cached); pass the key as a bind parameter';

CREATE FUNCTION @extschema@.decrypt_data(encrypted_data bytea, key text)
RETURNS text
AS 'MODULE_PATHNAME', 'sipcall_decrypt_data'
LANGUAGE C STRICT STABLE PARALLEL SAFE;

COMMENT ON FUNCTION @extschema@.decrypt_data(bytea, text) IS
    'Decrypts what encrypt_data made, or an OpenPGP message of pgcrypto''s pgp_sym_encrypt; wrong key or tampered data raise 39000';
/*
 * Rate limits (src/ratelimit.c, src/ratelimit_flusher.c).
 */

CREATE FUNCTION @extschema@.check_rate_limit(user_id uuid, endpoint text,
                                             max_requests integer,
                                             window_minutes integer DEFAULT 60)
RETURNS boolean
LANGUAGE c STRICT VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'sipcall_check_rate_limit';

COMMENT ON FUNCTION @extschema@.check_rate_limit(uuid, text, integer, integer) IS
    'Counts one request of the user at the endpoint in a fixed window of window_minutes and says whether it is allowed (at most max_requests per window); rejected requests are not counted';

CREATE FUNCTION @extschema@.rate_limit_status(user_id uuid, endpoint text,
                                              max_requests integer DEFAULT NULL,
                                              window_minutes integer DEFAULT NULL,
                                              OUT request_count integer,
                                              OUT window_start timestamptz,
                                              OUT window_duration_minutes integer,
                                              OUT reset_at timestamptz,
                                              OUT remaining integer)
RETURNS record
LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'sipcall_rate_limit_status';

COMMENT ON FUNCTION @extschema@.rate_limit_status(uuid, text, integer, integer) IS
    'The live rate-limit state of the user at the endpoint (requests in the running window, its start and end, and the remaining budget when max_requests is given), counting nothing';

/*
 * Operator edits of rate_limits, and erasure of users, reach the counters
 * kept in shared memory when they commit.
 */
CREATE FUNCTION @extschema@.rate_limits_invalidate()
RETURNS trigger
LANGUAGE c
SET search_path = pg_catalog, @extschema@, pg_temp
AS 'MODULE_PATHNAME', 'sipcall_rate_limits_invalidate';

COMMENT ON FUNCTION @extschema@.rate_limits_invalidate() IS
    'Makes the next check_rate_limit reload the rate_limits rows that a committed change touched';

/* fires only on rate_limits (and, with argument 'users', on users) */
REVOKE ALL ON FUNCTION @extschema@.rate_limits_invalidate() FROM PUBLIC;

CREATE TRIGGER rate_limits_invalidate
    AFTER INSERT OR UPDATE OR DELETE ON @extschema@.rate_limits
    FOR EACH ROW EXECUTE FUNCTION @extschema@.rate_limits_invalidate();

CREATE TRIGGER rate_limits_invalidate_truncate
    AFTER TRUNCATE ON @extschema@.rate_limits
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.rate_limits_invalidate();

CREATE TRIGGER users_rate_limits_invalidate
    AFTER DELETE OR UPDATE OF id ON @extschema@.users
    FOR EACH ROW EXECUTE FUNCTION @extschema@.rate_limits_invalidate('users');

/* also with session_replication_role = replica (restores, replication) */
ALTER TABLE @extschema@.rate_limits ENABLE ALWAYS TRIGGER rate_limits_invalidate;
ALTER TABLE @extschema@.rate_limits ENABLE ALWAYS TRIGGER rate_limits_invalidate_truncate;
ALTER TABLE @extschema@.users ENABLE ALWAYS TRIGGER users_rate_limits_invalidate;
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
SET search_path = pg_catalog, @extschema@, pg_temp
AS 'MODULE_PATHNAME', 'sipcall_export_user_data';

COMMENT ON FUNCTION @extschema@.export_user_data(uuid, text) IS
    'Everything stored about a user (user, calls with decrypted numbers, call events, audit entries) as jsonb; records the export in audit_logs';

REVOKE ALL ON FUNCTION @extschema@.export_user_data(uuid, text) FROM PUBLIC;

CREATE FUNCTION @extschema@.delete_user_data(target_user_id uuid)
RETURNS boolean
LANGUAGE c STRICT VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, @extschema@, pg_temp
AS 'MODULE_PATHNAME', 'sipcall_delete_user_data';

COMMENT ON FUNCTION @extschema@.delete_user_data(uuid) IS
    'Erases a user with their calls, call events and rate limits, anonymises the audit entries that name them, records the erasure; false if there was no such user';

REVOKE ALL ON FUNCTION @extschema@.delete_user_data(uuid) FROM PUBLIC;
/*
 * Partition lifecycle and retention (src/lifecycle.c, src/retention.c).
 * Settings: system_config keys 'partition.premake_months',
 * 'retention.call_events', 'retention.audit_logs', 'retention.calls'
 * (README, "Configuration").
 */

CREATE FUNCTION @extschema@.premake_partitions()
RETURNS integer
LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'sipcall_premake_partitions';

COMMENT ON FUNCTION @extschema@.premake_partitions() IS
    'Makes the missing partitions of calls, call_events and audit_logs for the current UTC month and the next partition.premake_months; returns how many were made';

CREATE FUNCTION @extschema@.drain_default_partitions()
RETURNS bigint
LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'sipcall_drain_default_partitions';

COMMENT ON FUNCTION @extschema@.drain_default_partitions() IS
    'Makes the partition of every month that has rows in a default partition, moving them there; returns how many rows moved';

CREATE FUNCTION @extschema@.cleanup_old_call_events()
RETURNS integer
LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'sipcall_cleanup_old_call_events';

COMMENT ON FUNCTION @extschema@.cleanup_old_call_events() IS
    'Removes call events older than retention.call_events (dropping whole expired months); returns how many rows went';

CREATE FUNCTION @extschema@.cleanup_old_audit_logs()
RETURNS integer
LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'sipcall_cleanup_old_audit_logs';

COMMENT ON FUNCTION @extschema@.cleanup_old_audit_logs() IS
    'Removes audit log entries older than retention.audit_logs (dropping whole expired months); returns how many rows went';

CREATE FUNCTION @extschema@.cleanup_old_calls()
RETURNS integer
LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'sipcall_cleanup_old_calls';

COMMENT ON FUNCTION @extschema@.cleanup_old_calls() IS
    'When retention.calls is set, removes older calls with their events and keys, leaving daily_call_summary as it was; returns how many calls went';

REVOKE ALL ON FUNCTION @extschema@.premake_partitions() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.drain_default_partitions() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.cleanup_old_call_events() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.cleanup_old_audit_logs() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.cleanup_old_calls() FROM PUBLIC;

/* How far premake has fallen behind: rows waiting in the default partitions. */
CREATE VIEW @extschema@.default_partition_rows AS
SELECT 'calls'::pg_catalog.text AS table_name,
       '@extschema@.calls_default'::pg_catalog.regclass AS default_partition,
       (SELECT pg_catalog.count(*) FROM ONLY @extschema@.calls_default) AS row_count
UNION ALL
SELECT 'call_events', '@extschema@.call_events_default'::pg_catalog.regclass,
       (SELECT pg_catalog.count(*) FROM ONLY @extschema@.call_events_default)
UNION ALL
SELECT 'audit_logs', '@extschema@.audit_logs_default'::pg_catalog.regclass,
       (SELECT pg_catalog.count(*) FROM ONLY @extschema@.audit_logs_default);

COMMENT ON VIEW @extschema@.default_partition_rows IS
    'Per partitioned table, the rows sitting in its default partition (not 0: premake fell behind; sipcall.drain_default_partitions() moves them)';

/*
 * Validation of the settings this module owns.  Triggers fire in name
 * order: system_config_defaults, then system_config_validate; an error
 * from either undoes the whole statement.
 */
CREATE FUNCTION @extschema@.system_config_validate_trigger()
RETURNS trigger
LANGUAGE c
SET search_path = pg_catalog, @extschema@, pg_temp
AS 'MODULE_PATHNAME', 'sipcall_system_config_validate';

REVOKE ALL ON FUNCTION @extschema@.system_config_validate_trigger() FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.system_config_validate_trigger() IS
    'Rejects a bad value of partition.premake_months or a retention.* key (22023, naming the key)';

CREATE TRIGGER system_config_validate
    BEFORE INSERT OR UPDATE ON @extschema@.system_config
    FOR EACH ROW EXECUTE FUNCTION @extschema@.system_config_validate_trigger();
/*
 * Maintenance: the cycle (src/maintenance.c), its log, the incremental
 * daily summary (src/summary.c) and scheduling with pg_cron.
 */

/*---- maintenance_log ----*/

CREATE TABLE @extschema@.maintenance_log (
    id          bigserial PRIMARY KEY,
    started_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    finished_at timestamptz,
    run_by      text NOT NULL
                CONSTRAINT maintenance_log_run_by_check
                CHECK (run_by IN ('worker', 'pg_cron', 'manual')),
    result      jsonb,
    error       text
);

COMMENT ON TABLE @extschema@.maintenance_log IS
    'One row per maintenance cycle (worker, pg_cron or manual); keeps the last 30 days, at most 10000 rows';
COMMENT ON COLUMN @extschema@.maintenance_log.finished_at IS
    'NULL while a worker cycle runs';
COMMENT ON COLUMN @extschema@.maintenance_log.result IS
    'What run_maintenance() returned: status, run_by, started_at, duration_ms and one entry per step';
COMMENT ON COLUMN @extschema@.maintenance_log.error IS
    'The failed steps and their messages, NULL when every step went well';

/*---- run_maintenance ----*/

CREATE FUNCTION @extschema@.run_maintenance()
RETURNS jsonb
LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'sipcall_run_maintenance';

COMMENT ON FUNCTION @extschema@.run_maintenance() IS
    'One maintenance cycle in the caller''s transaction (each step in a subtransaction); returns what each step did, or that it skipped because another cycle runs';

REVOKE ALL ON FUNCTION @extschema@.run_maintenance() FROM PUBLIC;

/*---- the incremental daily summary ----*/

/*
 * The UTC days whose calls changed since the last refresh, one entry per
 * day and backend at most (stripe: the backend's slot), so that writers
 * lock their own entry and never wait on one another; refresh removes
 * what it has handled (src/summary.c).
 */
CREATE TABLE @extschema@.daily_summary_dirty (
    call_date date NOT NULL,
    stripe    integer NOT NULL DEFAULT 0
);

COMMENT ON TABLE @extschema@.daily_summary_dirty IS
    'UTC days whose calls changed since the last sipcall.refresh_daily_summary() (filled by triggers on calls)';

/*
 * SECURITY DEFINER: whoever changes calls may not write the dirty list
 * itself.  Its search_path is pinned (here, and again by its C code around
 * every statement it runs), so the caller's search_path cannot steer it,
 * and it fires only on calls.
 */
CREATE FUNCTION @extschema@.calls_track_trigger()
RETURNS trigger
LANGUAGE c SECURITY DEFINER
SET search_path = pg_catalog, @extschema@, pg_temp
AS 'MODULE_PATHNAME', 'sipcall_calls_track_trigger';

REVOKE ALL ON FUNCTION @extschema@.calls_track_trigger() FROM PUBLIC;

COMMENT ON FUNCTION @extschema@.calls_track_trigger() IS
    'Records in sipcall.daily_summary_dirty the UTC days touched by a change to sipcall.calls';

CREATE TRIGGER calls_track_insert
    AFTER INSERT ON @extschema@.calls
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.calls_track_trigger();
CREATE TRIGGER calls_track_update
    AFTER UPDATE ON @extschema@.calls
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.calls_track_trigger();
CREATE TRIGGER calls_track_delete
    AFTER DELETE ON @extschema@.calls
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.calls_track_trigger();
CREATE TRIGGER calls_track_truncate
    AFTER TRUNCATE ON @extschema@.calls
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.calls_track_trigger();

/*
 * Statement triggers fire only on the table a statement names and are not
 * cloned to partitions: each partition has the same four, for statements
 * aimed at it directly (the monthly ones get them from create_partition,
 * sipcall_summary_track_partition in src/summary.c).
 */
CREATE TRIGGER calls_track_insert
    AFTER INSERT ON @extschema@.calls_default
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.calls_track_trigger();
CREATE TRIGGER calls_track_update
    AFTER UPDATE ON @extschema@.calls_default
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.calls_track_trigger();
CREATE TRIGGER calls_track_delete
    AFTER DELETE ON @extschema@.calls_default
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.calls_track_trigger();
CREATE TRIGGER calls_track_truncate
    AFTER TRUNCATE ON @extschema@.calls_default
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.calls_track_trigger();

CREATE FUNCTION @extschema@.refresh_daily_summary()
RETURNS void
LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'sipcall_refresh_daily_summary';

COMMENT ON FUNCTION @extschema@.refresh_daily_summary() IS
    'Recomputes the rows of sipcall.daily_call_summary whose days had calls inserted, changed or deleted since the last refresh';

REVOKE ALL ON FUNCTION @extschema@.refresh_daily_summary() FROM PUBLIC;

CREATE FUNCTION @extschema@.rebuild_daily_summary()
RETURNS bigint
LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'sipcall_rebuild_daily_summary';

COMMENT ON FUNCTION @extschema@.rebuild_daily_summary() IS
    'Recomputes sipcall.daily_call_summary from scratch (forgetting days whose calls expired); returns the number of days';

REVOKE ALL ON FUNCTION @extschema@.rebuild_daily_summary() FROM PUBLIC;

/*---- pg_cron ----*/

CREATE FUNCTION @extschema@.schedule_maintenance(schedule text DEFAULT '*/10 * * * *')
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
BEGIN
    IF schedule IS NULL THEN
        RAISE EXCEPTION 'schedule must not be null'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Give a cron schedule such as ''*/10 * * * *''.';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
        RAISE EXCEPTION 'pg_cron is not installed in this database'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Add pg_cron to shared_preload_libraries, set cron.database_name to this database, restart the server and run CREATE EXTENSION pg_cron.';
    END IF;
    -- a job of the same name and user is updated in place
    RETURN cron.schedule('sipcall maintenance', schedule,
                         'SELECT @extschema@.run_maintenance()');
END;
$$;

COMMENT ON FUNCTION @extschema@.schedule_maintenance(text) IS
    'Registers (or reschedules) the pg_cron job "sipcall maintenance" that runs sipcall.run_maintenance(); returns its job id';

REVOKE ALL ON FUNCTION @extschema@.schedule_maintenance(text) FROM PUBLIC;

CREATE FUNCTION @extschema@.unschedule_maintenance()
RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, @extschema@, pg_temp
AS $$
DECLARE
    job bigint;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
        RAISE EXCEPTION 'pg_cron is not installed in this database'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Add pg_cron to shared_preload_libraries, set cron.database_name to this database, restart the server and run CREATE EXTENSION pg_cron.';
    END IF;
    SELECT j.jobid INTO job
      FROM cron.job j
     WHERE j.jobname = 'sipcall maintenance' AND j.username = current_user;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    RETURN cron.unschedule(job);
END;
$$;

COMMENT ON FUNCTION @extschema@.unschedule_maintenance() IS
    'Removes the pg_cron job made by sipcall.schedule_maintenance(); false if there was none';

REVOKE ALL ON FUNCTION @extschema@.unschedule_maintenance() FROM PUBLIC;

/*---- pg_dump ----*/

SELECT pg_catalog.pg_extension_config_dump('@extschema@.maintenance_log', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.maintenance_log_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.daily_summary_dirty', '');
/*
 * pg_dump: the tables' rows belong to the user, not to the extension.
 * The monthly partitions made by sipcall.create_partition are not members
 * of the extension: pg_dump dumps them whole (definition, rows, indexes).
 * call_keys is dumped too: its foreign keys make pg_dump load it before
 * calls and call_events (see 10_tables.sql).
 */
SELECT pg_catalog.pg_extension_config_dump('@extschema@.users', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.calls', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.calls_default', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.call_keys', '');
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
