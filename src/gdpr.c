/*-------------------------------------------------------------------------
 *
 * gdpr.c
 *		GDPR export and erasure: sipcall.export_user_data() and
 *		sipcall.delete_user_data().
 *
 * Export locks the user's row through SPI, then reads the user's calls,
 * audit entries and call events under one snapshot, each partition through
 * its own index on user_id (see export_table), and serialises each
 * row straight into jsonb's binary format in the buffer that becomes the
 * result (see "jsonb serialisation" below): no JsonbValue tree of the
 * document is built, so memory is about the size of the result.  Phone
 * numbers are decrypted by calling sipcall.decrypt_data through fmgr: its
 * OID is looked up once per call, by name and signature in sipcall's
 * schema (never through the search path), and one FunctionCallInfo is
 * reused for every row, so the function may keep its derived key in
 * fn_extra.  Every error raised while exporting hides the statement
 * (errhidestmt), since the statement carries the encryption key.
 *
 * Erasure deletes the person's call events in bulk by user_id, then their
 * calls (whose cascade to call_events then finds nothing), rate limits and
 * user row; it anonymises their audit log entries and scrubs every other
 * entry that names their id in resource_id or details (in any case, with
 * or without hyphens), and records the erasure without any personal data.
 *
 * Both run as the extension's owner: a role needs only EXECUTE on the
 * function (revoked from PUBLIC), no table privileges.
 *
 * Locking:
 *	- Export first locks the user's row FOR KEY SHARE.  An erasure (which
 *	  locks it FOR UPDATE) therefore either waits for the export to end, or
 *	  the export waits for the erasure and then finds no user (P0002): an
 *	  export never mixes data from before and after an erasure.
 *	- Erasure first locks the user's row FOR UPDATE.  Every insert that
 *	  refers to the user (calls, rate_limits, audit_logs with user_id) takes
 *	  FOR KEY SHARE on that row in its foreign-key check, so it waits and
 *	  then fails with 23503; inserts already under way have committed when
 *	  the lock is granted, and the deletes that follow see their rows.  An
 *	  event for one of the person's calls locks the call's row FOR KEY SHARE
 *	  in its foreign-key check: if it gets there before the erasure deletes
 *	  the call, the delete waits for it and the cascade removes the event;
 *	  if it gets there after, it waits for the erasure and fails with 23503.
 *	  A second erasure of the same user waits on the row lock and then finds
 *	  no user (false).  Table locks are never taken.
 *
 * Copyright (c) 2026, the sipcall authors
 *
 * IDENTIFICATION
 *		src/gdpr.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/mman.h>

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
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/fmgroids.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/uuid.h"

#include "privileged.h"
#include "sipcall.h"

PG_FUNCTION_INFO_V1(sipcall_export_user_data);
PG_FUNCTION_INFO_V1(sipcall_delete_user_data);

/*
 * The document's first allocation; it doubles as it grows.  Above 32 MB
 * glibc's malloc always maps fresh memory, so the pages not written cost
 * nothing, and growing is a remap (see "jsonb serialisation").
 */
#define EXPORT_INITIAL_SIZE	(64 * 1024 * 1024)

/* the most columns an exported row may have */
#define EXPORT_MAX_COLUMNS	16

/*---- types ----*/

/*
 * The document under construction: one varlena, written front to back in
 * jsonb's binary format.  Offsets count from the varlena's start, which
 * palloc aligns, so padding computed from an offset is padding in the final
 * value.
 */
typedef struct DocBuf
{
	char	   *data;
	uint32		len;
	uint32		maxlen;
	MemoryContext cxt;
} DocBuf;

/*
 * One element of an array being written: where its data lies in the
 * document and the key it is ordered by.
 */
typedef struct DocElement
{
	int64		ts;				/* the timestamp it is ordered by */
	uint8		tie[UUID_LEN];	/* then its id, as bytes in memcmp order */
	uint32		start;			/* offset of its data (past any padding) */
	uint32		len;			/* length of its data */
} DocElement;

/*
 * An array being written at the end of the document.  Its elements' data
 * goes straight into the document, in the order the rows come; at its end
 * the elements are put in order and their JEntries in front of them.
 */
typedef struct DocArray
{
	uint32		padstart;		/* offset before the array's padding */
	uint32		start;			/* offset of its header */
	uint32		data_at;		/* offset of its first element's data */
	DocElement *elems;			/* one per element, in ExportState.elembuf */
	uint32		nelems;
} DocArray;

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
	DocBuf		doc;			/* the result */
	DocBuf		elembuf;		/* the DocElements of the array being written */

	/* sipcall.decrypt_data, called through fmgr */
	FmgrInfo	decrypt_flinfo;
	FunctionCallInfo decrypt_fcinfo;
} ExportState;

/*
 * What one kind of row is exported as: the managed table, the columns (with the object key each becomes,
 * when it is not the column's name) and the two columns it is ordered by.
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
	DocArray	arr;
	ExportColumn cols[EXPORT_MAX_COLUMNS];
	ExportColumn *order[EXPORT_MAX_COLUMNS];	/* cols in jsonb key order */
	DocBuf		keys;			/* the keys' JEntries, then their text */
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

