/*-------------------------------------------------------------------------
 *
 * jsonb_writer.h
 *		The jsonb binary writer used by the export (see jsonb_writer.c).
 *
 * Copyright (c) 2026, the sipcall authors
 *
 * IDENTIFICATION
 *		src/jsonb_writer.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef SIPCALL_JSONB_WRITER_H
#define SIPCALL_JSONB_WRITER_H

#include "fmgr.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/uuid.h"

/*
 * The document's first allocation; it doubles as it grows.  Above 32 MB
 * glibc's malloc always maps fresh memory, so the pages not written cost
 * nothing, and growing is a remap (see "jsonb serialisation").
 */
#define EXPORT_INITIAL_SIZE	(64 * 1024 * 1024)

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

extern void doc_init(DocBuf *buf, MemoryContext cxt, uint32 size);
extern void doc_reserve(DocBuf *buf, uint32 more);
extern uint32 doc_pad(DocBuf *buf);
extern void doc_append(DocBuf *buf, const void *data, uint32 len);
extern JEntry write_container(DocBuf *buf, const JsonbContainer *jc,
							  uint32 len);
extern JEntry write_jsonb_datum(DocBuf *buf, Datum value);
extern JEntry write_numeric(DocBuf *buf, Numeric num);
extern JEntry write_int(DocBuf *buf, int64 v);
extern void array_begin(ExportState *st, DocArray *arr, uint32 expected);
extern DocElement *array_add(ExportState *st, DocArray *arr, uint32 start);
extern JEntry array_end(ExportState *st, DocArray *arr);

#endif							/* SIPCALL_JSONB_WRITER_H */
