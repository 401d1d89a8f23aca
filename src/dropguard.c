/*-------------------------------------------------------------------------
 *
 * dropguard.c
 *		The event trigger that lets nobody but a superuser drop sipcall,
 *		not even by a cascade from an object sipcall depends on.
 *
 * DROP EXTENSION sipcall needs its owner, a superuser.  A cascade checks
 * the rights on the object named only: the app's role may own pgcrypto
 * (a trusted extension, which a database owner may create before sipcall
 * is installed) or the schema pgcrypto lives in (public, in a database it
 * owns), and DROP EXTENSION pgcrypto CASCADE, DROP SCHEMA public CASCADE
 * or DROP OWNED BY app CASCADE would drop sipcall with every call record.
 *
 * So sipcall_drop_guard() runs at ddl_command_start of DROP EXTENSION,
 * DROP SCHEMA and DROP OWNED (95_drop_guard.sql) and, unless a superuser
 * runs the statement, refuses a CASCADE that names what sipcall stands
 * on: sipcall, an extension it requires (directly or through another),
 * the schema of any of these, or a role owning one of them.  It has to
 * run before the drop: at sql_drop the event trigger, a member of
 * sipcall, would be gone with it.  Written in C because only C sees the
 * statement's parse tree; calling it loads the library, so it works
 * without preloading.
 *
 * Calls: util.c (pg_extension rows).
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
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_depend.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_namespace.h"
#include "commands/event_trigger.h"
#include "commands/extension.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "sipcall.h"

PG_FUNCTION_INFO_V1(sipcall_drop_guard);

/* what sipcall stands on: extensions (itself first) and their schemas */
typedef struct Footing
{
	List	   *extensions;		/* OIDs */
	List	   *schemas;		/* OIDs */
} Footing;

static Oid	schema_owner(Oid nspoid);
static void add_required(Oid extoid, List **extensions);
static Footing footing(void);
static void refuse(const char *statement, const char *what);
static void check_drop(DropStmt *stmt, const Footing *f);
static void check_drop_owned(DropOwnedStmt *stmt, const Footing *f);

static Oid
schema_owner(Oid nspoid)
{
	HeapTuple	tup = SearchSysCache1(NAMESPACEOID, ObjectIdGetDatum(nspoid));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for schema %u", nspoid);
	owner = ((Form_pg_namespace) GETSTRUCT(tup))->nspowner;
	ReleaseSysCache(tup);
	return owner;
}

/* Append to *extensions the extensions that extoid requires. */
static void
add_required(Oid extoid, List **extensions)
{
	Relation	rel;
	ScanKeyData key[2];
	SysScanDesc scan;
	HeapTuple	tup;

	rel = table_open(DependRelationId, AccessShareLock);
	ScanKeyInit(&key[0], Anum_pg_depend_classid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(ExtensionRelationId));
	ScanKeyInit(&key[1], Anum_pg_depend_objid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(extoid));
	scan = systable_beginscan(rel, DependDependerIndexId, true, NULL, 2, key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_depend dep = (Form_pg_depend) GETSTRUCT(tup);

		if (dep->refclassid == ExtensionRelationId)
			*extensions = list_append_unique_oid(*extensions, dep->refobjid);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
}

/* sipcall, the extensions it requires, transitively, and their schemas */
static Footing
footing(void)
{
	Footing		f = {NIL, NIL};
	Oid			self = get_extension_oid(SIPCALL_EXTENSION_NAME, true);
	int			i;

	if (!OidIsValid(self))
		return f;
	f.extensions = list_make1_oid(self);
	for (i = 0; i < list_length(f.extensions); i++)
	{
		Oid			owner;
		Oid			nspoid;

		sipcall_extension_info(list_nth_oid(f.extensions, i), &owner, &nspoid);
		f.schemas = list_append_unique_oid(f.schemas, nspoid);
		add_required(list_nth_oid(f.extensions, i), &f.extensions);
	}
	return f;
}

static void
refuse(const char *statement, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("only a superuser may drop extension \"%s\"",
					SIPCALL_EXTENSION_NAME),
			 errdetail("%s CASCADE would drop sipcall, and every call record with it, because sipcall depends on %s.",
					   statement, what),
			 errhint("Leave out CASCADE, or ask a superuser.")));
}

/* DROP EXTENSION / DROP SCHEMA ... CASCADE */
static void
check_drop(DropStmt *stmt, const Footing *f)
{
	ListCell   *lc;

	foreach(lc, stmt->objects)
	{
		const char *name = strVal(lfirst(lc));

		if (stmt->removeType == OBJECT_EXTENSION &&
			list_member_oid(f->extensions, get_extension_oid(name, true)))
			refuse("DROP EXTENSION", psprintf("extension \"%s\"", name));
		if (stmt->removeType == OBJECT_SCHEMA &&
			list_member_oid(f->schemas, get_namespace_oid(name, true)))
			refuse("DROP SCHEMA", psprintf("schema \"%s\"", name));
	}
}

/* DROP OWNED BY ... CASCADE: a role owning one of sipcall's footings */
static void
check_drop_owned(DropOwnedStmt *stmt, const Footing *f)
{
	List	   *roles = NIL;
	ListCell   *lc;

	foreach(lc, stmt->roles)
	{
		Oid			role = get_rolespec_oid(lfirst(lc), true);

		if (OidIsValid(role))
			roles = lappend_oid(roles, role);
	}
	foreach(lc, f->extensions)
	{
		Oid			owner;
		Oid			nspoid;

		sipcall_extension_info(lfirst_oid(lc), &owner, &nspoid);
		if (list_member_oid(roles, owner))
			refuse("DROP OWNED",
				   psprintf("extension \"%s\", which role \"%s\" owns",
							get_extension_name(lfirst_oid(lc)),
							GetUserNameFromId(owner, false)));
	}
	foreach(lc, f->schemas)
	{
		Oid			owner = schema_owner(lfirst_oid(lc));

		if (list_member_oid(roles, owner))
			refuse("DROP OWNED",
				   psprintf("schema \"%s\", which role \"%s\" owns",
							get_namespace_name(lfirst_oid(lc)),
							GetUserNameFromId(owner, false)));
	}
}

/*
 * sipcall.drop_guard() RETURNS event_trigger, at ddl_command_start of
 * DROP EXTENSION, DROP SCHEMA and DROP OWNED.
 */
Datum
sipcall_drop_guard(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;
	Footing		f;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"drop_guard\" must be fired as an event trigger")));
	if (superuser())
		PG_RETURN_VOID();

	trigdata = (EventTriggerData *) fcinfo->context;
	if (IsA(trigdata->parsetree, DropStmt) &&
		((DropStmt *) trigdata->parsetree)->behavior == DROP_CASCADE)
	{
		f = footing();
		check_drop((DropStmt *) trigdata->parsetree, &f);
	}
	else if (IsA(trigdata->parsetree, DropOwnedStmt) &&
			 ((DropOwnedStmt *) trigdata->parsetree)->behavior == DROP_CASCADE)
	{
		f = footing();
		check_drop_owned((DropOwnedStmt *) trigdata->parsetree, &f);
	}
	PG_RETURN_VOID();
}
