/*-------------------------------------------------------------------------
 *
 * retention.c
 *		Forgetting old rows: the retention settings in system_config, their
 *		validation trigger, and cleanup_old_call_events(),
 *		cleanup_old_audit_logs() and cleanup_old_calls().
 *
 * A cleanup computes its cutoff as now() minus the configured interval,
 * in UTC.  Every monthly partition lying wholly before the cutoff (upper
 * bound <= cutoff) is dropped; in the month that straddles the cutoff and
 * in the default partition only the rows older than the cutoff are
 * deleted.  The number returned is the exact number of rows removed: a
 * partition's rows are counted just before it is dropped, while a lock
 * keeps writers out of it.
 *
 * Locking, in this order:
 *	1. the parent in SHARE UPDATE EXCLUSIVE mode, waiting as long as it
 *	   takes.  It conflicts with itself, so two cleanups of one table, and a
 *	   cleanup and create_partition(), run one after the other; inserts and
 *	   queries are not blocked by it.
 *	2. each expired partition in SHARE mode (EXCLUSIVE for calls, which also
 *	   keeps out the foreign-key checks of new call events), waiting at most
 *	   sipcall.lock_timeout.  Only writers of that old month wait for it.
 *	3. for the drops: the parent, its default partition and the expired
 *	   partitions in ACCESS EXCLUSIVE mode, waiting at most
 *	   sipcall.lock_timeout.  This blocks every insert into the table until
 *	   the transaction ends, so it is taken last, after all the slow work
 *	   (row deletes, counts) is done.
 * A lock of steps 2 or 3 that cannot be had in time is given up (its
 * subtransaction rolled back); the partition's rows are then deleted
 * instead, which is exact and blocks nobody, and the empty partition is
 * dropped by a later cleanup.  Nothing but the drop is undone.
 *
 * Calls: when 'retention.calls' is set, expired calls go together with
 * their call_events and their entries in call_keys.  Those deletes run
 * with session_replication_role = replica, so that no trigger fires: the
 * daily summary keeps the figures of the days removed (API.md,
 * Clarification 2) and no cascade runs twice.  Rows of expired calls are
 * locked first (FOR UPDATE, or the partition's EXCLUSIVE lock), so that
 * no call event can be added to them between the delete of the events
 * and the delete of the calls.  An expired partition of calls is dropped
 * while attached: detached, it would take its own copy of the foreign key
 * calls_id_fkey, and dropping that locks call_keys (and with it every
 * insert of a call event) until the transaction ends.
 *
 * The monthly partitions are not members of the extension (see
 * partition.c), so a drop is a plain DROP TABLE.
 *
 * Copyright (c) 2026, the sipcall authors
 *
 * IDENTIFICATION
 *		src/retention.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/nbtree.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/visibilitymap.h"
#include "access/xact.h"
#include "catalog/pg_am.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/fmgroids.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "privileged.h"
#include "sipcall.h"

PG_FUNCTION_INFO_V1(sipcall_cleanup_old_call_events);
PG_FUNCTION_INFO_V1(sipcall_cleanup_old_audit_logs);
PG_FUNCTION_INFO_V1(sipcall_cleanup_old_calls);
PG_FUNCTION_INFO_V1(sipcall_system_config_validate);

/*---- the settings this module owns ----*/

#define KEY_RETENTION_CALL_EVENTS	"retention.call_events"
#define KEY_RETENTION_AUDIT_LOGS	"retention.audit_logs"
#define KEY_RETENTION_CALLS			"retention.calls"
#define KEY_PREMAKE_MONTHS			"partition.premake_months"

#define DEFAULT_PREMAKE_MONTHS		3
#define MAX_PREMAKE_MONTHS			24
#define MAX_RETENTION_YEARS			1000

/* one partition the cleanup has to do something about */
typedef struct ExpiredPart
{
	Oid			relid;
	char	   *qname;			/* schema-qualified, quoted */
	bool		whole;			/* lies wholly before the cutoff: drop it */
	bool		is_default;
	int64		rows;			/* rows removed from it */
} ExpiredPart;

