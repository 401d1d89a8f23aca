/*-------------------------------------------------------------------------
 *
 * gdpr.c
 *		GDPR export and erasure: sipcall.export_user_data() and
 *		sipcall.delete_user_data().
 *
 * Export reads the person's rows through SPI cursors, a batch at a time,
 * and serialises each row straight into jsonb's binary format (see
 * "jsonb serialisation" below), so neither the SPI result nor a JsonbValue
 * tree of the document is ever held whole; memory is about twice the size
 * of the result.  Phone numbers are
 * decrypted by calling sipcall.decrypt_data through fmgr: its OID is
 * looked up once per call, by name and signature in sipcall's schema (never
 * through the search path), and one FunctionCallInfo is reused for every
 * row, so the function may keep its derived key in fn_extra.  Every error
 * raised while exporting hides the statement (errhidestmt), since the
 * statement carries the encryption key.
 *
 * Erasure deletes the person's call events in bulk by user_id, then their
 * calls (whose cascade to call_events then finds nothing), rate limits and
 * user row; it anonymises their audit log entries and scrubs every other
 * entry that names their id in resource_id or details, and records the
 * erasure without any personal data.
 *
 * Both run their statements as the extension's owner: a role needs only
 * EXECUTE on the function (revoked from PUBLIC), no table privileges.
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

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/value.h"
#include "parser/parse_func.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/uuid.h"

#include "sipcall.h"

PG_FUNCTION_INFO_V1(sipcall_export_user_data);
PG_FUNCTION_INFO_V1(sipcall_delete_user_data);

/* rows fetched from a cursor at a time */
#define EXPORT_BATCH_ROWS	1000

/* the most columns an exported row may have */
#define EXPORT_MAX_COLUMNS	16

/*---- types ----*/

/*
 * A growing byte buffer for jsonb data.  Its start is taken to be 4-byte
 * aligned in the final value (every piece is placed so), which is what
 * padding is computed against.  Growing wipes the old copy: the buffer may
 * hold decrypted numbers.
 */
typedef struct JsonbBuf
{
	char	   *data;
	uint32		len;
	uint32		maxlen;
	MemoryContext cxt;
} JsonbBuf;

/* the elements of a jsonb array, serialised one by one */
typedef struct JsonbArrayBuf
{
	JsonbBuf	data;			/* the elements' data, back to back */
	JEntry	   *entries;		/* one per element */
	uint32		nelems;
	uint32		maxelems;
	uint32		totallen;		/* == data.len */
} JsonbArrayBuf;

/* how one column of an exported query becomes a jsonb value */
typedef struct ExportColumn
{
	char	   *key;			/* the object key (the column's name) */
	int			keylen;
	Oid			typid;
	bool		decrypt;		/* bytea to pass through decrypt_data */
	FmgrInfo	outfunc;		/* output function, for other types */
} ExportColumn;

typedef struct ExportState
{
	MemoryContext cxt;			/* buffers of the document */
	MemoryContext batchcxt;		/* scratch, reset after every batch */

	/* sipcall.decrypt_data, called through fmgr */
	FmgrInfo	decrypt_flinfo;
	FunctionCallInfo decrypt_fcinfo;
} ExportState;

/*---- forward declarations ----*/

static const char *sipcall_schema_quoted(void);
static Oid	decrypt_function(const char *nspname);
static void jbuf_init(JsonbBuf *buf, MemoryContext cxt, uint32 size);
static void jbuf_reserve(JsonbBuf *buf, uint32 more);
static uint32 jbuf_pad(JsonbBuf *buf);
static void jbuf_append(JsonbBuf *buf, const void *data, uint32 len);
static void jbuf_wipe(JsonbBuf *buf);
static JEntry write_container(JsonbBuf *buf, const JsonbContainer *jc,
							  uint32 len);
static JEntry write_jsonb_datum(JsonbBuf *buf, Datum value);
static JEntry write_numeric(JsonbBuf *buf, Numeric num);
static JEntry write_value(ExportState *st, JsonbBuf *buf, ExportColumn *col,
						  Datum value, bool isnull);
static int	key_cmp(const void *a, const void *b);
static void array_add(JsonbArrayBuf *arr, JEntry type, uint32 start);
static uint32 export_query(ExportState *st, JsonbArrayBuf *arr,
						   const char *sql, Datum user_id,
						   const bool *decrypt_cols);
