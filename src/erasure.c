/*-------------------------------------------------------------------------
 *
 * erasure.c
 *		GDPR erasure: sipcall.delete_user_data().
 *
 * Calls: privileged.h to run as the extension's owner, sipcall.h (SPI
 * helpers, the schema), callkeys.c (the calls' registry rows), summary.c
 * (the list of changed days), gdpr.h.  Nothing in export.c.
 *
 * Erasure deletes the person's call events in bulk by user_id, then their
 * calls (whose cascade to call_events then finds nothing), rate limits and
 * user row; it anonymises their audit log entries and scrubs every other
 * entry that names their id in resource_id or details (in any case, with
 * or without hyphens), and records the erasure without any personal data.
 *
 * It runs as the extension's owner: a role needs only EXECUTE on the
 * function (revoked from PUBLIC), no table privileges.
 *
 * Locking:
 *	- Erasure first locks the user's row FOR UPDATE.  Every insert that
 *	  refers to the user (calls, rate_limits, audit_logs with user_id) takes
 *	  FOR KEY SHARE on that row in its foreign-key check, so it waits and
 *	  then fails with 23503; inserts already under way have committed when
 *	  the lock is granted, and the deletes that follow see their rows.  An
 *	  event for one of the person's calls locks the call's row FOR KEY SHARE
 *	  in its foreign-key check: if it gets there before the erasure deletes
 *	  the call, the delete waits for it and the cascade removes the event;
 *	  if it gets there after, it waits for the erasure and fails with 23503.
 *	  A second erasure of the same user waits on the row lock and then finds
 *	  no user (false).  Table locks are never taken.
 *
 * Copyright (c) 2026, the sipcall authors
 *
 * IDENTIFICATION
 *		src/erasure.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/uuid.h"

#include "gdpr.h"
#include "privileged.h"
#include "sipcall.h"

PG_FUNCTION_INFO_V1(sipcall_delete_user_data);

/*---- forward declarations ----*/

static uint64 erase_exec(const char *sql, int nargs, Datum *args,
						 int expected);
static char *id_hex_digits(Datum user_id);
static uint64 delete_calls(const char *nsp, Datum *args);
static uint64 anonymize_audit(const char *nsp, Datum *args);
static void log_erasure(const char *nsp, Oid caller, uint64 ncalls,
						uint64 nevents, uint64 nlimits, uint64 naudit);

/*---- erasure ----*/

/*
 * Run one statement of the erasure; returns the number of rows processed.
 * Its $1 is the user's id, its $2 (when nargs is 2) the 32 hex digits of
 * that id.
 */
static uint64
erase_exec(const char *sql, int nargs, Datum *args, int expected)
{
	Oid			argtypes[2] = {UUIDOID, TEXTOID};

	return sipcall_spi_exec(sql, nargs, argtypes, args, NULL, expected);
}

/*
 * The id as an audit entry may spell it: in any case, with hyphens
 * anywhere or none (as uuid input accepts it).  The scrub looks for its
 * 32 hex digits, lower case, in text folded the same way.
 */
static char *
id_hex_digits(Datum user_id)
{
	char	   *id_text;
	char	   *id_hex;
	char	   *p;
	char	   *q;

	id_text = DatumGetCString(DirectFunctionCall1(uuid_out, user_id));
	id_hex = palloc(strlen(id_text) + 1);
	for (p = id_text, q = id_hex; *p; p++)
		if (*p != '-')
			*q++ = *p;			/* uuid_out writes lower case */
	*q = '\0';
	return id_hex;
}

/*
 * Delete the calls, with their triggers off: the per-row cascade to
 * call_events (which has nothing left to find) and the per-row upkeep of
 * call_keys would cost more than the delete itself.  call_keys is kept in
 * step here (callkeys.c forgets the calls' registry rows), and so is the
 * summary's list of changed days (summary.c; an erasure leaves the
 * summary like any delete).  Row locks
 * still apply: an event insert holding one of these calls FOR KEY SHARE
 * makes us wait for it, and its event is caught by the caller's second
 * sweep.  Returns the number of calls deleted.
 */
static uint64
delete_calls(const char *nsp, Datum *args)
{
	int			nestlevel;
	bool		isnull;
	uint64		ncalls;

	Datum		ids;
	Datum		days;

	nestlevel = NewGUCNestLevel();
	(void) set_config_option("session_replication_role", "replica",
							 PGC_SUSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
	erase_exec(psprintf("WITH c AS (DELETE FROM %s.calls WHERE user_id = $1"
						"  RETURNING id, initiated_at)"
						" SELECT pg_catalog.count(*), pg_catalog.array_agg(c.id),"
						"  pg_catalog.array_agg(DISTINCT pg_catalog.timezone('UTC', c.initiated_at)::pg_catalog.date)"
						" FROM c", nsp),
			   1, args, SPI_OK_SELECT);
	ncalls = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
										 SPI_tuptable->tupdesc, 1, &isnull));
	if (ncalls > 0)
	{
		ids = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2,
							&isnull);
		days = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3,
							 &isnull);
		(void) sipcall_call_keys_forget(nsp, ids);
		sipcall_summary_mark_days(nsp, days);
	}
	AtEOXact_GUC(true, nestlevel);
	return ncalls;
}

