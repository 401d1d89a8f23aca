/*-------------------------------------------------------------------------
 *
 * version.h
 *		Which SQL version of sipcall this database has installed.
 *
 * One library serves every released SQL version: a server that runs the
 * newest sipcall.so may hold databases still on an older script until
 * ALTER EXTENSION sipcall UPDATE.  C entry points that an older script
 * does not declare call sipcall_require_version() first.
 *
 * Copyright (c) 2026, the sipcall authors
 *
 * IDENTIFICATION
 *		src/version.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef SIPCALL_VERSION_H
#define SIPCALL_VERSION_H

#include "fmgr.h"

/* versions as numbers: major * 100 + minor */
#define SIPCALL_VERSION_1_0		100
#define SIPCALL_VERSION_1_1		101

extern void sipcall_require_version(FunctionCallInfo fcinfo, int since);

#endif							/* SIPCALL_VERSION_H */
