/*-------------------------------------------------------------------------
 *
 * util.c
 *		Small helpers the other modules share: finding the extension, its
 *		owner, schema and tables, running parameterised SPI statements
 *		with their result checked (or their rows counted), running a step
 *		in a subtransaction that may fail with chosen errors, and taking
 *		locks with a bounded wait.  It calls no other module.
 *
 * Internal statements run as the owner of the extension, whoever calls the
 * SQL function, through sipcall_privileged_enter() (privileged.c); the
 * caller's privilege to call it is checked by GRANT EXECUTE.
 *
 * Calls: nothing of sipcall's; the other modules build on it.
 *
 * Copyright (c) 2026, the sipcall authors
 *
 * IDENTIFICATION
 *		src/util.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/elog.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/resowner.h"

#include "sipcall.h"

/*
 * The OID of the sipcall extension, or InvalidOid when it is not created in
 * this database (an error unless missing_ok).
 */
Oid
sipcall_extension_oid(bool missing_ok)
{
	return get_extension_oid(SIPCALL_EXTENSION_NAME, missing_ok);
}

/*
 * The owner and schema of an extension, and (when version is not NULL) its
 * version, palloc'd, from its pg_extension row (PostgreSQL 15 exports no
 * function for these).
 */
static void
extension_row(Oid extoid, Oid *owner, Oid *nspoid, char **version)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(extoid));
	scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "could not find tuple for extension %u", extoid);
	*owner = ((Form_pg_extension) GETSTRUCT(tup))->extowner;
	*nspoid = ((Form_pg_extension) GETSTRUCT(tup))->extnamespace;
	if (version != NULL)
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, Anum_pg_extension_extversion,
									 RelationGetDescr(rel), &isnull);

		*version = isnull ? pstrdup("") : TextDatumGetCString(d);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
}

/* sipcall's extversion in this database, palloc'd (an error without it) */
char *
sipcall_extension_version(void)
{
	Oid			owner;
	Oid			nspoid;
	char	   *version;

	extension_row(sipcall_extension_oid(false), &owner, &nspoid, &version);
	return version;
}

/*
 * The OID of the schema extension extname is installed in, or InvalidOid
 * when it is not created in this database.
 */
Oid
sipcall_extension_schema(const char *extname)
{
	Oid			extoid = get_extension_oid(extname, true);
	Oid			owner;
	Oid			nspoid;

	if (!OidIsValid(extoid))
		return InvalidOid;
	extension_row(extoid, &owner, &nspoid, NULL);
	return nspoid;
}

/* The OID of the schema sipcall lives in. */
Oid
sipcall_schema_oid(bool missing_ok)
{
	Oid			nspoid = sipcall_extension_schema(SIPCALL_EXTENSION_NAME);

	if (!OidIsValid(nspoid) && !missing_ok)
		(void) sipcall_extension_oid(false);	/* raises the usual error */
	return nspoid;
}

/* The OID of one of sipcall's relations, looked up in its schema. */
Oid
sipcall_relid(const char *relname, bool missing_ok)
{
	Oid			nspoid = sipcall_schema_oid(missing_ok);
	Oid			relid = InvalidOid;

	if (OidIsValid(nspoid))
		relid = get_relname_relid(relname, nspoid);
	if (!OidIsValid(relid) && !missing_ok)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation \"%s.%s\" does not exist",
						SIPCALL_EXTENSION_NAME, relname)));
	return relid;
}

/*
 * The owner and the schema of sipcall (which must be created here).
 */
void
sipcall_extension_owner(Oid *owner, Oid *nspoid)
{
	extension_row(sipcall_extension_oid(false), owner, nspoid, NULL);
}

/*
 * Run one statement through SPI with its values passed as parameters, and
 * fail loudly unless SPI answers with the expected result code.  Returns
 * the number of rows processed.  The caller has done SPI_connect().
 */
uint64
sipcall_spi_exec(const char *sql, int nargs, Oid *argtypes, Datum *values,
				 const char *nulls, int expected)
{
	int			ret;

	ret = SPI_execute_with_args(sql, nargs, argtypes, values, nulls,
								false, 0);
	if (ret != expected)
		elog(ERROR, "SPI_execute_with_args returned %s, expected %s: %s",
			 SPI_result_code_string(ret), SPI_result_code_string(expected),
			 sql);
	return SPI_processed;
}

/*
 * Run sql (a statement yielding one count, or a DELETE/UPDATE/SELECT whose
 * processed rows are the count) with $1 = cutoff; return the count.
 */
int64
sipcall_spi_count(const char *sql, TimestampTz cutoff, bool with_cutoff)
{
	Oid			argtypes[1] = {TIMESTAMPTZOID};
	Datum		args[1];
	int			ret;

	args[0] = TimestampTzGetDatum(cutoff);
	ret = SPI_execute_with_args(sql, with_cutoff ? 1 : 0, argtypes, args,
								NULL, false, 0);
	if (ret == SPI_OK_DELETE || ret == SPI_OK_UPDATE)
		return (int64) SPI_processed;
	if (ret == SPI_OK_SELECT && SPI_processed == 1 &&
		SPI_tuptable->tupdesc->natts == 1 &&
		SPI_tuptable->tupdesc->attrs[0].atttypid == INT8OID)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0],
									  SPI_tuptable->tupdesc, 1, &isnull);

		return isnull ? 0 : DatumGetInt64(d);
	}
	elog(ERROR, "unexpected result %s of: %s", SPI_result_code_string(ret), sql);
	return 0;					/* keep compiler quiet */
}

/*
 * Prepare sql through SPI for the rest of the backend's life (SPI_keepplan),
 * or fail loudly.  cursor_options as for SPI_prepare_cursor (0 lets the
 * plan cache choose between custom and generic plans).
 */
