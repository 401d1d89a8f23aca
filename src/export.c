/*-------------------------------------------------------------------------
 *
 * export.c
 *		GDPR export: sipcall.export_user_data(), and the reader of the
 *		managed tables' partitions (through their indexes on user_id) that
 *		feeds it.
 *
 * Calls: jsonb_writer.h for the document, privileged.h to run as the
 * extension's owner, sipcall.h (SPI helpers, the schema, the crypto role,
 * timestamps), gdpr.h; and sipcall.decrypt_data through fmgr.  Nothing in
 * erasure.c.
 *
 * Export locks the user's row through SPI, then reads the user's calls,
 * audit entries and call events under one snapshot, each partition through
 * its own index on user_id (see export_table), and serialises each
 * row straight into jsonb's binary format in the buffer that becomes the
 * result (see jsonb_writer.c): no JsonbValue tree of the
 * document is built, so memory is about the size of the result.  Phone
 * numbers are decrypted by calling sipcall.decrypt_data through fmgr (the
 * form of the export's own: one key, text, or several, text[]): its
 * OID is looked up once per call, by name and signature in sipcall's
 * schema (never through the search path), and one FunctionCallInfo is
 * reused for every row, so the function may keep its derived key in
 * fn_extra.  Every error raised while exporting hides the statement
 * (errhidestmt), since the statement carries the encryption key.
 *
 * It runs as the extension's owner: a role needs only EXECUTE on the
 * function (revoked from PUBLIC), no table privileges.
 *
 * Locking:
 *	- Export first locks the user's row FOR KEY SHARE.  An erasure (which
 *	  locks it FOR UPDATE) therefore either waits for the export to end, or
 *	  the export waits for the erasure and then finds no user (P0002): an
 *	  export never mixes data from before and after an erasure.
 *
 * Copyright (c) 2026, the sipcall authors
 *
 * IDENTIFICATION
 *		src/export.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_am.h"
#include "catalog/pg_index.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/value.h"
#include "parser/parse_func.h"
#include "partitioning/partdesc.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/uuid.h"

#include "gdpr.h"
#include "jsonb_writer.h"
#include "privileged.h"
#include "sipcall.h"
#include "version.h"

PG_FUNCTION_INFO_V1(sipcall_export_user_data);
PG_FUNCTION_INFO_V1(sipcall_export_user_data_keys);

/* the most columns an exported row may have */
#define EXPORT_MAX_COLUMNS	16

/*---- types ----*/

/* how one exported column becomes a jsonb value */
typedef struct ExportColumn
{
	char	   *key;			/* the object key */
	int			keylen;
	Oid			typid;
	bool		decrypt;		/* bytea to pass through decrypt_data */
	FmgrInfo	outfunc;		/* output function, for other types */
} ExportColumn;

typedef struct ExportState
{
	MemoryContext cxt;			/* column descriptions, element keys */
	MemoryContext rowcxt;		/* scratch, reset after every row */
	SipcallJsonbWriter w;		/* the result, being written */

	/* sipcall.decrypt_data, called through fmgr */
	FmgrInfo	decrypt_flinfo;
	FunctionCallInfo decrypt_fcinfo;
} ExportState;

/*
 * What one kind of row is exported as: the managed table, the columns
 * (with the object key each becomes, when it is not the column's name) and
 * the two columns it is ordered by.
 */
typedef struct ExportSpec
{
	const char *table;
	int			ncols;
	const char *columns[EXPORT_MAX_COLUMNS];
	const char *keys[EXPORT_MAX_COLUMNS];	/* NULL: the column's name */
	bool		decrypt[EXPORT_MAX_COLUMNS];	/* bytea to decrypt */
	int			ts_col;			/* the timestamptz column to order by */
	int			id_col;			/* then this one (uuid or integer) */
} ExportSpec;

static const ExportSpec export_calls = {
	"calls", 7,
	{"id", "destination_number_enc", "caller_id_enc", "status",
	"initiated_at", "duration_seconds", "cost_cents"},
	{NULL, "destination_number", "caller_id"},
	{false, true, true},
	4, 0
};

static const ExportSpec export_audit = {
	"audit_logs", 8,
	{"id", "action", "resource_type", "resource_id", "details", "ip_address",
	"user_agent", "timestamp"},
	{NULL},
	{false},
	7, 0
};

