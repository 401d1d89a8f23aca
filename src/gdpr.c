/*-------------------------------------------------------------------------
 *
 * gdpr.c
 *		GDPR export and erasure: sipcall.export_user_data() and
 *		sipcall.delete_user_data().
 *
 * Export reads the person's rows through SPI cursors, a batch at a time,
 * and builds the jsonb result with the JsonbParseState API, so neither
 * the SPI result nor an intermediate text copy of the document is ever
 * held whole; memory grows with the result only.  Phone numbers are
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
#include "port/pg_bitutils.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/uuid.h"

#include "sipcall.h"

PG_FUNCTION_INFO_V1(sipcall_export_user_data);
PG_FUNCTION_INFO_V1(sipcall_delete_user_data);

/* rows fetched from a cursor at a time */
#define EXPORT_BATCH_ROWS	1000

/*---- types ----*/

/* how one column of an exported query becomes a jsonb value */
typedef struct ExportColumn
{
	char	   *key;			/* the object key (the column's name) */
	int			keylen;
	Oid			typid;
	bool		decrypt;		/* bytea to pass through decrypt_data */
	FmgrInfo	outfunc;		/* output function, for the other types */
} ExportColumn;

typedef struct ExportState
{
	JsonbParseState *pstate;	/* the document being built */
	MemoryContext buildcxt;		/* the tree and everything it points to */
	MemoryContext batchcxt;		/* scratch, reset after every batch */

	/* sipcall.decrypt_data, called through fmgr */
	FmgrInfo	decrypt_flinfo;
	FunctionCallInfo decrypt_fcinfo;

	/* copies of decrypted values, wiped once the result is built */
	char	  **plain;
	int		   *plain_len;
	int			nplain;
	int			maxplain;
} ExportState;

/*---- forward declarations ----*/

static const char *sipcall_schema_quoted(void);
static Oid	decrypt_function(const char *nspname);
static void push_key(ExportState *st, const char *key, int len);
static void push_string(ExportState *st, char *str, int len);
static void push_value(ExportState *st, ExportColumn *col, Datum value,
					   bool isnull);
static void push_decrypted(ExportState *st, Datum cipher);
static uint64 export_query(ExportState *st, const char *key, const char *sql,
						   Datum user_id, const bool *decrypt_cols);
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

/*---- building the document ----*/

static void
push_key(ExportState *st, const char *key, int len)
{
	JsonbValue	v;

	v.type = jbvString;
	v.val.string.val = (char *) key;
	v.val.string.len = len;
	(void) pushJsonbValue(&st->pstate, WJB_KEY, &v);
}

/* str must live in buildcxt: the tree keeps the pointer */
static void
push_string(ExportState *st, char *str, int len)
{
	JsonbValue	v;

	v.type = jbvString;
	v.val.string.val = str;
	v.val.string.len = len;
	(void) pushJsonbValue(&st->pstate, WJB_VALUE, &v);
}

/*
 * Decrypt one number and push it.  The plaintext is copied into buildcxt
 * (and remembered, so that it can be wiped later); decrypt_data's result
 * and whatever it allocates go to batchcxt, the plaintext among it wiped at
 * once.  A wrong key raises 39000 from decrypt_data, ending the export.
 */
static void
push_decrypted(ExportState *st, Datum cipher)
{
	FunctionCallInfo fcinfo = st->decrypt_fcinfo;
	MemoryContext oldcxt;
	Datum		result;
	text	   *plain;
	char	   *copy;
	int			len;

	oldcxt = MemoryContextSwitchTo(st->batchcxt);
	fcinfo->args[0].value = cipher;
	fcinfo->args[0].isnull = false;
	fcinfo->isnull = false;
	result = FunctionCallInvoke(fcinfo);
	MemoryContextSwitchTo(oldcxt);

	if (fcinfo->isnull)
	{
		JsonbValue	v;

		v.type = jbvNull;
		(void) pushJsonbValue(&st->pstate, WJB_VALUE, &v);
		return;
	}

	plain = DatumGetTextPP(result);
	len = VARSIZE_ANY_EXHDR(plain);
	copy = palloc(len + 1);
	memcpy(copy, VARDATA_ANY(plain), len);
	copy[len] = '\0';
	explicit_bzero(VARDATA_ANY(plain), len);
	if ((Pointer) plain != DatumGetPointer(result))
		explicit_bzero(VARDATA_ANY(DatumGetPointer(result)),
					   VARSIZE_ANY_EXHDR(DatumGetPointer(result)));

	if (st->nplain == st->maxplain)
	{
		st->maxplain *= 2;
		st->plain = repalloc(st->plain, st->maxplain * sizeof(char *));
		st->plain_len = repalloc(st->plain_len, st->maxplain * sizeof(int));
	}
	st->plain[st->nplain] = copy;
	st->plain_len[st->nplain] = len;
	st->nplain++;

	push_string(st, copy, len);
}