static Interval *retention_from_json(const char *key, Jsonb *value,
									 bool nullable);
static int	premake_from_json(const char *key, Jsonb *value);
static void validate_config(const char *key, Jsonb *value);
static void part_bounds(Oid relid, bool *is_default,
						TimestampTz *lower, bool *lower_inf,
						TimestampTz *upper, bool *upper_inf);
static int64 spi_count(const char *sql, TimestampTz cutoff, bool with_cutoff);
static int64 count_rows(Oid relid, const char *qname);
static int64 trim_parts(ExpiredPart *parts, int nparts, bool whole,
						const char *key, TimestampTz cutoff);
static int64 retention_run(SipcallManagedTable table, TimestampTz cutoff);
static int32 cleanup(SipcallManagedTable table, const char *key);
static void raise_bad_value(const char *key, const char *detail)
			pg_attribute_noreturn();

/*---- configuration ----*/

static void
raise_bad_value(const char *key, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid value for configuration key \"%s\"", key),
			 errdetail_internal("%s", detail)));
}

/*
 * A retention setting: a JSON string holding an interval longer than zero
 * (and at most MAX_RETENTION_YEARS), or, if nullable, JSON null meaning
 * "keep forever", returned as NULL.
 */
static Interval *
retention_from_json(const char *key, Jsonb *value, bool nullable)
{
	JsonbValue	v;
	char	   *text;
	char		workbuf[256];
	char	   *field[MAXDATEFIELDS];
	int			ftype[MAXDATEFIELDS];
	int			nf;
	int			dtype;
	int			dterr;
	struct pg_itm_in itm_in;
	Interval   *iv;
	Interval	zero = {0};
	Interval	most = {0};
	const char *shape = nullable ?
		"The value must be a JSON string holding an interval, such as \"2 years\", or null to keep calls forever." :
		"The value must be a JSON string holding an interval, such as \"90 days\".";

	if (!JB_ROOT_IS_SCALAR(value) || !JsonbExtractScalar(&value->root, &v))
		raise_bad_value(key, shape);
	if (v.type == jbvNull && nullable)
		return NULL;
	if (v.type != jbvString)
		raise_bad_value(key, shape);

	text = pnstrdup(v.val.string.val, v.val.string.len);

	/* interval_in without its error: the message must name the key */
	iv = palloc(sizeof(Interval));
	dterr = ParseDateTime(text, workbuf, sizeof(workbuf), field, ftype,
						  MAXDATEFIELDS, &nf);
	if (dterr == 0)
		dterr = DecodeInterval(field, ftype, nf, INTERVAL_FULL_RANGE,
							   &dtype, &itm_in);
	if (dterr == DTERR_BAD_FORMAT)
		dterr = DecodeISO8601Interval(text, &dtype, &itm_in);
	if (dterr != 0 || dtype != DTK_DELTA || itmin2interval(&itm_in, iv) != 0)
		raise_bad_value(key, psprintf("\"%s\" is not an interval.", text));

	if (!DatumGetBool(DirectFunctionCall2(interval_gt, IntervalPGetDatum(iv),
										  IntervalPGetDatum(&zero))))
		raise_bad_value(key, "A retention must be longer than zero.");
	most.month = MAX_RETENTION_YEARS * MONTHS_PER_YEAR;
	if (DatumGetBool(DirectFunctionCall2(interval_gt, IntervalPGetDatum(iv),
										 IntervalPGetDatum(&most))))
		raise_bad_value(key, psprintf("A retention can be at most %d years.",
									  MAX_RETENTION_YEARS));
	return iv;
}

/* partition.premake_months: a whole JSON number from 1 to 24 */
static int
premake_from_json(const char *key, Jsonb *value)
{
	JsonbValue	v;
	char	   *digits;
	const char *detail = psprintf("The value must be a whole number from 1 to %d.",
								  MAX_PREMAKE_MONTHS);
	int			months;

	if (!JB_ROOT_IS_SCALAR(value) || !JsonbExtractScalar(&value->root, &v) ||
		v.type != jbvNumeric)
		raise_bad_value(key, detail);
	digits = DatumGetCString(DirectFunctionCall1(numeric_out,
												 NumericGetDatum(v.val.numeric)));
	if (strspn(digits, "0123456789") != strlen(digits) || strlen(digits) > 2)
		raise_bad_value(key, detail);
	months = atoi(digits);
	if (months < 1 || months > MAX_PREMAKE_MONTHS)
		raise_bad_value(key, detail);
	return months;
}