static const ExportSpec export_events = {
	"call_events", 5,
	{"id", "call_id", "event_type", "event_data", "timestamp"},
	{NULL},
	{false},
	4, 0
};

/* one kind of row being exported */
typedef struct ExportTable
{
	ExportState *st;
	const ExportSpec *spec;
	SipcallDocArray arr;
	ExportColumn cols[EXPORT_MAX_COLUMNS];
	ExportColumn *order[EXPORT_MAX_COLUMNS];	/* cols in jsonb key order */
	SipcallDocBuf keys;			/* the keys' JEntries, then their text */
	uint32		keyslen;		/* length of the keys' text */
} ExportTable;

/* the user's rows of one partition, found before they are exported */
typedef struct PartRows
{
	Relation	rel;
	AttrNumber	attnos[EXPORT_MAX_COLUMNS];	/* the columns' numbers in rel */
	AttrNumber	maxattno;
	AttrNumber	user_attno;
	ItemPointerData *tids;		/* sorted; NULL: no index, scan rel */
	uint32		ntids;
} PartRows;

/*---- forward declarations ----*/

static Oid	decrypt_function(const char *nspname, Oid keytype);
static JEntry write_decrypted(ExportState *st, SipcallDocBuf *buf,
							  Datum value);
static JEntry write_value(ExportState *st, SipcallDocBuf *buf,
						  ExportColumn *col, Datum value, bool isnull);
static int	key_cmp(const void *a, const void *b);
static void export_columns(ExportTable *t, Relation parent);
static void export_row(ExportTable *t, Datum *values, bool *isnull);
static void export_slot(ExportTable *t, TupleTableSlot *slot,
						const AttrNumber *attnos, AttrNumber maxattno);
static Oid	user_index(Relation rel);
static void find_rows(ExportTable *t, Relation rel, Oid index,
					  Datum user_id, Snapshot snapshot, PartRows *pr);
static void export_rows(ExportTable *t, PartRows *pr, Datum user_id,
						Snapshot snapshot);
static void leaf_partitions(Relation rel, List **leaves);
static JEntry export_table(ExportState *st, const ExportSpec *spec,
						   Datum user_id, Snapshot snapshot, uint32 *nrows);
static void export_state_init(ExportState *st, MemoryContext callcxt,
							  Datum key, Oid keytype);
static Jsonb *lock_user(const char *nsp, Datum user_id);
static void write_document(ExportState *st, MemoryContext callcxt,
						   Jsonb *user, Datum user_id, Snapshot snapshot,
						   uint32 counts[4]);
static void log_export(const char *nsp, Datum user_id,
					   const uint32 counts[4], Oid caller);
static Jsonb *export_user(Datum user_id, Datum key, Oid keytype);
static Datum export_entry(FunctionCallInfo fcinfo, Oid keytype);

/*
 * The OID of sipcall.decrypt_data(bytea, keytype), keytype text or text[],
 * found in sipcall's schema by name and argument types, whatever the
 * search path.
 */
static Oid
decrypt_function(const char *nspname, Oid keytype)
{
	Oid			argtypes[2] = {BYTEAOID, keytype};
	List	   *name;
	Oid			fn;

	name = list_make2(makeString(pstrdup(nspname)),
					  makeString(pstrdup("decrypt_data")));
	fn = LookupFuncName(name, 2, argtypes, false);
	if (get_func_rettype(fn) != TEXTOID)
		elog(ERROR, "function %s.decrypt_data(bytea, %s) does not return text",
			 nspname, format_type_be(keytype));
	return fn;
}

/*
 * Append a decrypted number straight into the document and return its
 * JEntry; the result of decrypt_data (in rowcxt) is wiped at once.  A wrong
 * key raises 39000 in decrypt_data, which ends the export.
 */
static JEntry
write_decrypted(ExportState *st, SipcallDocBuf *buf, Datum value)
{
	FunctionCallInfo fcinfo = st->decrypt_fcinfo;
	Datum		result;
	text	   *plain;
	uint32		len;

	fcinfo->args[0].value = value;
	fcinfo->args[0].isnull = false;
	fcinfo->isnull = false;
	result = FunctionCallInvoke(fcinfo);
	if (fcinfo->isnull)
		return JENTRY_ISNULL;
	plain = DatumGetTextPP(result);

	len = VARSIZE_ANY_EXHDR(plain);
	sipcall_doc_append(buf, VARDATA_ANY(plain), len);
	explicit_bzero(VARDATA_ANY(plain), len);
	if ((Pointer) plain != DatumGetPointer(result))
		explicit_bzero(VARDATA_ANY(DatumGetPointer(result)),
					   VARSIZE_ANY_EXHDR(DatumGetPointer(result)));
	return JENTRY_ISSTRING | len;
}