/*
 * An integer as a short-form numeric (see int_numeric), on the stack; the
 * union aligns it as a varlena must be.
 */
#define INT_NUMERIC_SHORT		0x8000
#define INT_NUMERIC_NEG			0x2000
#define INT_NUMERIC_WEIGHT_MASK	0x003F
#define INT_NUMERIC_MAX_DIGITS	5	/* |int64| < 10000^5 */

typedef union IntNumeric
{
	int32		align;
	char		bytes[VARHDRSZ + sizeof(uint16) + INT_NUMERIC_MAX_DIGITS * sizeof(int16)];
} IntNumeric;

/*---- forward declarations ----*/

static const char *sipcall_schema_quoted(void);
static Oid	decrypt_function(const char *nspname);
static void doc_init(DocBuf *buf, MemoryContext cxt, uint32 size);
static void doc_reserve(DocBuf *buf, uint32 more);
static uint32 doc_pad(DocBuf *buf);
static void doc_append(DocBuf *buf, const void *data, uint32 len);
static JEntry write_container(DocBuf *buf, const JsonbContainer *jc,
							  uint32 len);
static JEntry write_jsonb_datum(DocBuf *buf, Datum value);
static JEntry write_numeric(DocBuf *buf, Numeric num);
static Numeric int_numeric(int64 v, IntNumeric *out);
static bool int_numeric_checked(void);
static JEntry write_int(DocBuf *buf, int64 v);
static JEntry write_value(ExportState *st, DocBuf *buf, ExportColumn *col,
						  Datum value, bool isnull);
static int	key_cmp(const void *a, const void *b);
static void array_begin(ExportState *st, DocArray *arr, uint32 expected);
static DocElement *array_add(ExportState *st, DocArray *arr, uint32 start);
static JEntry array_end(ExportState *st, DocArray *arr);
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
static Jsonb *export_user(Datum user_id, Datum key);

/*
 * The name of sipcall's schema, quoted for use in SQL.
 */
static const char *
sipcall_schema_quoted(void)
{
	return quote_identifier(get_namespace_name(sipcall_schema_oid(false)));
}

/*
 * The OID of sipcall.decrypt_data(bytea, text), found in sipcall's schema by
 * name and argument types, whatever the search path.
 */
static Oid
decrypt_function(const char *nspname)
{
	Oid			argtypes[2] = {BYTEAOID, TEXTOID};
	List	   *name;
	Oid			fn;

	name = list_make2(makeString(pstrdup(nspname)),
					  makeString(pstrdup("decrypt_data")));
	fn = LookupFuncName(name, 2, argtypes, false);
	if (get_func_rettype(fn) != TEXTOID)
		elog(ERROR, "function %s.decrypt_data(bytea, text) does not return text",
			 nspname);
	return fn;
}

/*---- jsonb serialisation ----*/

/*
 * The document is written straight in jsonb's binary format (utils/jsonb.h),
 * row by row, into the one buffer that becomes the result, instead of first
 * building a JsonbValue tree of every row and converting it at the end.  The
 * layout is the one convertToJsonb() writes: a container is a header word,
 * one JEntry per child (for an object, all keys, then all values), then the
 * children's data; keys sorted by length, then bytewise; containers and
 * numerics padded to a 4-byte boundary, the padding counted in their
 * length; every JB_OFFSET_STRIDE'th JEntry holds an end offset instead of a
 * length.
 *
 * Memory is what a large export spends its time on: every fresh page a
 * backend touches costs a page fault, more than the bytes written to it
 * (measured: 3 ms per MB on the benchmark machine, against 0.05 ms to
 * write a MB already touched).  So the document is written in place, never
 * copied: an array's JEntries, known only at its end, are put in front of
 * its data by one memmove within pages already touched.  The buffer starts
 * as one large allocation of which only the written part is ever touched,
 * grows with repalloc (for a block this large, realloc, which glibc does by
 * remapping, not copying) and shrinks to its length at the end.  On Linux
 * it also asks for transparent huge pages: one fault per 2 MB instead of
 * one per 4 kB.
 */

#define DOC_HUGE_PAGE	((uintptr_t) 2 * 1024 * 1024)

/* ask for huge pages for the whole 2 MB pages inside [p, p + len) */
static void
doc_advise_huge(char *p, Size len)
{
#ifdef MADV_HUGEPAGE
	uintptr_t	start = TYPEALIGN(DOC_HUGE_PAGE, (uintptr_t) p);
	uintptr_t	end = TYPEALIGN_DOWN(DOC_HUGE_PAGE, (uintptr_t) p + len);

	/* advice only: a kernel without transparent huge pages says no */
	if (end > start)
		(void) madvise((void *) start, end - start, MADV_HUGEPAGE);
#endif
}

static void
doc_init(DocBuf *buf, MemoryContext cxt, uint32 size)
{
	buf->cxt = cxt;
	buf->data = MemoryContextAllocHuge(cxt, size);
	buf->len = 0;
	buf->maxlen = size;
	doc_advise_huge(buf->data, size);
}

