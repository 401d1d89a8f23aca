/*-------------------------------------------------------------------------
 *
 * sipcall.c
 *		Module magic and the library's entry point.
 *
 * _PG_init() only calls each module's init function; every concern lives
 * in its own file (see README, "Source layout").
 *
 * Calls: each module's init or register function, nothing else.
 *
 * Copyright (c) 2026, the sipcall authors
 *
 * IDENTIFICATION
 *		src/sipcall.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"

#include "sipcall.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	/* nothing to set up while pg_upgrade runs */
	if (IsBinaryUpgrade)
		return;

	sipcall_guc_init();
	sipcall_crypto_init();
	sipcall_ratelimit_init();
	sipcall_ratelimit_flusher_register();
	sipcall_worker_init();
	sipcall_drop_guard_init();
}
