/*-------------------------------------------------------------------------
 *
 * partition.c
 *		Monthly partitions of calls, call_events and audit_logs: their
 *		names (sipcall_partition_name, the one place the name format is
 *		written), their bounds as read from the catalog
 *		(sipcall_partition_bounds), and making one (create_partition).
 *
 * sipcall.create_partition(parent, for_date) makes the partition of the
 * UTC month holding for_date, named <parent>_yYYYYmMM.  Rows of that month
 * that already sit in the default partition are moved into it first (else
 * PostgreSQL refuses the attach).  It is made as a copy of the default
 * partition, with the default partition's keys and indexes: the parents
 * have none of their own.  When an operator has detached the default
 * partition, another partition (all are such copies) serves as the
 * template and there are no rows to move; a parent left with no partition
 * at all is an error.  It is not a member of the extension, so
 * pg_dump dumps it whole, definition, rows and indexes, and a restore
 * makes it again whatever the new database's CREATE EXTENSION made
 * (README, "Backup and restore").
 *
 * Locking: the parent is locked in SHARE UPDATE EXCLUSIVE mode, which
 * conflicts with itself, so concurrent calls for the same parent queue
 * up and the later ones find the partition made; inserts and queries keep
 * running.  The default partition is locked in ACCESS EXCLUSIVE mode (the
 * attach must scan it anyway) for the short time it takes to move its
 * rows of that month; the session's lock_timeout applies.  The parent's
 * lock is always taken before the default partition's.
 *
 * Moving rows runs with session_replication_role = replica, so that
 * neither the foreign keys' cascades nor sipcall's own triggers fire: a
 * call moved out of the default partition keeps its events, and its
 * entry in call_keys stays as it is.
 *
 * Calls: summary.c (tracking triggers of a new partition of calls),
 * privileged.c, util.c.
 *
 * Copyright (c) 2026, the sipcall authors
 *
 * IDENTIFICATION
 *		src/partition.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "privileged.h"
#include "sipcall.h"

PG_FUNCTION_INFO_V1(sipcall_create_partition);

const char *const sipcall_managed_names[SIPCALL_NUM_MANAGED_TABLES] = {
	"calls", "call_events", "audit_logs"
};

const char *const sipcall_managed_keys[SIPCALL_NUM_MANAGED_TABLES] = {
	"initiated_at", "timestamp", "timestamp"
};

static char *column_list(Oid relid);
static Oid	partition_template(Oid parent, const char *parent_name);
static void partition_month(DateADT for_date, int *year, int *month);
static Oid	existing_partition(Oid parent, const char *parent_name,
							   const char *part_name, Oid nspoid);
static uint64 move_default_rows(SipcallManagedTable table, Oid defpart,
								const char *qpart, const char *lower,
								const char *upper);
static void attach_month(const char *nsp, const char *parent_name,
						 const char *qpart, int year, int month,
						 const char *lower, const char *upper);

/*
 * Which managed table relid is, or -1 if it is none of them.
 */
int
sipcall_managed_table(Oid relid)
{
	int			i;

	for (i = 0; i < SIPCALL_NUM_MANAGED_TABLES; i++)
		if (relid == sipcall_relid(sipcall_managed_names[i], true))
			return i;
	return -1;
}

/*
 * The name of table's partition for year-month: <parent>_yYYYYmMM.
 */
char *
sipcall_partition_name(SipcallManagedTable table, int year, int month)
{
	return psprintf("%s_y%04dm%02d", sipcall_managed_names[table],
					year, month);
}

/*
 * The bounds of partition relid, from pg_class.relpartbound.  Infinite
 * (MINVALUE, MAXVALUE) bounds are flagged.
 */
void
sipcall_partition_bounds(Oid relid, bool *is_default, TimestampTz *lower, bool *lower_inf,
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
 * The columns of relid, quoted and comma-separated, in attribute order.
 */
static char *
column_list(Oid relid)
{
	Relation	rel = table_open(relid, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped)
			continue;
		appendStringInfo(&buf, "%s%s", buf.len > 0 ? ", " : "",
						 quote_identifier(NameStr(att->attname)));
	}
	table_close(rel, AccessShareLock);
	return buf.data;
}

/*
 * The partition of parent whose keys and indexes a new partition copies
 * when parent has no default partition: the one with the greatest name
 * (the latest month, for those made by sipcall).  Every partition was
 * made as a copy of the default partition, so any would do; the name
 * makes the choice stable.
 */
