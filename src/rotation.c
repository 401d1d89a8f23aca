/*-------------------------------------------------------------------------
 *
 * rotation.c
 *		Key rotation (since 1.1): reencrypt(), the step that
 *		sipcall.rotate_key() applies to every encrypted value.
 *
 * reencrypt(value, old_key, new_key) tells whether a value is under
 * old_key and, if so, returns it encrypted under new_key; NULL means
 * "leave it alone".  An envelope is under old_key when its key identifier
 * is key_id(old_key), which costs no decryption; an OpenPGP message of
 * pgcrypto has no identifier, so it is under old_key when decrypting it
 * with old_key succeeds.  That attempt is crypto.c's
 * sipcall_pgp_try_decrypt(), the one decrypt_data(bytea, text[]) makes per
 * key, in an internal subtransaction, so that a wrong key (39000) is
 * caught cleanly; any other error goes on up.  The procedure itself (src/sql/45_rotation.sql) does the batching,
 * the conditional UPDATEs and the bookkeeping.
 *
 * The envelope decryption and the encryption are those of decrypt_data
 * and encrypt_data (crypto.c), called through the function manager with
 * FmgrInfos of our own kept for the life of the backend, so that their
 * version checks and caches work as for a SQL call.  The plaintext
 * between the two is wiped on every way out, errors included.
 *
 * Calls: crypto.c (encrypt_data, decrypt_data and key_id through the
 * function manager; sipcall_pgp_try_decrypt), envelope.c (the format),
 * version.c (reencrypt's guard).
 *
 * Copyright (c) 2026, the sipcall authors
 *
 * IDENTIFICATION
 *		src/rotation.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <openssl/crypto.h>

#include "catalog/pg_collation.h"
#include "fmgr.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "envelope.h"
#include "sipcall.h"
#include "version.h"

PG_FUNCTION_INFO_V1(sipcall_reencrypt);

/* the SQL functions of crypto.c that this file calls */
extern PGDLLEXPORT Datum sipcall_encrypt_data(PG_FUNCTION_ARGS);
extern PGDLLEXPORT Datum sipcall_decrypt_data(PG_FUNCTION_ARGS);
extern PGDLLEXPORT Datum sipcall_key_id(PG_FUNCTION_ARGS);

/*---- types ----*/

/* the function manager's view of crypto.c's SQL functions */
typedef struct RotationFns
{
	FmgrInfo	encrypt;
	FmgrInfo	decrypt;
	FmgrInfo	key_id;
} RotationFns;

/*---- static state ----*/

static RotationFns rotation_fmgr;
static bool fns_ready = false;

/*
 * The old key's identifier, remembered for the rest of the transaction
 * (a batch of rotate_key) with a copy of the key to recognise it, as
 * crypto.c's key cache keeps passphrases; wiped when replaced.
 */
static char *last_key = NULL;
static size_t last_key_len = 0;
static LocalTransactionId last_lxid = InvalidLocalTransactionId;
static char last_key_id[SIPCALL_ENV_KEY_ID_LEN * 2];

/*---- forward declarations ----*/

static RotationFns *rotation_fns(void);
static void init_fn(FmgrInfo *fn, PGFunction addr, short nargs,
					MemoryContext mcxt);
static bool under_key_envelope(RotationFns *fns, const uint8 *buf,
							   size_t len, Datum old_key);
static void forget_last_key(void);
static void wipe_plain(text *plain);
static Datum encrypt_wiping(RotationFns *fns, text *plain, Datum new_key);

/*
 * A C function of this library as the function manager calls it, with no
 * pg_proc entry: strict, as all three are declared.
 */
static void
init_fn(FmgrInfo *fn, PGFunction addr, short nargs, MemoryContext mcxt)
{
	MemSet(fn, 0, sizeof(*fn));
	fn->fn_addr = addr;
	fn->fn_oid = InvalidOid;
	fn->fn_nargs = nargs;
	fn->fn_strict = true;
	fn->fn_mcxt = mcxt;
}

/*
 * The three, set up once per backend: fn_extra of reencrypt's own FmgrInfo
 * belongs to sipcall_require_version.
 */
static RotationFns *
rotation_fns(void)
{
	if (!fns_ready)
	{
		init_fn(&rotation_fmgr.encrypt, sipcall_encrypt_data, 2, TopMemoryContext);
		init_fn(&rotation_fmgr.decrypt, sipcall_decrypt_data, 2, TopMemoryContext);
		init_fn(&rotation_fmgr.key_id, sipcall_key_id, 1, TopMemoryContext);
		fns_ready = true;
	}
	return &rotation_fmgr;
}

