/*-------------------------------------------------------------------------
 *
 * lifecycle.c
 *		Keeping the monthly partitions ahead of the data:
 *		sipcall.premake_partitions() and sipcall.drain_default_partitions().
 *
 * Premake makes the partitions of the current UTC month and of the next
 * 'partition.premake_months' months (settings.c, default 3) for calls,
 * call_events and audit_logs.  Drain finds every month that has rows in a
 * default partition and makes that month's partition, which moves the
 * rows (sipcall_make_partition in partition.c).
 *
 * Locking: both take the parent's SHARE UPDATE EXCLUSIVE lock themselves
 * before looking whether a partition exists, and keep it to the end of
 * the transaction.  It is the lock sipcall_make_partition takes, and it
 * conflicts with itself, so what they count as made or moved is exact
 * even when several sessions premake or drain at once: the later session
 * waits, then finds the partition made.  Inserts and queries are not
 * blocked by it.  Making a partition locks the parent's default partition
 * ACCESS EXCLUSIVE (ATTACH PARTITION does, whether rows move or not), which
 * queues every later query of the table behind the lock request, and
 * SHARE ROW EXCLUSIVE on the tables the parent's foreign keys point to
 * (users, call_keys), which queues every later writer of them: so both
 * take these locks only when a partition is missing, and wait for each at
 * most sipcall.lock_timeout (as retention does).  When one cannot be had
 * in time, that table's missing partitions are left to a later cycle (LOG
 * "could not lock ..."); the other tables go on.
 *
 * Calls: partition.c (making partitions), settings.c (premake months),
 * privileged.c, util.c (SPI, bounded lock waits).
 *
 * Copyright (c) 2026, the sipcall authors
 *
 * IDENTIFICATION
 *		src/lifecycle.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/relation.h"
#include "catalog/partition.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/timestamp.h"

#include "privileged.h"
#include "sipcall.h"

PG_FUNCTION_INFO_V1(sipcall_premake_partitions);
PG_FUNCTION_INFO_V1(sipcall_drain_default_partitions);

static bool make_if_missing(SipcallManagedTable table, int year, int month,
							Oid *made);
static bool partition_exists(SipcallManagedTable table, int year, int month);
static bool lock_for_attach_in_time(SipcallManagedTable table);
static int	default_months(SipcallManagedTable table, const char *nsp,
						   Oid defpart, int **years, int **months);

/*
 * Make the partition of table for year-month unless it exists.  Returns
 * true, and its OID in *made, when this call made it.  The caller holds
 * the parent's SHARE UPDATE EXCLUSIVE lock.
 */
static bool
make_if_missing(SipcallManagedTable table, int year, int month, Oid *made)
{
	if (partition_exists(table, year, month))
		return false;
	*made = sipcall_make_partition(table,
								   date2j(year, month, 1) - POSTGRES_EPOCH_JDATE);
	return true;
}

/* Does the partition of table for year-month exist? */
static bool
partition_exists(SipcallManagedTable table, int year, int month)
{
	char	   *name = sipcall_partition_name(table, year, month);

	return OidIsValid(get_relname_relid(name, sipcall_schema_oid(false)));
}

/*
 * Take the locks that attaching a partition of table needs, waiting at
 * most sipcall.lock_timeout for each: SHARE ROW EXCLUSIVE on every table
 * its foreign keys point to (ATTACH PARTITION adds the keys' triggers
 * there), then ACCESS EXCLUSIVE on its default partition.  Either waits
 * for every transaction that wrote the table in question, and while it
 * waits every later writer queues behind it: an app session idle in a
 * transaction that inserted a call would otherwise stop all inserts of
 * calls (their call_keys rows) for as long as it stays.  False when a
 * lock could not be had in time.  The caller holds the parent's lock.
 */
static bool
lock_for_attach_in_time(SipcallManagedTable table)
{
	Oid			parent = sipcall_relid(sipcall_managed_names[table], false);
	Oid			defpart = get_default_partition_oid(parent);
	Relation	rel = relation_open(parent, NoLock);
	List	   *fkeys = RelationGetFKeyList(rel);
	Oid		   *relids = palloc(sizeof(Oid) * (list_length(fkeys) + 1));
	LOCKMODE   *modes = palloc(sizeof(LOCKMODE) * (list_length(fkeys) + 1));
	int			nrels = 0;
	bool		locked;
	ListCell   *lc;

	foreach(lc, fkeys)
	{
		Oid			confrelid = lfirst_node(ForeignKeyCacheInfo, lc)->confrelid;
		int			i;

		for (i = 0; i < nrels && relids[i] != confrelid; i++)
			;
		if (i == nrels)
		{
			relids[nrels] = confrelid;
			modes[nrels++] = ShareRowExclusiveLock;
		}
	}
	relation_close(rel, NoLock);
	if (OidIsValid(defpart))
	{
		relids[nrels] = defpart;
		modes[nrels++] = AccessExclusiveLock;
	}

	/* all or none: a lock kept after a later one failed would still queue */
	locked = sipcall_lock_all_in_time(relids, modes, nrels);
	pfree(relids);
	pfree(modes);
	if (!locked)
		ereport(LOG,
				(errmsg("sipcall: could not lock what attaching a partition of \"%s\" needs within sipcall.lock_timeout, its missing partitions are made by a later cycle",
						sipcall_managed_names[table]),
				 errdetail("ATTACH PARTITION locks the default partition and the tables the foreign keys point to; another transaction holds one of them.")));
	return locked;
}

/*
 * Make the missing partitions of the current UTC month and of the
 * 'partition.premake_months' months after it; returns how many were made.
 * The premake maintenance step.
 */
