/*-------------------------------------------------------------------------
 *
 * maintenance.h
 *		The maintenance driver's interface (maintenance.c): one cycle, with
 *		the steps isolated as its caller says, and the log of cycles.
 *
 * Copyright (c) 2026, the sipcall authors
 *
 * IDENTIFICATION
 *		src/maintenance.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef SIPCALL_MAINTENANCE_H
#define SIPCALL_MAINTENANCE_H

#include "postgres.h"

/*
 * How a maintenance cycle isolates its steps from one another:
 * run_maintenance() runs each in a subtransaction of the caller's
 * transaction, the worker each in a transaction of its own.
 */
typedef enum SipcallStepIsolation
{
	SIPCALL_STEP_SUBTRANSACTION,
	SIPCALL_STEP_TRANSACTION
} SipcallStepIsolation;

extern char *sipcall_maintenance_cycle(SipcallStepIsolation iso,
									   const char *run_by, char **error);
extern uint64 sipcall_maintenance_log_interrupted(void);

#endif							/* SIPCALL_MAINTENANCE_H */