/*
 * Append one column's value, converted the way to_jsonb() would (the
 * columns to decrypt: their plain text), and return its JEntry.
 */
static JEntry
write_value(ExportState *st, SipcallDocBuf *buf, ExportColumn *col,
			Datum value, bool isnull)
{
	if (isnull)
		return JENTRY_ISNULL;
	if (col->decrypt)
		return write_decrypted(st, buf, value);
	return sipcall_jsonb_write_datum(buf, col->typid, &col->outfunc, value);
}

/* order of object keys in jsonb: by length, then bytewise */
static int
key_cmp(const void *a, const void *b)
{
	const ExportColumn *ca = *(ExportColumn *const *) a;
	const ExportColumn *cb = *(ExportColumn *const *) b;

	if (ca->keylen != cb->keylen)
		return ca->keylen < cb->keylen ? -1 : 1;
	return memcmp(ca->key, cb->key, ca->keylen);
}

/* sort_tids(): a quicksort specialised for heap TIDs, in physical order */
#define ST_SORT sort_tids
#define ST_ELEMENT_TYPE ItemPointerData
#define ST_COMPARE(a, b) ItemPointerCompare(a, b)
#define ST_CHECK_FOR_INTERRUPTS
#define ST_SCOPE static
#define ST_DEFINE
#include "lib/sort_template.h"


/* the columns' keys, order and conversions, from the parent table */
static void
export_columns(ExportTable *t, Relation parent)
{
	ExportState *st = t->st;
	const ExportSpec *spec = t->spec;
	int			c;

	for (c = 0; c < spec->ncols; c++)
	{
		ExportColumn *col = &t->cols[c];
		AttrNumber	attno = get_attnum(RelationGetRelid(parent), spec->columns[c]);

		if (attno == InvalidAttrNumber)
			elog(ERROR, "column \"%s\" of \"%s\" is missing",
				 spec->columns[c], spec->table);
		col->key = pstrdup(spec->keys[c] ? spec->keys[c] : spec->columns[c]);
		col->keylen = strlen(col->key);
		col->typid = TupleDescAttr(RelationGetDescr(parent), attno - 1)->atttypid;
		col->decrypt = spec->decrypt[c];
		if (col->decrypt && col->typid != BYTEAOID)
			elog(ERROR, "column \"%s\" to decrypt is not bytea", spec->columns[c]);
		if ((c == spec->ts_col && col->typid != TIMESTAMPTZOID) ||
			(c == spec->id_col && col->typid != UUIDOID && col->typid != INT4OID))
			elog(ERROR, "column \"%s\" cannot order an export", spec->columns[c]);
		if (!col->decrypt)
		{
			Oid			outfn;
			bool		varlena;

			getTypeOutputInfo(col->typid, &outfn, &varlena);
			fmgr_info_cxt(outfn, &col->outfunc, st->cxt);
		}
		t->order[c] = col;
	}
	qsort(t->order, spec->ncols, sizeof(ExportColumn *), key_cmp);

	sipcall_doc_init(&t->keys, st->cxt, 256);
	t->keyslen = 0;
	for (c = 0; c < spec->ncols; c++)
	{
		JEntry		entry;

		t->keyslen += t->order[c]->keylen;
		entry = c % JB_OFFSET_STRIDE == 0 ?
			(JENTRY_ISSTRING | JENTRY_HAS_OFF | (uint32) t->keyslen) :
			(JENTRY_ISSTRING | (uint32) t->order[c]->keylen);
		sipcall_doc_append(&t->keys, &entry, sizeof(JEntry));
	}
	for (c = 0; c < spec->ncols; c++)
		sipcall_doc_append(&t->keys, t->order[c]->key, t->order[c]->keylen);
}

/*
 * One row (its values in the spec's column order): an object appended to
 * the array, with the key it is ordered by.
 */