static Oid
partition_template(Oid parent, const char *parent_name)
{
	List	   *children = find_inheritance_children(parent, AccessShareLock);
	ListCell   *lc;
	Oid			best = InvalidOid;
	char	   *best_name = NULL;

	foreach(lc, children)
	{
		Oid			child = lfirst_oid(lc);
		char	   *name = get_rel_name(child);

		if (name != NULL &&
			(best_name == NULL || strcmp(name, best_name) > 0))
		{
			best = child;
			best_name = name;
		}
	}
	if (!OidIsValid(best))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("\"%s\" has neither a default partition nor any other partition",
						parent_name),
				 errdetail("A monthly partition is made as a copy of the default partition, or of another partition when there is no default partition, with its keys and indexes."),
				 errhint("Attach a default partition to \"%s\" again.",
						 parent_name)));
	return best;
}

/*
 * The year and month of for_date, which must be finite and in the years
 * 1 to 9999 (else an error, 22023).
 */
static void
partition_month(DateADT for_date, int *year, int *month)
{
	int			day;

	if (DATE_NOT_FINITE(for_date))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot create a partition for an infinite date")));
	j2date(for_date + POSTGRES_EPOCH_JDATE, year, month, &day);
	if (*year < 1 || *year > 9999)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("date out of range for a monthly partition"),
				 errdetail("Partitions are made for the years 1 to 9999.")));
}

/*
 * The partition part_name of parent when it exists, else InvalidOid.  A
 * relation of that name that is not a partition of parent is an error,
 * 42P07.
 */
static Oid
existing_partition(Oid parent, const char *parent_name, const char *part_name,
				   Oid nspoid)
{
	Oid			part = get_relname_relid(part_name, nspoid);

	if (OidIsValid(part) &&
		(!get_rel_relispartition(part) ||
		 get_partition_parent(part, false) != parent))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_TABLE),
				 errmsg("relation \"%s\" already exists but is not a partition of \"%s\"",
						part_name, parent_name)));
	return part;
}

/*
 * Move the rows of table from lower to upper out of its default partition
 * defpart into the new partition qpart, triggers off; return how many
 * moved.  The caller runs as the extension's owner with SPI connected and
 * holds defpart's ACCESS EXCLUSIVE lock.
 */
