/*-------------------------------------------------------------------------
 *
 * gdpr.h
 *		Declarations shared by the export (export.c) and the erasure
 *		(erasure.c): the quoted name of sipcall's schema, which both put
 *		into the SQL they run.
 *
 * Calls: sipcall.h (sipcall_schema_oid) only.
 *
 * Copyright (c) 2026, the sipcall authors
 *
 * IDENTIFICATION
 *		src/gdpr.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef SIPCALL_GDPR_H
#define SIPCALL_GDPR_H

#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "sipcall.h"

/*
 * The name of sipcall's schema, quoted for use in SQL.
 */
static inline const char *
sipcall_schema_quoted(void)
{
	return quote_identifier(get_namespace_name(sipcall_schema_oid(false)));
}

#endif							/* SIPCALL_GDPR_H */