/* Does this envelope carry old_key's identifier? */
static bool
under_key_envelope(RotationFns *fns, const uint8 *buf, size_t len,
				   Datum old_key)
{
	SipcallEnvelope env;
	text	   *key = DatumGetTextPP(old_key);
	const char *pass = VARDATA_ANY(key);
	size_t		pass_len = VARSIZE_ANY_EXHDR(key);
	char		have[SIPCALL_ENV_KEY_ID_LEN * 2 + 1];

	if (sipcall_envelope_parse(buf, len, &env) != SIPCALL_ENV_OK)
		return false;

	if (last_lxid != MyProc->lxid || last_key == NULL ||
		last_key_len != pass_len || memcmp(last_key, pass, pass_len) != 0)
	{
		text	   *hex;

		forget_last_key();
		hex = DatumGetTextPP(FunctionCall1Coll(&fns->key_id, InvalidOid,
											   old_key));
		if (VARSIZE_ANY_EXHDR(hex) != SIPCALL_ENV_KEY_ID_LEN * 2)
			elog(ERROR, "unexpected key id length");
		memcpy(last_key_id, VARDATA_ANY(hex), SIPCALL_ENV_KEY_ID_LEN * 2);
		pfree(hex);
		last_key = MemoryContextAlloc(TopMemoryContext, pass_len + 1);
		memcpy(last_key, pass, pass_len);
		last_key_len = pass_len;
		last_lxid = MyProc->lxid;
	}
	if ((Pointer) key != DatumGetPointer(old_key))
	{
		OPENSSL_cleanse(key, VARSIZE_ANY(key));
		pfree(key);
	}
	hex_encode((const char *) env.key_id, SIPCALL_ENV_KEY_ID_LEN, have);
	return memcmp(have, last_key_id, SIPCALL_ENV_KEY_ID_LEN * 2) == 0;
}

/* wipe the remembered old key */
static void
forget_last_key(void)
{
	if (last_key != NULL)
	{
		OPENSSL_cleanse(last_key, last_key_len);
		pfree(last_key);
	}
	last_key = NULL;
	last_key_len = 0;
}

/* wipe and free a plaintext */
static void
wipe_plain(text *plain)
{
	OPENSSL_cleanse(VARDATA_ANY(plain), VARSIZE_ANY_EXHDR(plain));
	pfree(plain);
}

/*
 * encrypt_data(plain, new_key), wiping and freeing plain whatever happens
 * (PG_CATCH, not PG_FINALLY: gcc's -Wclobbered warns about the flag that
 * PG_FINALLY keeps across the longjmp)
 */
static Datum
encrypt_wiping(RotationFns *fns, text *plain, Datum new_key)
{
	volatile Datum result = (Datum) 0;

	PG_TRY();
	{
		result = FunctionCall2Coll(&fns->encrypt, DEFAULT_COLLATION_OID,
								   PointerGetDatum(plain), new_key);
	}
	PG_CATCH();
	{
		wipe_plain(plain);
		PG_RE_THROW();
	}
	PG_END_TRY();
	wipe_plain(plain);
	return result;
}

/*
 * reencrypt(value bytea, old_key text, new_key text) RETURNS bytea
 * (since 1.1)
 *
 * NULL when value is not under old_key (or, with old_key = new_key, is an
 * envelope already), else value's plaintext encrypted under new_key.
 */
Datum
sipcall_reencrypt(PG_FUNCTION_ARGS)
{
	bytea	   *value = PG_GETARG_BYTEA_PP(0);
	Datum		old_key = PG_GETARG_DATUM(1);
	Datum		new_key = PG_GETARG_DATUM(2);
	const uint8 *buf = (const uint8 *) VARDATA_ANY(value);
	size_t		len = VARSIZE_ANY_EXHDR(value);
	RotationFns *fns;
	text	   *plain = NULL;
	Datum		decrypted;

	sipcall_require_version(fcinfo, SIPCALL_VERSION_1_1);
	fns = rotation_fns();

	switch (sipcall_envelope_format(buf, len))
	{
		case SIPCALL_FORMAT_ENVELOPE:
			if (!under_key_envelope(fns, buf, len, old_key))
				PG_RETURN_NULL();
			/* already under new_key when the two are the same */
			if (DatumGetBool(DirectFunctionCall2Coll(texteq, C_COLLATION_OID,
													 old_key, new_key)))
				PG_RETURN_NULL();
			plain = DatumGetTextPP(FunctionCall2Coll(&fns->decrypt,
													 DEFAULT_COLLATION_OID,
													 PointerGetDatum(value),
													 old_key));
			break;
		case SIPCALL_FORMAT_OPENPGP:
			/* the wrong key (39000) tells a message under another key */
			if (!sipcall_pgp_try_decrypt(PointerGetDatum(value), old_key,
										 &decrypted))
				PG_RETURN_NULL();
			plain = DatumGetTextPP(decrypted);
			break;
		case SIPCALL_FORMAT_UNKNOWN:
			PG_RETURN_NULL();
	}

	PG_RETURN_DATUM(encrypt_wiping(fns, plain, new_key));
}
