/*-------------------------------------------------------------------------
 *
 * callkeys.c
 *		sipcall.call_keys from C: the one module that C code asks about a
 *		call's registry row or has forget rows.
 *
 * call_keys is the unpartitioned registry of calls (one row per call:
 * id, call_uuid, user_id, initiated_at) that makes ids and call_uuids
 * unique across the partitions of calls and that call_events refers to.
 * Row by row it is kept by triggers on calls (src/sql/15_call_keys.sql):
 * calls_keys_trigger, here, on every insert and update of a call, and the
 * plpgsql ones that forget the rows of deleted calls.  Statements that
 * bypass those triggers for speed (erasure, retention) call the functions
 * here instead of writing to it.  A row moved between partitions keeps
 * its registry row as it is.
 *
 * calls_keys_trigger is on the path of every call the app inserts, so it
 * is C and asks SPI only for what it must write: an update that leaves the
 * four registry columns as they were (a status, a duration, a rotated
 * number) costs no statement at all.  It runs with the rights and the
 * search_path of whoever fires it, as the plpgsql version did, so every
 * name and operator in its statements is schema-qualified.
 *
 * Calls: sipcall.h's SPI helpers, privileged.c (the table check).  The
 * functions other than the trigger are called with the extension owner's
 * rights (privileged.h) and an SPI connection.
 *
 * Copyright (c) 2026, the sipcall authors
 *
 * IDENTIFICATION
 *		src/callkeys.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "executor/tuptable.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/uuid.h"

#include "privileged.h"
#include "sipcall.h"

/*
 * The columns of calls that call_keys copies, in the order of call_keys'
 * columns and of the parameters of the statements below.
 */
#define CALL_KEY_NATTS 4

static const struct
{
	const char *name;
	Oid			type;
	int16		len;
	bool		byval;
}			call_key_columns[CALL_KEY_NATTS] = {
	{"id", UUIDOID, UUID_LEN, false},
	{"call_uuid", VARCHAROID, -1, false},
	{"user_id", UUIDOID, UUID_LEN, false},
	{"initiated_at", TIMESTAMPTZOID, sizeof(TimestampTz), FLOAT8PASSBYVAL},
};

/* a call's registry columns as a row of calls holds them */
typedef struct CallKeys
{
	Datum		values[CALL_KEY_NATTS];
	char		nulls[CALL_KEY_NATTS];	/* SPI's ' ' or 'n' */
} CallKeys;

#define KEY_ID 0
#define KEY_USER 2

static SPIPlanPtr add_plan = NULL;
static SPIPlanPtr same_plan = NULL;

static void call_keys_of(HeapTuple tuple, TupleDesc desc, CallKeys *keys);
static bool call_key_same(const CallKeys *a, const CallKeys *b, int att);
static bool call_keys_same(const CallKeys *a, const CallKeys *b);
static void call_keys_add(const CallKeys *keys);
static void call_keys_change(const CallKeys *old, const CallKeys *new);
static uint64 run_kept(SPIPlanPtr *plan, const char *sql, const CallKeys *keys,
					   int expected);
static void run_keys(const char *sql, int nargs, const int *atts,
					 const CallKeys *const *from, int expected);

/*
 * Find the user of call call_id in call_keys (in schema nspoid).  Returns
 * false if there is no such call.
 */
bool
sipcall_call_keys_user(Oid nspoid, Datum call_id, Datum *user_id)
{
	Oid			relid = get_relname_relid("call_keys", nspoid);
	Relation	rel;
	Relation	idx;
	ScanKeyData key;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	bool		found;

	if (!OidIsValid(relid))
		elog(ERROR, "sipcall.call_keys is missing");
	rel = table_open(relid, AccessShareLock);
	idx = index_open(RelationGetPrimaryKeyIndex(rel), AccessShareLock);

	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_UUID_EQ, call_id);
	slot = table_slot_create(rel, NULL);
	scan = index_beginscan(rel, idx, GetActiveSnapshot(), 1, 0);
	index_rescan(scan, &key, 1, NULL, 0);
	found = index_getnext_slot(scan, ForwardScanDirection, slot);
	if (found)
	{
		bool		isnull;
		AttrNumber	attnum = get_attnum(relid, "user_id");

		*user_id = datumCopy(slot_getattr(slot, attnum, &isnull), false, UUID_LEN);
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	index_close(idx, AccessShareLock);
	table_close(rel, AccessShareLock);
	return found;
}

/*
 * Forget the registry rows of the calls whose ids are in the uuid[] ids
 * (a statement deleted those calls with their triggers off); returns how
 * many rows went.
 */