int32
sipcall_premake(SipcallLockWait wait)
{
	int			ahead = sipcall_config_premake_months();
	struct pg_tm tm;
	fsec_t		fsec;
	int			made = 0;
	int			t;

	/* the current month, on the UTC clock */
	if (timestamp2tm(GetCurrentTransactionStartTimestamp(), NULL, &tm, &fsec,
					 NULL, NULL) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));

	for (t = 0; t < SIPCALL_NUM_MANAGED_TABLES; t++)
	{
		bool		attach_locked = false;
		int			i;

		sipcall_lock_step(sipcall_relid(sipcall_managed_names[t], false),
						  ShareUpdateExclusiveLock, wait);
		for (i = 0; i <= ahead; i++)
		{
			int			months = tm.tm_year * MONTHS_PER_YEAR + tm.tm_mon - 1 + i;
			int			year = months / MONTHS_PER_YEAR;
			int			month = months % MONTHS_PER_YEAR + 1;
			Oid			part;

			if (partition_exists((SipcallManagedTable) t, year, month))
				continue;
			/* the locks attaching needs, only now, and not for long */
			if (!attach_locked)
			{
				if (!lock_for_attach_in_time((SipcallManagedTable) t))
					break;
				attach_locked = true;
			}
			if (make_if_missing((SipcallManagedTable) t, year, month, &part))
				made++;
		}
	}
	return made;
}

/*
 * sipcall.premake_partitions() RETURNS integer: how many partitions were
 * made.
 */
Datum
sipcall_premake_partitions(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(sipcall_premake(SIPCALL_LOCK_WAIT));
}

/*
 * The months (UTC) that have rows in defpart, the default partition of
 * table, into *years and *months; returns how many.  Infinite timestamps
 * have no month.  The caller has SPI connected.
 */
static int
default_months(SipcallManagedTable table, const char *nsp, Oid defpart,
			   int **years, int **months)
{
	const char *key = quote_identifier(sipcall_managed_keys[table]);
	int			nmonths;
	uint64		i;

	sipcall_spi_exec(psprintf("SELECT DISTINCT"
							  " pg_catalog.date_part('year', k)::integer,"
							  " pg_catalog.date_part('month', k)::integer"
							  " FROM (SELECT pg_catalog.timezone('UTC', %s) AS k"
							  " FROM ONLY %s.%s WHERE pg_catalog.isfinite(%s)) d"
							  " ORDER BY 1, 2",
							  key, nsp, quote_identifier(get_rel_name(defpart)),
							  key),
					 0, NULL, NULL, NULL, SPI_OK_SELECT);

	/* copy the months out: making a partition runs SPI again */
	nmonths = (int) SPI_processed;
	*years = palloc(sizeof(int) * (nmonths + 1));
	*months = palloc(sizeof(int) * (nmonths + 1));
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		(*years)[i] = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i],
												  SPI_tuptable->tupdesc, 1,
												  &isnull));
		(*months)[i] = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i],
												   SPI_tuptable->tupdesc, 2,
												   &isnull));
	}
	return nmonths;
}

/*
 * Make the partition of every month that has rows in a default partition,
 * which moves them there; returns how many rows were moved.  The drain
 * maintenance step.
 *
 * Months outside the years 1 to 9999 (which have no partitions) and
 * infinite timestamps stay in the default partition.
 */
int64
sipcall_drain_default(SipcallLockWait wait)
{
	const char *nsp = quote_identifier(get_namespace_name(sipcall_schema_oid(false)));
	SipcallPrivileged priv;
	int64		moved = 0;
	int			t;

	sipcall_privileged_enter(&priv);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	for (t = 0; t < SIPCALL_NUM_MANAGED_TABLES; t++)
	{
		Oid			parent = sipcall_relid(sipcall_managed_names[t], false);
		Oid			defpart;
		int			nmonths;
		bool		attach_locked = false;
		int		   *years;
		int		   *months;
		int			i;

		/* no partition can appear or go while we look */
		sipcall_lock_step(parent, ShareUpdateExclusiveLock, wait);
		defpart = get_default_partition_oid(parent);
		if (!OidIsValid(defpart))
			continue;

		nmonths = default_months((SipcallManagedTable) t, nsp, defpart,
								 &years, &months);
		for (i = 0; i < nmonths; i++)
		{
			Oid			part;

			CHECK_FOR_INTERRUPTS();
			if (years[i] < 1 || years[i] > 9999)
			{
				ereport(LOG,
						(errmsg("sipcall: rows of %04d-%02d stay in \"%s\": no partition can be made for that month",
								years[i], months[i], get_rel_name(defpart))));
				continue;
			}
			if (partition_exists((SipcallManagedTable) t, years[i], months[i]))
				continue;
			/* the locks attaching needs, not waited for long */
			if (!attach_locked)
			{
				if (!lock_for_attach_in_time((SipcallManagedTable) t))
					break;
				attach_locked = true;
			}
			if (!make_if_missing((SipcallManagedTable) t, years[i], months[i],
								 &part))
				continue;
			/* nobody else sees the new partition yet: all its rows moved */
			moved += sipcall_spi_count(psprintf("SELECT pg_catalog.count(*) FROM ONLY %s.%s",
												nsp, quote_identifier(get_rel_name(part))),
									   0, false);
		}
	}

	SPI_finish();
	sipcall_privileged_leave(&priv);

	return moved;
}

/*
 * sipcall.drain_default_partitions() RETURNS bigint: how many rows were
 * moved out of the default partitions.
 */
Datum
sipcall_drain_default_partitions(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(sipcall_drain_default(SIPCALL_LOCK_WAIT));
}
