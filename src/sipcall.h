/*-------------------------------------------------------------------------
 *
 * sipcall.h
 *		Declarations shared by the modules of the sipcall extension.
 *
 * Each module owns one concern and exposes an init function that
 * _PG_init() (sipcall.c) calls, plus whatever C entry points other modules
 * need.  SQL-callable functions are declared by PG_FUNCTION_INFO_V1 in the
 * module that implements them.
 *
 * Copyright (c) 2026, the sipcall authors
 *
 * IDENTIFICATION
 *		src/sipcall.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef SIPCALL_H
#define SIPCALL_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "portability/instr_time.h"
#include "storage/lock.h"
#include "utils/date.h"
#include "utils/jsonb.h"

#define SIPCALL_EXTENSION_NAME	"sipcall"

/*---- guc.c: every sipcall.* setting ----*/

extern char *sipcall_database;
extern char *sipcall_role;
extern int	sipcall_maintenance_interval;
extern int	sipcall_error_naptime;
extern int	sipcall_lock_timeout;
extern int	sipcall_maintenance_lock_timeout;
extern int	sipcall_ratelimit_max_entries;
extern int	sipcall_key_cache_size;

extern void sipcall_guc_init(void);

/*---- dropguard.c ----*/

extern void sipcall_drop_guard_init(void);

/*---- util.c: catalog lookups, SPI ----*/

extern Oid	sipcall_extension_oid(bool missing_ok);
extern Oid	sipcall_extension_schema(const char *extname);
extern char *sipcall_extension_version(void);
extern Oid	sipcall_schema_oid(bool missing_ok);
extern Oid	sipcall_relid(const char *relname, bool missing_ok);
extern void sipcall_extension_owner(Oid *owner, Oid *nspoid);
extern uint64 sipcall_spi_exec(const char *sql, int nargs, Oid *argtypes,
							   Datum *values, const char *nulls, int expected);
extern int64 sipcall_spi_count(const char *sql, TimestampTz cutoff,
							   bool with_cutoff);
extern struct _SPI_plan *sipcall_spi_keep_plan(const char *sql, int nargs,
											   Oid *argtypes,
											   int cursor_options);
extern void sipcall_report_and_abort(void);
extern bool sipcall_try_in_subxact(void (*fn) (void *arg), void *arg,
								   const int *codes, int ncodes);
extern bool sipcall_lock_in_time(Oid *relids, int nrels, LOCKMODE mode);
extern bool sipcall_lock_all_in_time(const Oid *relids, const LOCKMODE *modes,
									 int nrels);
/* how a maintenance step waits for the first lock it takes on a table */
typedef enum SipcallLockWait
{
	SIPCALL_LOCK_WAIT,			/* as long as it takes, under the session's
								 * lock_timeout (the steps' SQL functions) */
	SIPCALL_LOCK_IN_TIME		/* at most sipcall.lock_timeout, or 55P03 (a
								 * maintenance cycle) */
} SipcallLockWait;
extern void sipcall_lock_step(Oid relid, LOCKMODE mode, SipcallLockWait wait);
extern void sipcall_private_locktag(LOCKTAG *tag, uint32 key1,
									uint32 key2);

/*---- settings.c: system_config, its reader and its keys ----*/

/* the keys sipcall reads */
#define SIPCALL_KEY_RETENTION_CALL_EVENTS	"retention.call_events"
#define SIPCALL_KEY_RETENTION_AUDIT_LOGS	"retention.audit_logs"
#define SIPCALL_KEY_RETENTION_CALLS			"retention.calls"
#define SIPCALL_KEY_PREMAKE_MONTHS			"partition.premake_months"
#define SIPCALL_KEY_KDF_SALT				"crypto.kdf_salt"

extern Jsonb *sipcall_config_value(const char *key);
/* the retention configured for a 'retention.*' key; NULL: keep forever */
extern Interval *sipcall_config_retention(const char *key);
extern int	sipcall_config_premake_months(void);
extern int	sipcall_config_kdf_salt(uint8 *salt, int min_len, int max_len);

/*---- jsontime.c: a timestamptz as to_jsonb() writes it ----*/

extern int	sipcall_json_timestamptz(char *buf, TimestampTz ts);

/*---- partition.c: monthly partitions ----*/

/* the tables sipcall partitions by month, and their partition keys */
typedef enum SipcallManagedTable
{
	SIPCALL_CALLS,
	SIPCALL_CALL_EVENTS,
	SIPCALL_AUDIT_LOGS,
	SIPCALL_NUM_MANAGED_TABLES
} SipcallManagedTable;

extern const char *const sipcall_managed_names[SIPCALL_NUM_MANAGED_TABLES];
extern const char *const sipcall_managed_keys[SIPCALL_NUM_MANAGED_TABLES];

extern int	sipcall_managed_table(Oid relid);
extern char *sipcall_partition_name(SipcallManagedTable table, int year,
									 int month);
extern Oid	sipcall_make_partition(SipcallManagedTable table, DateADT for_date);
extern void sipcall_partition_bounds(Oid relid, bool *is_default,
									 TimestampTz *lower, bool *lower_inf,
									 TimestampTz *upper, bool *upper_inf);

/*---- callkeys.c: the registry of calls, sipcall.call_keys ----*/

extern bool sipcall_call_keys_user(Oid nspoid, Datum call_id, Datum *user_id);
extern uint64 sipcall_call_keys_forget(const char *nsp, Datum ids);
extern int64 sipcall_call_keys_forget_before(const char *nsp,
											 const char *qcalls,
											 TimestampTz cutoff);

/*---- lifecycle.c: keeping the partitions ahead of the data ----*/

extern int32 sipcall_premake(SipcallLockWait wait);
extern int64 sipcall_drain_default(SipcallLockWait wait);

/*---- retention.c: the cleanups ----*/

extern int32 sipcall_retention_cleanup(SipcallManagedTable table,
									   SipcallLockWait wait);

/*---- crypto.c: encrypt_data, decrypt_data and their key caches ----*/

extern void sipcall_crypto_init(void);
extern void sipcall_crypto_act_for(Oid role);
extern bool sipcall_pgp_try_decrypt(Datum data, Datum key, Datum *result);

/*---- rowcount.c: exact row counts ----*/

extern int64 sipcall_count_rows(Oid relid, const char *qname);

/*---- ratelimit_*.c: check_rate_limit, shared counters (ratelimit.h) ----*/

/* ratelimit_shmem.c: request the shared counters (preloaded only) */
extern void sipcall_ratelimit_init(void);
/* ratelimit_flusher.c: register the worker that flushes them */
extern void sipcall_ratelimit_flusher_register(void);

/*---- summary.c: change tracking and the incremental daily summary ----*/

extern int64 sipcall_summary_refresh(SipcallLockWait wait);
extern void sipcall_summary_track_partition(const char *qpart);
extern void sipcall_summary_mark_days(const char *nsp, Datum days);

/*---- worker.c: the maintenance background worker ----*/

extern void sipcall_worker_init(void);
extern void sipcall_worker_forget_cancel(void);

#endif							/* SIPCALL_H */
