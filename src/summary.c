/*-------------------------------------------------------------------------
 *
 * summary.c
 *		The daily call summary: change tracking and incremental refresh.
 *
 * sipcall.daily_call_summary holds one row per UTC day that has calls.
 * Statement-level AFTER triggers on sipcall.calls (with transition tables)
 * append the UTC days touched by each INSERT, UPDATE or DELETE to
 * sipcall.daily_summary_dirty; a TRUNCATE marks every summarised day.
 * Every partition of calls carries the same triggers (the default one
 * from the install script, the monthly ones from create_partition, see
 * sipcall_summary_track_partition), for statements aimed at a partition;
 * a statement on calls fires only those of calls.
 * sipcall.refresh_daily_summary() then recomputes only those days, and
 * deletes the summary row of a day that has no calls left.
 * sipcall.rebuild_daily_summary() recomputes everything from scratch.
 *
 * The dirty list holds at most one row per changed day and backend
 * (column stripe, the backend's slot), however many statements change it.
 * A statement that touches day D takes a KEY SHARE lock on its backend's
 * entry for D if there is one, and adds that entry only if there is none.  Refresh first deletes the entries (waiting for every transaction
 * that holds one locked, i.e. that changed one of those days and has not
 * finished), then aggregates those days in a second statement, with a
 * snapshot taken after those transactions ended.  So no change is lost:
 * a change either locked an entry that refresh deleted (and is visible to
 * its aggregation), or its entry is new and invisible to that DELETE and
 * stays for the next refresh.  Each backend locks only its own entries,
 * so concurrent writers of calls never wait for one another; only a
 * writer that finds its day's entry being deleted by a refresh waits for
 * that refresh.  The second-statement snapshot needs READ COMMITTED, so
 * refresh refuses to run at a higher isolation level.
 *
 * The trigger function runs as the extension owner (SECURITY DEFINER, with
 * its search_path pinned, and its statements inside
 * sipcall_privileged_enter()), fires only on calls, and marks each day at
 * most once per subtransaction of a backend, so the cost of tracking is one
 * small insert per statement that touches a new day.
 *
 * The triggers are ordinary (ENABLE, not ENABLE ALWAYS) triggers: with
 * session_replication_role = replica they do not fire.  Retention of
 * calls and the moving of rows out of the default partition run that way,
 * so the days of expired calls keep their last figures: the summary keeps
 * the history that retention removes.
 *
 * Locking: refresh and rebuild take EXCLUSIVE lock on daily_call_summary,
 * so they run one at a time while readers of the summary go on.
 *
 * Calls: privileged.c, util.c (SPI and cached plans).
 *
 * Copyright (c) 2026, the sipcall authors
 *
 * IDENTIFICATION
 *		src/summary.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/qunique.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "privileged.h"
#include "sipcall.h"

PG_FUNCTION_INFO_V1(sipcall_calls_track_trigger);
PG_FUNCTION_INFO_V1(sipcall_refresh_daily_summary);
PG_FUNCTION_INFO_V1(sipcall_rebuild_daily_summary);

/*---- static state ----*/

/* the saved plan that appends days to the dirty list */
static SPIPlanPtr mark_plan = NULL;

/* the saved plan of the refresh (planned once per backend) */
static SPIPlanPtr refresh_plan = NULL;
static SPIPlanPtr delete_plan = NULL;

/*
 * The days this backend has marked in its current (sub)transaction, so that
 * a transaction of many statements marks each day once.  An entry made in
 * the same subtransaction can only vanish with it (the ids are not reused)
 * or through a refresh, which forgets the list.
 */
#define MARKED_MAX	8
static LocalTransactionId marked_lxid = InvalidLocalTransactionId;
static SubTransactionId marked_subxid = InvalidSubTransactionId;
static int	marked_n = 0;
static DateADT marked_days[MARKED_MAX];

