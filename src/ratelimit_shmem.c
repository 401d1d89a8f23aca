/*-------------------------------------------------------------------------
 *
 * ratelimit_shmem.c
 *		The rate limiter's shared memory: requesting and creating it, the
 *		shared hash of counters and its partition locks, and removing
 *		entries from it.
 *
 * Locking rules.  The hash is split into RL_PARTITIONS partitions, each
 * with its own LWLock (tranche "sipcall_ratelimit").  Finding an entry
 * needs its partition lock in shared mode; adding or removing one needs it
 * exclusively.  The counters of an entry are read and changed only under
 * the entry's spinlock, with its partition lock held in either mode.  When
 * several partition locks are taken, they are taken in ascending order.
 * A loader reads the table without any lock and then installs the entry
 * only if the partition's invalidation counter has not moved meanwhile,
 * so that an edit committed during the load is never lost.
 *
 * Calls: nothing else of the rate-limit family.  The checks, the
 * invalidation trigger and the flusher call this file; a check that finds
 * the hash full wakes the flusher through sipcall_rl_ask_for_room().
 *
 * Copyright (c) 2026, the sipcall authors
 *
 * IDENTIFICATION
 *		src/ratelimit_shmem.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/hsearch.h"
#include "utils/uuid.h"

#include "ratelimit.h"
#include "sipcall.h"

/*---- shared state ----*/

RlShared   *sipcall_rl_shared = NULL;
HTAB	   *sipcall_rl_hash = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/*---- forward declarations ----*/

static void rl_shmem_request(void);
static void rl_shmem_startup(void);

/*---- set-up ----*/

/*
 * Called from _PG_init().  Only a preloaded library gets shared memory;
 * otherwise every check takes the table path.  The flusher registers
 * itself (sipcall_ratelimit_flusher_register).
 */
void
sipcall_ratelimit_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		return;

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = rl_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = rl_shmem_startup;
}

static Size
rl_shmem_size(void)
{
	return add_size(MAXALIGN(sizeof(RlShared)),
					hash_estimate_size(sipcall_ratelimit_max_entries,
									   sizeof(RlEntry)));
}

static void
rl_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(rl_shmem_size());
	RequestNamedLWLockTranche(RL_TRANCHE_NAME, RL_PARTITIONS);
}

static void
rl_shmem_startup(void)
{
	bool		found;
	HASHCTL		info;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);

	sipcall_rl_shared = ShmemInitStruct("sipcall rate limits",
										sizeof(RlShared), &found);
	if (!found)
	{
		int			i;

		sipcall_rl_shared->locks = GetNamedLWLockTranche(RL_TRANCHE_NAME);
		SpinLockInit(&sipcall_rl_shared->mutex);
		sipcall_rl_shared->relid = InvalidOid;
		sipcall_rl_shared->flusher_latch = NULL;
		pg_atomic_init_u32(&sipcall_rl_shared->nentries, 0);
		pg_atomic_init_u32(&sipcall_rl_shared->need_evict, 0);
		pg_atomic_init_u64(&sipcall_rl_shared->next_incarnation, 1);
		for (i = 0; i < RL_PARTITIONS; i++)
			pg_atomic_init_u64(&sipcall_rl_shared->inval_counter[i], 0);
	}

	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(RlKey);
	info.entrysize = sizeof(RlEntry);
	info.num_partitions = RL_PARTITIONS;
	sipcall_rl_hash = ShmemInitHash("sipcall rate limit hash",
									sipcall_ratelimit_max_entries,
									sipcall_ratelimit_max_entries,
									&info,
									HASH_ELEM | HASH_BLOBS | HASH_PARTITION |
									HASH_FIXED_SIZE);

	LWLockRelease(AddinShmemInitLock);
}

/*---- helpers shared with the flusher ----*/

/* the partition lock of a hash code */
LWLock *
sipcall_rl_partition_lock(uint32 hash)
{
	return &sipcall_rl_shared->locks[hash % RL_PARTITIONS].lock;
}

/* lock every partition, in order */
void
sipcall_rl_lock_all(LWLockMode mode)
{
	int			i;

	for (i = 0; i < RL_PARTITIONS; i++)
		LWLockAcquire(&sipcall_rl_shared->locks[i].lock, mode);
}