static Jsonb *assemble_document(const JsonbContainer *user, uint32 userlen,
								JsonbArrayBuf *calls, JsonbArrayBuf *events,
								JsonbArrayBuf *audit);
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
 * row by row, instead of first building a JsonbValue tree of every row and
 * converting it at the end: the tree costs several times the size of the
 * result, and building it dominated the export's time.  The layout is the
 * one convertToJsonb() writes: a container is a header word, one JEntry per
 * child (for an object, all keys, then all values), then the children's
 * data; keys sorted by length, then bytewise; containers and numerics
 * padded to a 4-byte boundary, the padding counted in their length; every
 * JB_OFFSET_STRIDE'th JEntry holds an end offset instead of a length.
 */

static void
jbuf_init(JsonbBuf *buf, MemoryContext cxt, uint32 size)
{
	buf->cxt = cxt;
	buf->data = MemoryContextAlloc(cxt, size);
	buf->len = 0;
	buf->maxlen = size;
}

static void
jbuf_reserve(JsonbBuf *buf, uint32 more)
{
	uint32		newlen;
	char	   *newdata;

	if ((Size) buf->len + more <= buf->maxlen)
		return;
	if ((Size) buf->len + more > MaxAllocSize)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("user data too large to export as one jsonb value")));
	newlen = buf->maxlen;
	while (newlen < buf->len + more)
		newlen = Min((Size) newlen * 2, MaxAllocSize);
	newdata = MemoryContextAlloc(buf->cxt, newlen);
	memcpy(newdata, buf->data, buf->len);
	explicit_bzero(buf->data, buf->len);
	pfree(buf->data);
	buf->data = newdata;
	buf->maxlen = newlen;
}

static uint32
jbuf_pad(JsonbBuf *buf)
{
	uint32		padlen = INTALIGN(buf->len) - buf->len;

	jbuf_reserve(buf, padlen);
	memset(buf->data + buf->len, 0, padlen);
	buf->len += padlen;
	return padlen;
}

static void
jbuf_append(JsonbBuf *buf, const void *data, uint32 len)
{
	jbuf_reserve(buf, len);
	memcpy(buf->data + buf->len, data, len);
	buf->len += len;
}

static void
jbuf_wipe(JsonbBuf *buf)
{
	explicit_bzero(buf->data, buf->len);
	pfree(buf->data);
	buf->data = NULL;
	buf->len = buf->maxlen = 0;
}

/*
 * Append a container (len bytes at jc, int-aligned relative to wherever it
 * was serialised) as a child value; returns its JEntry (type and length).
 */
static JEntry
write_container(JsonbBuf *buf, const JsonbContainer *jc, uint32 len)
{
	uint32		padlen = jbuf_pad(buf);

	jbuf_append(buf, jc, len);
	return JENTRY_ISCONTAINER | (padlen + len);
}

static JEntry
write_numeric(JsonbBuf *buf, Numeric num)
{
	uint32		padlen;
	uint32		numlen;

	/* as to_jsonb: NaN and infinities are no JSON numbers */
	if (numeric_is_nan(num) || numeric_is_inf(num))
	{
		char	   *s = DatumGetCString(DirectFunctionCall1(numeric_out,
															NumericGetDatum(num)));

		jbuf_append(buf, s, strlen(s));
		return JENTRY_ISSTRING | strlen(s);
	}
	numlen = VARSIZE_ANY(num);
	padlen = jbuf_pad(buf);
	jbuf_append(buf, num, numlen);
	return JENTRY_ISNUMERIC | (padlen + numlen);
}

/* a jsonb column's value, nested as it is */
static JEntry
write_jsonb_datum(JsonbBuf *buf, Datum value)
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
			jbuf_append(buf, scalar.val.string.val, scalar.val.string.len);
			return JENTRY_ISSTRING | scalar.val.string.len;
		case jbvNumeric:
			return write_numeric(buf, scalar.val.numeric);
		default:
			elog(ERROR, "unexpected jsonb scalar type %d", (int) scalar.type);
	}
	return JENTRY_ISNULL;		/* keep compiler quiet */
}

/*
 * Append one column's value, converted the way to_jsonb() would, and
 * return its JEntry.  Decrypted numbers go straight into the buffer; the
 * result of decrypt_data (in batchcxt) is wiped at once.  A wrong key
 * raises 39000 in decrypt_data, which ends the export.
 */