/*
 * Where this backend's own entry for each recent day is (its TID), kept
 * across transactions: a later transaction that touches the day locks the
 * entry there directly, without SPI.  A stale address (the entry was
 * deleted by a refresh, its insert was rolled back, the page was truncated
 * or reused) simply misses, and the day is marked through SPI again.
 */
typedef struct MarkCacheEntry
{
	DateADT		day;
	ItemPointerData tid;
} MarkCacheEntry;

#define MARK_CACHE_MAX	8
static MarkCacheEntry mark_cache[MARK_CACHE_MAX];
static int	mark_cache_n = 0;

static void collect_days(Relation rel, Tuplestorestate *ts,
						 DateADT **days, int *ndays, int *maxdays);
static int	compare_dates(const void *a, const void *b);
static const char *summary_schema(void);
static bool lock_cached_mark(Oid nspoid, DateADT day);
static void remember_mark(DateADT day, ItemPointer tid);
static void mark_all_days(void);
static int	skip_marked_here(DateADT *days, int ndays);
static int	lock_cached_marks(Oid nspoid, DateADT *days, int ndays);
static SPIPlanPtr mark_days_plan(void);
static void insert_marks(DateADT *days, int ndays);
static SPIPlanPtr take_dirty_plan(const char *nsp);
static SPIPlanPtr refresh_days_plan(const char *nsp);

/*
 * The UTC day of a timestamptz, as (ts AT TIME ZONE 'UTC')::date computes
 * it; infinities map to the infinite dates.
 */
static DateADT
utc_day(TimestampTz ts)
{
	if (TIMESTAMP_IS_NOBEGIN(ts))
	{
		DateADT		d;

		DATE_NOBEGIN(d);
		return d;
	}
	if (TIMESTAMP_IS_NOEND(ts))
	{
		DateADT		d;

		DATE_NOEND(d);
		return d;
	}
	/* timestamptz counts microseconds from 2000-01-01 00:00 UTC */
	if (ts >= 0)
		return (DateADT) (ts / USECS_PER_DAY);
	return (DateADT) -((-ts + USECS_PER_DAY - 1) / USECS_PER_DAY);
}

static int
compare_dates(const void *a, const void *b)
{
	DateADT		x = *(const DateADT *) a;
	DateADT		y = *(const DateADT *) b;

	return (x > y) - (x < y);
}

/* quoted name of sipcall's schema */
static const char *
summary_schema(void)
{
	return quote_identifier(get_namespace_name(sipcall_schema_oid(false)));
}

/*
 * Append the UTC day of initiated_at of every row of a transition table
 * to *days (growing it as needed).
 */
static void
collect_days(Relation rel, Tuplestorestate *ts, DateADT **days, int *ndays,
			 int *maxdays)
{
	TupleDesc	desc = RelationGetDescr(rel);
	TupleTableSlot *slot;
	int			attnum;
	int			readptr;

	if (ts == NULL)
		return;

	attnum = SPI_fnumber(desc, "initiated_at");
	if (attnum <= 0)
		elog(ERROR, "relation \"%s\" has no column \"initiated_at\"",
			 RelationGetRelationName(rel));

	/* a read pointer of our own: other triggers may read this store too */
	readptr = tuplestore_alloc_read_pointer(ts, 0);
	tuplestore_select_read_pointer(ts, readptr);
	tuplestore_rescan(ts);

	slot = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
	while (tuplestore_gettupleslot(ts, true, false, slot))
	{
		bool		isnull;
		Datum		value = slot_getattr(slot, attnum, &isnull);
		DateADT		day;

		if (isnull)
			continue;
		day = utc_day(DatumGetTimestampTz(value));
		/* rows come in initiated_at order more often than not */
		if (*ndays > 0 && (*days)[*ndays - 1] == day)
			continue;
		if (*ndays >= *maxdays)
		{
			*maxdays *= 2;
			*days = repalloc(*days, sizeof(DateADT) * *maxdays);
		}
		(*days)[(*ndays)++] = day;
	}
	ExecDropSingleTupleTableSlot(slot);
}

