/*-------------------------------------------------------------------------
 *
 * maintenance.h
 *		The maintenance cycle's interface (maintenance.c).
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

#include "datatype/timestamp.h"
#include "portability/instr_time.h"

/*---- maintenance.c: one maintenance cycle ----*/

#define SIPCALL_MAINTENANCE_STEPS	6

/* what one step of a cycle did */
typedef struct SipcallStepOutcome
{
	const char *step;			/* the step's name */
	bool		ok;				/* false: it failed */
	char	   *result;			/* JSON text of its result, when ok */
	char	   *message;		/* the error's message, when not ok */
	char	   *sqlstate;		/* the error's SQLSTATE, when not ok */
	double		duration_ms;
} SipcallStepOutcome;

extern bool sipcall_maintenance_trylock(bool session);
extern void sipcall_maintenance_unlock(void);
extern const char *sipcall_maintenance_step_name(int step);
extern void sipcall_maintenance_run_step(int step, SipcallStepOutcome *out);
extern void sipcall_maintenance_step_failed(SipcallStepOutcome *out, int step,
											ErrorData *edata, instr_time start);
extern char *sipcall_maintenance_result(const char *run_by, TimestampTz started,
										const SipcallStepOutcome *outs,
										int nsteps, char **error);
extern int64 sipcall_maintenance_log_insert(const char *run_by,
											TimestampTz started,
											const char *result,
											const char *error);
extern void sipcall_maintenance_log_finish(int64 id, const char *result,
										   const char *error);
extern uint64 sipcall_maintenance_log_interrupted(void);

#endif							/* SIPCALL_MAINTENANCE_H */
