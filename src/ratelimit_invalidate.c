/*-------------------------------------------------------------------------
 *
 * ratelimit_invalidate.c
 *		sipcall.rate_limits_invalidate(), the trigger that keeps the shared
 *		rate-limit counters in step with operator edits, and the
 *		transaction callbacks that apply what it queued.
 *
 * Operator edits.  Triggers on rate_limits (and on users, for erasures
 * whose user had no row yet) queue the keys a transaction changes; when it
 * commits, their shared entries are removed, so the next check reloads the
 * committed row.  The flusher's own writes are not queued.  The flusher
 * writes a row only if its xmin is still the one it last saw (or, for a
 * new row, if none exists), so it never overwrites an operator's edit.
 *
 * Locking rules are those of ratelimit_shmem.c.
 *
 * Calls: ratelimit.c (sipcall_rl_shared_usable, sipcall_rl_make_key),
 * ratelimit_shmem.c (removing entries) and privileged.c (the trigger's
 * table check).  The flusher sets sipcall_rl_in_flusher.
 *
 * Copyright (c) 2026, the sipcall authors
 *
 * IDENTIFICATION
 *		src/ratelimit_invalidate.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/uuid.h"

#include "privileged.h"
#include "ratelimit.h"
#include "sipcall.h"

PG_FUNCTION_INFO_V1(sipcall_rate_limits_invalidate);

/* true in the flusher: its writes to rate_limits invalidate nothing */
bool		sipcall_rl_in_flusher = false;

/* keys changed by this transaction, invalidated when it commits */
typedef struct RlPending
{
	RlKey		key;
	bool		whole_user;		/* every endpoint of key.user_id */
	int			nest_level;
} RlPending;

static List *rl_pending = NIL;
static bool rl_pending_all = false;
static int	rl_pending_all_level = 0;
static bool rl_xact_cb_registered = false;

/*---- forward declarations ----*/

static void rl_remove_key(const RlKey *key, uint32 hash);
static void rl_xact_callback(XactEvent event, void *arg);
static void rl_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
								SubTransactionId parentSubid, void *arg);

static void
rl_remove_key(const RlKey *key, uint32 hash)
{
	sipcall_rl_remove_entry(key, hash, 0);
}

/*---- invalidation on operator edits ----*/

static void
rl_register_callbacks(void)
{
	if (!rl_xact_cb_registered)
	{
		RegisterXactCallback(rl_xact_callback, NULL);
		RegisterSubXactCallback(rl_subxact_callback, NULL);
		rl_xact_cb_registered = true;
	}
}

static void
rl_queue(const RlKey *key, bool whole_user)
{
	MemoryContext oldcxt;
	RlPending  *p;

	rl_register_callbacks();
	oldcxt = MemoryContextSwitchTo(TopTransactionContext);
	p = palloc(sizeof(RlPending));
	p->key = *key;
	p->whole_user = whole_user;
	p->nest_level = GetCurrentTransactionNestLevel();
	rl_pending = lappend(rl_pending, p);
	MemoryContextSwitchTo(oldcxt);
}

static void
rl_queue_tuple(HeapTuple tuple, TupleDesc desc)
{
	int			attuser = SPI_fnumber(desc, "user_id");
	int			attendpoint = SPI_fnumber(desc, "endpoint");
	bool		isnull;
	Datum		d;
	RlKey		key;
	pg_uuid_t  *user_id;

	if (attuser <= 0 || attendpoint <= 0)
		elog(ERROR, "sipcall.rate_limits lacks column user_id or endpoint");
	d = heap_getattr(tuple, attuser, desc, &isnull);
	if (isnull)
		return;
	user_id = DatumGetUUIDP(d);
	d = heap_getattr(tuple, attendpoint, desc, &isnull);
	if (isnull)
		return;
	if (sipcall_rl_make_key(user_id, DatumGetTextPP(d), &key))
		rl_queue(&key, false);
}

/*
 * Trigger on rate_limits (row INSERT/UPDATE/DELETE, statement TRUNCATE)
 * and on users (row DELETE/UPDATE OF id, argument 'users'): remember what
 * changed; rl_xact_callback removes the entries when the change commits.
 */
