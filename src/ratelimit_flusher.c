/*-------------------------------------------------------------------------
 *
 * ratelimit_flusher.c
 *		The "sipcall rate limit flusher" background worker: writes the
 *		dirty shared rate-limit counters to sipcall.rate_limits every
 *		RL_FLUSH_INTERVAL_MS, evicts idle clean entries when the shared hash
 *		fills up, and flushes once more when the server shuts down.
 *
 * A flush copies each dirty entry under its spinlock and marks it
 * "flushing", writes the copies in one transaction, and only after the
 * commit clears "flushing" and records the rows' new xmin.  An entry is
 * evicted only when it is neither dirty nor flushing, so the table holds
 * everything an evicted entry had counted.
 *
 * A row is written only if its xmin is still the one the entry last saw (a
 * new row only if none exists and the user still exists).  Otherwise
 * somebody else changed it: the entry is dropped and the next check reloads
 * the row.  Locking rules are those of
 * ratelimit_shmem.c.
 *
 * The flusher never waits for a row lock: a row somebody holds locked (an
 * operator's open UPDATE, an application's SELECT ... FOR UPDATE, an
 * erasure in progress), or a user row locked by its erasure, is skipped
 * (SKIP LOCKED); its entry stays dirty and the next flush tries again,
 * while every other key is written.  Any other lock (a table lock, an
 * uncommitted INSERT of the same key) is waited for at most
 * sipcall.lock_timeout; then the flush is rolled back and retried.
 *
 * The flusher connects as the bootstrap superuser, makes its own the
 * settings the database's owner could give it (search_path, timeouts and
 * the like: privileged.c) and writes through
 * sipcall_privileged_enter(), as the extension's owner.
 *
 * Calls: ratelimit_shmem.c (the hash, its locks, its latch), sets
 * sipcall_rl_in_flusher (ratelimit_invalidate.c), and writes through
 * privileged.c and util.c.  Nothing in the rate-limit family calls it;
 * _PG_init() registers it (sipcall_ratelimit_flusher_register).
 *
 * Copyright (c) 2026, the sipcall authors
 *
 * IDENTIFICATION
 *		src/ratelimit_flusher.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "privileged.h"
#include "ratelimit.h"
#include "sipcall.h"

PGDLLEXPORT void sipcall_ratelimit_flusher_main(Datum main_arg);

/* one entry's state, copied for writing */
typedef struct RlFlushItem
{
	RlKey		key;
	uint32		hash;
	uint64		incarnation;
	int32		count;
	int32		minutes;
	bool		has_window;
	bool		has_row;
	TransactionId last_xmin;
	TimestampTz window_start;
	bool		written;		/* after the write: did it land? */
	bool		retry;			/* not written: its row was locked */
	TransactionId new_xmin;
} RlFlushItem;

/* an eviction candidate */
typedef struct RlEvictItem
{
	RlKey		key;
	uint32		hash;
	uint64		incarnation;
	TimestampTz last_used;
} RlEvictItem;

static SPIPlanPtr update_plan = NULL;
static SPIPlanPtr insert_plan = NULL;
static SPIPlanPtr row_plan = NULL;
static SPIPlanPtr user_plan = NULL;
static MemoryContext flush_cxt = NULL;

static void rl_flush(void);
static void rl_evict(void);

/*
 * Called from _PG_init().  Only a preloaded library has shared counters to
 * flush.
 */
void
sipcall_ratelimit_flusher_register(void)
{
	BackgroundWorker worker;

	if (!process_shared_preload_libraries_in_progress)
		return;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS |
		BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 1;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "sipcall");
	snprintf(worker.bgw_function_name, BGW_MAXLEN,
			 "sipcall_ratelimit_flusher_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "sipcall rate limit flusher");
	snprintf(worker.bgw_type, BGW_MAXLEN, "sipcall rate limit flusher");
	worker.bgw_main_arg = (Datum) 0;
	worker.bgw_notify_pid = 0;
	RegisterBackgroundWorker(&worker);
}

