-- test/catalog.sql: sipcall as the catalogs describe it, one line per fact,
-- sorted, with no OID in it; two databases whose outputs are equal hold the
-- same sipcall.  Used by the upgrade test (test/t/005_upgrade.pl), which
-- compares an updated installation with a fresh one.
--
-- Covered: the extension row (version, config-dump registrations and their
-- conditions), every member object (its identity and comment), functions
-- (whole definition, owner, ACL), every relation in the schema, members or
-- not (kind, owner, ACL, options, partition key and bound, columns with
-- type, default, nullability, identity, ACL and comment, constraints,
-- indexes, triggers, policies, view definitions, sequence parameters,
-- comments), types, the schema itself and default privileges in it.
WITH ext AS (
    SELECT oid, extname, extversion, extrelocatable, extnamespace,
           extconfig, extcondition
      FROM pg_extension WHERE extname = 'sipcall'
), members AS (
    SELECT d.classid, d.objid
      FROM pg_depend d, ext
     WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid
       AND d.deptype = 'e'
), rels AS (
    SELECT c.oid, c.relname, c.relkind
      FROM pg_class c, ext
     WHERE c.relnamespace = ext.extnamespace
       AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
), facts(fact) AS (
    SELECT format('extension %s version %s relocatable %s schema %s',
                  extname, extversion, extrelocatable, extnamespace::regnamespace)
      FROM ext
    UNION ALL
    SELECT format('config dump %s where %L', c::regclass, w)
      FROM ext, unnest(extconfig, extcondition) AS u(c, w)
    UNION ALL
    SELECT format('member %s%s', pg_describe_object(classid, objid, 0),
                  coalesce(' comment ' || quote_literal(obj_description(objid, classid::regclass::name)), ''))
      FROM members
    UNION ALL
    SELECT format('function %s owner %s acl %s definition %s',
                  p.oid::regprocedure, p.proowner::regrole, p.proacl,
                  pg_get_functiondef(p.oid))
      FROM pg_proc p, ext
     WHERE p.pronamespace = ext.extnamespace AND p.prokind IN ('f', 'p', 'w')
    UNION ALL
    SELECT format('aggregate or other routine %s kind %s', p.oid::regprocedure, p.prokind)
      FROM pg_proc p, ext
     WHERE p.pronamespace = ext.extnamespace AND p.prokind NOT IN ('f', 'p', 'w')
    UNION ALL
    SELECT format('relation %s kind %s member %s owner %s acl %s options %s persistence %s rls %s/%s replident %s partkey %s bound %s comment %L',
                  c.oid::regclass, c.relkind,
                  EXISTS (SELECT 1 FROM members m WHERE m.classid = 'pg_class'::regclass AND m.objid = c.oid),
                  c.relowner::regrole, c.relacl, c.reloptions, c.relpersistence,
                  c.relrowsecurity, c.relforcerowsecurity, c.relreplident,
                  CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END,
                  pg_get_expr(c.relpartbound, c.oid),
                  obj_description(c.oid, 'pg_class'))
      FROM pg_class c JOIN rels r ON r.oid = c.oid
    UNION ALL
    SELECT format('inherits %s from %s', i.inhrelid::regclass, i.inhparent::regclass)
      FROM pg_inherits i JOIN rels r ON r.oid = i.inhrelid
    UNION ALL
    SELECT format('column %s.%s #%s type %s notnull %s default %s identity %L generated %L collation %s acl %s options %s comment %L',
                  a.attrelid::regclass, a.attname,
                  row_number() OVER (PARTITION BY a.attrelid ORDER BY a.attnum),
                  format_type(a.atttypid, a.atttypmod), a.attnotnull,
                  pg_get_expr(ad.adbin, ad.adrelid), a.attidentity, a.attgenerated,
                  CASE WHEN a.attcollation <> 0 THEN a.attcollation::regcollation::text END,
                  a.attacl,
                  -- this server build writes a varying pg_attver=N into
                  -- attoptions of every column: not part of the design
                  array(SELECT o FROM unnest(a.attoptions) o WHERE o NOT LIKE 'pg_attver=%'),
                  col_description(a.attrelid, a.attnum))
      FROM pg_attribute a
      JOIN rels r ON r.oid = a.attrelid
      LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
     WHERE a.attnum > 0 AND NOT a.attisdropped
    UNION ALL
    SELECT format('constraint %s on %s: %s%s', co.conname, co.conrelid::regclass,
                  pg_get_constraintdef(co.oid),
                  coalesce(' comment ' || quote_literal(obj_description(co.oid, 'pg_constraint')), ''))
      FROM pg_constraint co JOIN rels r ON r.oid = co.conrelid
    UNION ALL
    SELECT format('index %s: %s%s%s', i.indexrelid::regclass, pg_get_indexdef(i.indexrelid),
                  CASE WHEN i.indisprimary THEN ' primary' ELSE '' END,
                  coalesce(' comment ' || quote_literal(obj_description(i.indexrelid, 'pg_class')), ''))
      FROM pg_index i JOIN rels r ON r.oid = i.indrelid
    UNION ALL
    SELECT format('trigger %s on %s: %s enabled %s%s', t.tgname, t.tgrelid::regclass,
                  pg_get_triggerdef(t.oid), t.tgenabled,
                  coalesce(' comment ' || quote_literal(obj_description(t.oid, 'pg_trigger')), ''))
      FROM pg_trigger t JOIN rels r ON r.oid = t.tgrelid
     WHERE NOT t.tgisinternal
    UNION ALL
    SELECT format('policy %s on %s: %s %s to %s using %s check %s', po.polname,
                  po.polrelid::regclass, po.polcmd, po.polpermissive, po.polroles::regrole[],
                  pg_get_expr(po.polqual, po.polrelid), pg_get_expr(po.polwithcheck, po.polrelid))
      FROM pg_policy po JOIN rels r ON r.oid = po.polrelid
    UNION ALL
    SELECT format('rule %s on %s: %s', ru.rulename, ru.ev_class::regclass,
                  pg_get_ruledef(ru.oid))
      FROM pg_rewrite ru JOIN rels r ON r.oid = ru.ev_class
     WHERE ru.rulename <> '_RETURN'
    UNION ALL
    SELECT format('view %s: %s', r.oid::regclass, pg_get_viewdef(r.oid))
      FROM rels r WHERE r.relkind IN ('v', 'm')
    UNION ALL
    SELECT format('sequence %s: %s start %s inc %s min %s max %s cache %s cycle %s owned by %s',
                  s.seqrelid::regclass, format_type(s.seqtypid, NULL), s.seqstart,
                  s.seqincrement, s.seqmin, s.seqmax, s.seqcache, s.seqcycle,
                  (SELECT format('%s.%s', d.refobjid::regclass, a.attname)
                     FROM pg_depend d
                     JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
                    WHERE d.classid = 'pg_class'::regclass AND d.objid = s.seqrelid
                      AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')))
      FROM pg_sequence s JOIN rels r ON r.oid = s.seqrelid
    UNION ALL
    SELECT format('type %s kind %s owner %s acl %s labels %s', t.oid::regtype, t.typtype,
                  t.typowner::regrole, t.typacl,
                  (SELECT string_agg(enumlabel, ',' ORDER BY enumsortorder)
                     FROM pg_enum WHERE enumtypid = t.oid))
      FROM pg_type t, ext
     WHERE t.typnamespace = ext.extnamespace AND t.typtype IN ('e', 'd', 'r', 'm', 'b')
       OR (t.typnamespace = (SELECT extnamespace FROM ext) AND t.typtype = 'c'
           AND NOT EXISTS (SELECT 1 FROM rels r WHERE r.oid = t.typrelid))
    UNION ALL
    SELECT format('schema %s owner %s acl %s comment %L', n.nspname, n.nspowner::regrole,
                  n.nspacl, obj_description(n.oid, 'pg_namespace'))
      FROM pg_namespace n, ext WHERE n.oid = ext.extnamespace
    UNION ALL
    SELECT format('default acl for %s on %s: %s', d.defaclrole::regrole, d.defaclobjtype, d.defaclacl)
      FROM pg_default_acl d, ext WHERE d.defaclnamespace = ext.extnamespace
    UNION ALL
    SELECT format('event trigger %s on %s: %s', e.evtname, e.evtevent, e.evtfoid::regprocedure)
      FROM pg_event_trigger e
     WHERE EXISTS (SELECT 1 FROM members m
                    WHERE m.classid = 'pg_event_trigger'::regclass AND m.objid = e.oid)
)
-- one line per fact: definitions lose their line breaks
SELECT f FROM (SELECT regexp_replace(fact, '\s*\n\s*', ' ', 'g') AS f FROM facts) s
 ORDER BY f COLLATE "C";