static void
doc_reserve(DocBuf *buf, uint32 more)
{
	Size		newlen;

	if ((Size) buf->len + more <= buf->maxlen)
		return;
	if ((Size) buf->len + more > MaxAllocSize)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("user data too large to export as one jsonb value")));
	newlen = buf->maxlen;
	while (newlen < (Size) buf->len + more)
		newlen = Min(newlen * 2, MaxAllocSize);
	buf->data = repalloc_huge(buf->data, newlen);
	buf->maxlen = newlen;
	doc_advise_huge(buf->data, newlen);
}

static uint32
doc_pad(DocBuf *buf)
{
	uint32		padlen = INTALIGN(buf->len) - buf->len;

	doc_reserve(buf, padlen);
	memset(buf->data + buf->len, 0, padlen);
	buf->len += padlen;
	return padlen;
}

static void
doc_append(DocBuf *buf, const void *data, uint32 len)
{
	doc_reserve(buf, len);
	memcpy(buf->data + buf->len, data, len);
	buf->len += len;
}

/*
 * Append a container (len bytes at jc, int-aligned relative to wherever it
 * was serialised) as a child value; returns its JEntry (type and length).
 */
static JEntry
write_container(DocBuf *buf, const JsonbContainer *jc, uint32 len)
{
	uint32		padlen = doc_pad(buf);

	doc_append(buf, jc, len);
	return JENTRY_ISCONTAINER | (padlen + len);
}

static JEntry
write_numeric(DocBuf *buf, Numeric num)
{
	uint32		padlen;
	uint32		numlen;

	/* as to_jsonb: NaN and infinities are no JSON numbers */
	if (numeric_is_nan(num) || numeric_is_inf(num))
	{
		char	   *s = DatumGetCString(DirectFunctionCall1(numeric_out,
															NumericGetDatum(num)));

		doc_append(buf, s, strlen(s));
		return JENTRY_ISSTRING | strlen(s);
	}
	numlen = VARSIZE_ANY(num);
	padlen = doc_pad(buf);
	doc_append(buf, num, numlen);
	return JENTRY_ISNUMERIC | (padlen + numlen);
}

/* a jsonb column's value, nested as it is */
static JEntry
write_jsonb_datum(DocBuf *buf, Datum value)
{
	struct varlena *v = (struct varlena *) DatumGetPointer(value);
	Jsonb	   *jb;
	JsonbValue	scalar;

	/*
	 * A short (1-byte) header only shifts the container; its bytes are those
	 * of the aligned form, so they can be copied without detoasting.
	 */
	if (VARATT_IS_SHORT(v))
	{
		const JsonbContainer *jc = (const JsonbContainer *) VARDATA_SHORT(v);
		uint32		header;

		memcpy(&header, jc, sizeof(uint32));
		if ((header & JB_FSCALAR) == 0)
			return write_container(buf, jc, VARSIZE_SHORT(v) - VARHDRSZ_SHORT);
	}

	jb = DatumGetJsonbP(value);
	if (!JB_ROOT_IS_SCALAR(jb))
		return write_container(buf, &jb->root, VARSIZE(jb) - VARHDRSZ);

	/* a bare scalar is stored as a one-element array at the root only */
	if (!JsonbExtractScalar(&jb->root, &scalar))
		elog(ERROR, "invalid jsonb scalar");
	switch (scalar.type)
	{
		case jbvNull:
			return JENTRY_ISNULL;
		case jbvBool:
			return scalar.val.boolean ? JENTRY_ISBOOL_TRUE : JENTRY_ISBOOL_FALSE;
		case jbvString:
			doc_append(buf, scalar.val.string.val, scalar.val.string.len);
			return JENTRY_ISSTRING | scalar.val.string.len;
		case jbvNumeric:
			return write_numeric(buf, scalar.val.numeric);
		default:
			elog(ERROR, "unexpected jsonb scalar type %d", (int) scalar.type);
	}
	return JENTRY_ISNULL;		/* keep compiler quiet */
}

/*
 * Integers as jsonb numbers.  int64_to_numeric() allocates a numeric for
 * each, and the export writes one for every id, duration and cost, so the
 * numeric is composed here on the stack instead, in the short form
 * int64_to_numeric() gives: a header (short flag, sign, display scale 0,
 * weight), then base-10000 digits, most significant first, without
 * leading or trailing zero digits.  That form is stored on disk, so it
 * does not change between releases; still, the first use compares it with
 * int64_to_numeric() for a few values and keeps to that function on any
 * difference.
 */
static Numeric
int_numeric(int64 v, IntNumeric *out)
{
	int16		groups[INT_NUMERIC_MAX_DIGITS];	/* least significant first */
	uint64		u = (v < 0) ? -(uint64) v : (uint64) v;
	int			n = 0;
	int			last = 0;
	uint16		header;
	char	   *p;
	int			i;

	while (u != 0)
	{
		groups[n++] = (int16) (u % 10000);
		u /= 10000;
	}
	while (last < n && groups[last] == 0)
		last++;
	header = INT_NUMERIC_SHORT | (v < 0 ? INT_NUMERIC_NEG : 0) |
		(n > 0 ? ((n - 1) & INT_NUMERIC_WEIGHT_MASK) : 0);
	p = out->bytes + VARHDRSZ;
	memcpy(p, &header, sizeof(uint16));
	p += sizeof(uint16);
	for (i = n - 1; i >= last; i--)
	{
		memcpy(p, &groups[i], sizeof(int16));
		p += sizeof(int16);
	}
	SET_VARSIZE(out->bytes, p - out->bytes);
	return (Numeric) out->bytes;
}