static void
export_row(ExportTable *t, Datum *values, bool *isnull)
{
	ExportState *st = t->st;
	const ExportSpec *spec = t->spec;
	SipcallDocBuf *doc = &st->w.doc;
	int			ncols = spec->ncols;
	uint32		header = (uint32) ncols | JB_FOBJECT;
	uint32		totallen = t->keyslen;
	uint32		start;
	uint32		entries_at;
	SipcallDocElement *elem;
	Datum		id;
	MemoryContext oldcxt;
	int			c;

	if (isnull[spec->ts_col] || isnull[spec->id_col])
		elog(ERROR, "exported row without timestamp or id");
	oldcxt = MemoryContextSwitchTo(st->rowcxt);

	/* header, keys' JEntries, room for the values', keys' text */
	(void) sipcall_doc_pad(doc);
	start = doc->len;
	sipcall_doc_append(doc, &header, sizeof(uint32));
	sipcall_doc_append(doc, t->keys.data, ncols * sizeof(JEntry));
	entries_at = doc->len;
	sipcall_doc_reserve(doc, ncols * sizeof(JEntry));
	doc->len += ncols * sizeof(JEntry);
	sipcall_doc_append(doc, t->keys.data + ncols * sizeof(JEntry), t->keyslen);

	for (c = 0; c < ncols; c++)
	{
		int			attno = t->order[c] - t->cols;
		uint32		vstart = doc->len;
		JEntry		entry;

		entry = write_value(st, doc, t->order[c], values[attno], isnull[attno]);
		Assert(JBE_OFFLENFLD(entry) == doc->len - vstart);
		totallen += doc->len - vstart;
		if ((c + ncols) % JB_OFFSET_STRIDE == 0)
			entry = (entry & JENTRY_TYPEMASK) | JENTRY_HAS_OFF | totallen;
		memcpy(doc->data + entries_at + c * sizeof(JEntry), &entry,
			   sizeof(JEntry));
	}

	/* its key: the timestamp, then the id in memcmp order */
	elem = sipcall_jsonb_array_add(&st->w, &t->arr, start);
	elem->ts = DatumGetTimestampTz(values[spec->ts_col]);
	id = values[spec->id_col];
	if (t->cols[spec->id_col].typid == UUIDOID)
		memcpy(elem->tie, DatumGetUUIDP(id)->data, UUID_LEN);
	else
	{
		uint32		u = (uint32) DatumGetInt32(id) ^ 0x80000000;

		memset(elem->tie, 0, UUID_LEN);
		elem->tie[0] = u >> 24;
		elem->tie[1] = u >> 16;
		elem->tie[2] = u >> 8;
		elem->tie[3] = u;
	}

	MemoryContextSwitchTo(oldcxt);
	MemoryContextReset(st->rowcxt);
}

/*
 * Export one row of a partition, its columns numbered as attnos say.
 */
static void
export_slot(ExportTable *t, TupleTableSlot *slot, const AttrNumber *attnos,
			AttrNumber maxattno)
{
	Datum		values[EXPORT_MAX_COLUMNS];
	bool		isnull[EXPORT_MAX_COLUMNS];
	int			c;

	CHECK_FOR_INTERRUPTS();
	slot_getsomeattrs(slot, maxattno);
	for (c = 0; c < t->spec->ncols; c++)
	{
		values[c] = slot->tts_values[attnos[c] - 1];
		isnull[c] = slot->tts_isnull[attnos[c] - 1];
	}
	export_row(t, values, isnull);
}

/*
 * The index of one partition (rel) that finds a user's rows: a valid,
 * complete btree index whose first column is user_id, the one with the
 * fewest columns.  The parents have no indexes: each partition has its
 * own (made with it, see partition.c).  InvalidOid when there is none.
 */
static Oid
user_index(Relation rel)
{
	AttrNumber	user_attno = get_attnum(RelationGetRelid(rel), "user_id");
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;
	Oid			best = InvalidOid;
	int			best_natts = 0;

	foreach(lc, indexes)
	{
		Relation	irel = index_open(lfirst_oid(lc), AccessShareLock);
		Form_pg_index ind = irel->rd_index;

		if (irel->rd_rel->relam == BTREE_AM_OID &&
			ind->indisvalid && ind->indisready && ind->indislive &&
			ind->indnkeyatts > 0 && ind->indkey.values[0] == user_attno &&
			user_attno != InvalidAttrNumber &&
			heap_attisnull(irel->rd_indextuple, Anum_pg_index_indpred, NULL) &&
			(!OidIsValid(best) || ind->indnatts < best_natts))
		{
			best = RelationGetRelid(irel);
			best_natts = ind->indnatts;
		}
		index_close(irel, AccessShareLock);
	}
	list_free(indexes);
	return best;
}

