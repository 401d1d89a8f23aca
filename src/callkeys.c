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
 * is C and runs no statement there: a new call's registry row is a heap
 * tuple and its index entries written here, as INSERT would write them,
 * whenever call_keys is as sipcall made it (call_keys_add_plain); an
 * update that leaves the four registry columns as they were (a status, a
 * duration, a rotated number) does not fire it.  The rare paths (a
 * call_keys that gained a rule, a trigger, a check; an id, owner or
 * call_uuid that changes) run SQL through SPI.  It runs with the rights
 * and the search_path of whoever fires it, as the plpgsql version did: it
 * checks INSERT on call_keys itself, and every name and operator in its
 * statements is schema-qualified.
 *
 * The events of a call ask for its user (sipcall_call_keys_user, from the
 * events' fill trigger); a call's events mostly follow it in the same
 * transaction, so the registry row last written or found is fetched from
 * its address before the index is asked (last_row).
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
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/pg_am.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "storage/proc.h"
#include "utils/acl.h"
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

static void call_keys_of(Relation rel, TupleTableSlot *slot, CallKeys *keys);
static void duplicate_id(const CallKeys *keys) pg_attribute_noreturn();
static void require_registry_right(Relation rel, AclMode mode, int natts);
static void check_visible(Relation rel, TupleTableSlot *slot);
static bool call_key_same(const CallKeys *a, const CallKeys *b, int att);
static bool call_keys_same(const CallKeys *a, const CallKeys *b);
static void call_keys_add(Relation calls, const CallKeys *keys);
static bool registry_takes_statement(Relation rel);
static bool call_keys_add_plain(Relation rel, TupleDesc calls_desc,
								const CallKeys *keys);
static void call_keys_add_sql(const CallKeys *keys);
static void call_keys_change(const CallKeys *old, const CallKeys *new);
static uint64 run_kept(SPIPlanPtr *plan, const char *sql, const CallKeys *keys,
					   int expected);
static void run_keys(const char *sql, int nargs, const int *atts,
					 const CallKeys *const *from, int expected);

/*---- reading and writing call_keys without SQL ----*/

/*
 * Where this backend last wrote or found a call's registry row: the events
 * of a call come right after it, mostly in the same transaction, and each
 * asks for the call's user.  The address is used only in the
 * subtransaction that found it, which holds a lock on call_keys since then
 * (no VACUUM can truncate the page away), and only in the same file of
 * call_keys (TRUNCATE, CLUSTER and VACUUM FULL make a new one).  Only a
 * TRUNCATE of a call_keys made or given a new file in this transaction
 * empties the file in place, so the address may then be past its end.
 * What is there is still checked: the row must be visible to the snapshot
 * and have the id, else the index is asked.  Since ids are unique, a
 * visible row with the id is the one the index would find.
 */
static struct
{
	LocalTransactionId lxid;
	SubTransactionId subxid;
	Oid			relid;
	Oid			relfilenode;
	pg_uuid_t	id;
	ItemPointerData tid;
}			last_row;

static void remember_row(Relation rel, Datum id, ItemPointer tid);
static bool fetch_remembered(Relation rel, Datum id, Snapshot snapshot,
							 TupleTableSlot *slot);
static bool probe_row(Relation rel, Datum id, Snapshot snapshot,
					  TupleTableSlot *slot);

/* call_keys of schema nspoid, opened with lockmode */
static Relation
open_registry(Oid nspoid, LOCKMODE lockmode)
{
	Oid			relid = get_relname_relid("call_keys", nspoid);

	if (!OidIsValid(relid))
		elog(ERROR, "sipcall.call_keys is missing");
	return table_open(relid, lockmode);
}

static void
remember_row(Relation rel, Datum id, ItemPointer tid)
{
	last_row.lxid = MyProc->lxid;
	last_row.subxid = GetCurrentSubTransactionId();
	last_row.relid = RelationGetRelid(rel);
	last_row.relfilenode = rel->rd_node.relNode;
	memcpy(&last_row.id, DatumGetUUIDP(id), UUID_LEN);
	ItemPointerCopy(tid, &last_row.tid);
}

/* the registry row of call id, from where remember_row saw it */
static bool
fetch_remembered(Relation rel, Datum id, Snapshot snapshot,
				 TupleTableSlot *slot)
{
	bool		isnull;
	Datum		row_id;

	if (last_row.lxid != MyProc->lxid ||
		last_row.subxid != GetCurrentSubTransactionId() ||
		last_row.relid != RelationGetRelid(rel) ||
		last_row.relfilenode != rel->rd_node.relNode ||
		memcmp(&last_row.id, DatumGetUUIDP(id), UUID_LEN) != 0)
		return false;
	if ((rel->rd_createSubid != InvalidSubTransactionId ||
		 rel->rd_firstRelfilenodeSubid != InvalidSubTransactionId) &&
		ItemPointerGetBlockNumber(&last_row.tid) >=
		RelationGetNumberOfBlocks(rel))
		return false;
	if (!table_tuple_fetch_row_version(rel, &last_row.tid, snapshot, slot))
		return false;
	row_id = slot_getattr(slot, get_attnum(RelationGetRelid(rel), "id"),
						  &isnull);
	return !isnull && memcmp(DatumGetUUIDP(row_id), DatumGetUUIDP(id),
							 UUID_LEN) == 0;
}

/* the registry row of call id, through the primary key's index */
static bool
probe_row(Relation rel, Datum id, Snapshot snapshot, TupleTableSlot *slot)
{
	Relation	idx;
	ScanKeyData key;
	IndexScanDesc scan;
	bool		found;

	idx = index_open(RelationGetPrimaryKeyIndex(rel), AccessShareLock);
	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_UUID_EQ, id);
	scan = index_beginscan(rel, idx, snapshot, 1, 0);
	index_rescan(scan, &key, 1, NULL, 0);
	found = index_getnext_slot(scan, ForwardScanDirection, slot);
	index_endscan(scan);
	index_close(idx, NoLock);
	return found;
}