/* whether int_numeric() makes what int64_to_numeric() makes */
static bool
int_numeric_checked(void)
{
	static int	ok = -1;
	static const int64 probes[] = {0, 1, -1, 42, -600, 9999, 10000, -10000,
		123456789, 100000000, 1000003, PG_INT32_MAX, PG_INT32_MIN,
	PG_INT64_MAX, PG_INT64_MIN};
	int			i;

	if (ok >= 0)
		return ok;
	ok = 1;
	for (i = 0; i < lengthof(probes) && ok; i++)
	{
		IntNumeric mine;
		Numeric		a = int_numeric(probes[i], &mine);
		Numeric		b = int64_to_numeric(probes[i]);

		ok = (VARSIZE(a) == VARSIZE(b) && memcmp(a, b, VARSIZE(a)) == 0);
		pfree(b);
	}
	return ok;
}

static JEntry
write_int(DocBuf *buf, int64 v)
{
	IntNumeric	num;

	if (int_numeric_checked())
		return write_numeric(buf, int_numeric(v, &num));
	return write_numeric(buf, int64_to_numeric(v));
}

/*
 * Append one column's value, converted the way to_jsonb() would, and
 * return its JEntry.  Decrypted numbers go straight into the document; the
 * result of decrypt_data (in rowcxt) is wiped at once.  A wrong key raises
 * 39000 in decrypt_data, which ends the export.
 */
static JEntry
write_value(ExportState *st, DocBuf *buf, ExportColumn *col,
			Datum value, bool isnull)
{
	if (isnull)
		return JENTRY_ISNULL;

	if (col->decrypt)
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
		doc_append(buf, VARDATA_ANY(plain), len);
		explicit_bzero(VARDATA_ANY(plain), len);
		if ((Pointer) plain != DatumGetPointer(result))
			explicit_bzero(VARDATA_ANY(DatumGetPointer(result)),
						   VARSIZE_ANY_EXHDR(DatumGetPointer(result)));
		return JENTRY_ISSTRING | len;
	}

	switch (col->typid)
	{
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
			{
				struct varlena *t = (struct varlena *) DatumGetPointer(value);
				uint32		len;

				if (VARATT_IS_EXTENDED(t) && !VARATT_IS_SHORT(t))
					t = pg_detoast_datum_packed(t);
				len = VARSIZE_ANY_EXHDR(t);
				doc_append(buf, VARDATA_ANY(t), len);
				return JENTRY_ISSTRING | len;
			}
		case INT2OID:
			return write_int(buf, DatumGetInt16(value));
		case INT4OID:
			return write_int(buf, DatumGetInt32(value));
		case INT8OID:
			return write_int(buf, DatumGetInt64(value));
		case NUMERICOID:
			return write_numeric(buf, DatumGetNumeric(value));
		case BOOLOID:
			return DatumGetBool(value) ? JENTRY_ISBOOL_TRUE : JENTRY_ISBOOL_FALSE;
		case TIMESTAMPTZOID:
			{
				char		s[MAXDATELEN + 1];
				uint32		len;

				len = sipcall_json_timestamptz(s, DatumGetTimestampTz(value));
				doc_append(buf, s, len);
				return JENTRY_ISSTRING | len;
			}
		case TIMESTAMPOID:
		case DATEOID:
			{
				char		s[MAXDATELEN + 1];
				uint32		len;

				JsonEncodeDateTime(s, value, col->typid, NULL);
				len = strlen(s);
				doc_append(buf, s, len);
				return JENTRY_ISSTRING | len;
			}
		case JSONBOID:
			return write_jsonb_datum(buf, value);
		case UUIDOID:
			{
				/* uuid_out's form, without its StringInfo */
				static const char hex[] = "0123456789abcdef";
				const unsigned char *u = DatumGetUUIDP(value)->data;
				char		s[2 * UUID_LEN + 4];
				int			n = 0;
				int			i;

				for (i = 0; i < UUID_LEN; i++)
				{
					if (i == 4 || i == 6 || i == 8 || i == 10)
						s[n++] = '-';
					s[n++] = hex[u[i] >> 4];
					s[n++] = hex[u[i] & 0x0F];
				}
				doc_append(buf, s, n);
				return JENTRY_ISSTRING | n;
			}
		default:
			{
				/* inet and the like: their text form, as to_jsonb */
				char	   *s = OutputFunctionCall(&col->outfunc, value);
				uint32		len = strlen(s);

				doc_append(buf, s, len);
				return JENTRY_ISSTRING | len;
			}
	}
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

/*
 * Start an array at the end of the document, leaving room for its header
 * and the JEntries of the number of elements expected.  When that many come,
 * in order, the data is already where it belongs (see array_end).
 */
