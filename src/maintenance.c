/*-------------------------------------------------------------------------
 *
 * maintenance.c
 *		The maintenance driver: one cycle of partition upkeep, retention
 *		and the summary, for sipcall.run_maintenance() and the worker.
 *
 * A cycle runs these steps, in this order, each through the C entry point
 * of the module that owns it:
 *
 *		premake_partitions			sipcall_premake() (lifecycle.c)
 *		drain_default_partitions	sipcall_drain_default() (lifecycle.c)
 *		cleanup_old_call_events		sipcall_retention_cleanup() (retention.c)
 *		cleanup_old_audit_logs		sipcall_retention_cleanup() (retention.c)
 *		refresh_daily_summary		sipcall_summary_refresh() (summary.c)
 *		cleanup_old_calls			sipcall_retention_cleanup() (retention.c)
 *
 * The summary is refreshed before calls expire, so that a day's last
 * changes are counted before its calls go.
 *
 * This file owns the cycle: the order of the steps, how they are isolated
 * from one another, the maintenance lock, the cycle's result and
 * sipcall.maintenance_log.  sipcall_maintenance_cycle() runs a cycle in
 * one of two isolation modes:
 *
 *	- SIPCALL_STEP_SUBTRANSACTION (sipcall.run_maintenance()): in the
 *	  caller's transaction, each step in a subtransaction, so that a failing
 *	  step does not stop the others (it gives a WARNING); a cancel or a
 *	  timeout stops the whole call.  The cycle's row is written at its end.
 *	- SIPCALL_STEP_TRANSACTION (worker.c): each step in a transaction of its
 *	  own, reported in pg_stat_activity; an error, a cancel included, is
 *	  logged and ends only that step.  The cycle's row is written at its
 *	  start (finished_at NULL) and finished at its end, each in a
 *	  transaction of its own.
 *
 * Either way the log is kept to the last 30 days and at most 10000 rows.
 * It may call the step modules' entry points, util.c, privileged.c and
 * sipcall_worker_forget_cancel() (worker.c, between the worker's steps);
 * it schedules nothing: when to run a cycle is the caller's business.
 *
 * Locking: one cycle at a time per database, through sipcall's private
 * lock (1397313603, 1) (sipcall_private_locktag: pg_advisory_lock cannot
 * take it, so no role can switch maintenance off by holding it).
 * run_maintenance() tries it at transaction level and answers "skipped"
 * when it is taken; the worker holds it at session level for a whole
 * cycle.  Steps run as the extension owner.
 *
 * Copyright (c) 2026, the sipcall authors
 *
 * IDENTIFICATION
 *		src/maintenance.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "portability/instr_time.h"
#include "postmaster/bgworker.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "maintenance.h"
#include "privileged.h"
#include "sipcall.h"

PG_FUNCTION_INFO_V1(sipcall_run_maintenance);

/* the advisory lock key: 'SIPC', 1 */
#define MAINTENANCE_LOCK_KEY1	0x53495043
#define MAINTENANCE_LOCK_KEY2	1

/* how long maintenance_log keeps rows */
#define LOG_KEEP_DAYS			30
#define LOG_KEEP_ROWS			10000

#define MAINTENANCE_STEPS		6

/* what one step of a cycle did */
typedef struct StepOutcome
{
	const char *step;			/* the step's name */
	bool		ok;				/* false: it failed */
	char	   *result;			/* JSON text of its result, when ok */
	char	   *message;		/* the error's message, when not ok */
	char	   *sqlstate;		/* the error's SQLSTATE, when not ok */
	double		duration_ms;
} StepOutcome;

typedef struct MaintenanceStep
{
	const char *name;			/* name in the result and the log */
	int64		(*run) (void);	/* the step's C entry point */
} MaintenanceStep;

static int64 step_premake(void);
static int64 step_drain_default(void);
static int64 step_refresh_summary(void);
static int64 step_cleanup_call_events(void);
static int64 step_cleanup_audit_logs(void);
static int64 step_cleanup_calls(void);

static const MaintenanceStep steps[MAINTENANCE_STEPS] = {
	{"premake_partitions", step_premake},
	{"drain_default_partitions", step_drain_default},
	{"cleanup_old_call_events", step_cleanup_call_events},
	{"cleanup_old_audit_logs", step_cleanup_audit_logs},
	{"refresh_daily_summary", step_refresh_summary},
	{"cleanup_old_calls", step_cleanup_calls},
};