/*
 * Remember where this backend's entry for day is.
 */
static void
remember_mark(DateADT day, ItemPointer tid)
{
	int			i;

	for (i = 0; i < mark_cache_n; i++)
		if (mark_cache[i].day == day)
			break;
	if (i == mark_cache_n)
	{
		if (mark_cache_n == MARK_CACHE_MAX)
		{
			/* forget the oldest */
			memmove(&mark_cache[0], &mark_cache[1],
					sizeof(MarkCacheEntry) * (MARK_CACHE_MAX - 1));
			i = MARK_CACHE_MAX - 1;
		}
		else
			mark_cache_n++;
	}
	mark_cache[i].day = day;
	mark_cache[i].tid = *tid;
}

/*
 * Take a KEY SHARE lock on this backend's remembered entry for day (in the
 * dirty list of schema nspoid), as the SPI statement would.  Returns false (and forgets the address) when there
 * is no such live entry there any more.  The buffer stays pinned from the
 * check of the entry's content to its locking, so the slot cannot be
 * pruned and reused in between.
 */
static bool
lock_cached_mark(Oid nspoid, DateADT day)
{
	Relation	rel;
	HeapTupleData tuple;
	Buffer		buf = InvalidBuffer;
	bool		locked = false;
	Oid			relid;
	int			i;

	for (i = 0; i < mark_cache_n; i++)
		if (mark_cache[i].day == day)
			break;
	if (i == mark_cache_n)
		return false;

	relid = get_relname_relid("daily_summary_dirty", nspoid);
	if (!OidIsValid(relid))
		return false;
	rel = table_open(relid, RowShareLock);
	tuple.t_self = mark_cache[i].tid;
	if (ItemPointerGetBlockNumber(&tuple.t_self) < RelationGetNumberOfBlocks(rel) &&
		heap_fetch(rel, SnapshotAny, &tuple, &buf, true))
	{
		TupleDesc	desc = RelationGetDescr(rel);
		bool		day_null;
		bool		stripe_null;
		Datum		d = heap_getattr(&tuple, 1, desc, &day_null);
		Datum		st = heap_getattr(&tuple, 2, desc, &stripe_null);

		if (!day_null && !stripe_null && DatumGetDateADT(d) == day &&
			DatumGetInt32(st) == MyBackendId)
		{
			TupleTableSlot *slot = table_slot_create(rel, NULL);
			TM_FailureData tmfd;
			TM_Result	res;

			res = table_tuple_lock(rel, &mark_cache[i].tid,
								   ActiveSnapshotSet() ? GetActiveSnapshot() : InvalidSnapshot,
								   slot, GetCurrentCommandId(false),
								   LockTupleKeyShare, LockWaitBlock, 0, &tmfd);
			locked = (res == TM_Ok);
			ExecDropSingleTupleTableSlot(slot);
		}
	}
	if (BufferIsValid(buf))
		ReleaseBuffer(buf);
	table_close(rel, NoLock);

	if (!locked)
	{
		mark_cache_n--;
		memmove(&mark_cache[i], &mark_cache[i + 1],
				sizeof(MarkCacheEntry) * (mark_cache_n - i));
	}
	return locked;
}

/*
 * Trigger function on sipcall.calls: AFTER INSERT/UPDATE/DELETE FOR EACH
 * STATEMENT with transition tables, and AFTER TRUNCATE.  Appends the days
 * touched to the dirty list.
 */
/* A TRUNCATE of calls: every day of the summary has changed. */
static void
mark_all_days(void)
{
	const char *nsp = summary_schema();
	SipcallPrivileged priv;

	sipcall_privileged_enter(&priv);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	sipcall_spi_exec(psprintf("INSERT INTO %s.daily_summary_dirty (call_date)"
							  " SELECT call_date FROM %s.daily_call_summary",
							  nsp, nsp),
					 0, NULL, NULL, NULL, SPI_OK_INSERT);
	SPI_finish();
	sipcall_privileged_leave(&priv);
}