Datum
sipcall_rate_limits_invalidate(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TupleDesc	desc;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"rate_limits_invalidate\" must be called as a trigger")));
	if (trigdata->tg_trigger->tgnargs == 0)
		sipcall_trigger_check_table(trigdata, "rate_limits_invalidate",
									"rate_limits");
	else if (trigdata->tg_trigger->tgnargs == 1 &&
			 strcmp(trigdata->tg_trigger->tgargs[0], "users") == 0 &&
			 TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
		sipcall_trigger_check_table(trigdata, "rate_limits_invalidate",
									"users");
	else
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("trigger function \"rate_limits_invalidate\" takes no argument, or 'users' for a row trigger on \"sipcall.users\"")));

	if (sipcall_rl_in_flusher || !sipcall_rl_shared_usable())
		return PointerGetDatum(NULL);

	if (TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event))
	{
		if (!rl_pending_all)
			rl_pending_all_level = GetCurrentTransactionNestLevel();
		rl_pending_all = true;
		rl_register_callbacks();
		return PointerGetDatum(NULL);
	}
	if (!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
		return PointerGetDatum(NULL);

	desc = RelationGetDescr(trigdata->tg_relation);
	if (trigdata->tg_trigger->tgnargs > 0 &&
		strcmp(trigdata->tg_trigger->tgargs[0], "users") == 0)
	{
		int			attid = SPI_fnumber(desc, "id");
		bool		isnull;
		Datum		d;
		RlKey		key;

		if (attid <= 0)
			elog(ERROR, "sipcall.users lacks column id");
		d = heap_getattr(trigdata->tg_trigtuple, attid, desc, &isnull);
		if (!isnull)
		{
			memset(&key, 0, sizeof(key));
			memcpy(&key.user_id, DatumGetUUIDP(d), sizeof(pg_uuid_t));
			rl_queue(&key, true);
		}
		return PointerGetDatum(NULL);
	}

	/* the old row for UPDATE/DELETE, the new one for INSERT/UPDATE */
	rl_queue_tuple(trigdata->tg_trigtuple, desc);
	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		rl_queue_tuple(trigdata->tg_newtuple, desc);
	return PointerGetDatum(NULL);
}

static void
rl_xact_callback(XactEvent event, void *arg)
{
	ListCell   *lc;

	switch (event)
	{
		case XACT_EVENT_PRE_PREPARE:
			if (rl_pending != NIL || rl_pending_all)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot prepare a transaction that changed \"sipcall.rate_limits\" or \"sipcall.users\""),
						 errdetail("The rate limit counters in shared memory are refreshed when such a transaction commits.")));
			break;
		case XACT_EVENT_COMMIT:
			/* the changes are visible now: drop the stale entries */
			if (sipcall_rl_shared != NULL && rl_pending_all)
				sipcall_rl_remove_all();
			else if (sipcall_rl_shared != NULL && rl_pending != NIL)
			{
				pg_uuid_t  *users = NULL;
				int			nusers = 0;

				foreach(lc, rl_pending)
				{
					RlPending  *p = (RlPending *) lfirst(lc);

					if (p->whole_user)
					{
						if (users == NULL)
							users = MemoryContextAlloc(TopTransactionContext,
													   list_length(rl_pending) * sizeof(pg_uuid_t));
						users[nusers++] = p->key.user_id;
					}
					else
						rl_remove_key(&p->key,
									  get_hash_value(sipcall_rl_hash, &p->key));
				}
				if (nusers > 0)
					sipcall_rl_remove_users(users, nusers);
			}
			rl_pending = NIL;
			rl_pending_all = false;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
		case XACT_EVENT_PARALLEL_COMMIT:
			rl_pending = NIL;
			rl_pending_all = false;
			break;
		default:
			break;
	}
}

/* Forget what an aborted subtransaction queued; hand up what a committed one did. */
static void
rl_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					SubTransactionId parentSubid, void *arg)
{
	int			level = GetCurrentTransactionNestLevel();
	ListCell   *lc;

	if (rl_pending == NIL && !rl_pending_all)
		return;
	if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		foreach(lc, rl_pending)
		{
			RlPending  *p = (RlPending *) lfirst(lc);

			if (p->nest_level >= level)
				rl_pending = foreach_delete_current(rl_pending, lc);
		}
		if (rl_pending_all && rl_pending_all_level >= level)
			rl_pending_all = false;
	}
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		foreach(lc, rl_pending)
		{
			RlPending  *p = (RlPending *) lfirst(lc);

			if (p->nest_level >= level)
				p->nest_level = level - 1;
		}
		if (rl_pending_all && rl_pending_all_level >= level)
			rl_pending_all_level = level - 1;
	}
}