static void
array_begin(ExportState *st, DocArray *arr, uint32 expected)
{
	DocBuf	   *doc = &st->doc;
	Size		room = sizeof(uint32) + (Size) expected * sizeof(JEntry);

	arr->padstart = doc->len;
	(void) doc_pad(doc);
	arr->start = doc->len;
	if (room > JENTRY_OFFLENMASK)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("user data too large to export as one jsonb value")));
	doc_reserve(doc, (uint32) room);
	doc->len += (uint32) room;
	arr->data_at = doc->len;
	arr->nelems = 0;
	/* one buffer serves the arrays in turn: its memory is touched once */
	if (st->elembuf.data == NULL)
		doc_init(&st->elembuf, st->cxt, EXPORT_INITIAL_SIZE);
	st->elembuf.len = 0;
	arr->elems = (DocElement *) st->elembuf.data;
}

/*
 * Record the element whose data was just written from start (past its
 * padding) to the end of the document; the caller fills in its key.
 */
static DocElement *
array_add(ExportState *st, DocArray *arr, uint32 start)
{
	DocElement *elem;

	/* the data may yet be padded once per element when it is ordered */
	if ((Size) st->doc.len - arr->start + (Size) arr->nelems * 3 > JENTRY_OFFLENMASK)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("user data too large to export as one jsonb value"),
				 errdetail("The total size of jsonb array elements exceeds the maximum of %u bytes.",
						   JENTRY_OFFLENMASK)));
	if (arr->nelems == JB_CMASK)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("user data too large to export as one jsonb value")));
	doc_reserve(&st->elembuf, sizeof(DocElement));
	st->elembuf.len += sizeof(DocElement);
	arr->elems = (DocElement *) st->elembuf.data;
	elem = &arr->elems[arr->nelems++];
	elem->start = start;
	elem->len = st->doc.len - start;
	return elem;
}

/* elements by timestamp, then id */
static inline int
element_cmp(const DocElement *a, const DocElement *b)
{
	if (a->ts != b->ts)
		return a->ts < b->ts ? -1 : 1;
	return memcmp(a->tie, b->tie, UUID_LEN);
}

/* sort_elements(): a quicksort specialised for DocElements */
#define ST_SORT sort_elements
#define ST_ELEMENT_TYPE DocElement
#define ST_COMPARE(a, b) element_cmp(a, b)
#define ST_CHECK_FOR_INTERRUPTS
#define ST_SCOPE static
#define ST_DEFINE
#include "lib/sort_template.h"

/* sort_tids(): the same for heap TIDs, in physical order */
#define ST_SORT sort_tids
#define ST_ELEMENT_TYPE ItemPointerData
#define ST_COMPARE(a, b) ItemPointerCompare(a, b)
#define ST_CHECK_FOR_INTERRUPTS
#define ST_SCOPE static
#define ST_DEFINE
#include "lib/sort_template.h"

/*
 * End the array: put its elements in order, its header and JEntries in
 * front of them, and return its JEntry as a child value (its padding
 * included).
 *
 * Ordering here, over a small array of keys, instead of an ORDER BY in the
 * query spares the executor's sort, which copies every row once more into
 * fresh memory.  Elements out of order are copied, in order, past the end
 * of the document.  The data is moved, in one piece, only when it does not
 * already start right after the JEntries: after such a copy, or when a
 * different number of elements came than array_begin left room for.  The
 * document's offsets keep their alignment because data starts on a 4-byte
 * boundary and any move is by a multiple of 4.
 */