uint64
sipcall_call_keys_forget(const char *nsp, Datum ids)
{
	Oid			argtypes[1] = {UUIDARRAYOID};

	return sipcall_spi_exec(psprintf("DELETE FROM %s.call_keys"
									 " WHERE id OPERATOR(pg_catalog.=) ANY ($1)",
									 nsp),
							1, argtypes, &ids, NULL, SPI_OK_DELETE);
}

/*
 * Forget the registry rows of the calls of qcalls (a qualified name of
 * calls or one of its partitions) that began before cutoff; run before
 * those calls are deleted.  Returns how many rows went.
 */
int64
sipcall_call_keys_forget_before(const char *nsp, const char *qcalls,
								TimestampTz cutoff)
{
	return sipcall_spi_count(psprintf("DELETE FROM %s.call_keys k USING %s c"
									  " WHERE c.initiated_at OPERATOR(pg_catalog.<) $1"
									  " AND k.id OPERATOR(pg_catalog.=) c.id",
									  nsp, qcalls),
							 cutoff, true);
}

/*---- calls_keys_trigger ----*/

/* the registry columns of a row of calls (or of one of its partitions) */
static void
call_keys_of(HeapTuple tuple, TupleDesc desc, CallKeys *keys)
{
	int			i;

	for (i = 0; i < CALL_KEY_NATTS; i++)
	{
		int			attnum = SPI_fnumber(desc, call_key_columns[i].name);
		bool		isnull;

		if (attnum <= 0)
			elog(ERROR, "calls_keys_trigger: the table has no column \"%s\"",
				 call_key_columns[i].name);
		keys->values[i] = heap_getattr(tuple, attnum, desc, &isnull);
		keys->nulls[i] = isnull ? 'n' : ' ';
	}
}

/*
 * a's column att IS NOT DISTINCT FROM b's (equal images are equal values
 * for these types: none has a collation that is not deterministic, or two
 * images of one value)
 */
static bool
call_key_same(const CallKeys *a, const CallKeys *b, int att)
{
	if (a->nulls[att] != b->nulls[att])
		return false;
	return a->nulls[att] == 'n' ||
		datum_image_eq(a->values[att], b->values[att],
					   call_key_columns[att].byval, call_key_columns[att].len);
}

/* every registry column of a IS NOT DISTINCT FROM b's */
static bool
call_keys_same(const CallKeys *a, const CallKeys *b)
{
	int			i;

	for (i = 0; i < CALL_KEY_NATTS; i++)
		if (!call_key_same(a, b, i))
			return false;
	return true;
}

/*
 * Run one of the kept statements whose parameters are a call's four
 * registry columns; prepare it on first use.  Returns the rows processed.
 */
static uint64
run_kept(SPIPlanPtr *plan, const char *sql, const CallKeys *keys, int expected)
{
	int			ret;

	if (*plan == NULL)
	{
		Oid			types[CALL_KEY_NATTS];
		int			i;

		for (i = 0; i < CALL_KEY_NATTS; i++)
			types[i] = call_key_columns[i].type;
		*plan = sipcall_spi_keep_plan(sql, CALL_KEY_NATTS, types, 0);
	}
	ret = SPI_execute_plan(*plan, (Datum *) keys->values, keys->nulls,
						   false, 0);
	if (ret != expected)
		elog(ERROR, "SPI_execute_plan returned %s, expected %s: %s",
			 SPI_result_code_string(ret), SPI_result_code_string(expected),
			 sql);
	return SPI_processed;
}

/*
 * Run one of the rare statements: parameter $k+1 is column atts[k] of
 * from[k].
 */
static void
run_keys(const char *sql, int nargs, const int *atts,
		 const CallKeys *const *from, int expected)
{
	Oid			types[CALL_KEY_NATTS];
	Datum		values[CALL_KEY_NATTS];
	char		nulls[CALL_KEY_NATTS];
	int			k;

	Assert(nargs <= CALL_KEY_NATTS);
	for (k = 0; k < nargs; k++)
	{
		types[k] = call_key_columns[atts[k]].type;
		values[k] = from[k]->values[atts[k]];
		nulls[k] = from[k]->nulls[atts[k]];
	}
	(void) sipcall_spi_exec(sql, nargs, types, values, nulls, expected);
}

/*
 * A new row of calls gets its registry row.  The row may be there already
 * and identical: when the insert is the second half of a move between
 * partitions (the BEFORE UPDATE half brought it up to date), or when a
 * restore has loaded call_keys first.  Any other row with this id makes
 * the id a duplicate (call_uuid's unique index says so for a call_uuid).
 */