/* Reject a bad value of one of our keys; other keys pass. */
static void
validate_config(const char *key, Jsonb *value)
{
	if (strcmp(key, KEY_RETENTION_CALL_EVENTS) == 0 ||
		strcmp(key, KEY_RETENTION_AUDIT_LOGS) == 0)
		(void) retention_from_json(key, value, false);
	else if (strcmp(key, KEY_RETENTION_CALLS) == 0)
		(void) retention_from_json(key, value, true);
	else if (strcmp(key, KEY_PREMAKE_MONTHS) == 0)
		(void) premake_from_json(key, value);
}

/*
 * The retention configured for key (built-in default when there is no
 * row), or NULL for "keep forever".  A bad value (one written with the
 * validation trigger disabled) is an error, 22023.
 */
Interval *
sipcall_config_retention(const char *key)
{
	Jsonb	   *value = sipcall_config_value(key);
	Interval   *iv;

	if (value != NULL)
		return retention_from_json(key, value,
								   strcmp(key, KEY_RETENTION_CALLS) == 0);

	if (strcmp(key, KEY_RETENTION_CALLS) == 0)
		return NULL;
	iv = palloc0(sizeof(Interval));
	if (strcmp(key, KEY_RETENTION_CALL_EVENTS) == 0)
		iv->day = 90;
	else
		iv->month = MONTHS_PER_YEAR;
	return iv;
}

/* partition.premake_months, or its default */
int
sipcall_config_premake_months(void)
{
	Jsonb	   *value = sipcall_config_value(KEY_PREMAKE_MONTHS);

	return value != NULL ? premake_from_json(KEY_PREMAKE_MONTHS, value) :
		DEFAULT_PREMAKE_MONTHS;
}

/*
 * sipcall.system_config_validate_trigger(): BEFORE INSERT OR UPDATE FOR
 * EACH ROW on system_config.
 */
