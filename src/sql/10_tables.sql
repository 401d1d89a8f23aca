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
AS 'MODULE_PATHNAME', 'sipcall_call_events_fill';

COMMENT ON FUNCTION @extschema@.call_events_fill_trigger() IS
    'Fills call_events.user_id from the call; rejects an unknown call_id, or a user_id not the call''s (23503)';

REVOKE ALL ON FUNCTION @extschema@.call_events_fill_trigger() FROM PUBLIC;

CREATE TRIGGER call_events_fill
    BEFORE INSERT OR UPDATE OF call_id, user_id
    ON @extschema@.call_events
    FOR EACH ROW EXECUTE FUNCTION @extschema@.call_events_fill_trigger();

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