/*
 * Push one column's value, converted the way to_jsonb() would.  Runs in
 * buildcxt; value may point into an SPI tuple, so whatever the tree keeps
 * is copied.
 */
static void
push_value(ExportState *st, ExportColumn *col, Datum value, bool isnull)
{
	JsonbValue	v;

	if (isnull)
	{
		v.type = jbvNull;
		(void) pushJsonbValue(&st->pstate, WJB_VALUE, &v);
		return;
	}
	if (col->decrypt)
	{
		push_decrypted(st, value);
		return;
	}

	switch (col->typid)
	{
		case TEXTOID:
		case VARCHAROID:
			{
				text	   *t = DatumGetTextPP(value);
				int			len = VARSIZE_ANY_EXHDR(t);

				push_string(st, pnstrdup(VARDATA_ANY(t), len), len);
				return;
			}
		case INT2OID:
			v.type = jbvNumeric;
			v.val.numeric = int64_to_numeric(DatumGetInt16(value));
			break;
		case INT4OID:
			v.type = jbvNumeric;
			v.val.numeric = int64_to_numeric(DatumGetInt32(value));
			break;
		case INT8OID:
			v.type = jbvNumeric;
			v.val.numeric = int64_to_numeric(DatumGetInt64(value));
			break;
		case NUMERICOID:
			v.type = jbvNumeric;
			v.val.numeric = DatumGetNumericCopy(value);
			break;
		case BOOLOID:
			v.type = jbvBool;
			v.val.boolean = DatumGetBool(value);
			break;
		case TIMESTAMPTZOID:
		case TIMESTAMPOID:
		case DATEOID:
			{
				char	   *s = JsonEncodeDateTime(NULL, value, col->typid,
												   NULL);

				push_string(st, s, strlen(s));
				return;
			}
		case JSONBOID:
			{
				Jsonb	   *jb = DatumGetJsonbPCopy(value);

				v.type = jbvBinary;
				v.val.binary.data = &jb->root;
				v.val.binary.len = VARSIZE(jb) - VARHDRSZ;
				break;
			}
		default:
			{
				/* uuid, inet and the like: their text form, as to_jsonb */
				char	   *s = OutputFunctionCall(&col->outfunc, value);

				push_string(st, s, strlen(s));
				return;
			}
	}
	(void) pushJsonbValue(&st->pstate, WJB_VALUE, &v);
}

/*
 * Run sql (one parameter: the user's id) through a cursor and push its rows
 * as an array of objects under key, one object key per column (named as
 * the column).  Columns flagged in decrypt_cols are bytea to decrypt.
 * Returns the number of rows.
 */
static uint64
export_query(ExportState *st, const char *key, const char *sql,
			 Datum user_id, const bool *decrypt_cols)
{
	Oid			argtypes[1] = {UUIDOID};
	Datum		args[1] = {user_id};
	Portal		portal;
	ExportColumn *cols = NULL;
	int			ncols = 0;
	uint64		total = 0;
	MemoryContext oldcxt;

	portal = SPI_cursor_open_with_args(NULL, sql, 1, argtypes, args, NULL,
									   false, CURSOR_OPT_NO_SCROLL);
	if (portal == NULL)
		elog(ERROR, "SPI_cursor_open_with_args failed: %s",
			 SPI_result_code_string(SPI_result));

	oldcxt = MemoryContextSwitchTo(st->buildcxt);
	push_key(st, key, strlen(key));
	(void) pushJsonbValue(&st->pstate, WJB_BEGIN_ARRAY, NULL);
	MemoryContextSwitchTo(oldcxt);

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

		/* how each column converts, worked out once */
		if (cols == NULL)
		{
			int			c;

			oldcxt = MemoryContextSwitchTo(st->buildcxt);
			ncols = desc->natts;
			cols = palloc0(ncols * sizeof(ExportColumn));
			for (c = 0; c < ncols; c++)
			{
				Form_pg_attribute att = TupleDescAttr(desc, c);

				cols[c].key = pstrdup(NameStr(att->attname));
				cols[c].keylen = strlen(cols[c].key);
				cols[c].typid = att->atttypid;
				cols[c].decrypt = decrypt_cols != NULL && decrypt_cols[c];
				if (cols[c].decrypt && cols[c].typid != BYTEAOID)
					elog(ERROR, "column \"%s\" to decrypt is not bytea",
						 cols[c].key);
				if (!cols[c].decrypt)
				{
					Oid			outfn;
					bool		varlena;

					getTypeOutputInfo(cols[c].typid, &outfn, &varlena);
					fmgr_info_cxt(outfn, &cols[c].outfunc, st->buildcxt);
				}
			}
			MemoryContextSwitchTo(oldcxt);
		}

		oldcxt = MemoryContextSwitchTo(st->buildcxt);
		for (i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tup = tuptable->vals[i];
			int			c;

			CHECK_FOR_INTERRUPTS();

			(void) pushJsonbValue(&st->pstate, WJB_BEGIN_OBJECT, NULL);
			for (c = 0; c < ncols; c++)
			{
				bool		isnull;
				Datum		value = heap_getattr(tup, c + 1, desc, &isnull);

				push_key(st, cols[c].key, cols[c].keylen);
				push_value(st, &cols[c], value, isnull);
			}
			(void) pushJsonbValue(&st->pstate, WJB_END_OBJECT, NULL);
		}
		MemoryContextSwitchTo(oldcxt);

		total += SPI_processed;
		SPI_freetuptable(tuptable);
		MemoryContextReset(st->batchcxt);
	}
	SPI_cursor_close(portal);

	oldcxt = MemoryContextSwitchTo(st->buildcxt);
	(void) pushJsonbValue(&st->pstate, WJB_END_ARRAY, NULL);
	MemoryContextSwitchTo(oldcxt);
	return total;
}

