/*-------------------------------------------------------------------------
 *
 * ratelimit.c
 *		sipcall.check_rate_limit() and sipcall.rate_limit_status(): exact
 *		fixed-window rate limiting per (user_id, endpoint).
 *
 * Two paths give the same answers:
 *
 *  - The table path: one INSERT ... ON CONFLICT DO UPDATE on
 *    sipcall.rate_limits per check; the row lock makes concurrent checks of
 *    one key exact.  Used without shared_preload_libraries, in every
 *    database but the one named by sipcall.database, for endpoints longer
 *    than RL_ENDPOINT_LEN bytes, and while the shared hash is full.
 *
 *  - The shared path (preloaded, database sipcall.database): the live
 *    counters sit in a fixed-size shared hash (sipcall.ratelimit_max_entries
 *    entries).  The first check of a key loads it from rate_limits (and
 *    checks that the user exists); later checks touch only shared memory,
 *    with no SPI, no WAL and no heavyweight lock.  The flusher, a background
 *    worker defined in ratelimit_flusher.c, writes dirty counters back to
 *    rate_limits every RL_FLUSH_INTERVAL_MS, and once more on shutdown.
 *
 * Operator edits are handled by ratelimit_invalidate.c, the shared hash
 * and its locking rules by ratelimit_shmem.c.
 *
 * Calls: ratelimit_shmem.c (the hash, its locks, waking the flusher),
 * privileged.c and util.c (SPI as the extension's owner).  Never the
 * flusher itself.
 *
 * From the table path to the shared path.  A table-path check's increment
 * is uncommitted until the caller's transaction ends, and a loader's fresh
 * snapshot neither sees it nor waits for it.  So each key that could live
 * in the hash has a heavyweight lock, sipcall's private lock (RL_LOCK_KEY1,
 * hash of the key) of the database (sipcall_private_locktag: no SQL
 * caller can take or hold it): a table-path check of such a key
 * holds it in SHARE mode until its transaction ends, and a loader takes it
 * in EXCLUSIVE mode, without waiting, for the length of the load.  A
 * loader that cannot have it (a table-path check of the key is in flight)
 * counts on the table path too, where the row lock orders it after the
 * others; so does a transaction that holds it itself.  So a key is loaded
 * only once every table-path increment of it has committed (or aborted),
 * and none starts during the load.  Nobody waits for the lock but a
 * table-path check, for a load to end.
 *
 * Copyright (c) 2026, the sipcall authors
 *
 * IDENTIFICATION
 *		src/ratelimit.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "common/hashfn.h"
#include "common/int.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "storage/lwlock.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "privileged.h"
#include "ratelimit.h"
#include "sipcall.h"

PG_FUNCTION_INFO_V1(sipcall_check_rate_limit);
PG_FUNCTION_INFO_V1(sipcall_rate_limit_status);

/* the lock of a key: ('SIPR', hash of the key), out of SQL's reach */
#define RL_LOCK_KEY1			0x53495052

/*---- per-backend caches ----*/

/* is this backend's database the one the shared path serves? */
typedef enum RlDbState
{
	RL_DB_UNKNOWN,
	RL_DB_SHARED,
	RL_DB_TABLE
} RlDbState;

static RlDbState rl_db_state = RL_DB_UNKNOWN;
static Oid	rl_relid = InvalidOid;	/* rate_limits, as this backend knows it */
static bool rl_relid_valid = false;
static bool rl_relcache_cb_registered = false;

static SPIPlanPtr rl_table_plan = NULL;
static SPIPlanPtr rl_load_plan = NULL;
static SPIPlanPtr rl_user_plan = NULL;

/*---- forward declarations ----*/

static bool rl_apply(RlEntry *entry, int32 max_requests, int32 window_minutes,
					 TimestampTz now);
static bool rl_window_live(TimestampTz start, int32 minutes, TimestampTz now,
						   TimestampTz *reset_at);
static bool rl_shared_check(RlKey *key, uint32 hash, int32 max_requests,
							int32 window_minutes, TimestampTz now,
							bool *allowed);
static bool rl_table_check(pg_uuid_t *user_id, text *endpoint,
						   int32 max_requests, int32 window_minutes,
						   TimestampTz now);
