/*-------------------------------------------------------------------------
 *
 * jsonb_writer.c
 *		Writing a jsonb value straight in its binary format: the document
 *		buffer (sipcall_doc_*), scalars and nested values converted as
 *		to_jsonb() does (sipcall_jsonb_write_*), and arrays of objects put
 *		in order at their end (sipcall_jsonb_array_*).
 *
 * The writer keeps all its state in the structs the caller passes
 * (SipcallDocBuf, SipcallJsonbWriter); it has no file-level state but the
 * one-time check of int_numeric().  It knows nothing of sipcall's tables.
 *
 * Calls: PostgreSQL's jsonb, numeric and date/time code, and
 * sipcall_json_timestamptz (jsontime.c) only.
 *
 * Copyright (c) 2026, the sipcall authors
 *
 * IDENTIFICATION
 *		src/jsonb_writer.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/mman.h>

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "jsonb_writer.h"
#include "sipcall.h"

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

static JEntry write_string(SipcallDocBuf *buf, const char *s, uint32 len);
static JEntry write_text(SipcallDocBuf *buf, Datum value);
static JEntry write_datetime(SipcallDocBuf *buf, Oid typid, Datum value);
static JEntry write_uuid(SipcallDocBuf *buf, Datum value);
static Numeric int_numeric(int64 v, IntNumeric *out);
static bool int_numeric_checked(void);

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
 * backend touches costs a page fault, much more than writing the bytes to it
 * (see the README, "GDPR export and erasure").  So the document is written
 * in place, never copied: an array's JEntries, known only at its end, are
 * put in front of its data by one memmove within pages already touched.  The
 * buffer starts as one large allocation of which only the written part is
 * ever touched, grows with repalloc (for a block this large, realloc, which
 * glibc does by remapping, not copying) and shrinks to its length at the
 * end.  On Linux it also asks for transparent huge pages: one fault per 2 MB
 * instead of one per 4 kB.
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

void
sipcall_doc_init(SipcallDocBuf *buf, MemoryContext cxt, uint32 size)
{
	buf->cxt = cxt;
	buf->data = MemoryContextAllocHuge(cxt, size);
	buf->len = 0;
	buf->maxlen = size;
	doc_advise_huge(buf->data, size);
}

void
sipcall_doc_reserve(SipcallDocBuf *buf, uint32 more)
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

uint32
sipcall_doc_pad(SipcallDocBuf *buf)
{
	uint32		padlen = INTALIGN(buf->len) - buf->len;

	sipcall_doc_reserve(buf, padlen);
	memset(buf->data + buf->len, 0, padlen);
	buf->len += padlen;
	return padlen;
}

void
sipcall_doc_append(SipcallDocBuf *buf, const void *data, uint32 len)
{
	sipcall_doc_reserve(buf, len);
	memcpy(buf->data + buf->len, data, len);
	buf->len += len;
}

/*
 * Append a container (len bytes at jc, int-aligned relative to wherever it
 * was serialised) as a child value; returns its JEntry (type and length).
 */
JEntry
sipcall_jsonb_write_container(SipcallDocBuf *buf, const JsonbContainer *jc,
							  uint32 len)
{
	uint32		padlen = sipcall_doc_pad(buf);

	sipcall_doc_append(buf, jc, len);
	return JENTRY_ISCONTAINER | (padlen + len);
}

JEntry
sipcall_jsonb_write_numeric(SipcallDocBuf *buf, Numeric num)
{
	uint32		padlen;
	uint32		numlen;

	/* as to_jsonb: NaN and infinities are no JSON numbers */
	if (numeric_is_nan(num) || numeric_is_inf(num))
	{
		char	   *s = DatumGetCString(DirectFunctionCall1(numeric_out,
															NumericGetDatum(num)));

		sipcall_doc_append(buf, s, strlen(s));
		return JENTRY_ISSTRING | strlen(s);
	}
	numlen = VARSIZE_ANY(num);
	padlen = sipcall_doc_pad(buf);
	sipcall_doc_append(buf, num, numlen);
	return JENTRY_ISNUMERIC | (padlen + numlen);
}