/*
 * The export proper; returns the document, allocated in the caller's
 * memory context.
 */
static Jsonb *
export_user(Datum user_id, Datum key)
{
	MemoryContext callcxt = CurrentMemoryContext;
	MemoryContext oldcxt;
	const char *nsp;
	ExportState st;
	SipcallSavedUser saved;
	Oid			argtypes[5] = {UUIDOID, INT8OID, INT8OID, INT8OID, TEXTOID};
	Datum		args[5];
	Jsonb	   *result;
	JsonbValue *tree;
	JsonbValue	v;
	uint64		ncalls,
				nevents,
				naudit;
	bool		isnull;
	int			i;
	static const bool call_decrypt[] = {false, true, true, false, false,
	false, false};

	nsp = sipcall_schema_quoted();

	memset(&st, 0, sizeof(st));
	st.buildcxt = AllocSetContextCreate(callcxt, "sipcall export",
										ALLOCSET_DEFAULT_SIZES);
	st.batchcxt = AllocSetContextCreate(callcxt, "sipcall export batch",
										ALLOCSET_DEFAULT_SIZES);
	st.maxplain = 1024;
	st.plain = MemoryContextAlloc(st.buildcxt, st.maxplain * sizeof(char *));
	st.plain_len = MemoryContextAlloc(st.buildcxt, st.maxplain * sizeof(int));

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

	oldcxt = MemoryContextSwitchTo(st.buildcxt);
	(void) pushJsonbValue(&st.pstate, WJB_BEGIN_OBJECT, NULL);
	push_key(&st, "user", 4);
	v.type = jbvBinary;
	{
		Jsonb	   *user = DatumGetJsonbPCopy(SPI_getbinval(SPI_tuptable->vals[0],
															SPI_tuptable->tupdesc,
															1, &isnull));

		v.val.binary.data = &user->root;
		v.val.binary.len = VARSIZE(user) - VARHDRSZ;
	}
	(void) pushJsonbValue(&st.pstate, WJB_VALUE, &v);
	MemoryContextSwitchTo(oldcxt);
	SPI_freetuptable(SPI_tuptable);

	ncalls = export_query(&st, "calls",
						  psprintf("SELECT id,"
								   " destination_number_enc AS destination_number,"
								   " caller_id_enc AS caller_id, status,"
								   " initiated_at, duration_seconds, cost_cents"
								   " FROM %s.calls WHERE user_id = $1"
								   " ORDER BY initiated_at, id", nsp),
						  user_id, call_decrypt);
	nevents = export_query(&st, "call_events",
						   psprintf("SELECT id, call_id, event_type, event_data,"
									" \"timestamp\""
									" FROM %s.call_events WHERE user_id = $1"
									" ORDER BY \"timestamp\", id", nsp),
						   user_id, NULL);
	naudit = export_query(&st, "audit_logs",
						  psprintf("SELECT id, action, resource_type, resource_id,"
								   " details, ip_address, user_agent, \"timestamp\""
								   " FROM %s.audit_logs WHERE user_id = $1"
								   " ORDER BY \"timestamp\", id", nsp),
						  user_id, NULL);

	oldcxt = MemoryContextSwitchTo(st.buildcxt);
	tree = pushJsonbValue(&st.pstate, WJB_END_OBJECT, NULL);
	MemoryContextSwitchTo(callcxt);
	result = JsonbValueToJsonb(tree);
	MemoryContextSwitchTo(oldcxt);

	/* no plaintext left behind but in the result */
	for (i = 0; i < st.nplain; i++)
		explicit_bzero(st.plain[i], st.plain_len[i]);
	MemoryContextDelete(st.buildcxt);
	MemoryContextDelete(st.batchcxt);

	/* the record of the export: counts only, no numbers */
	args[1] = Int64GetDatum((int64) ncalls);
	args[2] = Int64GetDatum((int64) nevents);
	args[3] = Int64GetDatum((int64) naudit);
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
	ncalls = sipcall_spi_exec(psprintf("DELETE FROM %s.calls"
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
