/*-------------------------------------------------------------------------
 *
 * events.c
 *		The trigger that ties a call event to its call.
 *
 * call_events refers to sipcall.call_keys, the unpartitioned registry of
 * calls (one row per call, kept by triggers on calls), not to the
 * partitioned calls itself: a foreign key check against one small index is
 * several times cheaper than one against a partitioned table.  A client
 * inserts only the seed's columns; this BEFORE ROW trigger copies the
 * call's user_id into the event (it is part of the event's key, for
 * distribution by user) and turns an unknown call_id into a clear 23503
 * before the foreign key would.  A user_id given by the client must be the
 * call's (else 23503 too): export and erasure find a user's events by
 * user_id, so an event filed under another user would escape both.  When
 * a call changes owner, calls_keys_trigger moves its events along.
 *
 * The lookup reads call_keys with the statement's snapshot, as the
 * equivalent SELECT would: from where this transaction has just written
 * or read the call's row, or through the primary key index (callkeys.c);
 * the foreign key (checked after this trigger) still locks the call's
 * registry row, so an erasure running at the same time wins or waits as
 * usual.
 *
 * Calls: callkeys.c (a call's registry row), privileged.c (the table
 * check).
 *
 * Copyright (c) 2026, the sipcall authors
 *
 * IDENTIFICATION
 *		src/events.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/uuid.h"

#include "privileged.h"
#include "sipcall.h"

PG_FUNCTION_INFO_V1(sipcall_call_events_fill);

static bool moved_with_old_user(HeapTuple oldtup, TupleDesc desc,
								int call_attnum, int user_attnum,
								Datum call_id, Datum given_user);

/*
 * Whether an update moves the event to another call (call_id) and leaves
 * user_id as it was (given_user): then it takes the new call's user, as an
 * insert without user_id does.
 */
static bool
moved_with_old_user(HeapTuple oldtup, TupleDesc desc, int call_attnum,
					int user_attnum, Datum call_id, Datum given_user)
{
	bool		old_null;
	Datum		old_call;
	Datum		old_user;

	old_call = heap_getattr(oldtup, call_attnum, desc, &old_null);
	if (old_null || DatumGetBool(DirectFunctionCall2(uuid_eq, old_call, call_id)))
		return false;
	old_user = heap_getattr(oldtup, user_attnum, desc, &old_null);
	return !old_null && DatumGetBool(DirectFunctionCall2(uuid_eq, old_user,
														  given_user));
}

/*
 * BEFORE INSERT OR UPDATE ROW trigger on call_events: fill in user_id from
 * the call when it is not given (or when an update changes call_id and
 * leaves user_id as it was), reject an unknown call_id, and a user_id that
 * is not the call's, with 23503.
 */
Datum
sipcall_call_events_fill(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Relation	rel;
	TupleDesc	desc;
	HeapTuple	tuple;
	int			call_attnum;
	int			user_attnum;
	bool		call_null;
	bool		user_null;
	Datum		call_id;
	Datum		given_user;
	Datum		user_id;

	if (!CALLED_AS_TRIGGER(fcinfo) ||
		!TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		elog(ERROR, "sipcall_call_events_fill: must be fired before insert or update, for each row");
	sipcall_trigger_check_table(trigdata, "call_events_fill_trigger",
								"call_events");

	rel = trigdata->tg_relation;
	desc = RelationGetDescr(rel);
	tuple = TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ?
		trigdata->tg_newtuple : trigdata->tg_trigtuple;
	call_attnum = SPI_fnumber(desc, "call_id");
	user_attnum = SPI_fnumber(desc, "user_id");
	if (call_attnum <= 0 || user_attnum <= 0)
		elog(ERROR, "sipcall_call_events_fill: \"%s\" has no call_id or user_id",
			 RelationGetRelationName(rel));

	call_id = heap_getattr(tuple, call_attnum, desc, &call_null);
	given_user = heap_getattr(tuple, user_attnum, desc, &user_null);
	if (call_null)
		return PointerGetDatum(tuple);	/* NOT NULL will say so */

	if (!user_null && TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) &&
		moved_with_old_user(trigdata->tg_trigtuple, desc, call_attnum,
							user_attnum, call_id, given_user))
		user_null = true;

	if (!sipcall_call_keys_user(RelationGetNamespace(rel), call_id, &user_id))
		ereport(ERROR,
				(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
				 errmsg("call %s does not exist",
						DatumGetCString(DirectFunctionCall1(uuid_out, call_id))),
				 errdetail("Every call event must refer to an existing row of sipcall.calls."),
				 errtableconstraint(rel, "call_events_call_id_fkey")));

	/* a user_id given must be the call's */
	if (!user_null)
	{
		if (!DatumGetBool(DirectFunctionCall2(uuid_eq, given_user, user_id)))
			ereport(ERROR,
					(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
					 errmsg("user %s is not the user of call %s",
							DatumGetCString(DirectFunctionCall1(uuid_out, given_user)),
							DatumGetCString(DirectFunctionCall1(uuid_out, call_id))),
					 errdetail("The user_id of a call event is always that of its call."),
					 errhint("Leave user_id out: it is filled in from the call."),
					 errtablecol(rel, user_attnum)));
		return PointerGetDatum(tuple);
	}

	user_null = false;
	return PointerGetDatum(heap_modify_tuple_by_cols(tuple, desc, 1,
													 &user_attnum, &user_id,
													 &user_null));
}
