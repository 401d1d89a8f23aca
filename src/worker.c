/*-------------------------------------------------------------------------
 *
 * worker.c
 *		The maintenance background worker, a thin scheduler: registration,
 *		signals, the latch loop, and when the next cycle is due.
 *
 * It owns when cycles run, not what they do: a cycle is one call of the
 * maintenance driver, sipcall_maintenance_cycle() (maintenance.c), with
 * each step in a transaction of its own.  Besides the driver it may call
 * sipcall_maintenance_log_interrupted() (maintenance.c), the catalog
 * lookups of util.c and sipcall_worker_pin_settings() (privileged.c).
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
 *  - Each step runs in a transaction of its own (maintenance.c).  An error
 *    in a step is logged with its context, the transaction is aborted, the
 *    error is recorded in sipcall.maintenance_log, and the cycle goes on;
 *    after a failed cycle the next one comes least(sipcall.error_naptime,
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
 * Locking: none of its own.  For the worker's cycles the driver holds the
 * maintenance advisory lock at session level for the length of a cycle, so
 * a manual run_maintenance() or a pg_cron job meanwhile answers "skipped"
 * (and vice versa).
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

/* when cycles ran and when the next one is due */
typedef struct WorkerSchedule
{
	TimestampTz last_start;		/* 0: none since the extension was seen */
	TimestampTz last_end;
	TimestampTz next_run;
	bool		last_ok;		/* the last cycle went well */
} WorkerSchedule;

static bool extension_ready(bool *first_seen);
static bool run_cycle(void);
static TimestampTz next_cycle_time(const WorkerSchedule *sched);
static bool worker_wait(int events, long timeout);
static void worker_connect(void);
static void run_due_cycle(WorkerSchedule *sched, MemoryContext cycle_cxt);

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
 * One maintenance cycle through the driver, each step in a transaction of
 * its own.  Returns true when every step went well (or another cycle was
 * running).  Errors are caught in the driver; only FATAL (SIGTERM) ends
 * the worker.
 */
static bool
run_cycle(void)
{
	char	   *error;
	char	   *json;

	json = sipcall_maintenance_cycle(SIPCALL_STEP_TRANSACTION, "worker",
									 &error);
	if (json == NULL)
	{
		ereport(DEBUG1,
				(errmsg_internal("sipcall: maintenance skipped, another cycle is running")));
		return true;
	}

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
next_cycle_time(const WorkerSchedule *sched)
{
	if (sched->last_ok)
		return TimestampTzPlusMilliseconds(sched->last_start,
										   (int64) sipcall_maintenance_interval * 1000);
	return TimestampTzPlusMilliseconds(sched->last_end,
									   (int64) Min(sipcall_error_naptime,
												   sipcall_maintenance_interval) * 1000);
}

/*
 * Forget a cancel request (pg_cancel_backend) that arrived while no step
 * runs.  Outside the steps' error handlers CHECK_FOR_INTERRUPTS() would
 * turn it into an error that nothing catches, which ends the worker; a
 * cancel is meant to end the current step only.  Used by both workers,
 * and by the maintenance driver between the worker's steps.
 */
void
sipcall_worker_forget_cancel(void)
{
	QueryCancelPending = false;
}

/*
 * Wait for the latch or the timeout, then handle what came meanwhile: a
 * stray cancel is forgotten, SIGTERM ends the worker, a SIGHUP re-reads
 * the configuration.  Returns true when it did.
 */
static bool
worker_wait(int events, long timeout)
{
	(void) WaitLatch(MyLatch, events, timeout, PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
	sipcall_worker_forget_cancel();
	CHECK_FOR_INTERRUPTS();

	if (!ConfigReloadPending)
		return false;
	ConfigReloadPending = false;
	ProcessConfigFile(PGC_SIGHUP);
	return true;
}

/*
 * Connect to sipcall.database, and make the session's settings our own,
 * not those ALTER DATABASE/ROLE ... SET gave.
 */
static void
worker_connect(void)
{
	BackgroundWorkerInitializeConnection(sipcall_database,
										 (sipcall_role && sipcall_role[0]) ? sipcall_role : NULL,
										 0);
	sipcall_worker_pin_settings();
	SetConfigOption("application_name", "sipcall maintenance",
					PGC_USERSET, PGC_S_SESSION);
	pgstat_report_appname("sipcall maintenance");

	ereport(LOG,
			(errmsg("sipcall maintenance worker started in database \"%s\"",
					sipcall_database)));
}

/*
 * Run the cycle that is due, if the extension is there, and plan the next
 * one in *sched.
 */
static void
run_due_cycle(WorkerSchedule *sched, MemoryContext cycle_cxt)
{
	bool		first_seen;

	MemoryContextReset(cycle_cxt);
	if (!extension_ready(&first_seen))
	{
		/* not created yet: look again soon, quietly */
		sched->next_run = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													  Min(EXTENSION_RECHECK_MS,
														  (int64) sipcall_maintenance_interval * 1000));
		sched->last_start = 0;
		return;
	}

	if (first_seen)
		ereport(LOG,
				(errmsg("sipcall maintenance worker found the extension in database \"%s\"",
						sipcall_database)));
	sched->last_start = GetCurrentTimestamp();
	MemoryContextSwitchTo(cycle_cxt);
	sched->last_ok = run_cycle();
	sched->last_end = GetCurrentTimestamp();
	sched->next_run = next_cycle_time(sched);
}

/*
 * Entry point of the worker.
 */
void
sipcall_worker_main(Datum main_arg)
{
	MemoryContext cycle_cxt;
	WorkerSchedule sched = {0, 0, 0, true};

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	/* with maintenance off, stay out of the database until it is on */
	while (sipcall_maintenance_interval == 0)
		(void) worker_wait(WL_LATCH_SET | WL_EXIT_ON_PM_DEATH, -1L);

	worker_connect();
	cycle_cxt = AllocSetContextCreate(TopMemoryContext,
									  "sipcall maintenance cycle",
									  ALLOCSET_DEFAULT_SIZES);

	for (;;)
	{
		TimestampTz now = GetCurrentTimestamp();
		long		timeout = -1L;
		int			events = WL_LATCH_SET | WL_EXIT_ON_PM_DEATH;

		if (sipcall_maintenance_interval > 0 && now >= sched.next_run &&
			!RecoveryInProgress())
		{
			run_due_cycle(&sched, cycle_cxt);
			now = GetCurrentTimestamp();
		}

		if (sipcall_maintenance_interval > 0)
		{
			timeout = (long) TimestampDifferenceMilliseconds(now, sched.next_run);
			if (timeout < 1)
				timeout = 1;
			events |= WL_TIMEOUT;
		}

		/* after a reload, re-plan the next cycle with the new settings */
		if (worker_wait(events, timeout) &&
			sched.last_start != 0 && sipcall_maintenance_interval > 0)
			sched.next_run = next_cycle_time(&sched);
	}
}