/* a jsonb column's value, nested as it is */
JEntry
sipcall_jsonb_write_jsonb(SipcallDocBuf *buf, Datum value)
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
			return sipcall_jsonb_write_container(buf, jc, VARSIZE_SHORT(v) -
												 VARHDRSZ_SHORT);
	}

	jb = DatumGetJsonbP(value);
	if (!JB_ROOT_IS_SCALAR(jb))
		return sipcall_jsonb_write_container(buf, &jb->root,
											 VARSIZE(jb) - VARHDRSZ);

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
			sipcall_doc_append(buf, scalar.val.string.val,
							   scalar.val.string.len);
			return JENTRY_ISSTRING | scalar.val.string.len;
		case jbvNumeric:
			return sipcall_jsonb_write_numeric(buf, scalar.val.numeric);
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
	for (i = 0; i < (int) lengthof(probes) && ok; i++)
	{
		IntNumeric mine;
		Numeric		a = int_numeric(probes[i], &mine);
		Numeric		b = int64_to_numeric(probes[i]);

		ok = (VARSIZE(a) == VARSIZE(b) && memcmp(a, b, VARSIZE(a)) == 0);
		pfree(b);
	}
	return ok;
}

JEntry
sipcall_jsonb_write_int(SipcallDocBuf *buf, int64 v)
{
	IntNumeric	num;

	if (int_numeric_checked())
		return sipcall_jsonb_write_numeric(buf, int_numeric(v, &num));
	return sipcall_jsonb_write_numeric(buf, int64_to_numeric(v));
}

/* a string: its bytes, as they are */
static JEntry
write_string(SipcallDocBuf *buf, const char *s, uint32 len)
{
	sipcall_doc_append(buf, s, len);
	return JENTRY_ISSTRING | len;
}

/* a text, varchar or bpchar value, read without copying when it can be */
static JEntry
write_text(SipcallDocBuf *buf, Datum value)
{
	struct varlena *t = (struct varlena *) DatumGetPointer(value);

	if (VARATT_IS_EXTENDED(t) && !VARATT_IS_SHORT(t))
		t = pg_detoast_datum_packed(t);
	return write_string(buf, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
}

/* a timestamptz, timestamp or date in to_jsonb's ISO 8601 form */
static JEntry
write_datetime(SipcallDocBuf *buf, Oid typid, Datum value)
{
	char		s[MAXDATELEN + 1];
	uint32		len;

	if (typid == TIMESTAMPTZOID)
		len = sipcall_json_timestamptz(s, DatumGetTimestampTz(value));
	else
	{
		JsonEncodeDateTime(s, value, typid, NULL);
		len = strlen(s);
	}
	return write_string(buf, s, len);
}

/* a uuid in uuid_out's form, without its StringInfo */
static JEntry
write_uuid(SipcallDocBuf *buf, Datum value)
{
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
	return write_string(buf, s, n);
}

/*
 * Append a value of type typid (not null), converted the way to_jsonb()
 * would, and return its JEntry.  outfunc is the type's output function,
 * used for the types without a form of their own here (inet and the like:
 * their text form, as to_jsonb).
 */
JEntry
sipcall_jsonb_write_datum(SipcallDocBuf *buf, Oid typid, FmgrInfo *outfunc,
						  Datum value)
{
	switch (typid)
	{
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
			return write_text(buf, value);
		case INT2OID:
			return sipcall_jsonb_write_int(buf, DatumGetInt16(value));
		case INT4OID:
			return sipcall_jsonb_write_int(buf, DatumGetInt32(value));
		case INT8OID:
			return sipcall_jsonb_write_int(buf, DatumGetInt64(value));
		case NUMERICOID:
			return sipcall_jsonb_write_numeric(buf, DatumGetNumeric(value));
		case BOOLOID:
			return DatumGetBool(value) ? JENTRY_ISBOOL_TRUE : JENTRY_ISBOOL_FALSE;
		case TIMESTAMPTZOID:
		case TIMESTAMPOID:
		case DATEOID:
			return write_datetime(buf, typid, value);
		case JSONBOID:
			return sipcall_jsonb_write_jsonb(buf, value);
		case UUIDOID:
			return write_uuid(buf, value);
		default:
			{
				char	   *s = OutputFunctionCall(outfunc, value);

				return write_string(buf, s, strlen(s));
			}
	}
}

/*
 * Start an array at the end of the document, leaving room for its header
 * and the JEntries of the number of elements expected.  When that many come,
 * in order, the data is already where it belongs (see sipcall_jsonb_array_end).
 */
void
sipcall_jsonb_array_begin(SipcallJsonbWriter *w, SipcallDocArray *arr,
						  uint32 expected)
{
	SipcallDocBuf *doc = &w->doc;
	Size		room = sizeof(uint32) + (Size) expected * sizeof(JEntry);

	arr->padstart = doc->len;
	(void) sipcall_doc_pad(doc);
	arr->start = doc->len;
	if (room > JENTRY_OFFLENMASK)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("user data too large to export as one jsonb value")));
	sipcall_doc_reserve(doc, (uint32) room);
	doc->len += (uint32) room;
	arr->data_at = doc->len;
	arr->nelems = 0;
	/* one buffer serves the arrays in turn: its memory is touched once */
	if (w->elembuf.data == NULL)
		sipcall_doc_init(&w->elembuf, w->cxt, SIPCALL_DOC_INITIAL_SIZE);
	w->elembuf.len = 0;
	arr->elems = (SipcallDocElement *) w->elembuf.data;
}

