/*-------------------------------------------------------------------------
 *
 * worker.c
 *		The maintenance background worker: registration, signals, the
 *		latch loop, and one transaction per maintenance step.
 *
 * With sipcall in shared_preload_libraries one worker ("sipcall
 * maintenance") runs a maintenance cycle (maintenance.c) every
 * sipcall.maintenance_interval seconds in the database sipcall.database.
 *
 *  - It starts once the server accepts writes (BgWorkerStart_RecoveryFinished):
 *    on a hot standby it does not run at all, and the postmaster starts it
 *    when the standby is promoted.
 *  - While sipcall.maintenance_interval is 0 it does not even connect to
 *    its database (so that database can be dropped or created freely); a
 *    reload with a positive interval wakes it up.
 *  - While the extension is not created in its database it checks again
 *    every cycle (at most every 10 s), without logging anything.
 *  - Each step runs in a transaction of its own.  An error in a step is
 *    logged with its context, the transaction is aborted, the error is
 *    recorded in sipcall.maintenance_log, and the cycle goes on; after a
 *    failed cycle the next one comes least(sipcall.error_naptime,
 *    sipcall.maintenance_interval) seconds after its end.
 *  - A cancel (pg_cancel_backend) ends the step that is running, which is
 *    recorded as cancelled; the cycle and the worker go on.  A cancel that
 *    arrives while no step runs is ignored.
 *  - SIGHUP re-reads the configuration and re-plans the next cycle with
 *    the new settings (from the start of the last cycle after a good one,
 *    from its end after a failed one); SIGTERM ends the worker at once
 *    (die()).
 *  - If it exits abnormally the postmaster starts it again after 10 s.
 *  - Right after connecting it makes search_path, the timeouts and a few
 *    more settings its own, whatever ALTER DATABASE/ROLE ... SET says
 *    (privileged.c lists them); every step then runs through
 *    sipcall_privileged_enter() (privileged.c).
 *
 * Locking: the worker holds the maintenance advisory lock at session level
 * for the length of a cycle, so a manual run_maintenance() or a pg_cron job
 * meanwhile answers "skipped" (and vice versa).
 *
 * Copyright (c) 2026, the sipcall authors
 *
 * IDENTIFICATION
 *		src/worker.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "maintenance.h"
#include "privileged.h"
#include "sipcall.h"

PGDLLEXPORT void sipcall_worker_main(Datum main_arg);

/* how often to look for the extension while it is missing, at most */
#define EXTENSION_RECHECK_MS	10000L

/* restart delay after an abnormal exit */
#define WORKER_RESTART_SECONDS	10

static bool extension_ready(bool *first_seen);
static bool run_cycle(MemoryContext cycle_cxt);
static TimestampTz next_cycle_time(TimestampTz last_start,
								   TimestampTz last_end, bool last_ok);

/*
 * Register the worker; only possible while shared_preload_libraries is
 * being processed.
 */
void
sipcall_worker_init(void)
{
	BackgroundWorker worker;

	if (!process_shared_preload_libraries_in_progress)
		return;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS |
		BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = WORKER_RESTART_SECONDS;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "sipcall");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "sipcall_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "sipcall maintenance worker");
	snprintf(worker.bgw_type, BGW_MAXLEN, "sipcall maintenance");
	worker.bgw_main_arg = (Datum) 0;
	worker.bgw_notify_pid = 0;
	RegisterBackgroundWorker(&worker);
}

/*
 * Is the extension created in our database?  One short transaction.
 * *first_seen is set when it is there and was not at the last look; then
 * the cycles a previous worker left unfinished are marked interrupted.
 */
static bool
extension_ready(bool *first_seen)
{
	static bool was_ready = false;
	volatile bool ready = false;

	*first_seen = false;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "sipcall maintenance: looking for the extension");

	PG_TRY();
	{
		ready = OidIsValid(sipcall_extension_oid(true)) &&
			OidIsValid(sipcall_relid("maintenance_log", true));
		if (ready && !was_ready)
		{
			uint64		n = sipcall_maintenance_log_interrupted();

			*first_seen = true;
			if (n > 0)
				ereport(LOG,
						(errmsg("sipcall maintenance worker marked " UINT64_FORMAT " unfinished cycles as interrupted",
								n)));
		}
		was_ready = ready;
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		/* logged; try again at the next cycle */
		sipcall_report_and_abort();
		ready = false;
		*first_seen = false;
	}
	PG_END_TRY();
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
	return ready;
}

/*
 * One maintenance cycle, each step in its own transaction.  Returns true
 * when every step went well.  Errors are caught here; only FATAL (SIGTERM)
 * ends the worker.
 */
