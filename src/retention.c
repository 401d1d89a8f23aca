/*-------------------------------------------------------------------------
 *
 * retention.c
 *		Forgetting old rows: cleanup_old_call_events(),
 *		cleanup_old_audit_logs() and cleanup_old_calls().
 *
 * It reads the retention settings through settings.c, partition bounds
 * through partition.c and a partition's exact row count, taken just
 * before it is dropped, through rowcount.c; besides those it calls only
 * util.c and privileged.c.
 *
 * A cleanup computes its cutoff as now() minus the configured interval,
 * in UTC.  Every monthly partition lying wholly before the cutoff (upper
 * bound <= cutoff) is dropped; in the month that straddles the cutoff and
 * in the default partition only the rows older than the cutoff are
 * deleted.  The number returned is the exact number of rows removed: a
 * partition's rows are counted just before it is dropped, while a lock
 * keeps writers out of it.
 *
 * Locking, in this order:
 *	1. the parent in SHARE UPDATE EXCLUSIVE mode, waiting as long as it
 *	   takes.  It conflicts with itself, so two cleanups of one table, and a
 *	   cleanup and create_partition(), run one after the other; inserts and
 *	   queries are not blocked by it.
 *	2. each expired partition in SHARE mode (EXCLUSIVE for calls, which also
 *	   keeps out the foreign-key checks of new call events), waiting at most
 *	   sipcall.lock_timeout.  Only writers of that old month wait for it.
 *	3. for the drops: the parent, its default partition and the expired
 *	   partitions in ACCESS EXCLUSIVE mode, waiting at most
 *	   sipcall.lock_timeout.  This blocks every insert into the table until
 *	   the transaction ends, so it is taken last, after all the slow work
 *	   (row deletes, counts) is done.
 * A lock of steps 2 or 3 that cannot be had in time is given up (its
 * subtransaction rolled back); the partition's rows are then deleted
 * instead, which is exact and blocks nobody, and the empty partition is
 * dropped by a later cleanup.  Nothing but the drop is undone.
 *
 * Calls: when 'retention.calls' is set, expired calls go together with
 * their call_events and their entries in call_keys (which callkeys.c
 * forgets).  Those deletes run
 * with session_replication_role = replica, so that no trigger fires: the
 * daily summary keeps the figures of the days whose calls a retention
 * removed, and no cascade runs twice.  Rows of expired calls are
 * locked first (FOR UPDATE, or the partition's EXCLUSIVE lock), so that
 * no call event can be added to them between the delete of the events
 * and the delete of the calls.  An expired partition of calls is dropped
 * while attached: detached, it would take its own copy of the foreign key
 * calls_id_fkey, and dropping that locks call_keys (and with it every
 * insert of a call event) until the transaction ends.
 *
 * The monthly partitions are not members of the extension (see
 * partition.c), so a drop is a plain DROP TABLE.
 *
 * Copyright (c) 2026, the sipcall authors
 *
 * IDENTIFICATION
 *		src/retention.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/partition.h"
#include "catalog/pg_inherits.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "privileged.h"
#include "sipcall.h"

PG_FUNCTION_INFO_V1(sipcall_cleanup_old_call_events);
PG_FUNCTION_INFO_V1(sipcall_cleanup_old_audit_logs);
PG_FUNCTION_INFO_V1(sipcall_cleanup_old_calls);

/* one partition the cleanup has to do something about */
typedef struct ExpiredPart
{
	Oid			relid;
	char	   *qname;			/* schema-qualified, quoted */
	bool		whole;			/* lies wholly before the cutoff: drop it */
	bool		is_default;
	int64		rows;			/* rows removed from it */
} ExpiredPart;

/* one cleanup of one table, as retention_run's steps share it */
typedef struct CleanupRun
{
	SipcallManagedTable table;
	TimestampTz cutoff;
	const char *nsp;			/* sipcall's schema, quoted */
	const char *key;			/* the partition key, quoted */
	const char *qparent;		/* the table, schema-qualified, quoted */
	Oid			parent;
	ExpiredPart *parts;
	int			nparts;
} CleanupRun;