Datum
sipcall_system_config_validate(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	HeapTuple	tuple;
	TupleDesc	desc;
	int			keyno;
	int			valueno;
	Datum		d;
	bool		isnull;
	char	   *key;

	if (!CALLED_AS_TRIGGER(fcinfo) ||
		!TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		elog(ERROR, "system_config_validate_trigger must fire BEFORE INSERT OR UPDATE FOR EACH ROW");
	sipcall_trigger_check_table(trigdata, "system_config_validate_trigger",
								"system_config");

	tuple = TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ?
		trigdata->tg_newtuple : trigdata->tg_trigtuple;
	desc = RelationGetDescr(trigdata->tg_relation);
	keyno = SPI_fnumber(desc, "config_key");
	valueno = SPI_fnumber(desc, "config_value");
	if (keyno <= 0 || valueno <= 0)
		elog(ERROR, "system_config has no column config_key or config_value");

	d = heap_getattr(tuple, keyno, desc, &isnull);
	if (!isnull)
	{
		key = TextDatumGetCString(d);
		d = heap_getattr(tuple, valueno, desc, &isnull);
		if (!isnull)
			validate_config(key, DatumGetJsonbP(d));
	}
	return PointerGetDatum(tuple);
}

/*---- partitions and locks ----*/

/*
 * The bounds of partition relid, from pg_class.relpartbound.  Infinite
 * (MINVALUE, MAXVALUE) bounds are flagged.
 */
static void
part_bounds(Oid relid, bool *is_default, TimestampTz *lower, bool *lower_inf,
			TimestampTz *upper, bool *upper_inf)
{
	HeapTuple	tuple;
	Datum		d;
	bool		isnull;
	PartitionBoundSpec *spec;
	PartitionRangeDatum *lo;
	PartitionRangeDatum *hi;

	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	d = SysCacheGetAttr(RELOID, tuple, Anum_pg_class_relpartbound, &isnull);
	if (isnull)
		elog(ERROR, "relation %u has no partition bound", relid);
	spec = castNode(PartitionBoundSpec, stringToNode(TextDatumGetCString(d)));
	ReleaseSysCache(tuple);

	*is_default = spec->is_default;
	if (spec->is_default)
		return;
	if (spec->strategy != PARTITION_STRATEGY_RANGE ||
		list_length(spec->lowerdatums) != 1 ||
		list_length(spec->upperdatums) != 1)
		elog(ERROR, "partition %u is not a range partition on one column", relid);

	lo = castNode(PartitionRangeDatum, linitial(spec->lowerdatums));
	hi = castNode(PartitionRangeDatum, linitial(spec->upperdatums));
	*lower_inf = lo->kind != PARTITION_RANGE_DATUM_VALUE;
	*upper_inf = hi->kind != PARTITION_RANGE_DATUM_VALUE;
	if (!*lower_inf)
		*lower = DatumGetTimestampTz(castNode(Const, lo->value)->constvalue);
	if (!*upper_inf)
		*upper = DatumGetTimestampTz(castNode(Const, hi->value)->constvalue);
}

/*
 * Run sql (a statement yielding one count, or a DELETE/UPDATE/SELECT whose
 * processed rows are the count) with $1 = cutoff; return the count.
 */
static int64
spi_count(const char *sql, TimestampTz cutoff, bool with_cutoff)
{
	Oid			argtypes[1] = {TIMESTAMPTZOID};
	Datum		args[1];
	int			ret;

	args[0] = TimestampTzGetDatum(cutoff);
	ret = SPI_execute_with_args(sql, with_cutoff ? 1 : 0, argtypes, args,
								NULL, false, 0);
	if (ret == SPI_OK_DELETE || ret == SPI_OK_UPDATE)
		return (int64) SPI_processed;
	if (ret == SPI_OK_SELECT && SPI_processed == 1 &&
		SPI_tuptable->tupdesc->natts == 1 &&
		SPI_tuptable->tupdesc->attrs[0].atttypid == INT8OID)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0],
									  SPI_tuptable->tupdesc, 1, &isnull);

		return isnull ? 0 : DatumGetInt64(d);
	}
	elog(ERROR, "unexpected result %s of: %s", SPI_result_code_string(ret), sql);
	return 0;					/* keep compiler quiet */
}

/*
 * The rows of one heap page that snapshot sees.  On a page the visibility
 * map (here, the page's own flag) knows to be all-visible, that is every
 * normal line pointer, without looking at the tuples.
 */
static int64
count_page(Relation rel, BlockNumber blkno, Snapshot snapshot,
		   BufferAccessStrategy strategy)
{
	Buffer		buf;
	Page		page;
	OffsetNumber off;
	OffsetNumber maxoff;
	bool		all_visible;
	int64		rows = 0;

	buf = ReadBufferExtended(rel, MAIN_FORKNUM, blkno, RBM_NORMAL, strategy);
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buf);
	if (!PageIsNew(page))
	{
		all_visible = PageIsAllVisible(page) && !snapshot->takenDuringRecovery;
		maxoff = PageGetMaxOffsetNumber(page);
		for (off = FirstOffsetNumber; off <= maxoff; off = OffsetNumberNext(off))
		{
			ItemId		lp = PageGetItemId(page, off);
			HeapTupleData tuple;

			if (!ItemIdIsNormal(lp))
				continue;
			if (all_visible)
			{
				rows++;
				continue;
			}
			tuple.t_data = (HeapTupleHeader) PageGetItem(page, lp);
			tuple.t_len = ItemIdGetLength(lp);
			tuple.t_tableOid = RelationGetRelid(rel);
			ItemPointerSet(&tuple.t_self, blkno, off);
			if (HeapTupleSatisfiesVisibility(&tuple, snapshot, buf))
				rows++;
		}
	}
	UnlockReleaseBuffer(buf);
	return rows;
}