static JEntry
write_value(ExportState *st, JsonbBuf *buf, ExportColumn *col,
			Datum value, bool isnull)
{
	if (isnull)
		return JENTRY_ISNULL;

	if (col->decrypt)
	{
		FunctionCallInfo fcinfo = st->decrypt_fcinfo;
		MemoryContext oldcxt = MemoryContextSwitchTo(st->batchcxt);
		Datum		result;
		text	   *plain;
		uint32		len;

		fcinfo->args[0].value = value;
		fcinfo->args[0].isnull = false;
		fcinfo->isnull = false;
		result = FunctionCallInvoke(fcinfo);
		if (fcinfo->isnull)
		{
			MemoryContextSwitchTo(oldcxt);
			return JENTRY_ISNULL;
		}
		plain = DatumGetTextPP(result);
		MemoryContextSwitchTo(oldcxt);

		len = VARSIZE_ANY_EXHDR(plain);
		jbuf_append(buf, VARDATA_ANY(plain), len);
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
				jbuf_append(buf, VARDATA_ANY(t), len);
				return JENTRY_ISSTRING | len;
			}
		case INT2OID:
			return write_numeric(buf, int64_to_numeric(DatumGetInt16(value)));
		case INT4OID:
			return write_numeric(buf, int64_to_numeric(DatumGetInt32(value)));
		case INT8OID:
			return write_numeric(buf, int64_to_numeric(DatumGetInt64(value)));
		case NUMERICOID:
			return write_numeric(buf, DatumGetNumeric(value));
		case BOOLOID:
			return DatumGetBool(value) ? JENTRY_ISBOOL_TRUE : JENTRY_ISBOOL_FALSE;
		case TIMESTAMPTZOID:
		case TIMESTAMPOID:
		case DATEOID:
			{
				char		s[MAXDATELEN + 1];
				uint32		len;

				JsonEncodeDateTime(s, value, col->typid, NULL);
				len = strlen(s);
				jbuf_append(buf, s, len);
				return JENTRY_ISSTRING | len;
			}
		case JSONBOID:
			return write_jsonb_datum(buf, value);
		default:
			{
				/* uuid, inet and the like: their text form, as to_jsonb */
				MemoryContext oldcxt = MemoryContextSwitchTo(st->batchcxt);
				char	   *s = OutputFunctionCall(&col->outfunc, value);
				uint32		len = strlen(s);

				MemoryContextSwitchTo(oldcxt);
				jbuf_append(buf, s, len);
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

/* record the element just written at data[start..] in the array */
static void
array_add(JsonbArrayBuf *arr, JEntry type, uint32 start)
{
	uint32		len = arr->data.len - start;
	JEntry		entry;

	if (arr->data.len > JENTRY_OFFLENMASK)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("user data too large to export as one jsonb value"),
				 errdetail("The total size of jsonb array elements exceeds the maximum of %u bytes.",
						   JENTRY_OFFLENMASK)));
	arr->totallen = arr->data.len;
	if (arr->nelems % JB_OFFSET_STRIDE == 0)
		entry = type | JENTRY_HAS_OFF | arr->totallen;
	else
		entry = type | len;

	if (arr->nelems == arr->maxelems)
	{
		arr->maxelems *= 2;
		arr->entries = repalloc_huge(arr->entries,
									 arr->maxelems * sizeof(JEntry));
	}
	arr->entries[arr->nelems++] = entry;
}

/*
 * Run sql (one parameter: the user's id) through a cursor and append each
 * row to arr as an object, one key per column (named as the column).
 * Columns flagged in decrypt_cols are bytea to decrypt.  Returns the number
 * of rows.
 */