SPIPlanPtr
sipcall_spi_keep_plan(const char *sql, int nargs, Oid *argtypes,
					  int cursor_options)
{
	SPIPlanPtr	plan = SPI_prepare_cursor(sql, nargs, argtypes, cursor_options);

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s: %s",
			 SPI_result_code_string(SPI_result), sql);
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed: %s", sql);
	return plan;
}

/*
 * In a background worker's PG_CATCH: log the error, abort the transaction
 * and forget the error, so that the worker can go on.
 */
void
sipcall_report_and_abort(void)
{
	HOLD_INTERRUPTS();
	EmitErrorReport();
	AbortCurrentTransaction();
	FlushErrorState();
	RESUME_INTERRUPTS();
}

/*
 * A lock of sipcall's own in this database, (key1, key2): an advisory
 * lock tag whose last field is one that pg_advisory_lock() and its kin
 * never use (they set 1 for a bigint key, 2 for two integers).  So no
 * SQL caller, whatever its rights, can take, hold or wait in it, and
 * pg_locks still shows it (locktype advisory, objsubid 3).
 */
#define SIPCALL_LOCKTAG_FIELD4	3

void
sipcall_private_locktag(LOCKTAG *tag, uint32 key1, uint32 key2)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, key1, key2, SIPCALL_LOCKTAG_FIELD4);
}

/*
 * Run fn(arg) in an internal subtransaction.  True when it returns: what it
 * did stays with the transaction.  False when it raises an error whose
 * SQLSTATE is one of codes[0 .. ncodes - 1]: what it did is rolled back
 * and the error forgotten.  Any other error, a cancel included, propagates
 * as raised.  The caller's memory context and resource owner are restored
 * either way, and memory that fn allocates in that context survives (so fn
 * can hand back a result through arg).  No subtransaction can start in parallel mode (PostgreSQL
 * 15), so callers are PARALLEL UNSAFE.
 */
bool
sipcall_try_in_subxact(void (*fn) (void *arg), void *arg,
					   const int *codes, int ncodes)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	volatile bool ok = true;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);

	PG_TRY();
	{
		fn(arg);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;
		int			i;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;

		for (i = 0; i < ncodes && edata->sqlerrcode != codes[i]; i++)
			;
		if (i == ncodes)
			ReThrowError(edata);
		FreeErrorData(edata);
		ok = false;
	}
	PG_END_TRY();

	return ok;
}

/* what sipcall_lock_all_in_time() locks, for lock_relations() */
typedef struct LockRequest
{
	const Oid  *relids;
	const LOCKMODE *modes;
	int			nrels;
} LockRequest;

/* take the locks of a LockRequest, waiting at most sipcall.lock_timeout */
static void
lock_relations(void *arg)
{
	LockRequest *req = (LockRequest *) arg;
	int			nestlevel = NewGUCNestLevel();
	int			i;

	(void) set_config_option("lock_timeout",
							 psprintf("%d", sipcall_lock_timeout),
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
	for (i = 0; i < req->nrels; i++)
		LockRelationOid(req->relids[i], req->modes[i]);
	AtEOXact_GUC(true, nestlevel);
}

/*
 * Take modes[i] on relids[i], for each i in order, waiting at most
 * sipcall.lock_timeout for each.  The locks are taken in one
 * subtransaction: on success they stay with the transaction and true is
 * returned; when one cannot be had in time (or the wait ends in a
 * deadlock) none is kept, those already taken included, and false is
 * returned.  Any other error, a cancel included, propagates.
 */
bool
sipcall_lock_all_in_time(const Oid *relids, const LOCKMODE *modes, int nrels)
{
	static const int not_in_time[] = {ERRCODE_LOCK_NOT_AVAILABLE,
	ERRCODE_T_R_DEADLOCK_DETECTED};
	LockRequest req;

	req.relids = relids;
	req.modes = modes;
	req.nrels = nrels;
	return sipcall_try_in_subxact(lock_relations, &req, not_in_time,
								  lengthof(not_in_time));
}

/* sipcall_lock_all_in_time() with one mode for every relation */
bool
sipcall_lock_in_time(Oid *relids, int nrels, LOCKMODE mode)
{
	LOCKMODE   *modes = palloc(sizeof(LOCKMODE) * Max(nrels, 1));
	bool		locked;
	int			i;

	for (i = 0; i < nrels; i++)
		modes[i] = mode;
	locked = sipcall_lock_all_in_time(relids, modes, nrels);
	pfree(modes);
	return locked;
}

/*
 * The first lock of a maintenance step on a table.  Called from its SQL
 * function (SIPCALL_LOCK_WAIT), it waits like any statement: two calls
 * run one after the other, under the caller's lock_timeout.  In a
 * maintenance cycle (SIPCALL_LOCK_IN_TIME) it waits at most
 * sipcall.lock_timeout and fails with 55P03 after that: a role that may
 * only write the table can still LOCK it in a conflicting mode and hold
 * it for as long as it likes, and the worker, whose lock_timeout is 0,
 * would wait with it.  The step fails instead, the cycle goes on with the
 * next one, and the next cycle tries again.
 */
void
sipcall_lock_step(Oid relid, LOCKMODE mode, SipcallLockWait wait)
{
	if (wait == SIPCALL_LOCK_WAIT)
	{
		LockRelationOid(relid, mode);
		return;
	}
	if (sipcall_lock_in_time(&relid, 1, mode))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
			 errmsg("could not lock table \"%s\" within sipcall.lock_timeout",
					get_rel_name(relid)),
			 errdetail("Another session holds a conflicting lock on it."),
			 errhint("The next maintenance cycle tries again; pg_locks shows who holds the lock.")));
}