/*
 * The smallest btree index of rel that has an entry for every row: valid,
 * ready and not partial.  InvalidOid when there is none.
 */
static Oid
smallest_full_index(Relation rel)
{
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;
	Oid			best = InvalidOid;
	BlockNumber best_blocks = InvalidBlockNumber;

	foreach(lc, indexes)
	{
		Relation	index = index_open(lfirst_oid(lc), AccessShareLock);
		BlockNumber nblocks;

		if (index->rd_rel->relam == BTREE_AM_OID &&
			index->rd_index->indisvalid &&
			index->rd_index->indisready &&
			index->rd_index->indislive &&
			RelationGetIndexPredicate(index) == NIL)
		{
			nblocks = RelationGetNumberOfBlocks(index);
			if (!OidIsValid(best) || nblocks < best_blocks)
			{
				best = RelationGetRelid(index);
				best_blocks = nblocks;
			}
		}
		index_close(index, AccessShareLock);
	}
	list_free(indexes);
	return best;
}

/*
 * Count rel's rows through the leaf pages of one of its full btree
 * indexes, which are far smaller than the heap (a deduplicated index of a
 * month of call events: 2.3 MB against 51 MB).  An entry pointing into a
 * heap page the visibility map marks all-visible is a row every snapshot
 * sees: on such a page every tuple is visible to all, and each has exactly
 * one entry (a HOT chain there has one member).  Entries pointing anywhere
 * else are not counted; their heap pages are instead counted one by one,
 * tuple by tuple, as count_page does.
 *
 * The caller holds a lock that keeps writers and VACUUM out (ShareLock or
 * stronger), so neither the index nor the visibility map changes under
 * the walk; concurrent readers may only set hint bits.  The index is read
 * in physical order: every leaf page, whatever the tree's shape.
 */
static int64
count_rows_by_index(Relation rel, Oid indexid, Snapshot snapshot,
					BufferAccessStrategy strategy)
{
	Relation	index = index_open(indexid, AccessShareLock);
	BlockNumber nblocks = RelationGetNumberOfBlocks(index);
	BlockNumber blkno;
	Buffer		vmbuf = InvalidBuffer;
	BlockNumber last_heap = InvalidBlockNumber;
	bool		last_visible = false;
	Bitmapset  *recheck = NULL;
	int64		rows = 0;
	int			b;

	/* block 0 is the metapage */
	for (blkno = BTREE_METAPAGE + 1; blkno < nblocks; blkno++)
	{
		Buffer		buf;
		Page		page;
		BTPageOpaque opaque;
		OffsetNumber off;
		OffsetNumber maxoff;

		CHECK_FOR_INTERRUPTS();
		buf = ReadBufferExtended(index, MAIN_FORKNUM, blkno, RBM_NORMAL,
								 strategy);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		opaque = BTPageGetOpaque(page);
		if (PageIsNew(page) || !P_ISLEAF(opaque) || P_IGNORE(opaque))
		{
			UnlockReleaseBuffer(buf);
			continue;
		}
		maxoff = PageGetMaxOffsetNumber(page);
		for (off = P_FIRSTDATAKEY(opaque); off <= maxoff; off = OffsetNumberNext(off))
		{
			IndexTuple	itup = (IndexTuple) PageGetItem(page, PageGetItemId(page, off));
			int			ntids = BTreeTupleIsPosting(itup) ?
			BTreeTupleGetNPosting(itup) : 1;
			int			i;

			for (i = 0; i < ntids; i++)
			{
				ItemPointer tid = BTreeTupleIsPosting(itup) ?
				BTreeTupleGetPostingN(itup, i) : &itup->t_tid;
				BlockNumber heapblk = ItemPointerGetBlockNumber(tid);

				if (heapblk != last_heap)
				{
					last_heap = heapblk;
					last_visible = !snapshot->takenDuringRecovery &&
						VM_ALL_VISIBLE(rel, heapblk, &vmbuf);
				}
				if (last_visible)
					rows++;
				else
					recheck = bms_add_member(recheck, (int) heapblk);
			}
		}
		UnlockReleaseBuffer(buf);
	}
	if (BufferIsValid(vmbuf))
		ReleaseBuffer(vmbuf);
	index_close(index, AccessShareLock);

	b = -1;
	while ((b = bms_next_member(recheck, b)) >= 0)
	{
		CHECK_FOR_INTERRUPTS();
		rows += count_page(rel, (BlockNumber) b, snapshot, strategy);
	}
	bms_free(recheck);
	return rows;
}