/*
 * Collect the dirty entries, marking them flushing.  Never inlined: inside
 * rl_flush, whose PG_TRY reads only what this returns, gcc would take the
 * array it grows here for a local that longjmp may clobber (-Wclobbered).
 */
static pg_noinline RlFlushItem *
rl_collect(int *nitems)
{
	HASH_SEQ_STATUS status;
	RlEntry    *entry;
	RlFlushItem *items;
	int			n = 0;
	int			cap = 64;

	items = palloc(cap * sizeof(RlFlushItem));
	sipcall_rl_lock_all(LW_SHARED);
	hash_seq_init(&status, sipcall_rl_hash);
	while ((entry = hash_seq_search(&status)) != NULL)
	{
		RlFlushItem *it;

		SpinLockAcquire(&entry->mutex);
		if (!entry->dirty || entry->flushing)
		{
			SpinLockRelease(&entry->mutex);
			continue;
		}
		if (n == cap)
		{
			SpinLockRelease(&entry->mutex);
			cap *= 2;
			items = repalloc_huge(items, cap * sizeof(RlFlushItem));
			SpinLockAcquire(&entry->mutex);
		}
		it = &items[n++];
		it->key = entry->key;
		it->incarnation = entry->incarnation;
		it->count = entry->count;
		it->minutes = entry->minutes;
		it->has_window = entry->has_window;
		it->has_row = entry->has_row;
		it->last_xmin = entry->last_xmin;
		it->window_start = entry->window_start;
		it->written = false;
		it->retry = false;
		entry->dirty = false;
		entry->flushing = true;
		SpinLockRelease(&entry->mutex);
	}
	sipcall_rl_unlock_all();

	*nitems = n;
	return items;
}

/* After the transaction: clear "flushing", record xmins or drop entries. */
static void
rl_settle(RlFlushItem *items, int n, bool committed)
{
	int			i;

	for (i = 0; i < n; i++)
	{
		RlFlushItem *it = &items[i];
		LWLock	   *lock = sipcall_rl_partition_lock(it->hash);
		RlEntry    *entry;
		bool		drop = false;

		LWLockAcquire(lock, LW_SHARED);
		entry = hash_search_with_hash_value(sipcall_rl_hash, &it->key,
											it->hash, HASH_FIND, NULL);
		if (entry != NULL)
		{
			SpinLockAcquire(&entry->mutex);
			if (entry->incarnation == it->incarnation)
			{
				entry->flushing = false;
				if (!committed || it->retry)
					entry->dirty = true;
				else if (it->written)
				{
					entry->has_row = true;
					entry->last_xmin = it->new_xmin;
				}
				else
					drop = true;
			}
			SpinLockRelease(&entry->mutex);
		}
		LWLockRelease(lock);

		/* the row was changed by somebody else: reload it on next use */
		if (drop)
			sipcall_rl_remove_entry(&it->key, it->hash, it->incarnation);
	}
}

static void
rl_prepare_plans(void)
{
	Oid			uargs[6] = {UUIDOID, TEXTOID, INT4OID, TIMESTAMPTZOID, INT4OID, XIDOID};
	Oid			iargs[5] = {UUIDOID, TEXTOID, INT4OID, TIMESTAMPTZOID, INT4OID};
	Oid			rargs[3] = {UUIDOID, TEXTOID, XIDOID};

	/* the row is locked first, skipping it if somebody else holds it */
	if (update_plan == NULL)
	{
		update_plan = sipcall_spi_keep_plan("UPDATE sipcall.rate_limits r"
								  "   SET request_count = $3, window_start = $4,"
								  "       window_duration_minutes = $5"
								  " WHERE r.user_id = $1 AND r.endpoint = $2 AND r.xmin = $6"
								  "   AND r.ctid = (SELECT l.ctid FROM sipcall.rate_limits l"
								  "                  WHERE l.user_id = $1 AND l.endpoint = $2"
								  "                    FOR NO KEY UPDATE SKIP LOCKED)"
								  " RETURNING r.xmin",
								  6, uargs, 0);
	}
	if (insert_plan == NULL)
	{
		insert_plan = sipcall_spi_keep_plan("INSERT INTO sipcall.rate_limits"
								  "   (user_id, endpoint, request_count, window_start,"
								  "    window_duration_minutes)"
								  " SELECT u.id, $2, $3, $4, $5 FROM sipcall.users u"
								  "  WHERE u.id = $1 FOR KEY SHARE SKIP LOCKED"
								  " ON CONFLICT (user_id, endpoint) DO NOTHING"
								  " RETURNING xmin",
								  5, iargs, 0);
	}
	/* after a write that did not land: was the row (or user) only locked? */
	if (row_plan == NULL)
	{
		row_plan = sipcall_spi_keep_plan("SELECT 1 FROM sipcall.rate_limits"
								  " WHERE user_id = $1 AND endpoint = $2 AND xmin = $3",
								  3, rargs, 0);
	}
	if (user_plan == NULL)
	{
		user_plan = sipcall_spi_keep_plan("SELECT 1 FROM sipcall.users u"
								  " WHERE u.id = $1 AND NOT EXISTS"
								  "  (SELECT 1 FROM sipcall.rate_limits r"
								  "    WHERE r.user_id = $1 AND r.endpoint = $2)",
								  2, rargs, 0);
	}
}