/*
 * Record the element whose data was just written from start (past its
 * padding) to the end of the document; the caller fills in its key.
 */
SipcallDocElement *
sipcall_jsonb_array_add(SipcallJsonbWriter *w, SipcallDocArray *arr,
						uint32 start)
{
	SipcallDocElement *elem;

	/* the data may yet be padded once per element when it is ordered */
	if ((Size) w->doc.len - arr->start + (Size) arr->nelems * 3 > JENTRY_OFFLENMASK)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("user data too large to export as one jsonb value"),
				 errdetail("The total size of jsonb array elements exceeds the maximum of %u bytes.",
						   JENTRY_OFFLENMASK)));
	if (arr->nelems == JB_CMASK)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("user data too large to export as one jsonb value")));
	sipcall_doc_reserve(&w->elembuf, sizeof(SipcallDocElement));
	w->elembuf.len += sizeof(SipcallDocElement);
	arr->elems = (SipcallDocElement *) w->elembuf.data;
	elem = &arr->elems[arr->nelems++];
	elem->start = start;
	elem->len = w->doc.len - start;
	return elem;
}

/* elements by timestamp, then id */
static inline int
element_cmp(const SipcallDocElement *a, const SipcallDocElement *b)
{
	if (a->ts != b->ts)
		return a->ts < b->ts ? -1 : 1;
	return memcmp(a->tie, b->tie, UUID_LEN);
}

/* sort_elements(): a quicksort specialised for DocElements */
#define ST_SORT sort_elements
#define ST_ELEMENT_TYPE SipcallDocElement
#define ST_COMPARE(a, b) element_cmp(a, b)
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
 * different number of elements came than sipcall_jsonb_array_begin left
 * room for.  The document's offsets keep their alignment because data
 * starts on a 4-byte boundary and any move is by a multiple of 4.
 */
JEntry
sipcall_jsonb_array_end(SipcallJsonbWriter *w, SipcallDocArray *arr)
{
	SipcallDocBuf *doc = &w->doc;
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
		(void) sipcall_doc_pad(doc);
		from = doc->len;
		sipcall_doc_reserve(doc, doc->len - arr->data_at + arr->nelems * 3);
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
			sipcall_doc_reserve(doc, arr->start + shift - from);
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