/*
 * Drop from days[0..ndays) those this very subtransaction has marked
 * already; returns how many are left.
 */
static int
skip_marked_here(DateADT *days, int ndays)
{
	int			i,
				j,
				kept = 0;

	if (marked_lxid != MyProc->lxid ||
		marked_subxid != GetCurrentSubTransactionId())
	{
		marked_lxid = MyProc->lxid;
		marked_subxid = GetCurrentSubTransactionId();
		marked_n = 0;
	}
	for (i = 0; i < ndays; i++)
	{
		bool		seen = false;

		for (j = 0; j < marked_n && !seen; j++)
			seen = (marked_days[j] == days[i]);
		if (!seen)
			days[kept++] = days[i];
	}
	return kept;
}

/*
 * Days whose entry this backend made before: lock the entry where it is
 * (in schema nspoid) and drop the day from days[]; returns how many are
 * left to insert or find.
 */
static int
lock_cached_marks(Oid nspoid, DateADT *days, int ndays)
{
	int			i,
				kept = 0;

	for (i = 0; i < ndays; i++)
	{
		if (lock_cached_mark(nspoid, days[i]))
		{
			if (marked_n < MARKED_MAX)
				marked_days[marked_n++] = days[i];
		}
		else
			days[kept++] = days[i];
	}
	return kept;
}

/* the statement that finds or inserts this backend's entries of days */
static SPIPlanPtr
mark_days_plan(void)
{
	Oid			argtypes[2] = {DATEARRAYOID, INT4OID};

	if (mark_plan == NULL)
		mark_plan = sipcall_spi_keep_plan(psprintf("WITH d AS (SELECT pg_catalog.unnest($1) AS call_date),"
												   " held AS (SELECT x.call_date, x.ctid FROM %s.daily_summary_dirty x"
												   "  WHERE x.call_date OPERATOR(pg_catalog.=) ANY ($1)"
												   "    AND x.stripe OPERATOR(pg_catalog.=) $2"
												   "  FOR KEY SHARE OF x),"
												   " ins AS (INSERT INTO %s.daily_summary_dirty (call_date, stripe)"
												   "  SELECT d.call_date, $2 FROM d"
												   "   WHERE d.call_date NOT IN (SELECT held.call_date FROM held)"
												   "  RETURNING call_date, ctid)"
												   " SELECT call_date, ctid FROM held"
												   " UNION ALL SELECT call_date, ctid FROM ins",
												   summary_schema(), summary_schema()),
										  2, argtypes, CURSOR_OPT_GENERIC_PLAN);
	return mark_plan;
}

/*
 * Find or insert this backend's entries of days[0..ndays), as the
 * extension's owner, and remember where they are for the next
 * transactions.
 */
static void
insert_marks(DateADT *days, int ndays)
{
	SipcallPrivileged priv;
	Datum	   *elems = palloc(sizeof(Datum) * ndays);
	Datum		args[2];
	int			ret;
	int			i;

	sipcall_privileged_enter(&priv);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	for (i = 0; i < ndays; i++)
		elems[i] = DateADTGetDatum(days[i]);
	args[0] = PointerGetDatum(construct_array(elems, ndays, DATEOID,
											  sizeof(DateADT), true,
											  TYPALIGN_INT));
	args[1] = Int32GetDatum(MyBackendId);
	ret = SPI_execute_plan(mark_days_plan(), args, NULL, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_plan returned %s",
			 SPI_result_code_string(ret));

	for (i = 0; i < (int) SPI_processed; i++)
	{
		bool		day_null;
		bool		tid_null;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[i],
									  SPI_tuptable->tupdesc, 1, &day_null);
		Datum		t = SPI_getbinval(SPI_tuptable->vals[i],
									  SPI_tuptable->tupdesc, 2, &tid_null);

		if (!day_null && !tid_null)
			remember_mark(DatumGetDateADT(d), (ItemPointer) DatumGetPointer(t));
	}

	SPI_finish();
	sipcall_privileged_leave(&priv);
	pfree(elems);
}