/* Write the items in the current transaction. */
static void
rl_write(RlFlushItem *items, int n)
{
	int			i;

	rl_prepare_plans();
	for (i = 0; i < n; i++)
	{
		RlFlushItem *it = &items[i];
		Datum		values[6];
		char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
		int			len = strnlen(it->key.endpoint, RL_ENDPOINT_LEN);
		int			ret;
		bool		isnull;

		values[0] = UUIDPGetDatum(&it->key.user_id);
		values[1] = PointerGetDatum(cstring_to_text_with_len(it->key.endpoint, len));
		values[2] = Int32GetDatum(it->count);
		values[3] = TimestampTzGetDatum(it->window_start);
		if (!it->has_window)
			nulls[3] = 'n';
		values[4] = Int32GetDatum(it->minutes);
		values[5] = TransactionIdGetDatum(it->last_xmin);

		if (it->has_row)
		{
			ret = SPI_execute_plan(update_plan, values, nulls, false, 1);
			if (ret != SPI_OK_UPDATE_RETURNING)
				elog(ERROR, "SPI_execute_plan returned %s", SPI_result_code_string(ret));
		}
		else
		{
			ret = SPI_execute_plan(insert_plan, values, nulls, false, 1);
			if (ret != SPI_OK_INSERT_RETURNING)
				elog(ERROR, "SPI_execute_plan returned %s", SPI_result_code_string(ret));
		}
		if (SPI_processed == 1)
		{
			it->written = true;
			it->new_xmin = DatumGetTransactionId(SPI_getbinval(SPI_tuptable->vals[0],
															   SPI_tuptable->tupdesc,
															   1, &isnull));
			SPI_freetuptable(SPI_tuptable);
			continue;
		}
		SPI_freetuptable(SPI_tuptable);

		/*
		 * Not written.  If the row is still the one the entry last saw (or,
		 * for a new row, the user is there and no row), it was skipped
		 * because somebody holds it locked: try again at the next flush.
		 * Otherwise somebody changed it, and the entry is dropped.
		 */
		if (it->has_row)
		{
			values[2] = values[5];	/* $3: the xmin last seen */
			ret = SPI_execute_plan(row_plan, values, NULL, false, 1);
		}
		else
			ret = SPI_execute_plan(user_plan, values, NULL, false, 1);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "SPI_execute_plan returned %s", SPI_result_code_string(ret));
		it->retry = SPI_processed > 0;
		SPI_freetuptable(SPI_tuptable);
	}
}

/*
 * One flush.  Errors are caught: the transaction is rolled back, the
 * entries are marked dirty again and the next flush retries.
 */