static void rl_key_locktag(LOCKTAG *tag, uint32 hash);
static void rl_raise_unknown_user(void);
static void rl_spi_begin(SipcallPrivileged *priv);
static void rl_spi_end(SipcallPrivileged *priv);
static void rl_relcache_callback(Datum arg, Oid relid);

/*---- argument checks and keys ----*/

static void
rl_check_args(int32 max_requests, int32 window_minutes)
{
	if (max_requests < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_requests must not be negative"),
				 errdetail("The value given was %d.", max_requests)));
	if (window_minutes <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("window_minutes must be greater than zero"),
				 errdetail("The value given was %d.", window_minutes)));
}

/* Build the hash key; false if the endpoint is too long for the hash. */
bool
sipcall_rl_make_key(pg_uuid_t *user_id, text *endpoint, RlKey *key)
{
	int			len = VARSIZE_ANY_EXHDR(endpoint);

	if (len > RL_ENDPOINT_LEN)
		return false;
	memset(key, 0, sizeof(RlKey));
	memcpy(&key->user_id, user_id, sizeof(pg_uuid_t));
	memcpy(key->endpoint, VARDATA_ANY(endpoint), len);
	return true;
}

/*
 * Is the window that started at start, minutes long, still running at now?
 * If so, *reset_at (when not NULL) is its end.  A window whose end cannot
 * be represented never ends.
 */
static bool
rl_window_live(TimestampTz start, int32 minutes, TimestampTz now,
			   TimestampTz *reset_at)
{
	TimestampTz end;

	if (TIMESTAMP_IS_NOBEGIN(start))
		return false;
	if (TIMESTAMP_IS_NOEND(start) ||
		pg_add_s64_overflow(start, (int64) minutes * USECS_PER_MINUTE, &end) ||
		!IS_VALID_TIMESTAMP(end))
		end = DT_NOEND;
	if (now >= end)
		return false;
	if (reset_at)
		*reset_at = end;
	return true;
}

/*
 * The decision, on an entry whose spinlock the caller holds: count the
 * request if allowed.
 */
static bool
rl_apply(RlEntry *entry, int32 max_requests, int32 window_minutes,
		 TimestampTz now)
{
	entry->last_used = now;
	if (max_requests == 0)
		return false;
	if (!entry->has_window ||
		!rl_window_live(entry->window_start, window_minutes, now, NULL))
	{
		entry->has_window = true;
		entry->window_start = now;
		entry->count = 1;
	}
	else if (entry->count < max_requests)
		entry->count++;
	else
		return false;
	entry->minutes = window_minutes;
	entry->dirty = true;
	return true;
}

/*---- which path ----*/

/*
 * The shared path serves only the database named by sipcall.database, and
 * only the rate_limits table it was loaded from: when the extension is
 * dropped and created again, the first check to notice empties the hash.
 */
bool
sipcall_rl_shared_usable(void)
{
	if (sipcall_rl_shared == NULL)
		return false;
	if (rl_db_state == RL_DB_UNKNOWN)
	{
		Oid			dboid = get_database_oid(sipcall_database, true);

		rl_db_state = (OidIsValid(dboid) && dboid == MyDatabaseId) ?
			RL_DB_SHARED : RL_DB_TABLE;
	}
	if (rl_db_state != RL_DB_SHARED)
		return false;
	if (!rl_relid_valid)
	{
		Oid			relid = sipcall_relid("rate_limits", false);
		Oid			old;

		if (!rl_relcache_cb_registered)
		{
			CacheRegisterRelcacheCallback(rl_relcache_callback, (Datum) 0);
			rl_relcache_cb_registered = true;
		}
		SpinLockAcquire(&sipcall_rl_shared->mutex);
		old = sipcall_rl_shared->relid;
		sipcall_rl_shared->relid = relid;
		SpinLockRelease(&sipcall_rl_shared->mutex);
		if (OidIsValid(old) && old != relid)
			sipcall_rl_remove_all();
		rl_relid = relid;
		rl_relid_valid = true;
	}
	return true;
}

static void
rl_relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == rl_relid)
		rl_relid_valid = false;
}

/*---- SPI plans ----*/

/*
 * Connect SPI and run as the extension's owner with the pinned search_path
 * (sipcall_privileged_enter), so that nothing the caller put on their
 * search_path runs with the owner's rights.  Only the SPI paths pay for
 * this, never the shared fast path.
 */