/*
 * Find the user's rows of one partition (rel, kept open): the TIDs its
 * index on user_id (index, InvalidOid when it has none) gives,
 * sorted so that each heap page is visited once, in order, as a bitmap
 * scan would (an index in (user_id, time) order jumps between pages from
 * one row to the next; the rows are ordered later anyway).  Without a
 * usable index, pr->tids stays NULL and the rows are found by a scan.
 */
static void
find_rows(ExportTable *t, Relation rel, Oid index, Datum user_id,
		  Snapshot snapshot, PartRows *pr)
{
	const ExportSpec *spec = t->spec;
	Relation	irel = NULL;
	IndexScanDesc iscan;
	ItemPointer tid;
	ScanKeyData skey;
	uint32		maxtids = 1024;
	bool		sorted = true;
	int			c;

	memset(pr, 0, sizeof(*pr));
	pr->rel = rel;
	pr->user_attno = get_attnum(RelationGetRelid(rel), "user_id");

	/* a partition's columns may be numbered unlike its parent's */
	for (c = 0; c < spec->ncols; c++)
	{
		pr->attnos[c] = get_attnum(RelationGetRelid(rel), spec->columns[c]);
		if (pr->attnos[c] == InvalidAttrNumber ||
			pr->user_attno == InvalidAttrNumber)
			elog(ERROR, "partition \"%s\" lacks a column of \"%s\"",
				 RelationGetRelationName(rel), spec->table);
		pr->maxattno = Max(pr->maxattno, pr->attnos[c]);
	}

	if (OidIsValid(index))
	{
		irel = index_open(index, AccessShareLock);
		if (irel->rd_index->indkey.values[0] != pr->user_attno)
		{
			index_close(irel, AccessShareLock);
			irel = NULL;
		}
	}
	if (irel == NULL)
		return;

	pr->tids = palloc(maxtids * sizeof(ItemPointerData));
	ScanKeyInit(&skey, 1, BTEqualStrategyNumber, F_UUID_EQ, user_id);
	iscan = index_beginscan(rel, irel, snapshot, 1, 0);
	index_rescan(iscan, &skey, 1, NULL, 0);
	while ((tid = index_getnext_tid(iscan, ForwardScanDirection)) != NULL)
	{
		CHECK_FOR_INTERRUPTS();
		if (pr->ntids == maxtids)
		{
			maxtids *= 2;
			pr->tids = repalloc_huge(pr->tids, maxtids * sizeof(ItemPointerData));
		}
		pr->tids[pr->ntids] = *tid;
		if (pr->ntids > 0 && ItemPointerCompare(&pr->tids[pr->ntids - 1], tid) > 0)
			sorted = false;
		pr->ntids++;
	}
	index_endscan(iscan);
	index_close(irel, AccessShareLock);

	if (!sorted)
		sort_tids(pr->tids, pr->ntids);
}

/* Export the rows find_rows() found, and close the partition. */
static void
export_rows(ExportTable *t, PartRows *pr, Datum user_id, Snapshot snapshot)
{
	TupleTableSlot *slot = table_slot_create(pr->rel, NULL);

	if (pr->tids != NULL)
	{
		IndexFetchTableData *fetch = table_index_fetch_begin(pr->rel);
		uint32		i;

		/* an MVCC snapshot sees at most one member of a HOT chain */
		for (i = 0; i < pr->ntids; i++)
		{
			bool		call_again = false;
			bool		all_dead = false;

			if (table_index_fetch_tuple(fetch, &pr->tids[i], snapshot, slot,
										&call_again, &all_dead))
				export_slot(t, slot, pr->attnos, pr->maxattno);
		}
		table_index_fetch_end(fetch);
		pfree(pr->tids);
	}
	else
	{
		ScanKeyData skey;
		TableScanDesc hscan;

		ScanKeyInit(&skey, pr->user_attno, BTEqualStrategyNumber, F_UUID_EQ,
					user_id);
		hscan = table_beginscan(pr->rel, snapshot, 1, &skey);
		while (table_scan_getnextslot(hscan, ForwardScanDirection, slot))
			export_slot(t, slot, pr->attnos, pr->maxattno);
		table_endscan(hscan);
	}
	ExecDropSingleTupleTableSlot(slot);
	table_close(pr->rel, NoLock);
}