static void find_expired(CleanupRun *run);
static int	lock_whole_parts(CleanupRun *run);
static void lock_and_delete_call_children(CleanupRun *run);
static int64 trim_parts(CleanupRun *run, bool whole);
static int64 drop_whole_parts(CleanupRun *run);
static int64 retention_run(SipcallManagedTable table, TimestampTz cutoff,
						   SipcallLockWait wait);
static int32 cleanup(SipcallManagedTable table, const char *key,
					 SipcallLockWait wait);

/*
 * Note in run->parts every partition of run->parent that holds rows older
 * than the cutoff: "whole" when it lies wholly before the cutoff.  The
 * caller holds the parent's SHARE UPDATE EXCLUSIVE lock.
 */
static void
find_expired(CleanupRun *run)
{
	List	   *children = find_inheritance_children(run->parent, NoLock);
	ListCell   *lc;

	run->parts = palloc0(sizeof(ExpiredPart) * (list_length(children) + 1));
	run->nparts = 0;
	foreach(lc, children)
	{
		Oid			relid = lfirst_oid(lc);
		bool		is_default;
		TimestampTz lower = 0;
		TimestampTz upper = 0;
		bool		lower_inf = false;
		bool		upper_inf = false;
		ExpiredPart *p = &run->parts[run->nparts];

		sipcall_partition_bounds(relid, &is_default, &lower, &lower_inf,
								 &upper, &upper_inf);
		if (!is_default && !upper_inf && upper <= run->cutoff)
			p->whole = true;
		else if (is_default || lower_inf || lower < run->cutoff)
			p->whole = false;
		else
			continue;
		p->relid = relid;
		p->is_default = is_default;
		p->qname = psprintf("%s.%s", run->nsp,
							quote_identifier(get_rel_name(relid)));
		run->nparts++;
	}
}

/*
 * Keep writers out of the partitions to drop, so that their count is
 * exact when they go.  A partition that cannot be locked in time is
 * trimmed like the straddling month instead.  Returns how many are still
 * to be dropped.
 */
static int
lock_whole_parts(CleanupRun *run)
{
	bool		is_calls = (run->table == SIPCALL_CALLS);
	int			nwhole = 0;
	int			i;

	for (i = 0; i < run->nparts; i++)
	{
		ExpiredPart *p = &run->parts[i];

		if (!p->whole)
			continue;
		CHECK_FOR_INTERRUPTS();
		if (sipcall_lock_in_time(&p->relid, 1,
								 is_calls ? ExclusiveLock : ShareLock))
			nwhole++;
		else
		{
			p->whole = false;
			ereport(LOG,
					(errmsg("sipcall: could not lock \"%s\" within sipcall.lock_timeout, deleting its expired rows instead",
							get_rel_name(p->relid))));
		}
	}
	return nwhole;
}

/*
 * For calls: lock the expired calls that are deleted row by row, waiting
 * for the sessions adding events to them; from then on no call event can
 * be added to an expired call.  Then their events and keys go.
 */
static void
lock_and_delete_call_children(CleanupRun *run)
{
	int			i;

	for (i = 0; i < run->nparts; i++)
	{
		if (run->parts[i].whole)
			continue;
		CHECK_FOR_INTERRUPTS();
		(void) sipcall_spi_count(psprintf("SELECT pg_catalog.count(*) FROM"
										  " (SELECT FROM ONLY %s"
										  " WHERE %s OPERATOR(pg_catalog.<) $1 FOR UPDATE) s",
										  run->parts[i].qname, run->key),
								 run->cutoff, true);
	}
	(void) sipcall_spi_count(psprintf("DELETE FROM %s.call_events e USING %s c"
									  " WHERE c.initiated_at OPERATOR(pg_catalog.<) $1"
									  " AND e.call_id OPERATOR(pg_catalog.=) c.id",
									  run->nsp, run->qparent),
							 run->cutoff, true);
	(void) sipcall_call_keys_forget_before(run->nsp, run->qparent,
										   run->cutoff);
}

