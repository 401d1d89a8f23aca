/*-------------------------------------------------------------------------
 *
 * settings.c
 *		The settings sipcall keeps in its table system_config: the one C
 *		reader of that table (sipcall_config_value), and the parsing and
 *		validation of every key sipcall reads: retention.call_events,
 *		retention.audit_logs, retention.calls (retention.c),
 *		partition.premake_months (lifecycle.c) and crypto.kdf_salt
 *		(crypto.c).
 *
 * The validation trigger system_config_validate_trigger rejects a bad
 * retention.* or partition.premake_months value when it is written; other
 * keys pass it unchecked (crypto.kdf_salt is checked when it is read).  A
 * bad value that got in with the trigger disabled is an error when read.
 *
 * Other modules ask this one for a setting's value; no other C code reads
 * system_config.  This module calls only util.c and privileged.c.
 *
 * Copyright (c) 2026, the sipcall authors
 *
 * IDENTIFICATION
 *		src/settings.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/fmgroids.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "privileged.h"
#include "sipcall.h"

PG_FUNCTION_INFO_V1(sipcall_system_config_validate);

#define DEFAULT_PREMAKE_MONTHS		3
#define MAX_PREMAKE_MONTHS			24
#define MAX_RETENTION_YEARS			1000

static Interval *retention_from_json(const char *key, Jsonb *value,
									 bool nullable);
static int	premake_from_json(const char *key, Jsonb *value);
static void validate_config(const char *key, Jsonb *value);
static void raise_bad_value(const char *key, const char *detail)
			pg_attribute_noreturn();

/*---- reading system_config ----*/

/*
 * The config_value of key in system_config, or NULL when there is no such
 * row.  Read directly, whoever the caller is (the table is sipcall's own);
 * the result lives in the caller's memory context.
 */
Jsonb *
sipcall_config_value(const char *key)
{
	Oid			relid = sipcall_relid("system_config", false);
	Relation	rel;
	TableScanDesc scan;
	TupleTableSlot *slot;
	ScanKeyData skey;
	Snapshot	snapshot;
	AttrNumber	keyatt = get_attnum(relid, "config_key");
	AttrNumber	valatt = get_attnum(relid, "config_value");
	Jsonb	   *result = NULL;

	if (keyatt == InvalidAttrNumber || valatt == InvalidAttrNumber)
		elog(ERROR, "table system_config of sipcall lacks its columns");

	/*
	 * A scan of the table itself (a page or two), not a query: in a new
	 * connection, parsing and planning one cost more than the rest of a
	 * cleanup that finds nothing to do.
	 */
	rel = table_open(relid, AccessShareLock);

	/*
	 * The latest snapshot, so that a change committed since the
	 * transaction's snapshot counts; but a parallel operation (the leader
	 * or a worker running a PARALLEL SAFE function such as encrypt_data)
	 * may not take one, and reads with the query's snapshot instead.
	 */
	if (IsInParallelMode())
		snapshot = RegisterSnapshot(ActiveSnapshotSet() ?
									GetActiveSnapshot() :
									GetTransactionSnapshot());
	else
		snapshot = RegisterSnapshot(GetLatestSnapshot());
	ScanKeyInit(&skey, keyatt, BTEqualStrategyNumber, F_TEXTEQ,
				CStringGetTextDatum(key));
	scan = table_beginscan(rel, snapshot, 1, &skey);
	slot = table_slot_create(rel, NULL);
	if (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		bool		isnull;
		Datum		d = slot_getattr(slot, valatt, &isnull);

		/* a copy: the datum points into a buffer released below */
		if (!isnull)
			result = DatumGetJsonbPCopy(d);
	}
	ExecDropSingleTupleTableSlot(slot);
	table_endscan(scan);
	UnregisterSnapshot(snapshot);
	table_close(rel, AccessShareLock);
	return result;
}

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
	int			saved_style;
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

	/*
	 * interval_in without its error (the message must name the key), and
	 * always in IntervalStyle postgres: the signs of "-1 25:00:00" mean
	 * one hour there and minus two days and an hour in sql_standard, and
	 * the writer's session, the database's default and the worker need
	 * not agree.  None of these calls raises an error, so the setting is
	 * put back on every path.
	 */
	iv = palloc(sizeof(Interval));
	saved_style = IntervalStyle;
	IntervalStyle = INTSTYLE_POSTGRES;
	dterr = ParseDateTime(text, workbuf, sizeof(workbuf), field, ftype,
						  MAXDATEFIELDS, &nf);
	if (dterr == 0)
		dterr = DecodeInterval(field, ftype, nf, INTERVAL_FULL_RANGE,
							   &dtype, &itm_in);
	if (dterr == DTERR_BAD_FORMAT)
		dterr = DecodeISO8601Interval(text, &dtype, &itm_in);
	IntervalStyle = saved_style;
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
	if (strcmp(key, SIPCALL_KEY_RETENTION_CALL_EVENTS) == 0 ||
		strcmp(key, SIPCALL_KEY_RETENTION_AUDIT_LOGS) == 0)
		(void) retention_from_json(key, value, false);
	else if (strcmp(key, SIPCALL_KEY_RETENTION_CALLS) == 0)
		(void) retention_from_json(key, value, true);
	else if (strcmp(key, SIPCALL_KEY_PREMAKE_MONTHS) == 0)
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
								   strcmp(key, SIPCALL_KEY_RETENTION_CALLS) == 0);

	if (strcmp(key, SIPCALL_KEY_RETENTION_CALLS) == 0)
		return NULL;
	iv = palloc0(sizeof(Interval));
	if (strcmp(key, SIPCALL_KEY_RETENTION_CALL_EVENTS) == 0)
		iv->day = 90;
	else
		iv->month = MONTHS_PER_YEAR;
	return iv;
}