Datum
sipcall_calls_track_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	DateADT    *days;
	int			ndays = 0;
	int			maxdays = 16;
	int			i;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"calls_track_trigger\" must be fired as a trigger")));
	if (!TRIGGER_FIRED_AFTER(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_STATEMENT(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"calls_track_trigger\" must be fired AFTER, FOR EACH STATEMENT")));
	sipcall_trigger_check_table(trigdata, "calls_track_trigger", "calls");

	if (TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event))
	{
		mark_all_days();
		return PointerGetDatum(NULL);
	}

	days = palloc(sizeof(DateADT) * maxdays);
	collect_days(trigdata->tg_relation, trigdata->tg_oldtable,
				 &days, &ndays, &maxdays);
	collect_days(trigdata->tg_relation, trigdata->tg_newtable,
				 &days, &ndays, &maxdays);
	if (ndays > 1)
	{
		qsort(days, ndays, sizeof(DateADT), compare_dates);
		ndays = qunique(days, ndays, sizeof(DateADT), compare_dates);
	}

	if (ndays > 0)
		ndays = skip_marked_here(days, ndays);
	/* calls and its partitions live in sipcall's schema */
	if (ndays > 0)
		ndays = lock_cached_marks(RelationGetNamespace(trigdata->tg_relation),
								  days, ndays);
	if (ndays > 0)
	{
		insert_marks(days, ndays);
		/* remember them (once inserted) for the next statements */
		for (i = 0; i < ndays && marked_n < MARKED_MAX; i++)
			marked_days[marked_n++] = days[i];
	}
	pfree(days);
	return PointerGetDatum(NULL);
}

/*
 * Give a new partition of calls (qpart, schema-qualified and quoted) the
 * change-tracking triggers.  Statement triggers fire only on the table a
 * statement names, and PostgreSQL does not clone them to partitions, so
 * those on calls miss a statement aimed at a partition; each partition
 * carries its own, as calls_default does from the install script
 * (80_maintenance.sql).  A statement on calls fires only the parent's.
 * The caller runs as the extension owner with SPI connected.
 */
void
sipcall_summary_track_partition(const char *qpart)
{
	const char *nsp = summary_schema();
	/* name, event, transition tables: as on calls */
	static const char *const triggers[][3] = {
		{"insert", "INSERT", " REFERENCING NEW TABLE AS new_rows"},
		{"update", "UPDATE", " REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows"},
		{"delete", "DELETE", " REFERENCING OLD TABLE AS old_rows"},
		{"truncate", "TRUNCATE", ""},
	};
	int			i;

	for (i = 0; i < (int) lengthof(triggers); i++)
		sipcall_spi_exec(psprintf("CREATE TRIGGER calls_track_%s AFTER %s ON %s%s"
								  " FOR EACH STATEMENT EXECUTE FUNCTION %s.calls_track_trigger()",
								  triggers[i][0], triggers[i][1], qpart,
								  triggers[i][2], nsp),
						 0, NULL, NULL, NULL, SPI_OK_UTILITY);
}

/* the statement that takes (deletes) every dirty entry, returning its days */
static SPIPlanPtr
take_dirty_plan(const char *nsp)
{
	if (delete_plan == NULL)
	{
		SPIPlanPtr	plan;

		plan = sipcall_spi_keep_plan(psprintf("WITH dirty AS ("
									"  DELETE FROM %s.daily_summary_dirty RETURNING call_date)"
									" SELECT pg_catalog.array_agg(DISTINCT call_date) FROM dirty",
									nsp),
									 0, NULL, CURSOR_OPT_GENERIC_PLAN);
		delete_plan = plan;
	}
	return delete_plan;
}