/* lock_row's table_tuple_lock of the row that slot holds */
static TM_Result
lock_found(Relation rel, Snapshot snapshot, TupleTableSlot *slot)
{
	ItemPointerData tid = slot->tts_tid;
	TM_FailureData tmfd;

	return table_tuple_lock(rel, &tid, snapshot, slot,
							GetCurrentCommandId(false), LockTupleShare,
							LockWaitBlock,
							IsolationUsesXactSnapshot() ? 0 :
							TUPLE_LOCK_FLAG_FIND_LAST_VERSION,
							&tmfd);
}

/*
 * Lock the registry row of call id that slot holds FOR SHARE, as SELECT
 * ... FOR SHARE would, and leave in slot what it holds now.  A change of
 * the row that is not committed yet (a new owner, a deletion) is waited
 * for: READ COMMITTED then reads the row as it is after it, REPEATABLE
 * READ and SERIALIZABLE fail with 40001 if it was committed.  Returns
 * false if the row is gone.
 */
static bool
lock_row(Relation rel, Datum id, Snapshot snapshot, TupleTableSlot *slot)
{
	TM_Result	result;
	bool		isnull;
	Datum		row_id;

	result = lock_found(rel, snapshot, slot);
	if (result == TM_Invisible &&
		snapshot->curcid != GetCurrentCommandId(false))
	{
		/*
		 * This transaction changed or deleted the row after the statement's
		 * snapshot was taken (a function or a writable CTE of the statement
		 * gave the call another owner, and moved only the events there were
		 * then): the row is the one the transaction has now.
		 */
		bool		found;

		PushCopiedSnapshot(snapshot);
		UpdateActiveSnapshotCommandId();
		found = probe_row(rel, id, GetActiveSnapshot(), slot);
		if (found)
			result = lock_found(rel, GetActiveSnapshot(), slot);
		PopActiveSnapshot();
		if (!found)
			return false;
	}
	switch (result)
	{
		case TM_Ok:
		case TM_SelfModified:	/* by this command: the snapshot's row it is */
			break;
		case TM_Updated:
		case TM_Deleted:
			if (IsolationUsesXactSnapshot())
				ereport(ERROR,
						(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
						 errmsg("could not serialize access due to concurrent update")));
			if (result == TM_Deleted)
				return false;
			elog(ERROR, "unexpected table_tuple_lock status: %u", result);
			break;
		default:
			elog(ERROR, "unexpected table_tuple_lock status: %u", result);
	}
	/* an UPDATE of call_keys itself may have given the row another id */
	row_id = slot_getattr(slot, get_attnum(RelationGetRelid(rel), "id"),
						  &isnull);
	return !isnull && memcmp(DatumGetUUIDP(row_id), DatumGetUUIDP(id),
							 UUID_LEN) == 0;
}

