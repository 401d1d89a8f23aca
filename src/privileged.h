/*-------------------------------------------------------------------------
 *
 * privileged.h
 *		The one way sipcall runs anything with raised rights: as the
 *		extension's owner, in a security-restricted operation, with the
 *		search_path pinned to pg_catalog, the extension schema, pg_temp.
 *
 * Copyright (c) 2026, the sipcall authors
 *
 * IDENTIFICATION
 *		src/privileged.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef SIPCALL_PRIVILEGED_H
#define SIPCALL_PRIVILEGED_H

#include "postgres.h"

#include "commands/trigger.h"

/* the pinned search_path without the extension schema (before it exists) */
#define SIPCALL_BASE_SEARCH_PATH	"pg_catalog, pg_temp"

/* what sipcall_privileged_enter() saved, for sipcall_privileged_leave() */
typedef struct SipcallPrivileged
{
	Oid			caller;			/* the user we ran as before: who asked */
	int			caller_sec_context;
	int			nestlevel;		/* GUC nest level; 0: the path was pinned already */
	bool		active;
} SipcallPrivileged;

extern void sipcall_privileged_enter(SipcallPrivileged *priv);
extern void sipcall_privileged_leave(SipcallPrivileged *priv);
extern char *sipcall_pinned_search_path(void);
extern void sipcall_worker_pin_settings(void);

/*
 * Trigger functions check that they fire on their own table (or one of
 * its partitions); funcname and relname name them in the error.
 */
extern void sipcall_trigger_check_table(TriggerData *trigdata,
										const char *funcname,
										const char *relname);

#endif							/* SIPCALL_PRIVILEGED_H */