static void
rl_flush(void)
{
	RlFlushItem *items;
	int			n;
	int			i;
	MemoryContext oldcxt;
	volatile bool have_table = false;

	MemoryContextReset(flush_cxt);
	oldcxt = MemoryContextSwitchTo(flush_cxt);
	items = rl_collect(&n);
	MemoryContextSwitchTo(oldcxt);
	if (n == 0)
		return;
	for (i = 0; i < n; i++)
		items[i].hash = get_hash_value(sipcall_rl_hash, &items[i].key);

	PG_TRY();
	{
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		PushActiveSnapshot(GetTransactionSnapshot());
		pgstat_report_activity(STATE_RUNNING, "flushing rate limit counters");
		/* row locks are skipped; wait for any other lock only so long */
		(void) set_config_option("lock_timeout",
								 psprintf("%d", sipcall_lock_timeout),
								 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_LOCAL,
								 true, 0, false);

		have_table = OidIsValid(sipcall_relid("rate_limits", true));
		if (have_table)
		{
			SipcallPrivileged priv;

			sipcall_privileged_enter(&priv);
			rl_write(items, n);
			sipcall_privileged_leave(&priv);
		}

		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
		pgstat_report_stat(false);
		pgstat_report_activity(STATE_IDLE, NULL);
	}
	PG_CATCH();
	{
		sipcall_report_and_abort();
		pgstat_report_activity(STATE_IDLE, NULL);
		rl_settle(items, n, false);
		return;
	}
	PG_END_TRY();

	if (!have_table)
	{
		/* the extension is gone: its counters mean nothing any more */
		sipcall_rl_remove_all();
		return;
	}
	rl_settle(items, n, true);
}

static int
rl_evict_cmp(const void *a, const void *b)
{
	TimestampTz ta = ((const RlEvictItem *) a)->last_used;
	TimestampTz tb = ((const RlEvictItem *) b)->last_used;

	return (ta > tb) - (ta < tb);
}

/*
 * When the hash is over 7/8 full (or a backend found it full), evict the
 * least recently used clean entries until it is 3/4 full.  Dirty entries
 * stay; the next flush makes them clean.
 */
static void
rl_evict(void)
{
	uint32		max = (uint32) sipcall_ratelimit_max_entries;
	uint32		used = pg_atomic_read_u32(&sipcall_rl_shared->nentries);
	uint32		target = max - max / 4;
	HASH_SEQ_STATUS status;
	RlEntry    *entry;
	RlEvictItem *items;
	int			n = 0;
	int			i;
	uint32		goal;

	if (pg_atomic_exchange_u32(&sipcall_rl_shared->need_evict, 0) == 0 &&
		used <= max - max / 8)
		return;
	if (used <= target)
		return;
	goal = used - target;

	MemoryContextReset(flush_cxt);
	items = MemoryContextAllocHuge(flush_cxt, (Size) used * sizeof(RlEvictItem) + 1);
	sipcall_rl_lock_all(LW_SHARED);
	hash_seq_init(&status, sipcall_rl_hash);
	while ((entry = hash_seq_search(&status)) != NULL)
	{
		if (n >= (int) used)
		{
			hash_seq_term(&status);
			break;
		}
		SpinLockAcquire(&entry->mutex);
		if (!entry->dirty && !entry->flushing)
		{
			items[n].key = entry->key;
			items[n].incarnation = entry->incarnation;
			items[n].last_used = entry->last_used;
			n++;
		}
		SpinLockRelease(&entry->mutex);
	}
	sipcall_rl_unlock_all();

	qsort(items, n, sizeof(RlEvictItem), rl_evict_cmp);
	for (i = 0; i < n && (uint32) i < goal; i++)
	{
		RlEvictItem *it = &items[i];
		uint32		hash = get_hash_value(sipcall_rl_hash, &it->key);
		LWLock	   *lock = sipcall_rl_partition_lock(hash);

		sipcall_worker_forget_cancel();
		CHECK_FOR_INTERRUPTS();
		LWLockAcquire(lock, LW_EXCLUSIVE);
		entry = hash_search_with_hash_value(sipcall_rl_hash, &it->key, hash,
											HASH_FIND, NULL);
		/* the partition lock keeps out checks: the spinlock is not needed */
		if (entry != NULL && entry->incarnation == it->incarnation &&
			!entry->dirty && !entry->flushing)
		{
			hash_search_with_hash_value(sipcall_rl_hash, &it->key, hash,
										HASH_REMOVE, NULL);
			pg_atomic_fetch_sub_u32(&sipcall_rl_shared->nentries, 1);
		}
		LWLockRelease(lock);
	}
}