static void maintenance_locktag(LOCKTAG *tag);
static bool lock_try(bool session);
static int	cycle_settings(SipcallStepIsolation iso);
static void lock_release(void);
static void step_error_context(void *arg);
static void run_step(int step, StepOutcome *out);
static void step_failed(StepOutcome *out, int step, ErrorData *edata,
						instr_time start);
static void xact_begin(void);
static void xact_commit(void);
static void step_begin(SipcallStepIsolation iso, int step,
					   MemoryContext cxt);
static void step_commit(SipcallStepIsolation iso, MemoryContext cxt,
						ResourceOwner owner);
static void step_abort(SipcallStepIsolation iso, MemoryContext cxt,
					   ResourceOwner owner);
static void run_isolated_step(SipcallStepIsolation iso, int step,
							  StepOutcome *out);
static char *cycle_result(const char *run_by, TimestampTz started,
						  const StepOutcome *outs, char **error);
static Datum result_jsonb(const char *json);
static void log_prune(const char *nsp);
static int64 log_insert(const char *run_by, TimestampTz started,
						const char *result, const char *error);
static void log_finish(int64 id, const char *result, const char *error);
static int64 log_cycle_start(SipcallStepIsolation iso, const char *run_by,
							 TimestampTz started);
static void log_cycle_end(SipcallStepIsolation iso, int64 log_id,
						  const char *run_by, TimestampTz started,
						  const char *json, char **error);
static const char *caller_kind(void);

/*---- the lock ----*/

static void
maintenance_locktag(LOCKTAG *tag)
{
	sipcall_private_locktag(tag, MAINTENANCE_LOCK_KEY1, MAINTENANCE_LOCK_KEY2);
}

/*
 * Try to take the maintenance lock, at session level (the worker) or
 * transaction level (run_maintenance); never waits.
 */
static bool
lock_try(bool session)
{
	LOCKTAG		tag;

	maintenance_locktag(&tag);
	return LockAcquire(&tag, ExclusiveLock, session, true) != LOCKACQUIRE_NOT_AVAIL;
}

static void
lock_release(void)
{
	LOCKTAG		tag;

	maintenance_locktag(&tag);
	LockRelease(&tag, ExclusiveLock, true);
}

/*
 * The settings a cycle makes its own.  Every lock it waits for, it waits
 * for at most sipcall.maintenance_lock_timeout (0: as long as it takes),
 * or less when the caller's lock_timeout is shorter: a role that may write
 * a table may also LOCK it and hold the lock, and a step's statement
 * (reading system_config, writing maintenance_log, deleting expired rows,
 * taking the summary's dirty days) would wait with it, forever in the
 * worker, whose own lock_timeout is 0.  The step fails instead and the
 * next cycle tries again.  And exit_on_error is off, which the database's
 * owner may have turned on for every session (pg_cron's included): a
 * failing step would end the session instead of that step.  For
 * run_maintenance() the settings last for the cycle (a GUC nest level,
 * returned; pass it to AtEOXact_GUC); the worker's session keeps them (-1;
 * sipcall_worker_pin_settings() has set exit_on_error already).
 */