static uint32
export_query(ExportState *st, JsonbArrayBuf *arr, const char *sql,
			 Datum user_id, const bool *decrypt_cols)
{
	Oid			argtypes[1] = {UUIDOID};
	Datum		args[1] = {user_id};
	Portal		portal;
	ExportColumn cols[EXPORT_MAX_COLUMNS];
	ExportColumn *order[EXPORT_MAX_COLUMNS];
	int			ncols = -1;
	JsonbBuf	keys;			/* the keys' JEntries, then their text */
	uint32		keyslen = 0;	/* length of the keys' text */
	Datum		values[EXPORT_MAX_COLUMNS];
	bool		nulls[EXPORT_MAX_COLUMNS];
	JsonbBuf   *buf = &arr->data;
	MemoryContext oldcxt;

	jbuf_init(&arr->data, st->cxt, 64 * 1024);
	arr->maxelems = 1024;
	arr->entries = MemoryContextAlloc(st->cxt, arr->maxelems * sizeof(JEntry));
	arr->nelems = 0;
	arr->totallen = 0;

	portal = SPI_cursor_open_with_args(NULL, sql, 1, argtypes, args, NULL,
									   false, CURSOR_OPT_NO_SCROLL);
	if (portal == NULL)
		elog(ERROR, "SPI_cursor_open_with_args failed: %s",
			 SPI_result_code_string(SPI_result));

	for (;;)
	{
		SPITupleTable *tuptable;
		TupleDesc	desc;
		uint64		i;

		SPI_cursor_fetch(portal, true, EXPORT_BATCH_ROWS);
		if (SPI_processed == 0)
			break;
		tuptable = SPI_tuptable;
		desc = tuptable->tupdesc;

		/* the columns' keys, order and conversions, worked out once */
		if (ncols < 0)
		{
			int			c;
			JEntry		entry;

			ncols = desc->natts;
			if (ncols > EXPORT_MAX_COLUMNS)
				elog(ERROR, "too many columns to export");
			for (c = 0; c < ncols; c++)
			{
				Form_pg_attribute att = TupleDescAttr(desc, c);
				ExportColumn *col = &cols[c];

				col->key = MemoryContextStrdup(st->cxt, NameStr(att->attname));
				col->keylen = strlen(col->key);
				col->typid = att->atttypid;
				col->decrypt = decrypt_cols != NULL && decrypt_cols[c];
				if (col->decrypt && col->typid != BYTEAOID)
					elog(ERROR, "column \"%s\" to decrypt is not bytea",
						 col->key);
				if (!col->decrypt)
				{
					Oid			outfn;
					bool		varlena;

					getTypeOutputInfo(col->typid, &outfn, &varlena);
					fmgr_info_cxt(outfn, &col->outfunc, st->cxt);
				}
				order[c] = col;
			}
			qsort(order, ncols, sizeof(ExportColumn *), key_cmp);

			jbuf_init(&keys, st->cxt, 256);
			for (c = 0; c < ncols; c++)
			{
				keyslen += order[c]->keylen;
				entry = c % JB_OFFSET_STRIDE == 0 ?
					(JENTRY_ISSTRING | JENTRY_HAS_OFF | keyslen) :
					(JENTRY_ISSTRING | order[c]->keylen);
				jbuf_append(&keys, &entry, sizeof(JEntry));
			}
			for (c = 0; c < ncols; c++)
				jbuf_append(&keys, order[c]->key, order[c]->keylen);
		}

		oldcxt = MemoryContextSwitchTo(st->batchcxt);
		for (i = 0; i < SPI_processed; i++)
		{
			uint32		start;
			uint32		entries_at;
			uint32		header = (uint32) ncols | JB_FOBJECT;
			uint32		totallen = keyslen;
			int			c;

			CHECK_FOR_INTERRUPTS();
			heap_deform_tuple(tuptable->vals[i], desc, values, nulls);

			/* header, keys' JEntries, room for the values', keys' text */
			start = buf->len;
			(void) jbuf_pad(buf);
			jbuf_append(buf, &header, sizeof(uint32));
			jbuf_append(buf, keys.data, ncols * sizeof(JEntry));
			entries_at = buf->len;
			jbuf_reserve(buf, ncols * sizeof(JEntry));
			buf->len += ncols * sizeof(JEntry);
			jbuf_append(buf, keys.data + ncols * sizeof(JEntry), keyslen);

			for (c = 0; c < ncols; c++)
			{
				int			attno = order[c] - cols;
				uint32		vstart = buf->len;
				JEntry		entry;

				entry = write_value(st, buf, order[c], values[attno],
									nulls[attno]);
				Assert(JBE_OFFLENFLD(entry) == buf->len - vstart);
				totallen += buf->len - vstart;
				if ((c + ncols) % JB_OFFSET_STRIDE == 0)
					entry = (entry & JENTRY_TYPEMASK) | JENTRY_HAS_OFF | totallen;
				memcpy(buf->data + entries_at + c * sizeof(JEntry), &entry,
					   sizeof(JEntry));
			}
			array_add(arr, JENTRY_ISCONTAINER, start);
		}
		MemoryContextSwitchTo(oldcxt);

		SPI_freetuptable(tuptable);
		MemoryContextReset(st->batchcxt);
	}
	SPI_cursor_close(portal);
	return arr->nelems;
}