static JEntry
array_end(ExportState *st, DocArray *arr)
{
	DocBuf	   *doc = &st->doc;
	uint32		header = arr->nelems | JB_FARRAY;
	uint32		shift = sizeof(uint32) + arr->nelems * sizeof(JEntry);
	uint32		from;			/* where the ordered data starts */
	uint32		datalen;
	uint32		pos;
	JEntry	   *entries;
	bool		ordered = true;
	uint32		i;

	for (i = 1; i < arr->nelems && ordered; i++)
		ordered = element_cmp(&arr->elems[i - 1], &arr->elems[i]) <= 0;

	if (ordered)
	{
		from = arr->data_at;
		datalen = doc->len - arr->data_at;
	}
	else
	{
		sort_elements(arr->elems, arr->nelems);
		(void) doc_pad(doc);
		from = doc->len;
		doc_reserve(doc, doc->len - arr->data_at + arr->nelems * 3);
		pos = from;
		for (i = 0; i < arr->nelems; i++)
		{
			uint32		padlen = INTALIGN(pos) - pos;

			memset(doc->data + pos, 0, padlen);
			memcpy(doc->data + pos + padlen, doc->data + arr->elems[i].start,
				   arr->elems[i].len);
			arr->elems[i].start = pos + padlen;
			pos += padlen + arr->elems[i].len;
		}
		datalen = pos - from;
		doc->len = pos;
	}

	/* the data right after the header and JEntries */
	if (from != arr->start + shift)
	{
		if (arr->start + shift > from)
			doc_reserve(doc, arr->start + shift - from);
		memmove(doc->data + arr->start + shift, doc->data + from, datalen);
	}
	doc->len = arr->start + shift + datalen;

	/* header, and JEntries with offsets counted from the first element */
	memcpy(doc->data + arr->start, &header, sizeof(uint32));
	entries = (JEntry *) (doc->data + arr->start + sizeof(uint32));
	for (i = 0; i < arr->nelems; i++)
	{
		uint32		end = arr->elems[i].start + arr->elems[i].len - from;

		if (i % JB_OFFSET_STRIDE == 0)
			entries[i] = JENTRY_ISCONTAINER | JENTRY_HAS_OFF | end;
		else
			entries[i] = JENTRY_ISCONTAINER |
				(end - (arr->elems[i - 1].start + arr->elems[i - 1].len - from));
	}
	arr->elems = NULL;
	return JENTRY_ISCONTAINER | (doc->len - arr->padstart);
}

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

	doc_init(&t->keys, st->cxt, 256);
	t->keyslen = 0;
	for (c = 0; c < spec->ncols; c++)
	{
		JEntry		entry;

		t->keyslen += t->order[c]->keylen;
		entry = c % JB_OFFSET_STRIDE == 0 ?
			(JENTRY_ISSTRING | JENTRY_HAS_OFF | t->keyslen) :
			(JENTRY_ISSTRING | t->order[c]->keylen);
		doc_append(&t->keys, &entry, sizeof(JEntry));
	}
	for (c = 0; c < spec->ncols; c++)
		doc_append(&t->keys, t->order[c]->key, t->order[c]->keylen);
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
	DocBuf	   *doc = &st->doc;
	int			ncols = spec->ncols;
	uint32		header = (uint32) ncols | JB_FOBJECT;
	uint32		totallen = t->keyslen;
	uint32		start;
	uint32		entries_at;
	DocElement *elem;
	Datum		id;
	MemoryContext oldcxt;
	int			c;

	if (isnull[spec->ts_col] || isnull[spec->id_col])
		elog(ERROR, "exported row without timestamp or id");
	oldcxt = MemoryContextSwitchTo(st->rowcxt);

	/* header, keys' JEntries, room for the values', keys' text */
	(void) doc_pad(doc);
	start = doc->len;
	doc_append(doc, &header, sizeof(uint32));
	doc_append(doc, t->keys.data, ncols * sizeof(JEntry));
	entries_at = doc->len;
	doc_reserve(doc, ncols * sizeof(JEntry));
	doc->len += ncols * sizeof(JEntry);
	doc_append(doc, t->keys.data + ncols * sizeof(JEntry), t->keyslen);

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
	elem = array_add(st, &t->arr, start);
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
 * wants, and ordering them costs one pass (see array_end).
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
 * the array knows how many elements to leave JEntries for (array_begin);
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

	array_begin(st, &t.arr, (uint32) expected);
	for (i = 0; i < nparts; i++)
		export_rows(&t, &rows[i], user_id, snapshot);
	pfree(rows);
	table_close(parent, NoLock);

	*nrows = t.arr.nelems;
	return array_end(st, &t.arr);
}

/*
 * The export proper; returns the document, allocated in the caller's
 * memory context.
 *
 * The document is {"user": ..., "calls": [...], "audit_logs": [...],
 * "call_events": [...]}: its values are written in that order, jsonb's
 * key order, and its header, JEntries and keys are reserved first and
 * filled in at the end.
 */