/* partition.premake_months, or its default */
int
sipcall_config_premake_months(void)
{
	Jsonb	   *value = sipcall_config_value(SIPCALL_KEY_PREMAKE_MONTHS);

	return value != NULL ? premake_from_json(SIPCALL_KEY_PREMAKE_MONTHS, value) :
		DEFAULT_PREMAKE_MONTHS;
}

/*
 * crypto.kdf_salt: a JSON string of 2 * min_len to 2 * max_len hexadecimal
 * digits, decoded into salt (room for max_len bytes); returns its length
 * in bytes.  A missing or bad value is an error, 55000: a salt cannot be
 * made up, values encrypted with the old one would no longer decrypt.
 */
int
sipcall_config_kdf_salt(uint8 *salt, int min_len, int max_len)
{
	Jsonb	   *value = sipcall_config_value(SIPCALL_KEY_KDF_SALT);
	JsonbValue	v;
	char	   *hex = NULL;
	size_t		hexlen;
	size_t		i;

	if (value != NULL && JsonbExtractScalar(&value->root, &v) &&
		v.type == jbvString)
		hex = pnstrdup(v.val.string.val, v.val.string.len);

	hexlen = hex ? strlen(hex) : 0;
	if (hexlen % 2 != 0 || hexlen / 2 < (size_t) min_len ||
		hexlen / 2 > (size_t) max_len ||
		strspn(hex, "0123456789abcdefABCDEF") != hexlen)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("sipcall.system_config has no valid \"%s\"",
						SIPCALL_KEY_KDF_SALT),
				 errdetail("It must be a JSON string of %d to %d hexadecimal digits.",
						   2 * min_len, 2 * max_len),
				 errhint("Restore the row from a backup of this database; stored values carry their own salt and still decrypt."),
				 errhidestmt(true)));
	for (i = 0; i < hexlen / 2; i++)
	{
		char		byte[3] = {hex[2 * i], hex[2 * i + 1], '\0'};

		salt[i] = (uint8) strtoul(byte, NULL, 16);
	}
	pfree(hex);
	return (int) (hexlen / 2);
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
