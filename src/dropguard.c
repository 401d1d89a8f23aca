/*-------------------------------------------------------------------------
 *
 * dropguard.c
 *		Nobody but a superuser drops sipcall, not even by a cascade from an
 *		object sipcall depends on.
 *
 * DROP EXTENSION sipcall needs its owner, a superuser.  A cascade checks
 * the rights on the objects named only, and the app's role may own what
 * sipcall stands on: pgcrypto (a trusted extension, which a database
 * owner may create before sipcall is installed, and then add objects of
 * its own to), or the schema pgcrypto lives in (public, in a database it
 * owns).  DROP EXTENSION pgcrypto CASCADE, DROP SCHEMA public CASCADE,
 * DROP OWNED BY app CASCADE, or DROP TABLE of a table that a view added
 * to pgcrypto reads, would then drop sipcall with every call record.
 *
 * So the check sits where the drop happens, whatever statement led there:
 * an object_access_hook that raises 42501 when the extension sipcall is
 * about to be dropped (OAT_DROP) and the current user is not a superuser.
 * The whole statement rolls back.  Checking the names in the statement
 * instead would not do: a cascade can reach sipcall through objects the
 * statement does not name, and a waiting DROP SCHEMA looks its name up
 * again after another session renamed schemas.
 *
 * The hook is set by _PG_init, so it is in place in every backend that has
 * loaded the library.  With sipcall in shared_preload_libraries that is
 * every backend; without, the event trigger sipcall_drop_guard fires at
 * ddl_command_start of every DDL statement and calls sipcall_drop_guard(),
 * whose only work is that calling it loads the library first
 * (95_drop_guard.sql).
 *
 * The same hook keeps sipcall's schema named sipcall (OAT_POST_ALTER of
 * the schema, for everyone, superusers too).  The extension is not
 * relocatable: its SQL and C name their objects "sipcall.…", so after a
 * rename those names would resolve to whatever schema the database's
 * owner then creates under the old name, and a superuser's next insert of
 * a call would run that schema's triggers with a superuser's rights.
 *
 * Calls: util.c (sipcall's schema).
 *
 * Copyright (c) 2026, the sipcall authors
 *
 * IDENTIFICATION
 *		src/dropguard.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_namespace.h"
#include "commands/event_trigger.h"
#include "commands/extension.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "sipcall.h"

PG_FUNCTION_INFO_V1(sipcall_drop_guard);

static object_access_hook_type prev_object_access_hook = NULL;

static void drop_guard_hook(ObjectAccessType access, Oid classId,
							Oid objectId, int subId, void *arg);
static void refuse_drop(Oid extoid);
static void refuse_schema_rename(Oid nspoid);

/* Called by _PG_init. */
void
sipcall_drop_guard_init(void)
{
	prev_object_access_hook = object_access_hook;
	object_access_hook = drop_guard_hook;
}

static void
drop_guard_hook(ObjectAccessType access, Oid classId, Oid objectId,
				int subId, void *arg)
{
	if (prev_object_access_hook)
		prev_object_access_hook(access, classId, objectId, subId, arg);

	if (access == OAT_DROP && classId == ExtensionRelationId)
		refuse_drop(objectId);
	else if (access == OAT_POST_ALTER && classId == NamespaceRelationId)
		refuse_schema_rename(objectId);
}

/* the extension extoid is about to be dropped */
static void
refuse_drop(Oid extoid)
{
	char	   *name;

	if (superuser())
		return;
	name = get_extension_name(extoid);
	if (name == NULL || strcmp(name, SIPCALL_EXTENSION_NAME) != 0)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("only a superuser may drop extension \"%s\"",
					SIPCALL_EXTENSION_NAME),
			 errdetail("This statement would drop sipcall, and every call record with it, because it drops an object that sipcall depends on."),
			 errhint("Leave out CASCADE, or ask a superuser.")));
}

/*
 * The schema nspoid has just been altered: if it is sipcall's, its new
 * name (the row as this command left it, which only SnapshotSelf sees
 * before the next command) must still be sipcall.
 */
static void
refuse_schema_rename(Oid nspoid)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	bool		renamed = false;

	if (nspoid != sipcall_extension_schema(SIPCALL_EXTENSION_NAME))
		return;
	rel = table_open(NamespaceRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_namespace_oid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(nspoid));
	scan = systable_beginscan(rel, NamespaceOidIndexId, true, SnapshotSelf,
							  1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
		renamed = strcmp(NameStr(((Form_pg_namespace) GETSTRUCT(tuple))->nspname),
						 SIPCALL_EXTENSION_NAME) != 0;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	if (renamed)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("schema \"%s\" of extension \"%s\" cannot be renamed",
						SIPCALL_EXTENSION_NAME, SIPCALL_EXTENSION_NAME),
				 errdetail("sipcall is not relocatable: its functions and triggers name their objects by the schema name \"%s\".",
						   SIPCALL_EXTENSION_NAME)));
}

/*
 * sipcall.drop_guard() RETURNS event_trigger, at ddl_command_start of
 * every DDL statement: calling it loads the library, and with it the hook.
 */
Datum
sipcall_drop_guard(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"drop_guard\" must be fired as an event trigger")));
	PG_RETURN_VOID();
}
