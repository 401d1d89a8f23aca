/*-------------------------------------------------------------------------
 *
 * guc.c
 *		Every sipcall.* setting, defined in one place.
 *
 * The modules read the variables declared in sipcall.h.  Settings that
 * size shared memory or name the worker's database can only be set at
 * server start; intervals and timeouts are reloadable.
 *
 * Calls: nothing: every other module reads the variables it defines.
 *
 * Copyright (c) 2026, the sipcall authors
 *
 * IDENTIFICATION
 *		src/guc.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/guc.h"

#include "sipcall.h"

/*---- GUC variables ----*/

char	   *sipcall_database = NULL;
char	   *sipcall_role = NULL;
int			sipcall_maintenance_interval = 600;
int			sipcall_error_naptime = 60;
int			sipcall_lock_timeout = 100;
int			sipcall_maintenance_lock_timeout = 60 * 1000;
int			sipcall_ratelimit_max_entries = 65536;
int			sipcall_key_cache_size = 64;

void
sipcall_guc_init(void)
{
	/*
	 * PostgreSQL refuses (FATAL) to define a PGC_POSTMASTER setting in a
	 * library loaded after startup, as happens without
	 * shared_preload_libraries.  Then those settings size nothing and start
	 * nothing: define them as PGC_SIGHUP, with the same defaults.
	 */
	GucContext	postmaster = process_shared_preload_libraries_in_progress ?
		PGC_POSTMASTER : PGC_SIGHUP;

	DefineCustomStringVariable("sipcall.database",
							   "Database in which the sipcall background worker runs maintenance.",
							   NULL,
							   &sipcall_database,
							   "postgres",
							   postmaster,
							   0,
							   NULL, NULL, NULL);

	DefineCustomStringVariable("sipcall.role",
							   "Role as which the sipcall background worker connects (empty: the bootstrap superuser).",
							   NULL,
							   &sipcall_role,
							   "",
							   postmaster,
							   0,
							   NULL, NULL, NULL);

	DefineCustomIntVariable("sipcall.maintenance_interval",
							"Time between two maintenance cycles of the background worker; 0 disables it.",
							NULL,
							&sipcall_maintenance_interval,
							600, 0, 7 * 24 * 3600,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("sipcall.error_naptime",
							"Time the background worker waits before retrying after a failed cycle.",
							NULL,
							&sipcall_error_naptime,
							60, 1, 24 * 3600,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("sipcall.lock_timeout",
							"Longest wait for the lock that dropping or attaching a partition needs during maintenance.",
							"When the lock cannot be had in time, retention deletes rows instead and drops the partition on a later cycle.",
							&sipcall_lock_timeout,
							100, 1, 60 * 1000,
							PGC_SUSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("sipcall.maintenance_lock_timeout",
							"Longest wait for any lock during a maintenance cycle; 0 waits as long as it takes.",
							"A step that waits longer fails, and the next cycle tries it again.",
							&sipcall_maintenance_lock_timeout,
							60 * 1000, 0, INT_MAX,
							PGC_SUSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("sipcall.ratelimit_max_entries",
							"Number of (user, endpoint) counters kept in shared memory by check_rate_limit.",
							NULL,
							&sipcall_ratelimit_max_entries,
							65536, 128, 16 * 1024 * 1024,
							postmaster,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("sipcall.key_cache_size",
							"Number of derived encryption keys kept in shared memory (and per backend).",
							NULL,
							&sipcall_key_cache_size,
							64, 1, 4096,
							postmaster,
							0,
							NULL, NULL, NULL);

	MarkGUCPrefixReserved("sipcall");
}