static bool
run_cycle(MemoryContext cycle_cxt)
{
	SipcallStepOutcome outs[SIPCALL_MAINTENANCE_STEPS];
	TimestampTz started = GetCurrentTimestamp();
	volatile int64 log_id = -1;
	char	   *json;
	char	   *error;
	int			i;

	if (!sipcall_maintenance_trylock(true))
	{
		ereport(DEBUG1,
				(errmsg_internal("sipcall: maintenance skipped, another cycle is running")));
		return true;
	}

	/* the log row says the cycle is running */
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	PG_TRY();
	{
		log_id = sipcall_maintenance_log_insert("worker", started, NULL, NULL);
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		sipcall_report_and_abort();
		log_id = -1;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cycle_cxt);

	for (i = 0; i < SIPCALL_MAINTENANCE_STEPS; i++)
	{
		instr_time	start;

		INSTR_TIME_SET_CURRENT(start);
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
		pgstat_report_activity(STATE_RUNNING, sipcall_maintenance_step_name(i));

		PG_TRY();
		{
			MemoryContextSwitchTo(cycle_cxt);
			sipcall_maintenance_run_step(i, &outs[i]);
			PopActiveSnapshot();
			CommitTransactionCommand();
		}
		PG_CATCH();
		{
			ErrorData  *edata;

			MemoryContextSwitchTo(cycle_cxt);
			edata = CopyErrorData();
			sipcall_report_and_abort();

			MemoryContextSwitchTo(cycle_cxt);
			sipcall_maintenance_step_failed(&outs[i], i, edata, start);
			FreeErrorData(edata);
		}
		PG_END_TRY();
		MemoryContextSwitchTo(cycle_cxt);

		pgstat_report_stat(false);
		pgstat_report_activity(STATE_IDLE, NULL);
		/* a cancel that came after the step ended has nothing to end */
		sipcall_worker_forget_cancel();
		CHECK_FOR_INTERRUPTS();
	}

	json = sipcall_maintenance_result("worker", started, outs,
									  SIPCALL_MAINTENANCE_STEPS, &error);

	/* record the outcome in a new transaction */
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	PG_TRY();
	{
		if (log_id >= 0)
			sipcall_maintenance_log_finish(log_id, json, error);
		else
			(void) sipcall_maintenance_log_insert("worker", started, json, error);
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		sipcall_report_and_abort();
		error = error ? error : "could not record the cycle";
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cycle_cxt);
	pgstat_report_stat(true);

	sipcall_maintenance_unlock();

	if (error)
		ereport(LOG,
				(errmsg("sipcall maintenance cycle finished with errors: %s", error)));
	else
		ereport(DEBUG1,
				(errmsg_internal("sipcall maintenance cycle done: %s", json)));
	return error == NULL;
}

/*
 * When the next cycle is due: an interval after the start of a good cycle,
 * least(error_naptime, interval) after the end of a failed one.
 */
static TimestampTz
next_cycle_time(TimestampTz last_start, TimestampTz last_end, bool last_ok)
{
	if (last_ok)
		return TimestampTzPlusMilliseconds(last_start,
										   (int64) sipcall_maintenance_interval * 1000);
	return TimestampTzPlusMilliseconds(last_end,
									   (int64) Min(sipcall_error_naptime,
												   sipcall_maintenance_interval) * 1000);
}

/*
 * Forget a cancel request (pg_cancel_backend) that arrived while no step
 * runs.  Outside the steps' error handlers CHECK_FOR_INTERRUPTS() would
 * turn it into an error that nothing catches, which ends the worker; a
 * cancel is meant to end the current step only.  Used by both workers.
 */
void
sipcall_worker_forget_cancel(void)
{
	QueryCancelPending = false;
}

/*
 * Entry point of the worker.
 */
void
sipcall_worker_main(Datum main_arg)
{
	MemoryContext cycle_cxt;
	TimestampTz last_start = 0;
	TimestampTz last_end = 0;
	TimestampTz next_run = 0;
	bool		last_ok = true;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	/* with maintenance off, stay out of the database until it is on */
	while (sipcall_maintenance_interval == 0)
	{
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_EXIT_ON_PM_DEATH, -1L,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		sipcall_worker_forget_cancel();
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
	}

	BackgroundWorkerInitializeConnection(sipcall_database,
										 (sipcall_role && sipcall_role[0]) ? sipcall_role : NULL,
										 0);
	/* our own settings, not those ALTER DATABASE/ROLE ... SET gave */
	sipcall_worker_pin_settings();
	SetConfigOption("application_name", "sipcall maintenance",
					PGC_USERSET, PGC_S_SESSION);
	pgstat_report_appname("sipcall maintenance");

	ereport(LOG,
			(errmsg("sipcall maintenance worker started in database \"%s\"",
					sipcall_database)));

	cycle_cxt = AllocSetContextCreate(TopMemoryContext,
									  "sipcall maintenance cycle",
									  ALLOCSET_DEFAULT_SIZES);

	for (;;)
	{
		TimestampTz now = GetCurrentTimestamp();
		long		timeout = -1L;
		int			events = WL_LATCH_SET | WL_EXIT_ON_PM_DEATH;

		if (sipcall_maintenance_interval > 0 && now >= next_run &&
			!RecoveryInProgress())
		{
			bool		first_seen;

			MemoryContextReset(cycle_cxt);
			if (extension_ready(&first_seen))
			{
				if (first_seen)
					ereport(LOG,
							(errmsg("sipcall maintenance worker found the extension in database \"%s\"",
									sipcall_database)));
				last_start = GetCurrentTimestamp();
				last_ok = run_cycle(cycle_cxt);
				last_end = GetCurrentTimestamp();
				next_run = next_cycle_time(last_start, last_end, last_ok);
			}
			else
			{
				/* not created yet: look again soon, quietly */
				next_run = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													   Min(EXTENSION_RECHECK_MS,
														   (int64) sipcall_maintenance_interval * 1000));
				last_start = 0;
			}
			now = GetCurrentTimestamp();
		}

		if (sipcall_maintenance_interval > 0)
		{
			timeout = (long) TimestampDifferenceMilliseconds(now, next_run);
			if (timeout < 1)
				timeout = 1;
			events |= WL_TIMEOUT;
		}

		(void) WaitLatch(MyLatch, events, timeout, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		sipcall_worker_forget_cancel();
		CHECK_FOR_INTERRUPTS();

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);

			/* re-plan the next cycle with the new settings */
			if (last_start != 0 && sipcall_maintenance_interval > 0)
				next_run = next_cycle_time(last_start, last_end, last_ok);
		}
	}
}