/*
 * Delete the rows older than the cutoff from those of run->parts whose
 * "whole" flag equals whole, noting each one's count; return the sum.
 */
static int64
trim_parts(CleanupRun *run, bool whole)
{
	int64		total = 0;
	int			i;

	for (i = 0; i < run->nparts; i++)
	{
		ExpiredPart *p = &run->parts[i];

		if (p->whole != whole)
			continue;
		CHECK_FOR_INTERRUPTS();
		p->rows = sipcall_spi_count(psprintf("DELETE FROM ONLY %s WHERE %s OPERATOR(pg_catalog.<) $1",
											 p->qname, run->key),
									run->cutoff, true);
		total += p->rows;
	}
	return total;
}

/*
 * Count, then drop, the partitions that lie wholly before the cutoff (and
 * are locked by lock_whole_parts); return the rows they held.  The locks
 * the drops need (the parent, its default partition, the partitions) are
 * taken up front with the short timeout; when they cannot be had, the
 * partitions' rows are deleted instead.
 */
static int64
drop_whole_parts(CleanupRun *run)
{
	Oid		   *lockrels;
	int			nlock = 0;
	Oid			defpart;
	int64		total = 0;
	int			i;

	/* count what is about to be dropped, under the lock taken before */
	for (i = 0; i < run->nparts; i++)
	{
		if (!run->parts[i].whole)
			continue;
		CHECK_FOR_INTERRUPTS();
		run->parts[i].rows = sipcall_count_rows(run->parts[i].relid,
												run->parts[i].qname);
	}

	lockrels = palloc(sizeof(Oid) * (run->nparts + 3));
	lockrels[nlock++] = run->parent;
	defpart = get_default_partition_oid(run->parent);
	if (OidIsValid(defpart))
		lockrels[nlock++] = defpart;
	for (i = 0; i < run->nparts; i++)
		if (run->parts[i].whole)
			lockrels[nlock++] = run->parts[i].relid;

	if (!sipcall_lock_in_time(lockrels, nlock, AccessExclusiveLock))
	{
		ereport(LOG,
				(errmsg("sipcall: could not lock \"%s\" within sipcall.lock_timeout, deleting expired rows instead of dropping partitions",
						sipcall_managed_names[run->table]),
				 errdetail("The emptied partitions are dropped by a later cleanup.")));
		return trim_parts(run, true);
	}

	for (i = 0; i < run->nparts; i++)
	{
		ExpiredPart *p = &run->parts[i];

		if (!p->whole)
			continue;
		sipcall_spi_exec(psprintf("DROP TABLE %s", p->qname),
						 0, NULL, NULL, NULL, SPI_OK_UTILITY);
		ereport(LOG,
				(errmsg("sipcall: dropped expired partition %s (" INT64_FORMAT " rows)",
						p->qname, p->rows)));
		total += p->rows;
	}
	return total;
}

/*
 * Remove the rows of table older than cutoff; return how many went,
 * waiting for the parent's lock as wait says.  The caller runs as the extension's owner, with SPI connected and, for calls,
 * session_replication_role = replica.
 */