/*
 * Anonymise the user's own audit entries and scrub the others that name
 * them; returns the number of entries changed.
 */
static uint64
anonymize_audit(const char *nsp, Datum *args)
{
	uint64		nanon;
	uint64		nscrub;

	/* their own audit entries keep action, resource type and time only */
	nanon = erase_exec(psprintf("UPDATE %s.audit_logs"
								" SET user_id = NULL, resource_id = NULL,"
								" ip_address = NULL, user_agent = NULL,"
								" details = '{\"anonymized\": true}'"
								" WHERE user_id = $1", nsp),
					   1, args, SPI_OK_UPDATE);

	/*
	 * Other entries that name them lose the naming fields.  translate()
	 * folds A-F to lower case and drops hyphens, whatever the collation.
	 */
#define FOLDED(x) "pg_catalog.strpos(pg_catalog.translate(" x ", 'ABCDEF-', 'abcdef'), $2) > 0"
	nscrub = erase_exec(psprintf("UPDATE %s.audit_logs SET"
								 " resource_id = CASE"
								 "  WHEN " FOLDED("resource_id")
								 "  THEN NULL ELSE resource_id END,"
								 " details = CASE"
								 "  WHEN " FOLDED("details::pg_catalog.text")
								 "  THEN '{\"anonymized\": true}' ELSE details END"
								 " WHERE " FOLDED("resource_id")
								 "    OR " FOLDED("details::pg_catalog.text"),
								 nsp),
						2, args, SPI_OK_UPDATE);
#undef FOLDED
	return nanon + nscrub;
}

/* the record of the erasure: what went, never whose */
static void
log_erasure(const char *nsp, Oid caller, uint64 ncalls, uint64 nevents,
			uint64 nlimits, uint64 naudit)
{
	Oid			argtypes[5] = {INT8OID, INT8OID, INT8OID, INT8OID, TEXTOID};
	Datum		args[5];

	args[0] = Int64GetDatum((int64) ncalls);
	args[1] = Int64GetDatum((int64) nevents);
	args[2] = Int64GetDatum((int64) nlimits);
	args[3] = Int64GetDatum((int64) naudit);
	args[4] = CStringGetTextDatum(GetUserNameFromId(caller, false));
	sipcall_spi_exec(psprintf("INSERT INTO %s.audit_logs"
							  " (action, resource_type, details)"
							  " VALUES ('gdpr_erasure', 'user',"
							  " pg_catalog.jsonb_build_object('calls', $1,"
							  " 'call_events', $2, 'rate_limits', $3,"
							  " 'audit_logs_anonymized', $4,"
							  " 'requested_by', $5))", nsp),
					 5, argtypes, args, NULL, SPI_OK_INSERT);
}

/*
 * sipcall.delete_user_data(target_user_id uuid) RETURNS boolean
 *
 * True if the user existed and is now erased, false if there was no such
 * user (also when a concurrent erasure got there first).
 */
Datum
sipcall_delete_user_data(PG_FUNCTION_ARGS)
{
	Datum		user_id = PG_GETARG_DATUM(0);
	const char *nsp = sipcall_schema_quoted();
	char	   *id_hex = id_hex_digits(user_id);
	SipcallPrivileged priv;
	Datum		args[2];
	uint64		nevents,
				ncalls,
				nlimits,
				naudit;

	sipcall_privileged_enter(&priv);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	args[0] = user_id;
	args[1] = CStringGetTextDatum(id_hex);

	/*
	 * Lock the user first: from here on, every insert that refers to them
	 * waits for us and then fails (see the header comment).  No row: no
	 * such user, or a concurrent erasure has just removed them.
	 */
	if (erase_exec(psprintf("SELECT 1 FROM %s.users"
							" WHERE id = $1 FOR UPDATE", nsp),
				   1, args, SPI_OK_SELECT) == 0)
	{
		SPI_finish();
		sipcall_privileged_leave(&priv);
		PG_RETURN_BOOL(false);
	}

	/* events in bulk, by the user's index, before their calls */
	nevents = erase_exec(psprintf("DELETE FROM %s.call_events"
								  " WHERE user_id = $1", nsp),
						 1, args, SPI_OK_DELETE);
	ncalls = delete_calls(nsp, args);

	/* events committed for those calls while we waited for their locks */
	nevents += erase_exec(psprintf("DELETE FROM %s.call_events"
								   " WHERE user_id = $1", nsp),
						  1, args, SPI_OK_DELETE);

	nlimits = erase_exec(psprintf("DELETE FROM %s.rate_limits"
								  " WHERE user_id = $1", nsp),
						 1, args, SPI_OK_DELETE);
	naudit = anonymize_audit(nsp, args);

	/* the user; the cascades find nothing left */
	erase_exec(psprintf("DELETE FROM %s.users WHERE id = $1", nsp),
			   1, args, SPI_OK_DELETE);

	log_erasure(nsp, priv.caller, ncalls, nevents, nlimits, naudit);

	SPI_finish();
	sipcall_privileged_leave(&priv);
	PG_RETURN_BOOL(true);
}