static uint64
move_default_rows(SipcallManagedTable table, Oid defpart, const char *qpart,
				  const char *lower, const char *upper)
{
	const char *key = quote_identifier(sipcall_managed_keys[table]);
	const char *nsp = quote_identifier(get_namespace_name(sipcall_schema_oid(false)));
	Oid			argtypes[2] = {TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		args[2];
	char	   *cols;
	int			nestlevel;
	uint64		moved;

	args[0] = DirectFunctionCall3(timestamptz_in, CStringGetDatum(lower),
								  ObjectIdGetDatum(InvalidOid),
								  Int32GetDatum(-1));
	args[1] = DirectFunctionCall3(timestamptz_in, CStringGetDatum(upper),
								  ObjectIdGetDatum(InvalidOid),
								  Int32GetDatum(-1));
	cols = column_list(sipcall_relid(sipcall_managed_names[table], false));
	nestlevel = NewGUCNestLevel();
	(void) set_config_option("session_replication_role", "replica",
							 PGC_SUSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
	moved = sipcall_spi_exec(psprintf("WITH moved AS ("
									  " DELETE FROM ONLY %s.%s"
									  " WHERE %s >= $1 AND %s < $2"
									  " RETURNING %s)"
									  " INSERT INTO %s (%s) SELECT %s FROM moved",
									  nsp, quote_identifier(get_rel_name(defpart)),
									  key, key, cols, qpart, cols, cols),
							 2, argtypes, args, NULL, SPI_OK_INSERT);
	AtEOXact_GUC(true, nestlevel);
	return moved;
}

/*
 * Attach qpart to parent_name (in schema nsp) as the month year-month,
 * [lower, upper), and say so in its comment.
 */
static void
attach_month(const char *nsp, const char *parent_name, const char *qpart,
			 int year, int month, const char *lower, const char *upper)
{
	sipcall_spi_exec(psprintf("ALTER TABLE %s.%s ATTACH PARTITION %s"
							  " FOR VALUES FROM (%s) TO (%s)",
							  nsp, quote_identifier(parent_name), qpart,
							  quote_literal_cstr(lower),
							  quote_literal_cstr(upper)),
					 0, NULL, NULL, NULL, SPI_OK_UTILITY);
	sipcall_spi_exec(psprintf("COMMENT ON TABLE %s IS %s", qpart,
							  quote_literal_cstr(psprintf("%s of %04d-%02d (UTC), made by sipcall.create_partition",
														  parent_name, year, month))),
					 0, NULL, NULL, NULL, SPI_OK_UTILITY);
}

/*
 * Make the partition of table for the UTC month holding for_date, unless
 * it exists; return its OID.
 */
Oid
sipcall_make_partition(SipcallManagedTable table, DateADT for_date)
{
	const char *parent_name = sipcall_managed_names[table];
	Oid			nspoid = sipcall_schema_oid(false);
	const char *nsp = quote_identifier(get_namespace_name(nspoid));
	Oid			parent = sipcall_relid(parent_name, false);
	Oid			defpart;
	Oid			source;
	Oid			part;
	int			year,
				month;
	char	   *part_name;
	char		lower[32];
	char		upper[32];
	char	   *qpart;
	SipcallPrivileged priv;
	uint64		moved = 0;

	partition_month(for_date, &year, &month);
	part_name = sipcall_partition_name(table, year, month);
	snprintf(lower, sizeof(lower), "%04d-%02d-01 00:00:00+00", year, month);
	snprintf(upper, sizeof(upper), "%04d-%02d-01 00:00:00+00",
			 month == 12 ? year + 1 : year, month == 12 ? 1 : month + 1);

	/* one maker per parent at a time; inserts and queries go on */
	LockRelationOid(parent, ShareUpdateExclusiveLock);

	part = existing_partition(parent, parent_name, part_name, nspoid);
	if (OidIsValid(part))
		return part;

	/*
	 * The template: the default partition, or, when an operator has
	 * detached it, another partition (they are all copies of it).
	 */
	defpart = get_default_partition_oid(parent);
	if (OidIsValid(defpart))
	{
		LockRelationOid(defpart, AccessExclusiveLock);
		source = defpart;
	}
	else
		source = partition_template(parent, parent_name);

	sipcall_privileged_enter(&priv);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	qpart = psprintf("%s.%s", nsp, quote_identifier(part_name));
	/* the template's columns, defaults, keys and indexes */
	sipcall_spi_exec(psprintf("CREATE TABLE %s (LIKE %s.%s INCLUDING DEFAULTS INCLUDING INDEXES)",
							  qpart,
							  quote_identifier(get_namespace_name(get_rel_namespace(source))),
							  quote_identifier(get_rel_name(source))),
					 0, NULL, NULL, NULL, SPI_OK_UTILITY);
	part = get_relname_relid(part_name, nspoid);
	/* LIKE copies no trigger; the summary's are per partition */
	if (table == SIPCALL_CALLS)
		sipcall_summary_track_partition(qpart);
	/* no default partition: no rows to move */
	if (OidIsValid(defpart))
		moved = move_default_rows(table, defpart, qpart, lower, upper);

	attach_month(nsp, parent_name, qpart, year, month, lower, upper);

	SPI_finish();
	sipcall_privileged_leave(&priv);

	if (moved > 0)
		ereport(DEBUG1,
				(errmsg_internal("sipcall: moved " UINT64_FORMAT " rows from \"%s\" to \"%s\"",
								 moved, get_rel_name(defpart), part_name)));
	return part;
}

/*
 * sipcall.create_partition(parent regclass, for_date date) RETURNS regclass
 */
Datum
sipcall_create_partition(PG_FUNCTION_ARGS)
{
	Oid			parent = PG_GETARG_OID(0);
	DateADT		for_date = PG_GETARG_DATEADT(1);
	int			table = sipcall_managed_table(parent);

	if (table < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" is not a table partitioned by sipcall",
						DatumGetCString(DirectFunctionCall1(regclassout,
															ObjectIdGetDatum(parent)))),
				 errhint("Monthly partitions are made for sipcall.calls, sipcall.call_events and sipcall.audit_logs.")));

	PG_RETURN_OID(sipcall_make_partition((SipcallManagedTable) table, for_date));
}