static int
cycle_settings(SipcallStepIsolation iso)
{
	char	   *value = psprintf("%d", sipcall_maintenance_lock_timeout);
	int			nestlevel;

	if (iso == SIPCALL_STEP_TRANSACTION)
	{
		SetConfigOption("lock_timeout", value, PGC_SUSET, PGC_S_SESSION);
		return -1;
	}
	nestlevel = NewGUCNestLevel();
	if (LockTimeout == 0 ||
		(sipcall_maintenance_lock_timeout > 0 &&
		 sipcall_maintenance_lock_timeout < LockTimeout))
		(void) set_config_option("lock_timeout", value, PGC_SUSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("exit_on_error", "off", PGC_SUSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return nestlevel;
}

/*---- steps ----*/

/*
 * The modules' entry points as steps: each waits at most
 * sipcall.lock_timeout for the first lock it takes (see
 * sipcall_lock_step).
 */
static int64
step_premake(void)
{
	return sipcall_premake(SIPCALL_LOCK_IN_TIME);
}

static int64
step_drain_default(void)
{
	return sipcall_drain_default(SIPCALL_LOCK_IN_TIME);
}

static int64
step_refresh_summary(void)
{
	return sipcall_summary_refresh(SIPCALL_LOCK_IN_TIME);
}

static int64
step_cleanup_call_events(void)
{
	return sipcall_retention_cleanup(SIPCALL_CALL_EVENTS, SIPCALL_LOCK_IN_TIME);
}

static int64
step_cleanup_audit_logs(void)
{
	return sipcall_retention_cleanup(SIPCALL_AUDIT_LOGS, SIPCALL_LOCK_IN_TIME);
}

static int64
step_cleanup_calls(void)
{
	return sipcall_retention_cleanup(SIPCALL_CALLS, SIPCALL_LOCK_IN_TIME);
}

static void
step_error_context(void *arg)
{
	errcontext("sipcall maintenance step \"%s\"", (const char *) arg);
}

/*
 * Run one step in the current transaction, as the extension owner, and
 * fill in *out (allocated in the caller's memory context).  An error is
 * thrown to the caller.
 */
static void
run_step(int step, StepOutcome *out)
{
	ErrorContextCallback errcallback;
	SipcallPrivileged priv;
	instr_time	start;
	instr_time	duration;
	int64		value;

	INSTR_TIME_SET_CURRENT(start);
	out->step = steps[step].name;
	out->ok = false;
	out->result = NULL;
	out->message = NULL;
	out->sqlstate = NULL;

	errcallback.callback = step_error_context;
	errcallback.arg = unconstify(char *, steps[step].name);
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;

	/*
	 * As an SQL call of the step would: a fresh snapshot that sees what the
	 * earlier steps did.
	 */
	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());
	sipcall_privileged_enter(&priv);
	value = steps[step].run();
	sipcall_privileged_leave(&priv);
	PopActiveSnapshot();
	out->result = psprintf(INT64_FORMAT, value);

	error_context_stack = errcallback.previous;

	INSTR_TIME_SET_CURRENT(duration);
	INSTR_TIME_SUBTRACT(duration, start);
	out->duration_ms = INSTR_TIME_GET_MILLISEC(duration);
	out->ok = true;
}

/*
 * Record in *out the error a step ended with.  start is when the step began.
 */
static void
step_failed(StepOutcome *out, int step, ErrorData *edata, instr_time start)
{
	instr_time	duration;

	INSTR_TIME_SET_CURRENT(duration);
	INSTR_TIME_SUBTRACT(duration, start);
	out->step = steps[step].name;
	out->ok = false;
	out->result = NULL;
	out->message = pstrdup(edata->message ? edata->message : "unknown error");
	out->sqlstate = pstrdup(unpack_sql_state(edata->sqlerrcode));
	out->duration_ms = INSTR_TIME_GET_MILLISEC(duration);
}

/*---- isolating the steps ----*/

/* a transaction of its own, with a statement timestamp and a snapshot */
static void
xact_begin(void)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
}

static void
xact_commit(void)
{
	PopActiveSnapshot();
	CommitTransactionCommand();
}

/* Open the step's subtransaction or transaction; then work in cxt. */
static void
step_begin(SipcallStepIsolation iso, int step, MemoryContext cxt)
{
	if (iso == SIPCALL_STEP_SUBTRANSACTION)
		BeginInternalSubTransaction(NULL);
	else
	{
		xact_begin();
		pgstat_report_activity(STATE_RUNNING, steps[step].name);
	}
	MemoryContextSwitchTo(cxt);
}

/* Commit what step_begin() opened; back in cxt and owner. */
static void
step_commit(SipcallStepIsolation iso, MemoryContext cxt, ResourceOwner owner)
{
	if (iso == SIPCALL_STEP_SUBTRANSACTION)
	{
		ReleaseCurrentSubTransaction();
		CurrentResourceOwner = owner;
	}
	else
		xact_commit();
	MemoryContextSwitchTo(cxt);
}

/*
 * Roll back what step_begin() opened, after an error the caller copied.
 * The worker logs the error first; run_maintenance() gives its WARNING
 * later.
 */
static void
step_abort(SipcallStepIsolation iso, MemoryContext cxt, ResourceOwner owner)
{
	if (iso == SIPCALL_STEP_SUBTRANSACTION)
	{
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		CurrentResourceOwner = owner;
	}
	else
		sipcall_report_and_abort();
	MemoryContextSwitchTo(cxt);
}