static void
rl_spi_begin(SipcallPrivileged *priv)
{
	sipcall_privileged_enter(priv);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
}

static void
rl_spi_end(SipcallPrivileged *priv)
{
	SPI_finish();
	sipcall_privileged_leave(priv);
}

static SPIPlanPtr
rl_prepare(const char *sql, int nargs, Oid *argtypes)
{
	return sipcall_spi_keep_plan(sql, nargs, argtypes, 0);
}

static void
rl_raise_unknown_user(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
			 errmsg("user does not exist"),
			 errdetail("Rate limits are kept only for users in table \"sipcall.users\".")));
}

/*
 * Does the user exist?  The caller has connected SPI.
 */
static bool
rl_user_exists(pg_uuid_t *user_id)
{
	Oid			argtypes[1] = {UUIDOID};
	Datum		values[1];
	int			ret;

	if (rl_user_plan == NULL)
		rl_user_plan = rl_prepare("SELECT 1 FROM sipcall.users WHERE id = $1",
								  1, argtypes);
	values[0] = UUIDPGetDatum(user_id);
	ret = SPI_execute_plan(rl_user_plan, values, NULL, true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_plan returned %s", SPI_result_code_string(ret));
	return SPI_processed > 0;
}

/*---- the table path ----*/

/*
 * One statement: count the request in the user's row if allowed, creating
 * the row or restarting an expired window as needed.  Concurrent checks of
 * one key queue on the row lock (or on the unique index), so each sees the
 * count the previous one left.
 */
static bool
rl_table_check(pg_uuid_t *user_id, text *endpoint, int32 max_requests,
			   int32 window_minutes, TimestampTz now)
{
	SipcallPrivileged priv;
	Oid			argtypes[5] = {UUIDOID, TEXTOID, INT4OID, INT4OID, TIMESTAMPTZOID};
	Datum		values[5];
	bool		allowed;
	bool		isnull;
	int			ret;

	rl_spi_begin(&priv);

	if (max_requests == 0)
	{
		/* nothing can be counted; only the user must exist */
		if (!rl_user_exists(user_id))
			rl_raise_unknown_user();
		rl_spi_end(&priv);
		return false;
	}

	if (rl_table_plan == NULL)
		rl_table_plan = rl_prepare(
								   "WITH u AS (SELECT EXISTS (SELECT 1 FROM sipcall.users WHERE id = $1) AS ok), "
								   "ins AS ("
								   " INSERT INTO sipcall.rate_limits AS r"
								   "   (user_id, endpoint, request_count, window_start, window_duration_minutes)"
								   " SELECT $1, $2, 1, $5, $4 FROM u WHERE u.ok"
								   " ON CONFLICT (user_id, endpoint) DO UPDATE SET"
								   "   request_count = CASE WHEN r.window_start IS NULL"
								   "       OR r.window_start + pg_catalog.make_interval(mins => $4) <= $5"
								   "     THEN 1 ELSE coalesce(r.request_count, 0) + 1 END,"
								   "   window_start = CASE WHEN r.window_start IS NULL"
								   "       OR r.window_start + pg_catalog.make_interval(mins => $4) <= $5"
								   "     THEN $5 ELSE r.window_start END,"
								   "   window_duration_minutes = $4"
								   " WHERE r.window_start IS NULL"
								   "    OR r.window_start + pg_catalog.make_interval(mins => $4) <= $5"
								   "    OR coalesce(r.request_count, 0) < $3"
								   " RETURNING 1) "
								   "SELECT u.ok, EXISTS (SELECT 1 FROM ins) FROM u",
								   5, argtypes);

	values[0] = UUIDPGetDatum(user_id);
	values[1] = PointerGetDatum(endpoint);
	values[2] = Int32GetDatum(max_requests);
	values[3] = Int32GetDatum(window_minutes);
	values[4] = TimestampTzGetDatum(now);
	ret = SPI_execute_plan(rl_table_plan, values, NULL, false, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "SPI_execute_plan returned %s", SPI_result_code_string(ret));
	if (!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
									SPI_tuptable->tupdesc, 1, &isnull)))
		rl_raise_unknown_user();
	allowed = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
										 SPI_tuptable->tupdesc, 2, &isnull));

	rl_spi_end(&priv);
	return allowed;
}