void
sipcall_rl_unlock_all(void)
{
	int			i;

	for (i = RL_PARTITIONS - 1; i >= 0; i--)
		LWLockRelease(&sipcall_rl_shared->locks[i].lock);
}

/*
 * Remove one entry (if it is there and, when incarnation is not 0, still the
 * same incarnation); its unflushed counts are dropped.  Bumps the
 * partition's invalidation counter, so that a load in progress retries.
 */
void
sipcall_rl_remove_entry(const RlKey *key, uint32 hash, uint64 incarnation)
{
	LWLock	   *lock = sipcall_rl_partition_lock(hash);
	RlEntry    *entry;

	LWLockAcquire(lock, LW_EXCLUSIVE);
	pg_atomic_fetch_add_u64(&sipcall_rl_shared->inval_counter[hash % RL_PARTITIONS], 1);
	entry = hash_search_with_hash_value(sipcall_rl_hash, key, hash,
										HASH_FIND, NULL);
	if (entry != NULL &&
		(incarnation == 0 || entry->incarnation == incarnation))
	{
		hash_search_with_hash_value(sipcall_rl_hash, key, hash,
									HASH_REMOVE, NULL);
		pg_atomic_fetch_sub_u32(&sipcall_rl_shared->nentries, 1);
	}
	LWLockRelease(lock);
}

/*
 * Set (or, with NULL, clear) the latch the flusher waits on; only the
 * flusher calls this.
 */
void
sipcall_rl_set_flusher_latch(Latch *latch)
{
	SpinLockAcquire(&sipcall_rl_shared->mutex);
	sipcall_rl_shared->flusher_latch = latch;
	SpinLockRelease(&sipcall_rl_shared->mutex);
}

/*
 * The hash is full: ask the flusher to make room, and wake it if it is
 * running.
 */
void
sipcall_rl_ask_for_room(void)
{
	Latch	   *latch;

	pg_atomic_write_u32(&sipcall_rl_shared->need_evict, 1);
	SpinLockAcquire(&sipcall_rl_shared->mutex);
	latch = sipcall_rl_shared->flusher_latch;
	SpinLockRelease(&sipcall_rl_shared->mutex);
	if (latch)
		SetLatch(latch);
}

/* Remove every entry (TRUNCATE, a new rate_limits table). */
void
sipcall_rl_remove_all(void)
{
	HASH_SEQ_STATUS status;
	RlEntry    *entry;
	int			i;

	sipcall_rl_lock_all(LW_EXCLUSIVE);
	for (i = 0; i < RL_PARTITIONS; i++)
		pg_atomic_fetch_add_u64(&sipcall_rl_shared->inval_counter[i], 1);
	hash_seq_init(&status, sipcall_rl_hash);
	while ((entry = hash_seq_search(&status)) != NULL)
	{
		hash_search(sipcall_rl_hash, &entry->key, HASH_REMOVE, NULL);
		pg_atomic_fetch_sub_u32(&sipcall_rl_shared->nentries, 1);
	}
	sipcall_rl_unlock_all();
}

static int
rl_uuid_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(pg_uuid_t));
}

/*
 * Remove every entry of the given users (erased or renumbered): one pass
 * over the hash, however many users.
 */
void
sipcall_rl_remove_users(pg_uuid_t *users, int nusers)
{
	HASH_SEQ_STATUS status;
	RlEntry    *entry;
	int			i;

	qsort(users, nusers, sizeof(pg_uuid_t), rl_uuid_cmp);
	sipcall_rl_lock_all(LW_EXCLUSIVE);
	for (i = 0; i < RL_PARTITIONS; i++)
		pg_atomic_fetch_add_u64(&sipcall_rl_shared->inval_counter[i], 1);
	hash_seq_init(&status, sipcall_rl_hash);
	while ((entry = hash_seq_search(&status)) != NULL)
	{
		if (bsearch(&entry->key.user_id, users, nusers, sizeof(pg_uuid_t),
					rl_uuid_cmp) != NULL)
		{
			hash_search(sipcall_rl_hash, &entry->key, HASH_REMOVE, NULL);
			pg_atomic_fetch_sub_u32(&sipcall_rl_shared->nentries, 1);
		}
	}
	sipcall_rl_unlock_all();
}