/*
 * Sleep on the latch for at most timeout_ms, then handle interrupts and a
 * pending reload.
 */
static void
rl_wait(long timeout_ms)
{
	(void) WaitLatch(MyLatch,
					 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					 timeout_ms, PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
	/* a cancel ends a flush (caught in rl_flush), never the worker */
	sipcall_worker_forget_cancel();
	CHECK_FOR_INTERRUPTS();

	if (ConfigReloadPending)
	{
		ConfigReloadPending = false;
		ProcessConfigFile(PGC_SIGHUP);
	}
}

/*
 * Wait, unconnected, until a counter exists: counters live only in the
 * database sipcall.database, so then it exists (and has sipcall).  Until
 * then the database may well not exist yet.
 */
static void
rl_wait_for_counters(void)
{
	while (pg_atomic_read_u32(&sipcall_rl_shared->nentries) == 0)
	{
		if (ShutdownRequestPending)
			proc_exit(0);
		rl_wait(RL_FLUSH_INTERVAL_MS);
	}
}

/* A flusher that died mid-flush left entries marked: write them again. */
static void
rl_unmark_flushing(void)
{
	HASH_SEQ_STATUS status;
	RlEntry    *entry;

	sipcall_rl_lock_all(LW_SHARED);
	hash_seq_init(&status, sipcall_rl_hash);
	while ((entry = hash_seq_search(&status)) != NULL)
	{
		SpinLockAcquire(&entry->mutex);
		if (entry->flushing)
		{
			entry->flushing = false;
			entry->dirty = true;
		}
		SpinLockRelease(&entry->mutex);
	}
	sipcall_rl_unlock_all();
}

/*
 * Shutdown: flush, wait (at most 5 s) for the client backends of this
 * database, which the postmaster is stopping at the same time, to be
 * gone, then flush what they counted last.
 */
static void
rl_flush_at_shutdown(void)
{
	int			waited;

	sipcall_rl_set_flusher_latch(NULL);
	rl_flush();
	for (waited = 0; waited < 5000 && CountDBConnections(MyDatabaseId) > 0;
		 waited += 10)
		pg_usleep(10 * 1000L);
	rl_flush();
}

void
sipcall_ratelimit_flusher_main(Datum main_arg)
{
	TimestampTz next_flush;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	BackgroundWorkerUnblockSignals();

	sipcall_rl_in_flusher = true;
	sipcall_rl_set_flusher_latch(MyLatch);

	rl_wait_for_counters();
	BackgroundWorkerInitializeConnection(sipcall_database, NULL, 0);
	/* our own settings, not those ALTER DATABASE/ROLE ... SET gave */
	sipcall_worker_pin_settings();
	pgstat_report_appname("sipcall rate limit flusher");

	flush_cxt = AllocSetContextCreate(TopMemoryContext,
									  "sipcall rate limit flush",
									  ALLOCSET_DEFAULT_SIZES);

	rl_unmark_flushing();

	next_flush = GetCurrentTimestamp();
	while (!ShutdownRequestPending)
	{
		TimestampTz now = GetCurrentTimestamp();
		long		timeout;

		if (now >= next_flush)
		{
			rl_flush();
			rl_evict();
			next_flush = TimestampTzPlusMilliseconds(next_flush,
													 RL_FLUSH_INTERVAL_MS);
			now = GetCurrentTimestamp();
			if (next_flush < now)
				next_flush = now;
		}
		else if (pg_atomic_read_u32(&sipcall_rl_shared->need_evict) != 0)
		{
			/* a backend found the hash full: flush to make entries clean */
			rl_flush();
			rl_evict();
		}

		timeout = TimestampDifferenceMilliseconds(now, next_flush);
		rl_wait(Max(timeout, 1));
	}

	rl_flush_at_shutdown();
	proc_exit(0);
}