/*---- the shared path ----*/

/* The fast path: true if the key was in the hash (and *allowed is set). */
static bool
rl_shared_check(RlKey *key, uint32 hash, int32 max_requests,
				int32 window_minutes, TimestampTz now, bool *allowed)
{
	LWLock	   *lock = sipcall_rl_partition_lock(hash);
	RlEntry    *entry;

	LWLockAcquire(lock, LW_SHARED);
	entry = hash_search_with_hash_value(sipcall_rl_hash, key, hash,
										HASH_FIND, NULL);
	if (entry == NULL)
	{
		LWLockRelease(lock);
		return false;
	}
	SpinLockAcquire(&entry->mutex);
	*allowed = rl_apply(entry, max_requests, window_minutes, now);
	SpinLockRelease(&entry->mutex);
	LWLockRelease(lock);
	return true;
}

/* What a load read from the tables. */
typedef struct RlLoaded
{
	bool		has_row;
	TransactionId xmin;
	int32		count;
	int32		minutes;
	bool		has_window;
	TimestampTz window_start;
} RlLoaded;

/*
 * Read a key's row, and check the user, with a fresh snapshot (so that a
 * check inside a REPEATABLE READ transaction still loads what was last
 * committed).  Raises 23503 for an unknown user.
 */
static void
rl_load_row(pg_uuid_t *user_id, text *endpoint, RlLoaded *loaded)
{
	SipcallPrivileged priv;
	Oid			argtypes[2] = {UUIDOID, TEXTOID};
	Datum		values[2];
	bool		isnull;
	int			ret;
	HeapTuple	tup;
	TupleDesc	desc;
	Datum		d;

	rl_spi_begin(&priv);

	if (rl_load_plan == NULL)
		rl_load_plan = rl_prepare(
								  "SELECT EXISTS (SELECT 1 FROM sipcall.users WHERE id = $1),"
								  " r.xmin, r.request_count, r.window_start, r.window_duration_minutes"
								  " FROM (VALUES (1)) v"
								  " LEFT JOIN sipcall.rate_limits r ON r.user_id = $1 AND r.endpoint = $2",
								  2, argtypes);

	values[0] = UUIDPGetDatum(user_id);
	values[1] = PointerGetDatum(endpoint);
	PushActiveSnapshot(GetLatestSnapshot());
	ret = SPI_execute_plan(rl_load_plan, values, NULL, true, 2);
	PopActiveSnapshot();
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "SPI_execute_plan returned %s, %lu rows",
			 SPI_result_code_string(ret), (unsigned long) SPI_processed);

	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	if (!DatumGetBool(SPI_getbinval(tup, desc, 1, &isnull)))
		rl_raise_unknown_user();

	memset(loaded, 0, sizeof(RlLoaded));
	d = SPI_getbinval(tup, desc, 2, &isnull);
	loaded->has_row = !isnull;
	if (loaded->has_row)
	{
		loaded->xmin = DatumGetTransactionId(d);
		d = SPI_getbinval(tup, desc, 3, &isnull);
		loaded->count = isnull ? 0 : DatumGetInt32(d);
		d = SPI_getbinval(tup, desc, 4, &isnull);
		loaded->has_window = !isnull;
		if (!isnull)
			loaded->window_start = DatumGetTimestampTz(d);
		d = SPI_getbinval(tup, desc, 5, &isnull);
		loaded->minutes = isnull ? 60 : DatumGetInt32(d);
	}

	rl_spi_end(&priv);
}

/*
 * Load a key into the hash and check it there.  False if the hash is full
 * (the caller then takes the table path, and the flusher is asked to make
 * room).
 */
