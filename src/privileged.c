/*-------------------------------------------------------------------------
 *
 * privileged.c
 *		Running SQL with raised rights, the one way sipcall does it, and the
 *		check that a trigger function fires on its own table.
 *
 * Everything sipcall runs with rights its caller may not have -- statements
 * run as the extension's owner from C, the SECURITY DEFINER trigger, the
 * two background workers -- goes through sipcall_privileged_enter() and
 * sipcall_privileged_leave().  In between:
 *
 *	- the current user is the extension's owner, and the security context
 *	  has SECURITY_RESTRICTED_OPERATION added (as REFRESH MATERIALIZED VIEW
 *	  does in matview.c), so that nothing run meanwhile can change the role,
 *	  make temporary objects that outlive it or leave other state behind;
 *	- search_path is "pg_catalog, <extension schema>, pg_temp", set at a GUC
 *	  nest level of its own with GUC_ACTION_SAVE (as extension.c does for
 *	  extension scripts).  pg_temp comes last, and pg_catalog first, so no
 *	  name or operator the caller or the database owner planted in another
 *	  schema (CVE-2018-1058: pg_catalog has no "=" for two varchar values,
 *	  so any schema that offers one wins) is ever resolved.
 *
 * Statements prepared once per backend (SPI_keepplan) are prepared and run
 * only in here, so the plan cache, which re-plans when the search_path it
 * planned under changes, always plans them under the pinned path.
 *
 * Errors need no PG_TRY: an error ends in the abort of the transaction or
 * of a subtransaction that began outside the call, and AbortTransaction()
 * and AbortSubTransaction() restore both the user and security context
 * (SetUserIdAndSecContext with the values saved at their start) and every
 * GUC set at a deeper nest level (AtEOXact_GUC / AtEOSubXact_GUC).  No
 * sipcall code catches an error raised in here without rolling back such
 * a subtransaction (pgp_decrypt and the export re-throw;
 * sipcall_try_in_subxact rolls back the one it began).  This is the
 * reasoning matview.c and extension.c rely on, too.
 *
 * Nesting is allowed (a maintenance step calls a function that enters
 * again); leave restores exactly what its enter saved.  When the path is
 * already the pinned one (a function with SET search_path, an outer enter)
 * it is not set again.
 *
 * Trigger functions: sipcall_trigger_check_table() raises 39P01 unless the
 * trigger fires on the named table of sipcall or a partition whose root
 * is that table (partitions get clones of the parent's row triggers).  The
 * answer is remembered per relation until a relcache invalidation of it.
 *
 * Calls: util.c (the extension's owner and schema).
 *
 * Copyright (c) 2026, the sipcall authors
 *
 * IDENTIFICATION
 *		src/privileged.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_namespace.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "privileged.h"
#include "sipcall.h"

/*---- trigger checks: relations found to be a trigger's own ----*/

#define TRIGGER_OK_MAX	16

typedef struct TriggerOk
{
	Oid			relid;			/* the relation the trigger fired on */
	char		relname[NAMEDATALEN];	/* the sipcall table it belongs to */
} TriggerOk;

static TriggerOk trigger_ok[TRIGGER_OK_MAX];
static int	trigger_ok_n = 0;
static int	trigger_ok_next = 0;
static bool trigger_cb_registered = false;

static void trigger_ok_invalidate(Datum arg, Oid relid);
static void check_schema_owner(Oid nspoid, Oid owner);

/*
 * The pinned search_path, "pg_catalog, <extension schema>, pg_temp", in
 * the current memory context.  Errors when sipcall is not created here.
 */
char *
sipcall_pinned_search_path(void)
{
	Oid			owner;
	Oid			nspoid;
	char	   *nspname;

	sipcall_extension_owner(&owner, &nspoid);
	check_schema_owner(nspoid, owner);
	nspname = get_namespace_name(nspoid);
	if (nspname == NULL)
		elog(ERROR, "cache lookup failed for namespace %u", nspoid);
	return psprintf("pg_catalog, %s, pg_temp", quote_identifier(nspname));
}