/*
 * The leaf partitions of rel, also of partitions partitioned further, in
 * the order of their bounds (the default partition last), each locked as
 * the planner would lock it.  Rows are mostly inserted in time order, so
 * read month after month they mostly come already in the order the export
 * wants, and ordering them costs one pass (see sipcall_jsonb_array_end).
 */
static void
leaf_partitions(Relation rel, List **leaves)
{
	PartitionDesc pd = RelationGetPartitionDesc(rel, true);
	int			i;

	for (i = 0; i < pd->nparts; i++)
	{
		if (pd->is_leaf[i])
		{
			LockRelationOid(pd->oids[i], AccessShareLock);
			*leaves = lappend_oid(*leaves, pd->oids[i]);
		}
		else
		{
			Relation	child = table_open(pd->oids[i], AccessShareLock);

			leaf_partitions(child, leaves);
			table_close(child, NoLock);
		}
	}
}

/*
 * Append the user's rows of one managed table to the document as an array
 * of objects, ordered by timestamp and id.  Returns the array's JEntry;
 * *nrows is set to its number of elements.
 *
 * The rows are read with scans of their own, not through SPI: every
 * partition through its own index on user_id, under the snapshot
 * the caller took, so that the three tables are read as of one moment.
 * This spares planning each query over every partition and all of their
 * indexes, which in a new connection (the usual case: one request, one
 * export) cost more than reading the rows.  Partitions are locked as the
 * planner would lock them, and the parent first, so none can be detached
 * or dropped meanwhile.
 *
 * All partitions' indexes are searched before any row is written, so that
 * the array knows how many elements to leave JEntries for
 * (sipcall_jsonb_array_begin);
 * the partitions stay open in between.
 */
static JEntry
export_table(ExportState *st, const ExportSpec *spec, Datum user_id,
			 Snapshot snapshot, uint32 *nrows)
{
	Oid			nspoid = sipcall_schema_oid(false);
	Oid			parentid = get_relname_relid(spec->table, nspoid);
	ExportTable t;
	Relation	parent;
	List	   *parts = NIL;
	ListCell   *lc;
	PartRows   *rows;
	int			nparts = 0;
	int			i;
	uint64		expected = 0;

	if (!OidIsValid(parentid))
		elog(ERROR, "table \"%s\" of sipcall is missing", spec->table);

	memset(&t, 0, sizeof(t));
	t.st = st;
	t.spec = spec;
	parent = table_open(parentid, AccessShareLock);
	export_columns(&t, parent);

	if (parent->rd_rel->relkind == RELKIND_PARTITIONED_TABLE)
		leaf_partitions(parent, &parts);
	else
		parts = list_make1_oid(parentid);

	/* first the TIDs of every partition, to know how many rows come */
	rows = palloc(Max(list_length(parts), 1) * sizeof(PartRows));
	foreach(lc, parts)
	{
		Oid			partid = lfirst_oid(lc);
		Relation	rel;

		rel = table_open(partid, NoLock);
		if (rel->rd_rel->relkind != RELKIND_RELATION)
		{
			table_close(rel, NoLock);
			continue;
		}
		find_rows(&t, rel, user_index(rel), user_id, snapshot, &rows[nparts]);
		expected = Min(expected + rows[nparts].ntids, JB_CMASK);
		nparts++;
	}

	sipcall_jsonb_array_begin(&st->w, &t.arr, (uint32) expected);
	for (i = 0; i < nparts; i++)
		export_rows(&t, &rows[i], user_id, snapshot);
	pfree(rows);
	table_close(parent, NoLock);

	*nrows = t.arr.nelems;
	return sipcall_jsonb_array_end(&st->w, &t.arr);
}

/*
 * Make the export's memory contexts and look up decrypt_data (the form
 * taking a keytype: text or text[]), once; one call frame, holding the
 * key or keys, is reused for every row.
 */