static bool
rl_shared_load_and_check(pg_uuid_t *user_id, text *endpoint, RlKey *key,
						 uint32 hash, int32 max_requests,
						 int32 window_minutes, TimestampTz now,
						 bool *allowed)
{
	LWLock	   *lock = sipcall_rl_partition_lock(hash);
	pg_atomic_uint64 *counter =
		&sipcall_rl_shared->inval_counter[hash % RL_PARTITIONS];

	for (;;)
	{
		uint64		before;
		RlLoaded	loaded;
		RlEntry    *entry;
		bool		found;

		CHECK_FOR_INTERRUPTS();
		before = pg_atomic_read_u64(counter);
		pg_memory_barrier();
		rl_load_row(user_id, endpoint, &loaded);

		LWLockAcquire(lock, LW_EXCLUSIVE);
		if (pg_atomic_read_u64(counter) != before)
		{
			/* an edit committed while we read: read again */
			LWLockRelease(lock);
			continue;
		}
		entry = hash_search_with_hash_value(sipcall_rl_hash, key, hash,
											HASH_ENTER_NULL, &found);
		if (entry == NULL)
		{
			LWLockRelease(lock);
			sipcall_rl_ask_for_room();
			return false;
		}
		if (!found)
		{
			SpinLockInit(&entry->mutex);
			entry->incarnation =
				pg_atomic_fetch_add_u64(&sipcall_rl_shared->next_incarnation, 1);
			entry->has_row = loaded.has_row;
			entry->last_xmin = loaded.xmin;
			entry->count = loaded.count;
			entry->minutes = loaded.has_row ? loaded.minutes : window_minutes;
			entry->has_window = loaded.has_window;
			entry->window_start = loaded.window_start;
			entry->dirty = false;
			entry->flushing = false;
			entry->last_used = now;
			pg_atomic_fetch_add_u32(&sipcall_rl_shared->nentries, 1);
		}
		/* else another backend loaded it meanwhile: use its entry */
		SpinLockAcquire(&entry->mutex);
		*allowed = rl_apply(entry, max_requests, window_minutes, now);
		SpinLockRelease(&entry->mutex);
		LWLockRelease(lock);
		return true;
	}
}

/*
 * The heavyweight lock that orders a key's table-path checks before its
 * load into the hash (see the header comment).
 */
static void
rl_key_locktag(LOCKTAG *tag, uint32 hash)
{
	sipcall_private_locktag(tag, RL_LOCK_KEY1, hash);
}

/*---- SQL functions ----*/

/*
 * check_rate_limit(user_id uuid, endpoint text, max_requests integer,
 *					window_minutes integer DEFAULT 60) RETURNS boolean
 */
Datum
sipcall_check_rate_limit(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *user_id = PG_GETARG_UUID_P(0);
	text	   *endpoint = PG_GETARG_TEXT_PP(1);
	int32		max_requests = PG_GETARG_INT32(2);
	int32		window_minutes = PG_GETARG_INT32(3);
	TimestampTz now;
	RlKey		key;
	bool		allowed;

	rl_check_args(max_requests, window_minutes);
	now = GetCurrentTimestamp();

	if (sipcall_rl_shared_usable() &&
		sipcall_rl_make_key(user_id, endpoint, &key))
	{
		uint32		hash = get_hash_value(sipcall_rl_hash, &key);
		LOCKTAG		tag;

		if (rl_shared_check(&key, hash, max_requests, window_minutes, now,
							&allowed))
			PG_RETURN_BOOL(allowed);

		/*
		 * Load the key unless a table-path check of it is in flight: in
		 * another transaction (the lock is not available), or in this one
		 * (its increment is not committed yet, and the flusher could not
		 * write on top of it).
		 */
		rl_key_locktag(&tag, hash);
		if (!LockHeldByMe(&tag, ShareLock) &&
			LockAcquire(&tag, ExclusiveLock, false, true) != LOCKACQUIRE_NOT_AVAIL)
		{
			/* no table-path check of the key in flight: load it */
			if (rl_shared_load_and_check(user_id, endpoint, &key, hash,
										 max_requests, window_minutes, now,
										 &allowed))
			{
				LockRelease(&tag, ExclusiveLock, false);
				PG_RETURN_BOOL(allowed);
			}
			/* the hash is full: the table path, holding the lock shared */
			(void) LockAcquire(&tag, ShareLock, false, false);
			LockRelease(&tag, ExclusiveLock, false);
		}
		else
		{
			/*
			 * A table-path check of the key is in flight (or a load):
			 * count on the table path, after it.  A load that ended
			 * meanwhile put the key in the hash.
			 */
			(void) LockAcquire(&tag, ShareLock, false, false);
			if (rl_shared_check(&key, hash, max_requests, window_minutes,
								now, &allowed))
			{
				LockRelease(&tag, ShareLock, false);
				PG_RETURN_BOOL(allowed);
			}
		}
	}

	PG_RETURN_BOOL(rl_table_check(user_id, endpoint, max_requests,
								  window_minutes, now));
}