/*
 * The exact number of rows in the table relid (qname: its quoted name), as
 * a fresh snapshot sees them; the caller keeps writers out.  A heap table
 * whose pages are mostly all-visible is counted through its smallest full
 * index (count_rows_by_index); otherwise every heap page is read.
 */
static int64
count_rows(Oid relid, const char *qname)
{
	Relation	rel = table_open(relid, AccessShareLock);
	BufferAccessStrategy strategy;
	Snapshot	snapshot;
	BlockNumber nblocks;
	BlockNumber blkno;
	Oid			indexid;
	int64		rows = 0;

	if (rel->rd_rel->relkind != RELKIND_RELATION ||
		rel->rd_rel->relam != HEAP_TABLE_AM_OID)
	{
		table_close(rel, AccessShareLock);
		return spi_count(psprintf("SELECT pg_catalog.count(*) FROM ONLY %s", qname),
						 0, false);
	}

	/* see every row committed before the lock was had, and our own */
	CommandCounterIncrement();
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	strategy = GetAccessStrategy(BAS_BULKREAD);
	nblocks = RelationGetNumberOfBlocks(rel);

	/*
	 * relallvisible is VACUUM's estimate; only the choice of method rests
	 * on it, never the count.
	 */
	indexid = smallest_full_index(rel);
	if (OidIsValid(indexid) && nblocks > 0 &&
		(double) rel->rd_rel->relallvisible >= 0.5 * nblocks)
	{
		elog(DEBUG1, "sipcall: counting the rows of %s through index %s",
			 qname, get_rel_name(indexid));
		rows = count_rows_by_index(rel, indexid, snapshot, strategy);
	}
	else
	{
		elog(DEBUG1, "sipcall: counting the rows of %s page by page", qname);
		for (blkno = 0; blkno < nblocks; blkno++)
		{
			CHECK_FOR_INTERRUPTS();
			rows += count_page(rel, blkno, snapshot, strategy);
		}
	}

	FreeAccessStrategy(strategy);
	UnregisterSnapshot(snapshot);
	table_close(rel, AccessShareLock);
	return rows;
}

/*
 * Delete the rows older than cutoff from those of parts whose "whole" flag
 * equals whole, noting each one's count; return the sum.
 */
static int64
trim_parts(ExpiredPart *parts, int nparts, bool whole, const char *key,
		   TimestampTz cutoff)
{
	int64		total = 0;
	int			i;

	for (i = 0; i < nparts; i++)
	{
		if (parts[i].whole != whole)
			continue;
		CHECK_FOR_INTERRUPTS();
		parts[i].rows = spi_count(psprintf("DELETE FROM ONLY %s WHERE %s OPERATOR(pg_catalog.<) $1",
										   parts[i].qname, key),
								  cutoff, true);
		total += parts[i].rows;
	}
	return total;
}

/*
 * Remove the rows of table older than cutoff; return how many went.  The
 * caller runs as the extension's owner, with SPI connected and, for calls,
 * session_replication_role = replica.
 */
