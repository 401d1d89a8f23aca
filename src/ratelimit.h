/*-------------------------------------------------------------------------
 *
 * ratelimit.h
 *		What the rate limiter's files share: the shared-memory layout and
 *		the functions each file offers the others.  The family:
 *
 *		ratelimit_shmem.c		shared memory, the hash and its locks
 *		ratelimit.c				the checks (table path, shared path, SQL)
 *		ratelimit_invalidate.c	the invalidation trigger, xact callbacks
 *		ratelimit_flusher.c		the background worker writing counters back
 *								to sipcall.rate_limits
 *
 * Calls go one way only: flusher -> invalidate -> checks -> shmem (each
 * may skip a step); shmem calls none of them.
 *
 * Locking rules: see the header of ratelimit_shmem.c.  In short, an entry is
 * found under its partition's LWLock (shared), added or removed under it
 * (exclusive), and its counters are read and written under its spinlock.
 *
 * Copyright (c) 2026, the sipcall authors
 *
 * IDENTIFICATION
 *		src/ratelimit.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef SIPCALL_RATELIMIT_H
#define SIPCALL_RATELIMIT_H

#include "port/atomics.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/spin.h"
#include "utils/hsearch.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

/*---- the shared-memory layout (created by ratelimit_shmem.c) ----*/

/* endpoints up to this many bytes live in shared memory */
#define RL_ENDPOINT_LEN			64
/* number of partitions (and LWLocks) of the shared hash; a power of 2 */
#define RL_PARTITIONS			32
/* how often the flusher writes dirty counters to rate_limits */
#define RL_FLUSH_INTERVAL_MS	500
#define RL_TRANCHE_NAME			"sipcall_ratelimit"

typedef struct RlKey
{
	pg_uuid_t	user_id;
	char		endpoint[RL_ENDPOINT_LEN];	/* zero-padded, no terminator */
} RlKey;

typedef struct RlEntry
{
	RlKey		key;			/* hash key, must be first */
	slock_t		mutex;			/* protects every field below */
	uint64		incarnation;	/* unique per load, never reused */
	int32		count;			/* requests counted in the window */
	int32		minutes;		/* window length last used */
	bool		has_window;		/* window_start is set */
	bool		has_row;		/* the table has a row, last_xmin is valid */
	bool		dirty;			/* counted since the last flush */
	bool		flushing;		/* the flusher is writing it */
	TransactionId last_xmin;	/* xmin of the row as last read or written */
	TimestampTz window_start;
	TimestampTz last_used;
} RlEntry;

typedef struct RlShared
{
	LWLockPadded *locks;		/* RL_PARTITIONS partition locks */
	slock_t		mutex;			/* protects relid, flusher_latch */
	Oid			relid;			/* rate_limits the entries came from */
	Latch	   *flusher_latch;
	pg_atomic_uint32 nentries;
	pg_atomic_uint32 need_evict;	/* a backend found the hash full */
	pg_atomic_uint64 next_incarnation;
	pg_atomic_uint64 inval_counter[RL_PARTITIONS];
} RlShared;

/*---- ratelimit_shmem.c: the shared hash, its locks, removing entries ----*/

extern RlShared *sipcall_rl_shared;
extern HTAB *sipcall_rl_hash;

extern LWLock *sipcall_rl_partition_lock(uint32 hash);
extern void sipcall_rl_lock_all(LWLockMode mode);
extern void sipcall_rl_unlock_all(void);
extern void sipcall_rl_remove_entry(const RlKey *key, uint32 hash,
									uint64 incarnation);
extern void sipcall_rl_remove_all(void);
extern void sipcall_rl_remove_users(pg_uuid_t *users, int nusers);
extern void sipcall_rl_set_flusher_latch(Latch *latch);
extern void sipcall_rl_ask_for_room(void);

/*---- ratelimit.c: the checks ----*/

extern bool sipcall_rl_shared_usable(void);
extern bool sipcall_rl_make_key(pg_uuid_t *user_id, text *endpoint,
								RlKey *key);

/*---- ratelimit_invalidate.c: the invalidation trigger ----*/

/* true in the flusher: its writes to rate_limits invalidate nothing */
extern bool sipcall_rl_in_flusher;

/*
 * ratelimit_flusher.c shares nothing within the family; _PG_init() calls
 * its sipcall_ratelimit_flusher_register() (sipcall.h).
 */

#endif							/* SIPCALL_RATELIMIT_H */