/*
 * Run one step isolated as iso says and fill in *out, in the current
 * memory context.  A failed step is recorded in *out; only a cancel or a
 * timeout under run_maintenance(), or a FATAL, is thrown.
 */
static void
run_isolated_step(SipcallStepIsolation iso, int step, StepOutcome *out)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	instr_time	start;

	INSTR_TIME_SET_CURRENT(start);
	step_begin(iso, step, cxt);
	PG_TRY();
	{
		run_step(step, out);
		step_commit(iso, cxt, owner);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		step_abort(iso, cxt, owner);

		/* a cancel or a timeout stops run_maintenance() as a whole */
		if (iso == SIPCALL_STEP_SUBTRANSACTION &&
			edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
			ReThrowError(edata);

		step_failed(out, step, edata, start);
		if (iso == SIPCALL_STEP_SUBTRANSACTION)
			ereport(WARNING,
					(errcode(edata->sqlerrcode),
					 errmsg("maintenance step \"%s\" failed: %s",
							out->step, out->message)));
		FreeErrorData(edata);
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);

	if (iso == SIPCALL_STEP_TRANSACTION)
	{
		pgstat_report_stat(false);
		pgstat_report_activity(STATE_IDLE, NULL);
		/* a cancel that came after the step ended has nothing to end */
		sipcall_worker_forget_cancel();
		CHECK_FOR_INTERRUPTS();
	}
}

/*---- the result and the log ----*/

/*
 * The JSON text of a cycle's result; *error is set to the failed steps'
 * messages, or NULL when every step went well.
 */
static char *
cycle_result(const char *run_by, TimestampTz started,
			 const StepOutcome *outs, char **error)
{
	StringInfoData buf;
	StringInfoData err;
	int			i;

	initStringInfo(&buf);
	initStringInfo(&err);
	for (i = 0; i < MAINTENANCE_STEPS; i++)
	{
		if (outs[i].ok)
			continue;
		appendStringInfo(&err, "%s%s: %s", err.len > 0 ? "; " : "",
						 outs[i].step, outs[i].message);
	}

	appendStringInfoString(&buf, "{\"status\": ");
	escape_json(&buf, err.len > 0 ? "error" : "ok");
	appendStringInfoString(&buf, ", \"run_by\": ");
	escape_json(&buf, run_by);
	appendStringInfoString(&buf, ", \"started_at\": ");
	escape_json(&buf, timestamptz_to_str(started));
	appendStringInfo(&buf, ", \"duration_ms\": %.3f",
					 (double) (GetCurrentTimestamp() - started) / 1000.0);
	appendStringInfoString(&buf, ", \"steps\": [");
	for (i = 0; i < MAINTENANCE_STEPS; i++)
	{
		appendStringInfo(&buf, "%s{\"step\": ", i > 0 ? ", " : "");
		escape_json(&buf, outs[i].step);
		if (outs[i].ok)
			appendStringInfo(&buf, ", \"status\": \"ok\", \"result\": %s",
							 outs[i].result);
		else
		{
			/* a cancel (pg_cancel_backend) of the worker ended this step */
			bool		cancelled = outs[i].sqlstate != NULL &&
				strcmp(outs[i].sqlstate, "57014") == 0;

			appendStringInfo(&buf, ", \"status\": \"%s\", \"message\": ",
							 cancelled ? "cancelled" : "error");
			escape_json(&buf, outs[i].message);
			appendStringInfoString(&buf, ", \"sqlstate\": ");
			escape_json(&buf, outs[i].sqlstate);
		}
		appendStringInfo(&buf, ", \"duration_ms\": %.3f}", outs[i].duration_ms);
	}
	appendStringInfoString(&buf, "]}");

	*error = err.len > 0 ? err.data : NULL;
	return buf.data;
}

static Datum
result_jsonb(const char *json)
{
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(json));
}

/*
 * Keep maintenance_log bounded.  The caller has connected to SPI, inside
 * sipcall_privileged_enter().
 */