static int64
retention_run(SipcallManagedTable table, TimestampTz cutoff)
{
	const char *nsp = quote_identifier(get_namespace_name(sipcall_schema_oid(false)));
	const char *key = quote_identifier(sipcall_managed_keys[table]);
	const char *qparent;
	Oid			parent = sipcall_relid(sipcall_managed_names[table], false);
	Oid			defpart;
	List	   *children;
	ListCell   *lc;
	ExpiredPart *parts;
	int			nparts = 0;
	int			nwhole = 0;
	Oid		   *lockrels;
	int			nlock;
	int			i;
	int64		total = 0;
	bool		is_calls = (table == SIPCALL_CALLS);

	qparent = psprintf("%s.%s", nsp, quote_identifier(sipcall_managed_names[table]));

	/* one cleanup or partition maker per table at a time; inserts go on */
	LockRelationOid(parent, ShareUpdateExclusiveLock);

	/* what is expired, with the partitions to drop first */
	children = find_inheritance_children(parent, NoLock);
	parts = palloc0(sizeof(ExpiredPart) * (list_length(children) + 1));
	foreach(lc, children)
	{
		Oid			relid = lfirst_oid(lc);
		bool		is_default;
		TimestampTz lower = 0;
		TimestampTz upper = 0;
		bool		lower_inf = false;
		bool		upper_inf = false;
		ExpiredPart *p = &parts[nparts];

		part_bounds(relid, &is_default, &lower, &lower_inf, &upper, &upper_inf);
		if (!is_default && !upper_inf && upper <= cutoff)
			p->whole = true;
		else if (is_default || lower_inf || lower < cutoff)
			p->whole = false;
		else
			continue;
		p->relid = relid;
		p->is_default = is_default;
		p->qname = psprintf("%s.%s", nsp, quote_identifier(get_rel_name(relid)));
		nparts++;
	}

	if (nparts == 0)
		return 0;

	/*
	 * Keep writers out of the partitions to drop, so that their count is
	 * exact when they go.  A partition that cannot be locked in time is
	 * trimmed like the straddling month instead.
	 */
	for (i = 0; i < nparts; i++)
	{
		if (!parts[i].whole)
			continue;
		CHECK_FOR_INTERRUPTS();
		if (sipcall_lock_in_time(&parts[i].relid, 1,
						 is_calls ? ExclusiveLock : ShareLock))
			nwhole++;
		else
		{
			parts[i].whole = false;
			ereport(LOG,
					(errmsg("sipcall: could not lock \"%s\" within sipcall.lock_timeout, deleting its expired rows instead",
							get_rel_name(parts[i].relid))));
		}
	}

	if (is_calls)
	{
		/*
		 * Lock the expired calls that are deleted row by row, waiting for
		 * the sessions adding events to them; from now on no call event
		 * can be added to an expired call.  Then their events and keys go.
		 */
		for (i = 0; i < nparts; i++)
		{
			if (parts[i].whole)
				continue;
			CHECK_FOR_INTERRUPTS();
			(void) spi_count(psprintf("SELECT pg_catalog.count(*) FROM"
									  " (SELECT FROM ONLY %s"
									  " WHERE %s OPERATOR(pg_catalog.<) $1 FOR UPDATE) s",
									  parts[i].qname, key),
							 cutoff, true);
		}
		(void) spi_count(psprintf("DELETE FROM %s.call_events e USING %s c"
								  " WHERE c.initiated_at OPERATOR(pg_catalog.<) $1"
								  " AND e.call_id OPERATOR(pg_catalog.=) c.id",
								  nsp, qparent),
						 cutoff, true);
		(void) spi_count(psprintf("DELETE FROM %s.call_keys k USING %s c"
								  " WHERE c.initiated_at OPERATOR(pg_catalog.<) $1"
								  " AND k.id OPERATOR(pg_catalog.=) c.id",
								  nsp, qparent),
						 cutoff, true);
	}

	/* trim the straddling month and the default partition */
	total += trim_parts(parts, nparts, false, key, cutoff);

	if (nwhole == 0)
		return total;

	/* count what is about to be dropped, under the lock taken above */
	for (i = 0; i < nparts; i++)
	{
		if (!parts[i].whole)
			continue;
		CHECK_FOR_INTERRUPTS();
		parts[i].rows = count_rows(parts[i].relid, parts[i].qname);
	}

	/*
	 * The drops.  The locks they need (the parent, its default partition,
	 * the partitions) are taken up front with the short timeout.
	 */
	lockrels = palloc(sizeof(Oid) * (nparts + 3));
	nlock = 0;
	lockrels[nlock++] = parent;
	defpart = get_default_partition_oid(parent);
	if (OidIsValid(defpart))
		lockrels[nlock++] = defpart;
	for (i = 0; i < nparts; i++)
		if (parts[i].whole)
			lockrels[nlock++] = parts[i].relid;

	if (sipcall_lock_in_time(lockrels, nlock, AccessExclusiveLock))
	{
		for (i = 0; i < nparts; i++)
		{
			if (!parts[i].whole)
				continue;
			sipcall_spi_exec(psprintf("DROP TABLE %s", parts[i].qname),
							 0, NULL, NULL, NULL, SPI_OK_UTILITY);
			ereport(LOG,
					(errmsg("sipcall: dropped expired partition %s (" INT64_FORMAT " rows)",
							parts[i].qname, parts[i].rows)));
			total += parts[i].rows;
		}
	}
	else
	{
		ereport(LOG,
				(errmsg("sipcall: could not lock \"%s\" within sipcall.lock_timeout, deleting expired rows instead of dropping partitions",
						sipcall_managed_names[table]),
				 errdetail("The emptied partitions are dropped by a later cleanup.")));
		total += trim_parts(parts, nparts, true, key, cutoff);
	}

	return total;
}

