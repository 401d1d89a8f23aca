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

#include "utils/date.h"

#define SIPCALL_EXTENSION_NAME	"sipcall"

/*---- guc.c: every sipcall.* setting ----*/

extern char *sipcall_database;
extern char *sipcall_role;
extern int	sipcall_maintenance_interval;
extern int	sipcall_error_naptime;
extern int	sipcall_lock_timeout;
extern int	sipcall_ratelimit_max_entries;
extern int	sipcall_key_cache_size;

extern void sipcall_guc_init(void);

/*---- util.c: catalog lookups, running as the extension owner, SPI ----*/

/* the saved identity of the caller while running as the extension owner */
typedef struct SipcallSavedUser
{
	Oid			userid;
	int			sec_context;
} SipcallSavedUser;

extern Oid	sipcall_extension_oid(bool missing_ok);
extern Oid	sipcall_schema_oid(bool missing_ok);
extern Oid	sipcall_relid(const char *relname, bool missing_ok);
extern void sipcall_become_owner(SipcallSavedUser *saved);
extern void sipcall_restore_user(const SipcallSavedUser *saved);
extern uint64 sipcall_spi_exec(const char *sql, int nargs, Oid *argtypes,
							   Datum *values, const char *nulls, int expected);

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
extern Oid	sipcall_make_partition(SipcallManagedTable table, DateADT for_date);
extern void sipcall_register_for_dump(Oid relid);

/*---- crypto.c: encrypt_data, decrypt_data and their key caches ----*/

extern void sipcall_crypto_init(void);

#endif							/* SIPCALL_H */