static void
export_state_init(ExportState *st, MemoryContext callcxt, Datum key,
				  Oid keytype)
{
	memset(st, 0, sizeof(*st));
	st->cxt = AllocSetContextCreate(callcxt, "sipcall export",
									ALLOCSET_DEFAULT_SIZES);
	st->rowcxt = AllocSetContextCreate(callcxt, "sipcall export row",
									   ALLOCSET_DEFAULT_SIZES);
	st->w.cxt = st->cxt;

	fmgr_info_cxt(decrypt_function(get_namespace_name(sipcall_schema_oid(false)),
								   keytype),
				  &st->decrypt_flinfo, callcxt);
	st->decrypt_fcinfo = MemoryContextAllocZero(callcxt,
												SizeForFunctionCallInfo(2));
	InitFunctionCallInfoData(*st->decrypt_fcinfo, &st->decrypt_flinfo, 2,
							 InvalidOid, NULL, NULL);
	st->decrypt_fcinfo->args[1].value = key;
	st->decrypt_fcinfo->args[1].isnull = false;
}

/*
 * The user's row as jsonb (a copy, in the caller's context), locked FOR
 * KEY SHARE against a concurrent erasure; P0002 when there is none.
 */
static Jsonb *
lock_user(const char *nsp, Datum user_id)
{
	Oid			argtypes[1] = {UUIDOID};
	Datum		args[1];
	Jsonb	   *user;
	bool		isnull;

	args[0] = user_id;
	if (sipcall_spi_exec(psprintf("SELECT pg_catalog.to_jsonb(u) FROM %s.users u"
								  " WHERE u.id = $1 FOR KEY SHARE OF u", nsp),
						 1, argtypes, args, NULL, SPI_OK_SELECT) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("user %s does not exist",
						DatumGetCString(DirectFunctionCall1(uuid_out, user_id))),
				 errhidestmt(true)));
	user = DatumGetJsonbPCopy(SPI_getbinval(SPI_tuptable->vals[0],
											SPI_tuptable->tupdesc, 1, &isnull));
	SPI_freetuptable(SPI_tuptable);
	return user;
}

/*
 * Write the document into st->w.doc, started in callcxt, and shrink it to
 * its length; counts[i] is set to the number of rows of the i'th value.
 *
 * The document is {"user": ..., "calls": [...], "audit_logs": [...],
 * "call_events": [...]}: its values are written in that order, jsonb's
 * key order, and its header, JEntries and keys are reserved first and
 * filled in at the end.
 */
static void
write_document(ExportState *st, MemoryContext callcxt, Jsonb *user,
			   Datum user_id, Snapshot snapshot, uint32 counts[4])
{
	static const char *const keys[4] = {"user", "calls", "audit_logs",
	"call_events"};
	static const ExportSpec *const specs[4] = {NULL, &export_calls,
	&export_audit, &export_events};
	SipcallDocBuf *doc = &st->w.doc;
	JEntry		entries[8];
	uint32		header = 4 | JB_FOBJECT;
	uint32		entries_at;
	uint32		totallen = 0;
	int			i;

	/* header, room for the JEntries, the keys */
	sipcall_doc_init(doc, callcxt, SIPCALL_DOC_INITIAL_SIZE);
	doc->len = VARHDRSZ;
	sipcall_doc_append(doc, &header, sizeof(uint32));
	entries_at = doc->len;
	doc->len += sizeof(entries);
	for (i = 0; i < 4; i++)
	{
		uint32		len = strlen(keys[i]);

		totallen += len;
		entries[i] = i == 0 ? (JENTRY_HAS_OFF | totallen) : len;
		sipcall_doc_append(doc, keys[i], len);
	}

	/* the values */
	for (i = 0; i < 4; i++)
	{
		uint32		vstart = doc->len;
		JEntry		entry;

		if (i == 0)
			entry = sipcall_jsonb_write_container(doc, &user->root,
												  VARSIZE(user) - VARHDRSZ);
		else
			entry = export_table(st, specs[i], user_id, snapshot, &counts[i]);
		Assert(JBE_OFFLENFLD(entry) == doc->len - vstart);
		totallen += doc->len - vstart;
		if (totallen > JENTRY_OFFLENMASK)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("user data too large to export as one jsonb value")));
		entries[4 + i] = entry;
	}
	memcpy(doc->data + entries_at, entries, sizeof(entries));
	SET_VARSIZE(doc->data, doc->len);
	doc->data = repalloc_huge(doc->data, doc->len);
}