/*
 * The extension schema goes on the pinned path only while it belongs to
 * the extension's owner or a superuser: a schema some other role owns
 * (made before CREATE EXTENSION by a database owner, say) could hold that
 * role's operators, and they would run with raised rights.  The install
 * script refuses such a schema; this catches one changed hands since.
 */
static void
check_schema_owner(Oid nspoid, Oid owner)
{
	HeapTuple	tup;
	Oid			nspowner;

	tup = SearchSysCache1(NAMESPACEOID, ObjectIdGetDatum(nspoid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for namespace %u", nspoid);
	nspowner = ((Form_pg_namespace) GETSTRUCT(tup))->nspowner;
	ReleaseSysCache(tup);

	if (nspowner != owner && !superuser_arg(nspowner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("schema \"%s\" is owned by role \"%s\", which is neither the owner of extension \"%s\" nor a superuser",
						get_namespace_name(nspoid),
						GetUserNameFromId(nspowner, false),
						SIPCALL_EXTENSION_NAME),
				 errdetail("sipcall runs nothing with raised rights in a schema another role controls."),
				 errhint("ALTER SCHEMA %s OWNER TO %s",
						 quote_identifier(get_namespace_name(nspoid)),
						 quote_identifier(GetUserNameFromId(owner, false)))));
}

/*
 * Become the extension's owner, in a security-restricted operation, with
 * the pinned search_path, until sipcall_privileged_leave(priv).  priv->caller
 * is the user who was current before.
 */
void
sipcall_privileged_enter(SipcallPrivileged *priv)
{
	Oid			owner;
	Oid			nspoid;
	char	   *path;

	sipcall_extension_owner(&owner, &nspoid);
	path = sipcall_pinned_search_path();	/* checks the schema's owner */

	GetUserIdAndSecContext(&priv->caller, &priv->caller_sec_context);
	SetUserIdAndSecContext(owner,
						   priv->caller_sec_context |
						   SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);

	if (namespace_search_path != NULL &&
		strcmp(namespace_search_path, path) == 0)
		priv->nestlevel = 0;
	else
	{
		priv->nestlevel = NewGUCNestLevel();
		(void) set_config_option("search_path", path,
								 PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	}
	pfree(path);
	priv->active = true;
}

/*
 * Back to the caller's user, security context and search_path.
 */
void
sipcall_privileged_leave(SipcallPrivileged *priv)
{
	Assert(priv->active);
	if (priv->nestlevel > 0)
		AtEOXact_GUC(true, priv->nestlevel);
	SetUserIdAndSecContext(priv->caller, priv->caller_sec_context);
	priv->active = false;
}

/*
 * Settings a background worker makes its own right after it connected,
 * whatever ALTER DATABASE / ALTER ROLE ... SET gave the session: the
 * database's owner may set any of these, and each would stall the worker
 * (timeouts, read-only transactions), change what its SQL means
 * (search_path, transform_null_equals, standard_conforming_strings,
 * IntervalStyle, DateStyle, TimeZone), make it run as another role (role:
 * ALTER DATABASE ... SET role = 'app' is the owner's to give), turn a
 * failing step into the worker's exit (exit_on_error) or make plpgsql
 * code it runs fail (plpgsql.extra_errors).  The search_path
 * holds no schema but pg_catalog and pg_temp: the extension schema is only
 * added by sipcall_privileged_enter(), once it is known to be sipcall's
 * and its owner has been checked.
 */
static const struct
{
	const char *name;
	const char *value;
}			worker_settings[] =
{
	{"search_path", SIPCALL_BASE_SEARCH_PATH},
	{"role", "none"},
	{"IntervalStyle", "postgres"},
	{"DateStyle", "ISO, MDY"},
	{"TimeZone", "UTC"},
	{"statement_timeout", "0"},
	{"lock_timeout", "0"},
	{"idle_in_transaction_session_timeout", "0"},
	{"idle_session_timeout", "0"},
	{"default_transaction_read_only", "off"},
	{"default_transaction_isolation", "read committed"},
	{"default_transaction_deferrable", "off"},
	{"transform_null_equals", "off"},
	{"standard_conforming_strings", "on"},
	{"check_function_bodies", "on"},
	{"default_tablespace", ""},
	{"default_table_access_method", "heap"},
	{"row_security", "on"},
	{"exit_on_error", "off"},
	{"plpgsql.extra_errors", "none"},
	{"plpgsql.extra_warnings", "none"},
};

void
sipcall_worker_pin_settings(void)
{
	int			i;

	for (i = 0; i < (int) lengthof(worker_settings); i++)
		SetConfigOption(worker_settings[i].name, worker_settings[i].value,
						PGC_SUSET, PGC_S_SESSION);
}

/*---- trigger functions fire on their own tables ----*/

static void
trigger_ok_invalidate(Datum arg, Oid relid)
{
	int			i;

	for (i = 0; i < trigger_ok_n; i++)
		if (relid == InvalidOid || trigger_ok[i].relid == relid)
		{
			trigger_ok_n = 0;
			trigger_ok_next = 0;
			return;
		}
}

/*
 * Raise 39P01 unless relid, the relation trigger tgname fired on, is
 * sipcall's relname or a partition whose root it is.
 */
static void
check_trigger_table(Oid relid, const char *tgname, const char *funcname,
					const char *relname)
{
	Oid			expected;
	int			i;

	for (i = 0; i < trigger_ok_n; i++)
		if (trigger_ok[i].relid == relid &&
			strcmp(trigger_ok[i].relname, relname) == 0)
			return;

	expected = sipcall_relid(relname, true);
	if (!OidIsValid(expected) ||
		(relid != expected &&
		 !(get_rel_relispartition(relid) &&
		   llast_oid(get_partition_ancestors(relid)) == expected)))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("trigger function \"%s\" fires only on table \"%s.%s\"",
						funcname, SIPCALL_EXTENSION_NAME, relname),
				 errdetail("Trigger \"%s\" fired it on table \"%s.%s\".",
						   tgname,
						   get_namespace_name(get_rel_namespace(relid)),
						   get_rel_name(relid))));

	if (!trigger_cb_registered)
	{
		CacheRegisterRelcacheCallback(trigger_ok_invalidate, (Datum) 0);
		trigger_cb_registered = true;
	}
	trigger_ok[trigger_ok_next].relid = relid;
	strlcpy(trigger_ok[trigger_ok_next].relname, relname, NAMEDATALEN);
	trigger_ok_next = (trigger_ok_next + 1) % TRIGGER_OK_MAX;
	if (trigger_ok_n < TRIGGER_OK_MAX)
		trigger_ok_n++;
}

void
sipcall_trigger_check_table(TriggerData *trigdata, const char *funcname,
							const char *relname)
{
	check_trigger_table(RelationGetRelid(trigdata->tg_relation),
						trigdata->tg_trigger->tgname, funcname, relname);
}

/*
 * sipcall.trigger_check_table(funcname text, relname text, relid oid,
 * tgname name): the same check for the trigger functions written in
 * plpgsql, which pass TG_RELID and TG_NAME.
 */
PG_FUNCTION_INFO_V1(sipcall_trigger_check_table_sql);

Datum
sipcall_trigger_check_table_sql(PG_FUNCTION_ARGS)
{
	check_trigger_table(PG_GETARG_OID(2), NameStr(*PG_GETARG_NAME(3)),
						text_to_cstring(PG_GETARG_TEXT_PP(0)),
						text_to_cstring(PG_GETARG_TEXT_PP(1)));
	PG_RETURN_VOID();
}
