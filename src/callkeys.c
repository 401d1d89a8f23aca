/*-------------------------------------------------------------------------
 *
 * callkeys.c
 *		sipcall.call_keys from C: the one module that C code asks about a
 *		call's registry row or has forget rows.
 *
 * call_keys is the unpartitioned registry of calls (one row per call:
 * id, call_uuid, user_id, initiated_at) that makes ids and call_uuids
 * unique across the partitions of calls and that call_events refers to.
 * Row by row it is kept by the plpgsql triggers on calls (src/sql/
 * 15_call_keys.sql); statements that bypass those triggers for speed
 * (erasure, retention) call the functions here instead of writing to it.
 * A row moved between partitions keeps its registry row as it is.
 *
 * Calls: sipcall.h's SPI helpers.  Callers hold the extension owner's
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
#include "executor/spi.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/uuid.h"

#include "sipcall.h"

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