/*
 * Put the document together: {"user": ..., "calls": [...], "audit_logs":
 * [...], "call_events": [...]} (keys in jsonb order), as one jsonb value in
 * the current memory context.
 */
static Jsonb *
assemble_document(const JsonbContainer *user, uint32 userlen,
				  JsonbArrayBuf *calls, JsonbArrayBuf *events,
				  JsonbArrayBuf *audit)
{
	static const char *const keys[4] = {"user", "calls", "audit_logs",
	"call_events"};
	JsonbArrayBuf *arrays[4] = {NULL, calls, audit, events};
	JsonbBuf	buf;
	JEntry		entries[8];
	uint32		header = 4 | JB_FOBJECT;
	uint32		totallen = 0;
	Size		size;
	int			i;

	/* exactly the final size, so that the buffer never grows */
	size = VARHDRSZ + sizeof(uint32) + sizeof(entries) + 30 + 3 + userlen;
	for (i = 1; i < 4; i++)
		size += 3 + sizeof(uint32) + (Size) arrays[i]->nelems * sizeof(JEntry) +
			arrays[i]->data.len;
	if (size > MaxAllocSize)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("user data too large to export as one jsonb value")));
	jbuf_init(&buf, CurrentMemoryContext, size);

	buf.len = VARHDRSZ;
	jbuf_append(&buf, &header, sizeof(uint32));
	buf.len += sizeof(entries);
	for (i = 0; i < 4; i++)
	{
		uint32		len = strlen(keys[i]);

		totallen += len;
		entries[i] = i == 0 ? (JENTRY_HAS_OFF | totallen) : len;
		jbuf_append(&buf, keys[i], len);
	}
	for (i = 0; i < 4; i++)
	{
		uint32		vstart = buf.len;
		JEntry		entry;

		if (i == 0)
			(void) write_container(&buf, user, userlen);
		else
		{
			JsonbArrayBuf *arr = arrays[i];
			uint32		arrheader = arr->nelems | JB_FARRAY;

			(void) jbuf_pad(&buf);
			jbuf_append(&buf, &arrheader, sizeof(uint32));
			jbuf_append(&buf, arr->entries, arr->nelems * sizeof(JEntry));
			jbuf_append(&buf, arr->data.data, arr->data.len);
		}
		totallen += buf.len - vstart;
		if (totallen > JENTRY_OFFLENMASK)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("user data too large to export as one jsonb value")));
		entry = JENTRY_ISCONTAINER | (buf.len - vstart);
		if ((i + 4) % JB_OFFSET_STRIDE == 0)
			entry = JENTRY_ISCONTAINER | JENTRY_HAS_OFF | totallen;
		entries[4 + i] = entry;
	}
	memcpy(buf.data + VARHDRSZ + sizeof(uint32), entries, sizeof(entries));
	SET_VARSIZE(buf.data, buf.len);
	return (Jsonb *) buf.data;
}

/*
 * The export proper; returns the document, allocated in the caller's
 * memory context.
 */
