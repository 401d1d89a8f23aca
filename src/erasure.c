/*-------------------------------------------------------------------------
 *
 * erasure.c
 *		GDPR erasure: sipcall.delete_user_data().
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

/*---- erasure ----*/

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
	char	   *id_text;
	char	   *id_hex;
	char	   *p;
	char	   *q;
	SipcallPrivileged priv;
	Oid			argtypes[7] = {UUIDOID, TEXTOID, TEXTOID,
	INT8OID, INT8OID, INT8OID, INT8OID};
	Datum		args[7];
	uint64		nevents,
				ncalls,
				nlimits,
				nanon,
				nscrub;
	int			nestlevel;
	bool		isnull;

	/*
	 * The id as an audit entry may spell it: in any case, with hyphens
	 * anywhere or none (as uuid input accepts it).  The scrub looks for its
	 * 32 hex digits, lower case, in text folded the same way.
	 */
	id_text = DatumGetCString(DirectFunctionCall1(uuid_out, user_id));
	id_hex = palloc(strlen(id_text) + 1);
	for (p = id_text, q = id_hex; *p; p++)
		if (*p != '-')
			*q++ = *p;			/* uuid_out writes lower case */
	*q = '\0';

	sipcall_privileged_enter(&priv);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	args[0] = user_id;
	args[1] = CStringGetTextDatum(id_hex);
	args[2] = args[1];			/* $3 is used by no statement */

	/*
	 * Lock the user first: from here on, every insert that refers to them
	 * waits for us and then fails (see the header comment).  No row: no
	 * such user, or a concurrent erasure has just removed them.
	 */
	if (sipcall_spi_exec(psprintf("SELECT 1 FROM %s.users"
								  " WHERE id = $1 FOR UPDATE", nsp),
						 1, argtypes, args, NULL, SPI_OK_SELECT) == 0)
	{
		SPI_finish();
		sipcall_privileged_leave(&priv);
		PG_RETURN_BOOL(false);
	}

	/* events in bulk, by the user's index, before their calls */
	nevents = sipcall_spi_exec(psprintf("DELETE FROM %s.call_events"
										" WHERE user_id = $1", nsp),
							   1, argtypes, args, NULL, SPI_OK_DELETE);
	/*
	 * The calls, with their triggers off: the per-row cascade to call_events
	 * (which has nothing left to find) and the per-row upkeep of call_keys
	 * would cost several times the delete itself.  call_keys is kept in
	 * step here, in the same statement, and so is the summary's list of
	 * changed days (an erasure leaves the summary like any delete).  Row locks still apply: an event
	 * insert holding one of these calls FOR KEY SHARE makes us wait for it,
	 * and its event is caught by the second sweep below.
	 */
	nestlevel = NewGUCNestLevel();
	(void) set_config_option("session_replication_role", "replica",
							 PGC_SUSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
	sipcall_spi_exec(psprintf("WITH c AS (DELETE FROM %s.calls WHERE user_id = $1"
							  "  RETURNING id, initiated_at),"
							  " k AS (DELETE FROM %s.call_keys k USING c"
							  "  WHERE k.id = c.id RETURNING k.id),"
							  " d AS (INSERT INTO %s.daily_summary_dirty (call_date)"
							  "  SELECT DISTINCT pg_catalog.timezone('UTC', c.initiated_at)::pg_catalog.date FROM c)"
							  " SELECT (SELECT pg_catalog.count(*) FROM c),"
							  "  (SELECT pg_catalog.count(*) FROM k)", nsp, nsp, nsp),
					 1, argtypes, args, NULL, SPI_OK_SELECT);
	ncalls = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
										 SPI_tuptable->tupdesc, 1, &isnull));
	AtEOXact_GUC(true, nestlevel);

	/* events committed for those calls while we waited for their locks */
	nevents += sipcall_spi_exec(psprintf("DELETE FROM %s.call_events"
										 " WHERE user_id = $1", nsp),
								1, argtypes, args, NULL, SPI_OK_DELETE);

	nlimits = sipcall_spi_exec(psprintf("DELETE FROM %s.rate_limits"
										" WHERE user_id = $1", nsp),
							   1, argtypes, args, NULL, SPI_OK_DELETE);

	/* their own audit entries keep action, resource type and time only */
	nanon = sipcall_spi_exec(psprintf("UPDATE %s.audit_logs"
									  " SET user_id = NULL, resource_id = NULL,"
									  " ip_address = NULL, user_agent = NULL,"
									  " details = '{\"anonymized\": true}'"
									  " WHERE user_id = $1", nsp),
							 1, argtypes, args, NULL, SPI_OK_UPDATE);

	/*
	 * Other entries that name them lose the naming fields.  translate()
	 * folds A-F to lower case and drops hyphens, whatever the collation.
	 */
#define FOLDED(x) "pg_catalog.strpos(pg_catalog.translate(" x ", 'ABCDEF-', 'abcdef'), $2) > 0"
	nscrub = sipcall_spi_exec(psprintf("UPDATE %s.audit_logs SET"
									   " resource_id = CASE"
									   "  WHEN " FOLDED("resource_id")
									   "  THEN NULL ELSE resource_id END,"
									   " details = CASE"
									   "  WHEN " FOLDED("details::pg_catalog.text")
									   "  THEN '{\"anonymized\": true}' ELSE details END"
									   " WHERE " FOLDED("resource_id")
									   "    OR " FOLDED("details::pg_catalog.text"),
									   nsp),
							  2, argtypes, args, NULL, SPI_OK_UPDATE);
#undef FOLDED

	/* the user; the cascades find nothing left */
	sipcall_spi_exec(psprintf("DELETE FROM %s.users WHERE id = $1", nsp),
					 1, argtypes, args, NULL, SPI_OK_DELETE);

	/* the record of the erasure: what went, never whose */
	args[1] = CStringGetTextDatum(GetUserNameFromId(priv.caller, false));
	args[3] = Int64GetDatum((int64) ncalls);
	args[4] = Int64GetDatum((int64) nevents);
	args[5] = Int64GetDatum((int64) nlimits);
	args[6] = Int64GetDatum((int64) (nanon + nscrub));
	sipcall_spi_exec(psprintf("INSERT INTO %s.audit_logs"
							  " (action, resource_type, details)"
							  " VALUES ('gdpr_erasure', 'user',"
							  " pg_catalog.jsonb_build_object('calls', $4,"
							  " 'call_events', $5, 'rate_limits', $6,"
							  " 'audit_logs_anonymized', $7,"
							  " 'requested_by', $2))", nsp),
					 7, argtypes, args, NULL, SPI_OK_INSERT);

	SPI_finish();
	sipcall_privileged_leave(&priv);
	PG_RETURN_BOOL(true);
}
