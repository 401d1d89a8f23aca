/*-------------------------------------------------------------------------
 *
 * version.c
 *		The SQL version of sipcall installed in this database, and the
 *		guard of C entry points that older versions do not declare.
 *
 * A function that appears in version N of the install script is
 * unreachable from SQL in a database on an older version, except through
 * a CREATE FUNCTION ... LANGUAGE C that a superuser writes by hand (or a
 * script of some other version).  Such a call would find tables, columns
 * or settings that the older script never made, so each entry point that
 * is newer than 1.0 checks first, once per call site (the answer is kept
 * in fn_extra for the rest of the statement), and refuses with a hint to
 * update.  The check reads pg_extension; it costs one index probe per
 * call site, not per row.
 *
 * Calls: util.c (sipcall_extension_version).
 *
 * Copyright (c) 2026, the sipcall authors
 *
 * IDENTIFICATION
 *		src/version.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/regproc.h"
#include "utils/memutils.h"

#include "sipcall.h"
#include "version.h"

/*
 * "major.minor" as major * 100 + minor; -1 for anything else (a version
 * this library does not know, e.g. one written by a newer release).
 */
static int
parse_version(const char *s)
{
	int			major = 0;
	int			minor = 0;
	int			digits = 0;

	for (; *s >= '0' && *s <= '9' && digits < 4; s++, digits++)
		major = major * 10 + (*s - '0');
	if (digits == 0 || *s++ != '.')
		return -1;
	for (digits = 0; *s >= '0' && *s <= '9' && digits < 2; s++, digits++)
		minor = minor * 10 + (*s - '0');
	if (digits == 0 || *s != '\0')
		return -1;
	return major * 100 + minor;
}

/*
 * Refuse to run a function that the installed SQL version does not
 * declare.  "since" is the version that introduced it.
 */
void
sipcall_require_version(FunctionCallInfo fcinfo, int since)
{
	char	   *v;
	int			n;

	if (fcinfo->flinfo != NULL && fcinfo->flinfo->fn_extra != NULL)
		return;

	v = sipcall_extension_version();
	n = parse_version(v);
	if (n < since)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("function %s needs sipcall %d.%d, but this database has sipcall %s",
						fcinfo->flinfo != NULL ?
						format_procedure(fcinfo->flinfo->fn_oid) : "?",
						since / 100, since % 100, v),
				 errhint("Run ALTER EXTENSION sipcall UPDATE.")));
	pfree(v);

	/* known good for the rest of this call site's life */
	if (fcinfo->flinfo != NULL)
		fcinfo->flinfo->fn_extra =
			MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, 1);
}