/*
 * The statement that aggregates the days of its date[] $1 afresh and
 * writes them into daily_call_summary (deleting days with no call left).
 */
static SPIPlanPtr
refresh_days_plan(const char *nsp)
{
	if (refresh_plan == NULL)
	{
		SPIPlanPtr	plan;
		Oid			argtype = DATEARRAYOID;

		plan = sipcall_spi_keep_plan(psprintf("WITH days AS (SELECT call_date,"
									"   (call_date::timestamp AT TIME ZONE 'UTC') AS lo,"
									"   CASE WHEN pg_catalog.isfinite(call_date)"
									"        THEN ((call_date + 1)::timestamp AT TIME ZONE 'UTC')"
									"             - interval '1 microsecond'"
									"        ELSE (call_date::timestamp AT TIME ZONE 'UTC') END AS hi"
									"   FROM pg_catalog.unnest($1) AS call_date),"
									" fresh AS ("
									"  SELECT d.call_date, a.*"
									"    FROM days d CROSS JOIN LATERAL ("
									"      SELECT count(*) AS total_calls,"
									"             count(*) FILTER (WHERE c.status = 'completed') AS completed_calls,"
									"             round(avg(c.duration_seconds)) AS avg_duration,"
									"             sum(c.cost_cents) AS total_cost_cents"
									"        FROM %s.calls c"
									"       WHERE c.initiated_at >= d.lo AND c.initiated_at <= d.hi) a),"
									" gone AS ("
									"  DELETE FROM %s.daily_call_summary s USING fresh f"
									"   WHERE s.call_date = f.call_date AND f.total_calls = 0"
									"  RETURNING 1),"
									" upserted AS ("
									"  INSERT INTO %s.daily_call_summary AS s"
									"       (call_date, total_calls, completed_calls, avg_duration, total_cost_cents)"
									"  SELECT call_date, total_calls, completed_calls, avg_duration, total_cost_cents"
									"    FROM fresh WHERE total_calls > 0"
									"  ON CONFLICT (call_date) DO UPDATE"
									"    SET total_calls = EXCLUDED.total_calls,"
									"        completed_calls = EXCLUDED.completed_calls,"
									"        avg_duration = EXCLUDED.avg_duration,"
									"        total_cost_cents = EXCLUDED.total_cost_cents"
									"    WHERE (s.total_calls, s.completed_calls, s.avg_duration, s.total_cost_cents)"
									"          IS DISTINCT FROM (EXCLUDED.total_calls, EXCLUDED.completed_calls,"
									"                            EXCLUDED.avg_duration, EXCLUDED.total_cost_cents)"
									"  RETURNING 1)"
									" SELECT (SELECT count(*) FROM days),"
									"        (SELECT count(*) FROM gone),"
									"        (SELECT count(*) FROM upserted)",
									nsp, nsp, nsp),
									 1, &argtype, CURSOR_OPT_GENERIC_PLAN);
		refresh_plan = plan;
	}
	return refresh_plan;
}

/*
 * Recompute the summary rows of the dirty days; returns how many days were
 * recomputed.  Runs in the current transaction, as the extension owner.
 */