static void
log_prune(const char *nsp)
{
	sipcall_spi_exec(psprintf("DELETE FROM %s.maintenance_log"
							  " WHERE started_at < pg_catalog.now() - interval '%d days'"
							  "    OR id <= (SELECT max(id) - %d FROM %s.maintenance_log)",
							  nsp, LOG_KEEP_DAYS, LOG_KEEP_ROWS, nsp),
					 0, NULL, NULL, NULL, SPI_OK_DELETE);
}

/*
 * Insert a row for a cycle into maintenance_log and return its id.  With
 * result NULL the row says the cycle is running (finished_at NULL).  Runs
 * in the current transaction, as the extension owner.
 */
static int64
log_insert(const char *run_by, TimestampTz started, const char *result,
		   const char *error)
{
	const char *nsp = quote_identifier(get_namespace_name(sipcall_schema_oid(false)));
	SipcallPrivileged priv;
	Oid			argtypes[4] = {TEXTOID, TIMESTAMPTZOID, JSONBOID, TEXTOID};
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	bool		isnull;
	int64		id;

	values[0] = CStringGetTextDatum(run_by);
	values[1] = TimestampTzGetDatum(started);
	if (result)
		values[2] = result_jsonb(result);
	else
		nulls[2] = 'n';
	if (error)
		values[3] = CStringGetTextDatum(error);
	else
		nulls[3] = 'n';

	sipcall_privileged_enter(&priv);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	sipcall_spi_exec(psprintf("INSERT INTO %s.maintenance_log"
							  " (run_by, started_at, finished_at, result, error)"
							  " VALUES ($1, $2,"
							  "  CASE WHEN $3 IS NULL THEN NULL ELSE pg_catalog.clock_timestamp() END,"
							  "  $3, $4)"
							  " RETURNING id", nsp),
					 4, argtypes, values, nulls, SPI_OK_INSERT_RETURNING);
	id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
									 SPI_tuptable->tupdesc, 1, &isnull));
	log_prune(nsp);
	SPI_finish();
	sipcall_privileged_leave(&priv);
	return id;
}

/*
 * Finish the row of a running cycle.
 */
static void
log_finish(int64 id, const char *result, const char *error)
{
	const char *nsp = quote_identifier(get_namespace_name(sipcall_schema_oid(false)));
	SipcallPrivileged priv;
	Oid			argtypes[3] = {INT8OID, JSONBOID, TEXTOID};
	Datum		values[3];
	char		nulls[3] = {' ', ' ', ' '};

	values[0] = Int64GetDatum(id);
	values[1] = result_jsonb(result);
	if (error)
		values[2] = CStringGetTextDatum(error);
	else
		nulls[2] = 'n';

	sipcall_privileged_enter(&priv);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	sipcall_spi_exec(psprintf("UPDATE %s.maintenance_log"
							  "   SET finished_at = pg_catalog.clock_timestamp(),"
							  "       result = $2, error = $3"
							  " WHERE id = $1", nsp),
					 3, argtypes, values, nulls, SPI_OK_UPDATE);
	SPI_finish();
	sipcall_privileged_leave(&priv);
}

/*
 * Mark the worker's cycles that never finished (the worker or the server
 * stopped in the middle) as interrupted.  Returns how many there were.
 */
uint64
sipcall_maintenance_log_interrupted(void)
{
	const char *nsp = quote_identifier(get_namespace_name(sipcall_schema_oid(false)));
	SipcallPrivileged priv;
	uint64		n;

	sipcall_privileged_enter(&priv);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	n = sipcall_spi_exec(psprintf("UPDATE %s.maintenance_log"
								  "   SET finished_at = pg_catalog.clock_timestamp(),"
								  "       error = 'interrupted: the worker stopped during this cycle'"
								  " WHERE finished_at IS NULL AND run_by = 'worker'", nsp),
						 0, NULL, NULL, NULL, SPI_OK_UPDATE);
	SPI_finish();
	sipcall_privileged_leave(&priv);
	return n;
}

/*
 * The worker's cycle gets its row at the start, in a transaction of its
 * own, so that a cycle cut short shows; returns its id, or -1 when there
 * is none (run_maintenance(), or the insert failed: the end inserts it).
 */
static int64
log_cycle_start(SipcallStepIsolation iso, const char *run_by,
				TimestampTz started)
{
	volatile int64 log_id = -1;

	if (iso == SIPCALL_STEP_SUBTRANSACTION)
		return -1;

	xact_begin();
	PG_TRY();
	{
		log_id = log_insert(run_by, started, NULL, NULL);
		xact_commit();
	}
	PG_CATCH();
	{
		sipcall_report_and_abort();
		log_id = -1;
	}
	PG_END_TRY();
	return log_id;
}