/* What rate_limit_status() reads of a key. */
typedef struct RlStatus
{
	bool		has_window;
	TimestampTz window_start;
	int32		count;
	int32		minutes;
	bool		has_minutes;	/* minutes is known */
} RlStatus;

/* Read a key's state: its shared entry if it has one, else its row. */
static void
rl_read_status(pg_uuid_t *user_id, text *endpoint, RlStatus *st)
{
	RlKey		key;
	bool		from_shared = false;

	memset(st, 0, sizeof(RlStatus));
	if (sipcall_rl_shared_usable() &&
		sipcall_rl_make_key(user_id, endpoint, &key))
	{
		uint32		hash = get_hash_value(sipcall_rl_hash, &key);
		LWLock	   *lock = sipcall_rl_partition_lock(hash);
		RlEntry    *entry;

		LWLockAcquire(lock, LW_SHARED);
		entry = hash_search_with_hash_value(sipcall_rl_hash, &key, hash,
											HASH_FIND, NULL);
		if (entry != NULL)
		{
			SpinLockAcquire(&entry->mutex);
			from_shared = true;
			st->has_window = entry->has_window;
			st->window_start = entry->window_start;
			st->count = entry->count;
			st->minutes = entry->minutes;
			st->has_minutes = true;
			SpinLockRelease(&entry->mutex);
		}
		LWLockRelease(lock);
	}

	if (!from_shared)
	{
		/* the table holds the whole truth for this key */
		RlLoaded	loaded;

		rl_load_row(user_id, endpoint, &loaded);
		st->has_window = loaded.has_window;
		st->window_start = loaded.window_start;
		st->count = loaded.count;
		st->minutes = loaded.minutes;
		st->has_minutes = loaded.has_row;
	}
}

/*
 * rate_limit_status(user_id uuid, endpoint text,
 *					 max_requests integer DEFAULT NULL,
 *					 window_minutes integer DEFAULT NULL)
 *	 RETURNS (request_count, window_start, window_duration_minutes,
 *			  reset_at, remaining)
 *
 * The live state, counting nothing.  A window that has run out reads as no
 * window (count 0): the next check starts a new one.  Not STRICT: NULL
 * max_requests/window_minutes mean "not given".
 */
Datum
sipcall_rate_limit_status(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *user_id;
	text	   *endpoint;
	TupleDesc	tupdesc;
	Datum		values[5];
	bool		nulls[5];
	RlStatus	st;
	TimestampTz reset_at = 0;
	TimestampTz now = GetCurrentTimestamp();

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	user_id = PG_GETARG_UUID_P(0);
	endpoint = PG_GETARG_TEXT_PP(1);
	if (!PG_ARGISNULL(2) && PG_GETARG_INT32(2) < 0)
		rl_check_args(PG_GETARG_INT32(2), 1);
	if (!PG_ARGISNULL(3))
		rl_check_args(0, PG_GETARG_INT32(3));

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	rl_read_status(user_id, endpoint, &st);

	if (!PG_ARGISNULL(3))
	{
		st.minutes = PG_GETARG_INT32(3);
		st.has_minutes = true;
	}
	if (!st.has_minutes || st.minutes <= 0)
		st.has_window = false;
	if (st.has_window &&
		!rl_window_live(st.window_start, st.minutes, now, &reset_at))
		st.has_window = false;
	if (!st.has_window)
		st.count = 0;

	memset(nulls, 0, sizeof(nulls));
	values[0] = Int32GetDatum(st.count);
	values[1] = TimestampTzGetDatum(st.window_start);
	nulls[1] = !st.has_window;
	values[2] = Int32GetDatum(st.minutes);
	nulls[2] = !st.has_minutes;
	values[3] = TimestampTzGetDatum(reset_at);
	nulls[3] = !st.has_window || TIMESTAMP_IS_NOEND(reset_at);
	if (PG_ARGISNULL(2))
		nulls[4] = true;
	else
		values[4] = Int32GetDatum(Max(PG_GETARG_INT32(2) - st.count, 0));

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