/*
 * One cleanup: read the retention of key, and when there is one, remove
 * what is older.  The count is returned as an integer (the contract's
 * type), capped at its maximum.
 */
static int32
cleanup(SipcallManagedTable table, const char *key)
{
	Interval   *retention = sipcall_config_retention(key);
	TimestampTz cutoff;
	SipcallPrivileged priv;
	int			nestlevel;
	int64		removed;

	if (retention == NULL)
		return 0;

	/* now() - retention, the arithmetic done on the UTC clock */
	cutoff = DatumGetTimestamp(DirectFunctionCall2(timestamp_mi_interval,
												   TimestampGetDatum(GetCurrentTransactionStartTimestamp()),
												   IntervalPGetDatum(retention)));

	sipcall_privileged_enter(&priv);
	nestlevel = NewGUCNestLevel();
	if (table == SIPCALL_CALLS)
		(void) set_config_option("session_replication_role", "replica",
								 PGC_SUSET, PGC_S_SESSION, GUC_ACTION_SAVE,
								 true, 0, false);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	removed = retention_run(table, cutoff);

	SPI_finish();
	AtEOXact_GUC(true, nestlevel);
	sipcall_privileged_leave(&priv);

	if (removed > PG_INT32_MAX)
	{
		ereport(NOTICE,
				(errmsg("removed " INT64_FORMAT " rows from \"%s\"",
						removed, sipcall_managed_names[table]),
				 errdetail("The count returned is capped at %d.", PG_INT32_MAX)));
		removed = PG_INT32_MAX;
	}
	return (int32) removed;
}

/*
 * The cleanup of one table, under the retention its 'retention.*' key
 * sets; returns how many rows went (capped).  The cleanup maintenance
 * steps.
 */
int32
sipcall_retention_cleanup(SipcallManagedTable table)
{
	static const char *const keys[SIPCALL_NUM_MANAGED_TABLES] = {
		[SIPCALL_CALLS] = KEY_RETENTION_CALLS,
		[SIPCALL_CALL_EVENTS] = KEY_RETENTION_CALL_EVENTS,
		[SIPCALL_AUDIT_LOGS] = KEY_RETENTION_AUDIT_LOGS,
	};

	Assert(table >= 0 && table < SIPCALL_NUM_MANAGED_TABLES);
	return cleanup(table, keys[table]);
}

/* sipcall.cleanup_old_call_events() RETURNS integer */
Datum
sipcall_cleanup_old_call_events(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(sipcall_retention_cleanup(SIPCALL_CALL_EVENTS));
}

/* sipcall.cleanup_old_audit_logs() RETURNS integer */
Datum
sipcall_cleanup_old_audit_logs(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(sipcall_retention_cleanup(SIPCALL_AUDIT_LOGS));
}

/* sipcall.cleanup_old_calls() RETURNS integer */
Datum
sipcall_cleanup_old_calls(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(sipcall_retention_cleanup(SIPCALL_CALLS));
}