static Jsonb *
export_user(Datum user_id, Datum key)
{
	static const char *const keys[4] = {"user", "calls", "audit_logs",
	"call_events"};
	MemoryContext callcxt = CurrentMemoryContext;
	const char *nsp;
	ExportState st;
	DocBuf	   *doc = &st.doc;
	SipcallPrivileged priv;
	Oid			argtypes[5] = {UUIDOID, INT8OID, INT8OID, INT8OID, TEXTOID};
	Datum		args[5];
	Jsonb	   *user;
	bool		isnull;
	Snapshot	snapshot;
	uint32		counts[4] = {0, 0, 0, 0};
	JEntry		entries[8];
	uint32		header = 4 | JB_FOBJECT;
	uint32		entries_at;
	uint32		totallen = 0;
	int			i;

	nsp = sipcall_schema_quoted();

	memset(&st, 0, sizeof(st));
	st.cxt = AllocSetContextCreate(callcxt, "sipcall export",
								   ALLOCSET_DEFAULT_SIZES);
	st.rowcxt = AllocSetContextCreate(callcxt, "sipcall export row",
									  ALLOCSET_DEFAULT_SIZES);

	/* decrypt_data, looked up once; one call frame reused for every row */
	fmgr_info_cxt(decrypt_function(get_namespace_name(sipcall_schema_oid(false))),
				  &st.decrypt_flinfo, callcxt);
	st.decrypt_fcinfo = MemoryContextAllocZero(callcxt,
											   SizeForFunctionCallInfo(2));
	InitFunctionCallInfoData(*st.decrypt_fcinfo, &st.decrypt_flinfo, 2,
							 InvalidOid, NULL, NULL);
	st.decrypt_fcinfo->args[1].value = key;
	st.decrypt_fcinfo->args[1].isnull = false;

	sipcall_privileged_enter(&priv);
	sipcall_crypto_act_for(priv.caller);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	/* the user, locked against a concurrent erasure */
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

	/* one snapshot for the three tables, taken once the user is locked */
	CommandCounterIncrement();
	snapshot = RegisterSnapshot(GetTransactionSnapshot());

	/* header, room for the JEntries, the keys */
	doc_init(doc, callcxt, EXPORT_INITIAL_SIZE);
	doc->len = VARHDRSZ;
	doc_append(doc, &header, sizeof(uint32));
	entries_at = doc->len;
	doc->len += sizeof(entries);
	for (i = 0; i < 4; i++)
	{
		uint32		len = strlen(keys[i]);

		totallen += len;
		entries[i] = i == 0 ? (JENTRY_HAS_OFF | totallen) : len;
		doc_append(doc, keys[i], len);
	}

	/* the values */
	for (i = 0; i < 4; i++)
	{
		uint32		vstart = doc->len;
		JEntry		entry;

		switch (i)
		{
			case 0:
				entry = write_container(doc, &user->root,
										VARSIZE(user) - VARHDRSZ);
				break;
			case 1:
				entry = export_table(&st, &export_calls, user_id, snapshot,
									 &counts[i]);
				break;
			case 2:
				entry = export_table(&st, &export_audit, user_id, snapshot,
									 &counts[i]);
				break;
			default:
				entry = export_table(&st, &export_events, user_id, snapshot,
									 &counts[i]);
				break;
		}
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

	UnregisterSnapshot(snapshot);
	MemoryContextDelete(st.cxt);
	MemoryContextDelete(st.rowcxt);

	/* the record of the export: counts only, no numbers */
	args[1] = Int64GetDatum((int64) counts[1]);
	args[2] = Int64GetDatum((int64) counts[3]);
	args[3] = Int64GetDatum((int64) counts[2]);
	args[4] = CStringGetTextDatum(GetUserNameFromId(priv.caller, false));
	sipcall_spi_exec(psprintf("INSERT INTO %s.audit_logs"
							  " (user_id, action, resource_type, resource_id, details)"
							  " VALUES ($1, 'gdpr_export', 'user', $1::pg_catalog.text,"
							  " pg_catalog.jsonb_build_object('calls', $2,"
							  " 'call_events', $3, 'audit_logs', $4,"
							  " 'requested_by', $5))", nsp),
					 5, argtypes, args, NULL, SPI_OK_INSERT);

	SPI_finish();
	sipcall_crypto_act_for(InvalidOid);
	sipcall_privileged_leave(&priv);
	return (Jsonb *) doc->data;
}

/*
 * sipcall.export_user_data(target_user_id uuid, encryption_key text)
 * RETURNS jsonb
 *
 * Any error hides the statement, which holds the key unless the client
 * passed it as a parameter.
 */
Datum
sipcall_export_user_data(PG_FUNCTION_ARGS)
{
	MemoryContext callcxt = CurrentMemoryContext;
	Jsonb	   *result = NULL;

	PG_TRY();
	{
		result = export_user(PG_GETARG_DATUM(0), PG_GETARG_DATUM(1));
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

/*---- erasure ----*/

/*
 * sipcall.delete_user_data(target_user_id uuid) RETURNS boolean
 *
 * True if the user existed and is now erased, false if there was no such
 * user (also when a concurrent erasure got there first).
 */
Datum
sipcall_delete_user_data(PG_FUNCTION_ARGS)
{
	Datum		user_id = PG_GETARG_DATUM(0);
	const char *nsp = sipcall_schema_quoted();
	char	   *id_text;
	char	   *id_hex;
	char	   *p;
	char	   *q;
	SipcallPrivileged priv;
	Oid			argtypes[7] = {UUIDOID, TEXTOID, TEXTOID,
	INT8OID, INT8OID, INT8OID, INT8OID};
	Datum		args[7];
	uint64		nevents,
				ncalls,
				nlimits,
				nanon,
				nscrub;
	int			nestlevel;
	bool		isnull;

	/*
	 * The id as an audit entry may spell it: in any case, with hyphens
	 * anywhere or none (as uuid input accepts it).  The scrub looks for its
	 * 32 hex digits, lower case, in text folded the same way.
	 */
	id_text = DatumGetCString(DirectFunctionCall1(uuid_out, user_id));
	id_hex = palloc(strlen(id_text) + 1);
	for (p = id_text, q = id_hex; *p; p++)
		if (*p != '-')
			*q++ = *p;			/* uuid_out writes lower case */
	*q = '\0';

	sipcall_privileged_enter(&priv);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	args[0] = user_id;
	args[1] = CStringGetTextDatum(id_hex);
	args[2] = args[1];			/* $3 is used by no statement */

	/*
	 * Lock the user first: from here on, every insert that refers to them
	 * waits for us and then fails (see the header comment).  No row: no
	 * such user, or a concurrent erasure has just removed them.
	 */
	if (sipcall_spi_exec(psprintf("SELECT 1 FROM %s.users"
								  " WHERE id = $1 FOR UPDATE", nsp),
						 1, argtypes, args, NULL, SPI_OK_SELECT) == 0)
	{
		SPI_finish();
		sipcall_privileged_leave(&priv);
		PG_RETURN_BOOL(false);
	}

	/* events in bulk, by the user's index, before their calls */
	nevents = sipcall_spi_exec(psprintf("DELETE FROM %s.call_events"
										" WHERE user_id = $1", nsp),
							   1, argtypes, args, NULL, SPI_OK_DELETE);
	/*
	 * The calls, with their triggers off: the per-row cascade to call_events
	 * (which has nothing left to find) and the per-row upkeep of call_keys
	 * would cost several times the delete itself.  call_keys is kept in
	 * step here, in the same statement, and so is the summary's list of
	 * changed days (an erasure leaves the summary like any delete).  Row locks still apply: an event
	 * insert holding one of these calls FOR KEY SHARE makes us wait for it,
	 * and its event is caught by the second sweep below.
	 */
	nestlevel = NewGUCNestLevel();
	(void) set_config_option("session_replication_role", "replica",
							 PGC_SUSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
	sipcall_spi_exec(psprintf("WITH c AS (DELETE FROM %s.calls WHERE user_id = $1"
							  "  RETURNING id, initiated_at),"
							  " k AS (DELETE FROM %s.call_keys k USING c"
							  "  WHERE k.id = c.id RETURNING k.id),"
							  " d AS (INSERT INTO %s.daily_summary_dirty (call_date)"
							  "  SELECT DISTINCT pg_catalog.timezone('UTC', c.initiated_at)::pg_catalog.date FROM c)"
							  " SELECT (SELECT pg_catalog.count(*) FROM c),"
							  "  (SELECT pg_catalog.count(*) FROM k)", nsp, nsp, nsp),
					 1, argtypes, args, NULL, SPI_OK_SELECT);
	ncalls = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
										 SPI_tuptable->tupdesc, 1, &isnull));
	AtEOXact_GUC(true, nestlevel);

	/* events committed for those calls while we waited for their locks */
	nevents += sipcall_spi_exec(psprintf("DELETE FROM %s.call_events"
										 " WHERE user_id = $1", nsp),
								1, argtypes, args, NULL, SPI_OK_DELETE);

	nlimits = sipcall_spi_exec(psprintf("DELETE FROM %s.rate_limits"
										" WHERE user_id = $1", nsp),
							   1, argtypes, args, NULL, SPI_OK_DELETE);

	/* their own audit entries keep action, resource type and time only */
	nanon = sipcall_spi_exec(psprintf("UPDATE %s.audit_logs"
									  " SET user_id = NULL, resource_id = NULL,"
									  " ip_address = NULL, user_agent = NULL,"
									  " details = '{\"anonymized\": true}'"
									  " WHERE user_id = $1", nsp),
							 1, argtypes, args, NULL, SPI_OK_UPDATE);

	/*
	 * Other entries that name them lose the naming fields.  translate()
	 * folds A-F to lower case and drops hyphens, whatever the collation.
	 */
#define FOLDED(x) "pg_catalog.strpos(pg_catalog.translate(" x ", 'ABCDEF-', 'abcdef'), $2) > 0"
	nscrub = sipcall_spi_exec(psprintf("UPDATE %s.audit_logs SET"
									   " resource_id = CASE"
									   "  WHEN " FOLDED("resource_id")
									   "  THEN NULL ELSE resource_id END,"
									   " details = CASE"
									   "  WHEN " FOLDED("details::pg_catalog.text")
									   "  THEN '{\"anonymized\": true}' ELSE details END"
									   " WHERE " FOLDED("resource_id")
									   "    OR " FOLDED("details::pg_catalog.text"),
									   nsp),
							  2, argtypes, args, NULL, SPI_OK_UPDATE);
#undef FOLDED

	/* the user; the cascades find nothing left */
	sipcall_spi_exec(psprintf("DELETE FROM %s.users WHERE id = $1", nsp),
					 1, argtypes, args, NULL, SPI_OK_DELETE);

	/* the record of the erasure: what went, never whose */
	args[1] = CStringGetTextDatum(GetUserNameFromId(priv.caller, false));
	args[3] = Int64GetDatum((int64) ncalls);
	args[4] = Int64GetDatum((int64) nevents);
	args[5] = Int64GetDatum((int64) nlimits);
	args[6] = Int64GetDatum((int64) (nanon + nscrub));
	sipcall_spi_exec(psprintf("INSERT INTO %s.audit_logs"
							  " (action, resource_type, details)"
							  " VALUES ('gdpr_erasure', 'user',"
							  " pg_catalog.jsonb_build_object('calls', $4,"
							  " 'call_events', $5, 'rate_limits', $6,"
							  " 'audit_logs_anonymized', $7,"
							  " 'requested_by', $2))", nsp),
					 7, argtypes, args, NULL, SPI_OK_INSERT);

	SPI_finish();
	sipcall_privileged_leave(&priv);
	PG_RETURN_BOOL(true);
}