static int64
retention_run(SipcallManagedTable table, TimestampTz cutoff,
			  SipcallLockWait wait)
{
	CleanupRun	run;
	int			nwhole;
	int64		total = 0;

	run.table = table;
	run.cutoff = cutoff;
	run.nsp = quote_identifier(get_namespace_name(sipcall_schema_oid(false)));
	run.key = quote_identifier(sipcall_managed_keys[table]);
	run.parent = sipcall_relid(sipcall_managed_names[table], false);
	run.qparent = psprintf("%s.%s", run.nsp,
						   quote_identifier(sipcall_managed_names[table]));

	/* one cleanup or partition maker per table at a time; inserts go on */
	sipcall_lock_step(run.parent, ShareUpdateExclusiveLock, wait);

	/* what is expired, with the partitions to drop first */
	find_expired(&run);
	if (run.nparts == 0)
		return 0;

	nwhole = lock_whole_parts(&run);
	if (table == SIPCALL_CALLS)
		lock_and_delete_call_children(&run);

	/* trim the straddling month and the default partition */
	total += trim_parts(&run, false);

	if (nwhole > 0)
		total += drop_whole_parts(&run);
	return total;
}

/*
 * One cleanup: read the retention of key, and when there is one, remove
 * what is older.  The count is returned as an integer (the contract's
 * type), capped at its maximum.
 */
static int32
cleanup(SipcallManagedTable table, const char *key, SipcallLockWait wait)
{
	Interval   *retention = sipcall_config_retention(key);
	TimestampTz cutoff;
	SipcallPrivileged priv;
	int			nestlevel;
	int64		removed;

	if (retention == NULL)
		return 0;

	/* now() - retention, the arithmetic done on the UTC clock */
	cutoff = DatumGetTimestamp(DirectFunctionCall2(timestamp_mi_interval,
												   TimestampGetDatum(GetCurrentTransactionStartTimestamp()),
												   IntervalPGetDatum(retention)));

	sipcall_privileged_enter(&priv);
	nestlevel = NewGUCNestLevel();
	if (table == SIPCALL_CALLS)
		(void) set_config_option("session_replication_role", "replica",
								 PGC_SUSET, PGC_S_SESSION, GUC_ACTION_SAVE,
								 true, 0, false);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	removed = retention_run(table, cutoff, wait);

	SPI_finish();
	AtEOXact_GUC(true, nestlevel);
	sipcall_privileged_leave(&priv);

	if (removed > PG_INT32_MAX)
	{
		ereport(NOTICE,
				(errmsg("removed " INT64_FORMAT " rows from \"%s\"",
						removed, sipcall_managed_names[table]),
				 errdetail("The count returned is capped at %d.", PG_INT32_MAX)));
		removed = PG_INT32_MAX;
	}
	return (int32) removed;
}

/*
 * The cleanup of one table, under the retention its 'retention.*' key
 * sets; returns how many rows went (capped).  The cleanup maintenance
 * steps.
 */
int32
sipcall_retention_cleanup(SipcallManagedTable table, SipcallLockWait wait)
{
	static const char *const keys[SIPCALL_NUM_MANAGED_TABLES] = {
		[SIPCALL_CALLS] = SIPCALL_KEY_RETENTION_CALLS,
		[SIPCALL_CALL_EVENTS] = SIPCALL_KEY_RETENTION_CALL_EVENTS,
		[SIPCALL_AUDIT_LOGS] = SIPCALL_KEY_RETENTION_AUDIT_LOGS,
	};

	Assert(table >= 0 && table < SIPCALL_NUM_MANAGED_TABLES);
	return cleanup(table, keys[table], wait);
}

/* sipcall.cleanup_old_call_events() RETURNS integer */
Datum
sipcall_cleanup_old_call_events(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(sipcall_retention_cleanup(SIPCALL_CALL_EVENTS, SIPCALL_LOCK_WAIT));
}

/* sipcall.cleanup_old_audit_logs() RETURNS integer */
Datum
sipcall_cleanup_old_audit_logs(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(sipcall_retention_cleanup(SIPCALL_AUDIT_LOGS, SIPCALL_LOCK_WAIT));
}

/* sipcall.cleanup_old_calls() RETURNS integer */
Datum
sipcall_cleanup_old_calls(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(sipcall_retention_cleanup(SIPCALL_CALLS, SIPCALL_LOCK_WAIT));
}