int64
sipcall_summary_refresh(SipcallLockWait wait)
{
	const char *nsp;
	SipcallPrivileged priv;
	int64		ndays;
	Datum		days;
	bool		isnull;
	int			ret;

	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("the daily summary can only be refreshed at isolation level READ COMMITTED"),
				 errhint("Call sipcall.refresh_daily_summary() in a READ COMMITTED transaction.")));

	nsp = summary_schema();
	sipcall_lock_step(sipcall_relid("daily_call_summary", false), ExclusiveLock,
					  wait);
	marked_lxid = InvalidLocalTransactionId;

	sipcall_privileged_enter(&priv);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	/*
	 * First take the dirty entries.  The DELETE waits for every transaction
	 * holding one of them locked (see the header comment).
	 */
	ret = SPI_execute_plan(take_dirty_plan(nsp), NULL, NULL, false, 0);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "SPI_execute_plan returned %s",
			 SPI_result_code_string(ret));
	days = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
						 &isnull);
	if (!isnull)
		days = datumCopy(days, false, -1);
	if (isnull)
	{
		SPI_finish();
		sipcall_privileged_leave(&priv);
		return 0;
	}

	/*
	 * Then, with a new snapshot that sees every transaction the DELETE
	 * waited for, aggregate those days.  Each day is aggregated through the
	 * index on initiated_at (and partition pruning); the upper bound is
	 * inclusive so that the infinite days work too.
	 */
	ret = SPI_execute_plan(refresh_days_plan(nsp), &days, NULL, false, 0);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "SPI_execute_plan returned %s",
			 SPI_result_code_string(ret));
	ndays = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
										SPI_tuptable->tupdesc, 1, &isnull));

	SPI_finish();
	sipcall_privileged_leave(&priv);

	return ndays;
}

/*
 * sipcall.refresh_daily_summary() RETURNS void
 */
Datum
sipcall_refresh_daily_summary(PG_FUNCTION_ARGS)
{
	int64		ndays = sipcall_summary_refresh(SIPCALL_LOCK_WAIT);

	ereport(DEBUG1,
			(errmsg_internal("sipcall: refreshed the summary of " INT64_FORMAT " days",
							 ndays)));
	PG_RETURN_VOID();
}

/*
 * sipcall.rebuild_daily_summary() RETURNS bigint
 *
 * Recomputes the whole summary from sipcall.calls and returns the number of
 * days it now holds.  Unlike refresh, this forgets the days whose calls
 * were removed by the calls retention.
 */
Datum
sipcall_rebuild_daily_summary(PG_FUNCTION_ARGS)
{
	const char *nsp = summary_schema();
	SipcallPrivileged priv;
	uint64		ndays;

	LockRelationOid(sipcall_relid("daily_call_summary", false), ExclusiveLock);
	marked_lxid = InvalidLocalTransactionId;

	sipcall_privileged_enter(&priv);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	sipcall_spi_exec(psprintf("DELETE FROM %s.daily_summary_dirty", nsp),
					 0, NULL, NULL, NULL, SPI_OK_DELETE);
	sipcall_spi_exec(psprintf("DELETE FROM %s.daily_call_summary", nsp),
					 0, NULL, NULL, NULL, SPI_OK_DELETE);
	ndays = sipcall_spi_exec(psprintf("INSERT INTO %s.daily_call_summary"
									  " (call_date, total_calls, completed_calls, avg_duration, total_cost_cents)"
									  " SELECT (initiated_at AT TIME ZONE 'UTC')::date,"
									  "        count(*),"
									  "        count(*) FILTER (WHERE status = 'completed'),"
									  "        round(avg(duration_seconds)),"
									  "        sum(cost_cents)"
									  "   FROM %s.calls"
									  "  GROUP BY 1",
									  nsp, nsp),
							 0, NULL, NULL, NULL, SPI_OK_INSERT);

	SPI_finish();
	sipcall_privileged_leave(&priv);

	PG_RETURN_INT64((int64) ndays);
}

/*
 * Put the days of the date[] days on the summary's list of changed days,
 * for statements that change calls with the tracking triggers off
 * (erasure).  The next refresh recomputes them.
 */
void
sipcall_summary_mark_days(const char *nsp, Datum days)
{
	Oid			argtypes[1] = {DATEARRAYOID};

	sipcall_spi_exec(psprintf("INSERT INTO %s.daily_summary_dirty (call_date)"
							  " SELECT DISTINCT d FROM pg_catalog.unnest($1) d"
							  " WHERE d IS NOT NULL",
							  nsp),
					 1, argtypes, &days, NULL, SPI_OK_INSERT);
}