/* the record of the export: counts only, no numbers */
static void
log_export(const char *nsp, Datum user_id, const uint32 counts[4],
		   Oid caller)
{
	Oid			argtypes[5] = {UUIDOID, INT8OID, INT8OID, INT8OID, TEXTOID};
	Datum		args[5];

	args[0] = user_id;
	args[1] = Int64GetDatum((int64) counts[1]);
	args[2] = Int64GetDatum((int64) counts[3]);
	args[3] = Int64GetDatum((int64) counts[2]);
	args[4] = CStringGetTextDatum(GetUserNameFromId(caller, false));
	sipcall_spi_exec(psprintf("INSERT INTO %s.audit_logs"
							  " (user_id, action, resource_type, resource_id, details)"
							  " VALUES ($1, 'gdpr_export', 'user', $1::pg_catalog.text,"
							  " pg_catalog.jsonb_build_object('calls', $2,"
							  " 'call_events', $3, 'audit_logs', $4,"
							  " 'requested_by', $5))", nsp),
					 5, argtypes, args, NULL, SPI_OK_INSERT);
}

/*
 * The export proper, the key a text or a text[] (keytype); returns the
 * document, allocated in the caller's memory context.
 */
static Jsonb *
export_user(Datum user_id, Datum key, Oid keytype)
{
	MemoryContext callcxt = CurrentMemoryContext;
	const char *nsp;
	ExportState st;
	SipcallPrivileged priv;
	Jsonb	   *user;
	Snapshot	snapshot;
	uint32		counts[4] = {0, 0, 0, 0};

	nsp = sipcall_schema_quoted();
	export_state_init(&st, callcxt, key, keytype);

	sipcall_privileged_enter(&priv);
	sipcall_crypto_act_for(priv.caller);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	user = lock_user(nsp, user_id);

	/* one snapshot for the three tables, taken once the user is locked */
	CommandCounterIncrement();
	snapshot = RegisterSnapshot(GetTransactionSnapshot());

	write_document(&st, callcxt, user, user_id, snapshot, counts);

	UnregisterSnapshot(snapshot);
	MemoryContextDelete(st.cxt);
	MemoryContextDelete(st.rowcxt);

	log_export(nsp, user_id, counts, priv.caller);

	SPI_finish();
	sipcall_crypto_act_for(InvalidOid);
	sipcall_privileged_leave(&priv);
	return (Jsonb *) st.w.doc.data;
}

/*
 * Both forms of export_user_data: the second argument is the key (text)
 * or the keys (text[]), as keytype says, handed to the decrypt_data of the
 * same signature.  Any error hides the statement, which holds the key
 * unless the client passed it as a parameter.
 */
static Datum
export_entry(FunctionCallInfo fcinfo, Oid keytype)
{
	MemoryContext callcxt = CurrentMemoryContext;
	Jsonb	   *result = NULL;

	PG_TRY();
	{
		result = export_user(PG_GETARG_DATUM(0), PG_GETARG_DATUM(1), keytype);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		sipcall_crypto_act_for(InvalidOid);
		MemoryContextSwitchTo(callcxt);
		edata = CopyErrorData();
		FlushErrorState();
		edata->hide_stmt = true;
		ReThrowError(edata);
	}
	PG_END_TRY();

	PG_RETURN_JSONB_P(result);
}

/*
 * sipcall.export_user_data(target_user_id uuid, encryption_key text)
 * RETURNS jsonb
 */
Datum
sipcall_export_user_data(PG_FUNCTION_ARGS)
{
	return export_entry(fcinfo, TEXTOID);
}

/*
 * sipcall.export_user_data(target_user_id uuid, encryption_keys text[])
 * RETURNS jsonb (since 1.1)
 *
 * The same document, each number decrypted with the key whose identifier
 * it carries (OpenPGP messages: the first key that opens them), as
 * decrypt_data(bytea, text[]) does.
 */
Datum
sipcall_export_user_data_keys(PG_FUNCTION_ARGS)
{
	sipcall_require_version(fcinfo, SIPCALL_VERSION_1_1);
	return export_entry(fcinfo, TEXTARRAYOID);
}