static void
call_keys_add(const CallKeys *keys)
{
	if (run_kept(&add_plan,
				 "INSERT INTO sipcall.call_keys (id, call_uuid, user_id, initiated_at)"
				 " VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING",
				 keys, SPI_OK_INSERT) == 1)
		return;
	if (run_kept(&same_plan,
				 "SELECT FROM sipcall.call_keys k"
				 " WHERE k.id OPERATOR(pg_catalog.=) $1"
				 " AND (k.call_uuid OPERATOR(pg_catalog.=) $2"
				 "      OR (k.call_uuid IS NULL AND $2 IS NULL))"
				 " AND k.user_id OPERATOR(pg_catalog.=) $3"
				 " AND k.initiated_at OPERATOR(pg_catalog.=) $4",
				 keys, SPI_OK_SELECT) == 1)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_UNIQUE_VIOLATION),
			 errmsg("duplicate key value violates unique constraint \"%s\"",
					"calls_id_key"),
			 errdetail("Key (id)=(%s) already exists.",
					   DatumGetCString(DirectFunctionCall1(uuid_out,
														   keys->values[KEY_ID]))),
			 err_generic_string(PG_DIAG_SCHEMA_NAME, SIPCALL_EXTENSION_NAME),
			 err_generic_string(PG_DIAG_TABLE_NAME, "calls"),
			 err_generic_string(PG_DIAG_CONSTRAINT_NAME, "calls_id_key")));
}

/*
 * An update changed a call's registry columns.  A new id gets a registry
 * row of its own and the events move to it: the old row cannot take the
 * new id while calls_id_fkey still sees the old id in the call (the old
 * row goes once no call has its id, calls_forget_trigger).  Otherwise the
 * row is brought up to date, and a new owner takes the events along.
 */
static void
call_keys_change(const CallKeys *old, const CallKeys *new)
{
	static const int all_atts[CALL_KEY_NATTS] = {0, 1, 2, 3};
	static const int id_att[1] = {KEY_ID};
	static const int id_user_atts[3] = {KEY_ID, KEY_USER, KEY_ID};	/* $1, $2, $3 */
	const CallKeys *const all_new[CALL_KEY_NATTS] = {new, new, new, new};
	const CallKeys *const old_id[1] = {old};
	const CallKeys *const move[3] = {new, new, old};

	if (!call_key_same(old, new, KEY_ID))
	{
		run_keys("UPDATE sipcall.call_keys SET call_uuid = NULL"
				 " WHERE id OPERATOR(pg_catalog.=) $1",
				 1, id_att, old_id, SPI_OK_UPDATE);
		run_keys("INSERT INTO sipcall.call_keys (id, call_uuid, user_id, initiated_at)"
				 " VALUES ($1, $2, $3, $4)",
				 CALL_KEY_NATTS, all_atts, all_new, SPI_OK_INSERT);
		run_keys("UPDATE sipcall.call_events SET call_id = $1, user_id = $2"
				 " WHERE call_id OPERATOR(pg_catalog.=) $3",
				 3, id_user_atts, move, SPI_OK_UPDATE);
		return;
	}
	run_keys("UPDATE sipcall.call_keys"
			 " SET call_uuid = $2, user_id = $3, initiated_at = $4"
			 " WHERE id OPERATOR(pg_catalog.=) $1",
			 CALL_KEY_NATTS, all_atts, all_new, SPI_OK_UPDATE);
	if (!call_key_same(old, new, KEY_USER))
		run_keys("UPDATE sipcall.call_events SET user_id = $2"
				 " WHERE call_id OPERATOR(pg_catalog.=) $1",
				 2, id_user_atts, all_new, SPI_OK_UPDATE);
}

PG_FUNCTION_INFO_V1(sipcall_calls_keys);

/*
 * BEFORE INSERT OR UPDATE ROW trigger on calls: keep the call's row of
 * call_keys in step with it (src/sql/15_call_keys.sql tells how a move
 * between partitions goes).
 */
Datum
sipcall_calls_keys(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	CallKeys	old;
	CallKeys	new;

	if (!CALLED_AS_TRIGGER(fcinfo) ||
		!TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!(TRIGGER_FIRED_BY_INSERT(trigdata->tg_event) ||
		  TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event)))
		elog(ERROR, "sipcall_calls_keys: must be fired before insert or update, for each row");
	sipcall_trigger_check_table(trigdata, "calls_keys_trigger", "calls");

	desc = RelationGetDescr(trigdata->tg_relation);
	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
	{
		call_keys_of(trigdata->tg_trigtuple, desc, &new);
		SPI_connect();
		call_keys_add(&new);
		SPI_finish();
		return PointerGetDatum(trigdata->tg_trigtuple);
	}

	call_keys_of(trigdata->tg_trigtuple, desc, &old);
	call_keys_of(trigdata->tg_newtuple, desc, &new);
	if (!call_keys_same(&old, &new))
	{
		SPI_connect();
		call_keys_change(&old, &new);
		SPI_finish();
	}
	return PointerGetDatum(trigdata->tg_newtuple);
}
