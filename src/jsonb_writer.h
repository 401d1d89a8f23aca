/*-------------------------------------------------------------------------
 *
 * jsonb_writer.h
 *		The jsonb binary writer: a buffer that becomes one jsonb value
 *		(SipcallDocBuf), the arrays written at its end (SipcallDocArray,
 *		SipcallDocElement) and the writer's state (SipcallJsonbWriter).
 *		The export (export.c) is its one user; see jsonb_writer.c for the
 *		layout written.
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
 * nothing, and growing is a remap (see jsonb_writer.c).
 */
#define SIPCALL_DOC_INITIAL_SIZE	(64 * 1024 * 1024)

/*
 * The document under construction: one varlena, written front to back in
 * jsonb's binary format.  Offsets count from the varlena's start, which
 * palloc aligns, so padding computed from an offset is padding in the final
 * value.
 */
typedef struct SipcallDocBuf
{
	char	   *data;
	uint32		len;
	uint32		maxlen;
	MemoryContext cxt;
} SipcallDocBuf;

/*
 * One element of an array being written: where its data lies in the
 * document and the key it is ordered by.
 */
typedef struct SipcallDocElement
{
	int64		ts;				/* the timestamp it is ordered by */
	uint8		tie[UUID_LEN];	/* then its id, as bytes in memcmp order */
	uint32		start;			/* offset of its data (past any padding) */
	uint32		len;			/* length of its data */
} SipcallDocElement;

/*
 * An array being written at the end of the document.  Its elements' data
 * goes straight into the document, in the order the rows come; at its end
 * the elements are put in order and their JEntries in front of them.
 */
typedef struct SipcallDocArray
{
	uint32		padstart;		/* offset before the array's padding */
	uint32		start;			/* offset of its header */
	uint32		data_at;		/* offset of its first element's data */
	SipcallDocElement *elems;			/* one per element, in the writer's
								 * elembuf */
	uint32		nelems;
} SipcallDocArray;

/*
 * The writer's state: the document and the scratch buffer that the
 * elements of the array being written are recorded in.  The caller sets
 * cxt and starts doc (sipcall_doc_init); elembuf is made, in cxt, when the
 * first array begins.
 */
typedef struct SipcallJsonbWriter
{
	MemoryContext cxt;			/* where elembuf lives */
	SipcallDocBuf doc;			/* the result */
	SipcallDocBuf elembuf;		/* the DocElements of the array being written */
} SipcallJsonbWriter;

extern void sipcall_doc_init(SipcallDocBuf *buf, MemoryContext cxt,
							 uint32 size);
extern void sipcall_doc_reserve(SipcallDocBuf *buf, uint32 more);
extern uint32 sipcall_doc_pad(SipcallDocBuf *buf);
extern void sipcall_doc_append(SipcallDocBuf *buf, const void *data,
							   uint32 len);
extern JEntry sipcall_jsonb_write_container(SipcallDocBuf *buf,
											const JsonbContainer *jc,
											uint32 len);
extern JEntry sipcall_jsonb_write_jsonb(SipcallDocBuf *buf, Datum value);
extern JEntry sipcall_jsonb_write_numeric(SipcallDocBuf *buf, Numeric num);
extern JEntry sipcall_jsonb_write_int(SipcallDocBuf *buf, int64 v);
extern JEntry sipcall_jsonb_write_datum(SipcallDocBuf *buf, Oid typid,
										FmgrInfo *outfunc, Datum value);
extern void sipcall_jsonb_array_begin(SipcallJsonbWriter *w,
									  SipcallDocArray *arr, uint32 expected);
extern SipcallDocElement *sipcall_jsonb_array_add(SipcallJsonbWriter *w,
												  SipcallDocArray *arr,
												  uint32 start);
extern JEntry sipcall_jsonb_array_end(SipcallJsonbWriter *w,
									  SipcallDocArray *arr);

#endif							/* SIPCALL_JSONB_WRITER_H */
