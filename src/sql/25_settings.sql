/*
 * Settings: system_config, its installed defaults and the validation of
 * sipcall's own keys (src/settings.c).  Keys: README, "Configuration".
 */

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

/*
 * Validation of sipcall's own settings.  Triggers fire in name
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