/*
 * Record the cycle's outcome: run_maintenance() in the caller's
 * transaction, the worker in a new one, where a failure is logged and
 * noted in *error.
 */
static void
log_cycle_end(SipcallStepIsolation iso, int64 log_id, const char *run_by,
			  TimestampTz started, const char *json, char **error)
{
	if (iso == SIPCALL_STEP_SUBTRANSACTION)
	{
		(void) log_insert(run_by, started, json, *error);
		return;
	}

	xact_begin();
	PG_TRY();
	{
		if (log_id >= 0)
			log_finish(log_id, json, *error);
		else
			(void) log_insert(run_by, started, json, *error);
		xact_commit();
	}
	PG_CATCH();
	{
		sipcall_report_and_abort();
		if (*error == NULL)
			*error = "could not record the cycle";
	}
	PG_END_TRY();
}

/*---- the driver ----*/

/*
 * Run one maintenance cycle for run_by ("worker", "pg_cron", "manual"),
 * its steps isolated as iso says, and record it in maintenance_log.
 * Returns the JSON text of its result, with *error set to the failed
 * steps' messages or NULL; returns NULL when another cycle is running.
 * Allocates in the current memory context.
 */
char *
sipcall_maintenance_cycle(SipcallStepIsolation iso, const char *run_by,
						  char **error)
{
	MemoryContext cxt = CurrentMemoryContext;
	StepOutcome outs[MAINTENANCE_STEPS];
	TimestampTz started = GetCurrentTimestamp();
	int64		log_id;
	char	   *json;
	int			nestlevel;
	int			i;

	*error = NULL;
	if (!lock_try(iso == SIPCALL_STEP_TRANSACTION))
		return NULL;
	nestlevel = cycle_settings(iso);

	log_id = log_cycle_start(iso, run_by, started);
	MemoryContextSwitchTo(cxt);

	for (i = 0; i < MAINTENANCE_STEPS; i++)
		run_isolated_step(iso, i, &outs[i]);

	json = cycle_result(run_by, started, outs, error);
	log_cycle_end(iso, log_id, run_by, started, json, error);
	MemoryContextSwitchTo(cxt);
	if (nestlevel >= 0)
		AtEOXact_GUC(true, nestlevel);

	if (iso == SIPCALL_STEP_TRANSACTION)
	{
		pgstat_report_stat(true);
		lock_release();
	}
	return json;
}

/*---- sipcall.run_maintenance() ----*/

/*
 * Who runs this cycle: pg_cron connects with application_name "pg_cron"
 * (or runs its job in a background worker of type "pg_cron"); anyone else
 * is a manual call.
 */
static const char *
caller_kind(void)
{
	const char *appname = GetConfigOption("application_name", true, false);

	if (appname && strcmp(appname, "pg_cron") == 0)
		return "pg_cron";
	if (MyBgworkerEntry && strncmp(MyBgworkerEntry->bgw_type, "pg_cron", 7) == 0)
		return "pg_cron";
	return "manual";
}

/*
 * sipcall.run_maintenance() RETURNS jsonb
 */
Datum
sipcall_run_maintenance(PG_FUNCTION_ARGS)
{
	const char *run_by = caller_kind();
	char	   *json;
	char	   *error;

	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot run maintenance during recovery"),
				 errhint("Maintenance runs on the primary server.")));

	/* make sure the extension is there before taking any lock */
	(void) sipcall_schema_oid(false);

	json = sipcall_maintenance_cycle(SIPCALL_STEP_SUBTRANSACTION, run_by,
									 &error);
	if (json == NULL)
	{
		StringInfoData buf;

		initStringInfo(&buf);
		appendStringInfoString(&buf, "{\"status\": \"skipped\", \"run_by\": ");
		escape_json(&buf, run_by);
		appendStringInfoString(&buf, ", \"reason\": \"another maintenance cycle is running\"}");
		ereport(NOTICE,
				(errmsg("maintenance skipped: another maintenance cycle is running")));
		json = buf.data;
	}
	PG_RETURN_DATUM(result_jsonb(json));
}