static Jsonb *
export_user(Datum user_id, Datum key)
{
	MemoryContext callcxt = CurrentMemoryContext;
	const char *nsp;
	ExportState st;
	SipcallSavedUser saved;
	Oid			argtypes[5] = {UUIDOID, INT8OID, INT8OID, INT8OID, TEXTOID};
	Datum		args[5];
	Jsonb	   *result;
	Jsonb	   *user;
	bool		isnull;
	MemoryContext oldcxt;
	JsonbArrayBuf calls;
	JsonbArrayBuf events;
	JsonbArrayBuf audit;
	static const bool call_decrypt[] = {false, true, true, false, false,
	false, false};

	nsp = sipcall_schema_quoted();

	memset(&st, 0, sizeof(st));
	st.cxt = AllocSetContextCreate(callcxt, "sipcall export",
								   ALLOCSET_DEFAULT_SIZES);
	st.batchcxt = AllocSetContextCreate(callcxt, "sipcall export batch",
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

	sipcall_become_owner(&saved);
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
	oldcxt = MemoryContextSwitchTo(st.cxt);
	user = DatumGetJsonbPCopy(SPI_getbinval(SPI_tuptable->vals[0],
											SPI_tuptable->tupdesc, 1, &isnull));
	MemoryContextSwitchTo(oldcxt);
	SPI_freetuptable(SPI_tuptable);

	export_query(&st, &calls,
				 psprintf("SELECT id,"
						  " destination_number_enc AS destination_number,"
						  " caller_id_enc AS caller_id, status,"
						  " initiated_at, duration_seconds, cost_cents"
						  " FROM %s.calls WHERE user_id = $1"
						  " ORDER BY initiated_at, id", nsp),
				 user_id, call_decrypt);
	export_query(&st, &events,
				 psprintf("SELECT id, call_id, event_type, event_data,"
						  " \"timestamp\""
						  " FROM %s.call_events WHERE user_id = $1"
						  " ORDER BY \"timestamp\", id", nsp),
				 user_id, NULL);
	export_query(&st, &audit,
				 psprintf("SELECT id, action, resource_type, resource_id,"
						  " details, ip_address, user_agent, \"timestamp\""
						  " FROM %s.audit_logs WHERE user_id = $1"
						  " ORDER BY \"timestamp\", id", nsp),
				 user_id, NULL);

	MemoryContextSwitchTo(callcxt);
	result = assemble_document(&user->root, VARSIZE(user) - VARHDRSZ,
							   &calls, &events, &audit);

	/* no plaintext left behind but in the result */
	jbuf_wipe(&calls.data);
	MemoryContextDelete(st.cxt);
	MemoryContextDelete(st.batchcxt);

	/* the record of the export: counts only, no numbers */
	args[1] = Int64GetDatum((int64) calls.nelems);
	args[2] = Int64GetDatum((int64) events.nelems);
	args[3] = Int64GetDatum((int64) audit.nelems);
	args[4] = CStringGetTextDatum(GetUserNameFromId(saved.userid, false));
	sipcall_spi_exec(psprintf("INSERT INTO %s.audit_logs"
							  " (user_id, action, resource_type, resource_id, details)"
							  " VALUES ($1, 'gdpr_export', 'user', $1::pg_catalog.text,"
							  " pg_catalog.jsonb_build_object('calls', $2,"
							  " 'call_events', $3, 'audit_logs', $4,"
							  " 'requested_by', $5))", nsp),
					 5, argtypes, args, NULL, SPI_OK_INSERT);

	SPI_finish();
	sipcall_restore_user(&saved);
	return result;
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
	char	   *id_lower;
	char	   *id_upper;
	char	   *p;
	SipcallSavedUser saved;
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

	/* the id's text forms, as an audit entry may mention it */
	id_lower = DatumGetCString(DirectFunctionCall1(uuid_out, user_id));
	id_upper = pstrdup(id_lower);
	for (p = id_upper; *p; p++)
		*p = pg_toupper((unsigned char) *p);

	sipcall_become_owner(&saved);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	args[0] = user_id;
	args[1] = CStringGetTextDatum(id_lower);
	args[2] = CStringGetTextDatum(id_upper);

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
		sipcall_restore_user(&saved);
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

	/* other entries that name them lose the naming fields */
	nscrub = sipcall_spi_exec(psprintf("UPDATE %s.audit_logs SET"
									   " resource_id = CASE"
									   "  WHEN pg_catalog.strpos(resource_id, $2) > 0"
									   "    OR pg_catalog.strpos(resource_id, $3) > 0"
									   "  THEN NULL ELSE resource_id END,"
									   " details = CASE"
									   "  WHEN pg_catalog.strpos(details::pg_catalog.text, $2) > 0"
									   "    OR pg_catalog.strpos(details::pg_catalog.text, $3) > 0"
									   "  THEN '{\"anonymized\": true}' ELSE details END"
									   " WHERE pg_catalog.strpos(resource_id, $2) > 0"
									   "    OR pg_catalog.strpos(resource_id, $3) > 0"
									   "    OR pg_catalog.strpos(details::pg_catalog.text, $2) > 0"
									   "    OR pg_catalog.strpos(details::pg_catalog.text, $3) > 0",
									   nsp),
							  3, argtypes, args, NULL, SPI_OK_UPDATE);

	/* the user; the cascades find nothing left */
	sipcall_spi_exec(psprintf("DELETE FROM %s.users WHERE id = $1", nsp),
					 1, argtypes, args, NULL, SPI_OK_DELETE);

	/* the record of the erasure: what went, never whose */
	args[1] = CStringGetTextDatum(GetUserNameFromId(saved.userid, false));
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
	sipcall_restore_user(&saved);
	PG_RETURN_BOOL(true);
}