/*
 * Find the user of call call_id in call_keys (in schema nspoid), and lock
 * the call's registry row until the end of the transaction so that its
 * user cannot change before the event that asked is in place (or else,
 * in calls_keys_trigger, the owner change moves the event along).  Returns
 * false if there is no such call.
 */
bool
sipcall_call_keys_user(Oid nspoid, Datum call_id, Datum *user_id)
{
	Relation	rel = open_registry(nspoid, RowShareLock);
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	Snapshot	snapshot = GetActiveSnapshot();
	bool		found;

	found = (fetch_remembered(rel, call_id, snapshot, slot) ||
			 probe_row(rel, call_id, snapshot, slot)) &&
		lock_row(rel, call_id, snapshot, slot);
	if (found)
	{
		bool		isnull;
		AttrNumber	attnum = get_attnum(RelationGetRelid(rel), "user_id");

		remember_row(rel, call_id, &slot->tts_tid);
		*user_id = datumCopy(slot_getattr(slot, attnum, &isnull), false, UUID_LEN);
	}
	ExecDropSingleTupleTableSlot(slot);
	/* the lock stays until the end of the transaction, as remember_row needs */
	table_close(rel, NoLock);
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

/*
 * The registry columns of the row in slot, a row of rel: calls (or one of
 * its partitions), or call_keys.  The names come from rel: a trigger's slot
 * is in rel's layout, but its descriptor may be the plan's, whose columns
 * have no names (INSERT ... SELECT routed to a partition).
 */
static void
call_keys_of(Relation rel, TupleTableSlot *slot, CallKeys *keys)
{
	int			i;

	for (i = 0; i < CALL_KEY_NATTS; i++)
	{
		int			attnum = SPI_fnumber(RelationGetDescr(rel),
										 call_key_columns[i].name);
		bool		isnull;

		if (attnum <= 0)
			elog(ERROR, "calls_keys_trigger: the table has no column \"%s\"",
				 call_key_columns[i].name);
		keys->values[i] = slot_getattr(slot, attnum, &isnull);
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

/* a new call's id is another call's: what INSERT of a row of calls would say */
static void
duplicate_id(const CallKeys *keys)
{
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
 * The registry row of a new call, id, exists already, or is being made or
 * deleted by another transaction (whose end it waits for): whether it
 * exists, and then, in slot, what it holds.  A row made by this
 * transaction counts, whichever statement made it.
 */
static bool
existing_row(Relation rel, Datum id, TupleTableSlot *slot)
{
	for (;;)
	{
		SnapshotData dirty;
		TransactionId xwait;

		InitDirtySnapshot(dirty);
		if (!probe_row(rel, id, &dirty, slot))
			return false;
		xwait = TransactionIdIsValid(dirty.xmin) ? dirty.xmin : dirty.xmax;
		if (!TransactionIdIsValid(xwait))
			return true;
		XactLockTableWait(xwait, rel, &slot->tts_tid, XLTW_InsertIndex);
	}
}

/*
 * The right the statement would need on the first natts registry columns
 * of call_keys (rel): mode on the table, or else on each of the columns.
 * Refused, it says what the executor says.
 */
static void
require_registry_right(Relation rel, AclMode mode, int natts)
{
	Oid			relid = RelationGetRelid(rel);
	Oid			roleid = GetUserId();
	int			i;

	if (pg_class_aclcheck(relid, roleid, mode) == ACLCHECK_OK)
		return;
	for (i = 0; i < natts; i++)
	{
		AttrNumber	attnum = get_attnum(relid, call_key_columns[i].name);

		if (attnum == InvalidAttrNumber ||
			pg_attribute_aclcheck(relid, attnum, roleid, mode) != ACLCHECK_OK)
			aclcheck_error(ACLCHECK_NO_PRIV, OBJECT_TABLE,
						   RelationGetRelationName(rel));
	}
}

/*
 * A registry row that another transaction made after the snapshot of a
 * REPEATABLE READ or SERIALIZABLE transaction: 40001, as ON CONFLICT DO
 * NOTHING says (ExecCheckTupleVisible), whatever the row holds.
 */
static void
check_visible(Relation rel, TupleTableSlot *slot)
{
	bool		isnull;
	TransactionId xmin;

	if (!IsolationUsesXactSnapshot() ||
		table_tuple_satisfies_snapshot(rel, slot, GetActiveSnapshot()))
		return;
	xmin = DatumGetTransactionId(slot_getsysattr(slot,
												 MinTransactionIdAttributeNumber,
												 &isnull));
	if (!TransactionIdIsCurrentTransactionId(xmin))
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("could not serialize access due to concurrent update")));
}

/*
 * Whether an INSERT into call_keys (rel) would do more than add the row,
 * or other than add it, also when a row with its id is there already: a
 * rule, row security, a check constraint, an insert trigger, a partition
 * constraint, another kind of table or access method.  Then the statement
 * makes the whole registry write, and call_keys_add neither looks for the
 * row nor writes it itself.
 */
static bool
registry_takes_statement(Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	TriggerDesc *trig = rel->trigdesc;

	return rel->rd_rel->relkind != RELKIND_RELATION ||
		rel->rd_rel->relispartition ||
		rel->rd_rel->relam != HEAP_TABLE_AM_OID ||
		rel->rd_rel->relrowsecurity || rel->rd_rules != NULL ||
		(desc->constr && (desc->constr->num_check > 0 ||
						  desc->constr->has_generated_stored)) ||
		(trig && (trig->trig_insert_before_row || trig->trig_insert_after_row ||
				  trig->trig_insert_instead_row ||
				  trig->trig_insert_before_statement ||
				  trig->trig_insert_after_statement ||
				  trig->trig_insert_new_table));
}

/*
 * A new row of calls gets its registry row.  The row may be there already
 * and identical: when the insert is the second half of a move between
 * partitions (the BEFORE UPDATE half brought it up to date), or when a
 * restore has loaded call_keys first.  Any other row with this id makes
 * the id a duplicate (call_uuid's unique index says so for a call_uuid).
 *
 * This is INSERT INTO call_keys ... ON CONFLICT (id) DO NOTHING followed,
 * when nothing was inserted, by a look at the row that was there; without
 * the executor it costs a third of the statement (call_keys_add_plain
 * says when it can be done so).  Whoever inserts the call needs the
 * statements' rights either way: INSERT on call_keys' four columns and
 * SELECT on id, and SELECT on all four to be told a row there is the same.
 */
static void
call_keys_add(Relation calls, const CallKeys *keys)
{
	Relation	rel = open_registry(RelationGetNamespace(calls), RowExclusiveLock);
	TupleTableSlot *slot;
	bool		exists;
	bool		same = false;

	require_registry_right(rel, ACL_INSERT, CALL_KEY_NATTS);
	require_registry_right(rel, ACL_SELECT, 1);	/* ON CONFLICT (id) */

	if (keys->nulls[KEY_ID] == 'n' || registry_takes_statement(rel))
	{
		/*
		 * the statement says what is wrong, or does what the table asks
		 * of an INSERT (row security, say: a row there that the policies
		 * hide is no row this role may find the same, nor add)
		 */
		SPI_connect();
		call_keys_add_sql(keys);
		SPI_finish();
		table_close(rel, NoLock);
		return;
	}

	slot = table_slot_create(rel, NULL);
	exists = existing_row(rel, keys->values[KEY_ID], slot);
	if (exists)
	{
		CallKeys	there;

		check_visible(rel, slot);
		require_registry_right(rel, ACL_SELECT, CALL_KEY_NATTS);
		call_keys_of(rel, slot, &there);
		same = call_keys_same(&there, keys);
		if (same)
			remember_row(rel, keys->values[KEY_ID], &slot->tts_tid);
	}
	ExecDropSingleTupleTableSlot(slot);

	if (!exists &&
		!call_keys_add_plain(rel, RelationGetDescr(calls), keys))
	{
		SPI_connect();
		call_keys_add_sql(keys);
		SPI_finish();
	}
	table_close(rel, NoLock);
	if (exists && !same)
		duplicate_id(keys);
}

#define REGISTRY_MAX_INDEXES 8

/*
 * Insert the registry row of keys into rel, as INSERT would, without the
 * executor: a heap tuple and its index entries, the unique ones checked
 * (a duplicate call_uuid, or an id some other transaction just added,
 * raise 23505 as the statement would), for a call_keys that
 * registry_takes_statement leaves to it.  Returns false, having written
 * nothing, unless rel has the columns and types 10_tables.sql gives it,
 * and indexes that only need their columns (plain indexes, unique or
 * not): another column or type, an index with an expression, a
 * predicate or a deferred or exclusion constraint, or a NULL where
 * call_keys allows none all make the caller run the statement, which
 * knows them all.
 */
static bool
call_keys_add_plain(Relation rel, TupleDesc calls_desc, const CallKeys *keys)
{
	TupleDesc	desc = RelationGetDescr(rel);
	Datum	   *values;
	bool	   *isnull;
	int			nset = 0;
	List	   *indexes;
	ListCell   *lc;
	Relation	idxrels[REGISTRY_MAX_INDEXES];
	IndexInfo  *infos[REGISTRY_MAX_INDEXES];
	int			nidx = 0;
	bool		plain;
	int			i;

	values = palloc0(sizeof(Datum) * desc->natts);
	isnull = palloc(sizeof(bool) * desc->natts);
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		int			k;
		int			callatt;

		isnull[i] = true;
		if (att->attisdropped)
			continue;
		for (k = 0; k < CALL_KEY_NATTS; k++)
			if (strcmp(NameStr(att->attname), call_key_columns[k].name) == 0)
				break;
		if (k == CALL_KEY_NATTS || att->atttypid != call_key_columns[k].type)
			return false;
		callatt = SPI_fnumber(calls_desc, call_key_columns[k].name);
		if (callatt <= 0 ||
			att->atttypmod != TupleDescAttr(calls_desc, callatt - 1)->atttypmod ||
			(keys->nulls[k] == 'n' && att->attnotnull))
			return false;
		values[i] = keys->values[k];
		isnull[i] = keys->nulls[k] == 'n';
		nset++;
	}
	if (nset != CALL_KEY_NATTS)
		return false;

	indexes = RelationGetIndexList(rel);
	plain = list_length(indexes) <= REGISTRY_MAX_INDEXES;
	foreach(lc, indexes)
	{
		if (!plain)
			break;
		idxrels[nidx] = index_open(lfirst_oid(lc), RowExclusiveLock);
		infos[nidx] = BuildIndexInfo(idxrels[nidx]);
		plain = infos[nidx]->ii_Expressions == NIL &&
			infos[nidx]->ii_Predicate == NIL &&
			infos[nidx]->ii_ExclusionOps == NULL &&
			idxrels[nidx]->rd_index->indimmediate;
		nidx++;
	}
	list_free(indexes);

	if (plain)
	{
		HeapTuple	tuple = heap_form_tuple(desc, values, isnull);
		TupleTableSlot *slot = MakeSingleTupleTableSlot(desc, &TTSOpsHeapTuple);

		simple_heap_insert(rel, tuple);
		ExecStoreHeapTuple(tuple, slot, false);
		for (i = 0; i < nidx; i++)
		{
			Datum		ivalues[INDEX_MAX_KEYS];
			bool		inulls[INDEX_MAX_KEYS];
			Relation	idx = idxrels[i];

			if (!infos[i]->ii_ReadyForInserts)
				continue;
			FormIndexDatum(infos[i], slot, NULL, ivalues, inulls);
			index_insert(idx, ivalues, inulls, &tuple->t_self, rel,
						 idx->rd_index->indisunique ? UNIQUE_CHECK_YES : UNIQUE_CHECK_NO,
						 false, infos[i]);
		}
		remember_row(rel, keys->values[KEY_ID], &tuple->t_self);
		ExecDropSingleTupleTableSlot(slot);
	}
	for (i = 0; i < nidx; i++)
		index_close(idxrels[i], NoLock);
	return plain;
}

/*
 * call_keys_add by statement, for a call_keys that call_keys_add_plain
 * does not know how to write to: the row was not there a moment ago, but
 * may be now (another transaction), and then must be identical.
 */
static void
call_keys_add_sql(const CallKeys *keys)
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
	duplicate_id(keys);
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
	CallKeys	old;
	CallKeys	new;

	if (!CALLED_AS_TRIGGER(fcinfo) ||
		!TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!(TRIGGER_FIRED_BY_INSERT(trigdata->tg_event) ||
		  TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event)))
		elog(ERROR, "sipcall_calls_keys: must be fired before insert or update, for each row");
	sipcall_trigger_check_table(trigdata, "calls_keys_trigger", "calls");

	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
	{
		call_keys_of(trigdata->tg_relation, trigdata->tg_trigslot, &new);
		call_keys_add(trigdata->tg_relation, &new);
		return PointerGetDatum(trigdata->tg_trigtuple);
	}

	call_keys_of(trigdata->tg_relation, trigdata->tg_trigslot, &old);
	call_keys_of(trigdata->tg_relation, trigdata->tg_newslot, &new);
	if (!call_keys_same(&old, &new))
	{
		SPI_connect();
		call_keys_change(&old, &new);
		SPI_finish();
	}
	return PointerGetDatum(trigdata->tg_newtuple);
}
