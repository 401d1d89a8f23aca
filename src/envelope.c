/*-------------------------------------------------------------------------
 *
 * envelope.c
 *		sipcall's encrypted-value format (envelope.h has the byte layout)
 *		and every OpenSSL call that makes, parses and opens it, plus the one
 *		place where their failures become SQL errors.
 *
 * The functions here keep no state and allocate nothing: callers pass
 * buffers and cipher contexts in, and get a SipcallEnvStatus back.  Only
 * sipcall_envelope_throw() needs the backend; it is left out when the fuzz
 * harness compiles this file with -DSIPCALL_ENVELOPE_STANDALONE.
 *
 * The parser trusts nothing: every length is checked against what is left
 * of the buffer before it is used, and only the values version 1 writes
 * are accepted.  Opening returns SIPCALL_ENV_CORRUPT for every kind of bad
 * input, so wrong keys and tampering are indistinguishable to the caller.
 * A failed open may leave unauthenticated plaintext in the caller's output
 * buffer; the caller must wipe it.
 *
 * Calls: OpenSSL, and PostgreSQL's ereport only in sipcall_envelope_throw
 * (left out with SIPCALL_ENVELOPE_STANDALONE, as the fuzz harness builds it).
 *
 * Copyright (c) 2026, the sipcall authors
 *
 * IDENTIFICATION
 *		src/envelope.c
 *
 *-------------------------------------------------------------------------
 */
#ifndef SIPCALL_ENVELOPE_STANDALONE
#include "postgres.h"
#endif

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "envelope.h"

#define KEY_ID_CONTEXT		"sipcall key id"
#define FINGERPRINT_CONTEXT "sipcall key cache v1"

/*
 * Which format the bytes claim to be, from their first bytes only.  An
 * OpenPGP message made by pgp_sym_encrypt starts with a symmetric-key
 * encrypted session key packet (tag 3), in new or old packet format.
 */
SipcallEnvFormat
sipcall_envelope_format(const uint8_t *buf, size_t len)
{
	uint8_t		b;
	int			tag;

	if (len >= SIPCALL_ENV_MAGIC_LEN &&
		memcmp(buf, SIPCALL_ENV_MAGIC, SIPCALL_ENV_MAGIC_LEN) == 0)
		return SIPCALL_FORMAT_ENVELOPE;
	if (len < 2)
		return SIPCALL_FORMAT_UNKNOWN;
	b = buf[0];
	if ((b & 0x80) == 0)
		return SIPCALL_FORMAT_UNKNOWN;
	if (b & 0x40)
		tag = b & 0x3f;			/* new format */
	else
		tag = (b >> 2) & 0x0f;	/* old format */
	return tag == 3 ? SIPCALL_FORMAT_OPENPGP : SIPCALL_FORMAT_UNKNOWN;
}

/*
 * Split an envelope into its fields, checking every length.  Accepts only
 * what version 1 defines.
 */
SipcallEnvStatus
sipcall_envelope_parse(const uint8_t *buf, size_t len, SipcallEnvelope *env)
{
	size_t		pos = 0;
	uint8_t		key_id_len;

	memset(env, 0, sizeof(*env));

	/* magic, version, scheme, key id length */
	if (len < SIPCALL_ENV_MAGIC_LEN + 3 ||
		memcmp(buf, SIPCALL_ENV_MAGIC, SIPCALL_ENV_MAGIC_LEN) != 0)
		return SIPCALL_ENV_CORRUPT;
	pos = SIPCALL_ENV_MAGIC_LEN;
	if (buf[pos] != SIPCALL_ENV_VERSION ||
		buf[pos + 1] != SIPCALL_ENV_SCHEME_PASSPHRASE)
		return SIPCALL_ENV_CORRUPT;
	key_id_len = buf[pos + 2];
	if (key_id_len != SIPCALL_ENV_KEY_ID_LEN)
		return SIPCALL_ENV_CORRUPT;
	pos += 3;

	/* key id, then KDF id, iterations and salt length */
	if (len - pos < (size_t) key_id_len + 6)
		return SIPCALL_ENV_CORRUPT;
	env->key_id = buf + pos;
	pos += key_id_len;
	env->params.kdf = buf[pos];
	env->params.iterations = ((uint32_t) buf[pos + 1] << 24) |
		((uint32_t) buf[pos + 2] << 16) |
		((uint32_t) buf[pos + 3] << 8) |
		(uint32_t) buf[pos + 4];
	env->params.salt_len = buf[pos + 5];
	pos += 6;
	if (env->params.kdf != SIPCALL_ENV_KDF_PBKDF2_SHA256 ||
		env->params.iterations < SIPCALL_ENV_ITER_MIN ||
		env->params.iterations > SIPCALL_ENV_ITER_MAX ||
		env->params.salt_len < SIPCALL_ENV_SALT_MIN ||
		env->params.salt_len > SIPCALL_ENV_SALT_MAX)
		return SIPCALL_ENV_CORRUPT;

	/* salt, nonce, and room for the tag */
	if (len - pos < (size_t) env->params.salt_len + SIPCALL_ENV_NONCE_LEN +
		SIPCALL_ENV_TAG_LEN)
		return SIPCALL_ENV_CORRUPT;
	memcpy(env->params.salt, buf + pos, env->params.salt_len);
	pos += env->params.salt_len;
	env->nonce = buf + pos;
	pos += SIPCALL_ENV_NONCE_LEN;

	env->header = buf;
	env->header_len = pos;
	env->ciphertext = buf + pos;
	env->ciphertext_len = len - pos - SIPCALL_ENV_TAG_LEN;
	env->tag = buf + len - SIPCALL_ENV_TAG_LEN;
	return SIPCALL_ENV_OK;
}

/* Whether two sets of KDF parameters stretch a passphrase the same way. */
int
sipcall_kdf_params_equal(const SipcallKdfParams *a, const SipcallKdfParams *b)
{
	return a->kdf == b->kdf &&
		a->iterations == b->iterations &&
		a->salt_len == b->salt_len &&
		memcmp(a->salt, b->salt, a->salt_len) == 0;
}

/*
 * PBKDF2-HMAC-SHA256 (RFC 8018), one output block of 32 bytes:
 *	U_1 = HMAC(P, S || INT(1)),  U_j = HMAC(P, U_{j-1}),  T = U_1 ^ ... ^ U_c
 * computed the way OpenSSL's own implementation does (one HMAC context
 * keyed once, re-initialised for every iteration), so the key is bit for
 * bit what PKCS5_PBKDF2_HMAC gives, in chunks the caller chooses.
 */
SipcallEnvStatus
sipcall_kdf_begin(SipcallKdfState *st, const char *pass, size_t pass_len,
				  const SipcallKdfParams *params)
{
	static const uint8_t block1[4] = {0, 0, 0, 1};
	OSSL_PARAM	mac_params[2];
	size_t		len = 0;

	memset(st, 0, sizeof(*st));
	if (params->kdf != SIPCALL_ENV_KDF_PBKDF2_SHA256 ||
		params->iterations < 1 || pass_len > (size_t) INT32_MAX)
		return SIPCALL_ENV_CRYPTO_FAILED;
	st->iterations = params->iterations;
	st->mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (st->mac == NULL)
		return SIPCALL_ENV_CRYPTO_FAILED;
	st->ctx = EVP_MAC_CTX_new(st->mac);
	if (st->ctx == NULL)
		return SIPCALL_ENV_CRYPTO_FAILED;
	mac_params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
													 (char *) "SHA256", 0);
	mac_params[1] = OSSL_PARAM_construct_end();
	if (EVP_MAC_init(st->ctx, (const unsigned char *) pass, pass_len,
					 mac_params) != 1 ||
		EVP_MAC_update(st->ctx, params->salt, params->salt_len) != 1 ||
		EVP_MAC_update(st->ctx, block1, sizeof(block1)) != 1 ||
		EVP_MAC_final(st->ctx, st->u, &len, sizeof(st->u)) != 1 ||
		len != sizeof(st->u))
		return SIPCALL_ENV_CRYPTO_FAILED;
	memcpy(st->t, st->u, sizeof(st->t));
	st->done = 1;
	return SIPCALL_ENV_OK;
}

/* At most chunk more iterations. */
SipcallEnvStatus
sipcall_kdf_step(SipcallKdfState *st, uint32_t chunk)
{
	while (st->done < st->iterations && chunk-- > 0)
	{
		size_t		len = 0;
		int			i;

		if (EVP_MAC_init(st->ctx, NULL, 0, NULL) != 1 ||
			EVP_MAC_update(st->ctx, st->u, sizeof(st->u)) != 1 ||
			EVP_MAC_final(st->ctx, st->u, &len, sizeof(st->u)) != 1 ||
			len != sizeof(st->u))
			return SIPCALL_ENV_CRYPTO_FAILED;
		for (i = 0; i < SIPCALL_ENV_KEY_LEN; i++)
			st->t[i] ^= st->u[i];
		st->done++;
	}
	return SIPCALL_ENV_OK;
}

int
sipcall_kdf_done(const SipcallKdfState *st)
{
	return st->ctx != NULL && st->done >= st->iterations;
}

/* The key, and its identifier; the state is wiped and freed. */
SipcallEnvStatus
sipcall_kdf_end(SipcallKdfState *st, uint8_t *key, uint8_t *key_id)
{
	uint8_t		mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;

	if (!sipcall_kdf_done(st))
	{
		sipcall_kdf_free(st);
		return SIPCALL_ENV_CRYPTO_FAILED;
	}
	memcpy(key, st->t, SIPCALL_ENV_KEY_LEN);
	sipcall_kdf_free(st);
	if (HMAC(EVP_sha256(), key, SIPCALL_ENV_KEY_LEN,
			 (const unsigned char *) KEY_ID_CONTEXT, strlen(KEY_ID_CONTEXT),
			 mac, &mac_len) == NULL || mac_len < SIPCALL_ENV_KEY_ID_LEN)
	{
		OPENSSL_cleanse(key, SIPCALL_ENV_KEY_LEN);
		return SIPCALL_ENV_CRYPTO_FAILED;
	}
	memcpy(key_id, mac, SIPCALL_ENV_KEY_ID_LEN);
	OPENSSL_cleanse(mac, sizeof(mac));
	return SIPCALL_ENV_OK;
}

void
sipcall_kdf_free(SipcallKdfState *st)
{
	EVP_MAC_CTX_free(st->ctx);	/* wipes the keyed HMAC state */
	EVP_MAC_free(st->mac);
	OPENSSL_cleanse(st, sizeof(*st));
}

/*
 * Stretch a passphrase into an AES-256 key, and compute the key's
 * identifier, in one go (no interrupt checks: for callers outside the
 * backend, such as the fuzz harness).
 */
SipcallEnvStatus
sipcall_kdf_derive(const char *pass, size_t pass_len,
				   const SipcallKdfParams *params,
				   uint8_t *key, uint8_t *key_id)
{
	SipcallKdfState st;
	SipcallEnvStatus rc;

	rc = sipcall_kdf_begin(&st, pass, pass_len, params);
	if (rc == SIPCALL_ENV_OK)
		rc = sipcall_kdf_step(&st, params->iterations);
	if (rc != SIPCALL_ENV_OK)
	{
		sipcall_kdf_free(&st);
		return rc;
	}
	return sipcall_kdf_end(&st, key, key_id);
}

/*
 * SHA-256 over the KDF parameters and the passphrase: what the shared key
 * cache is indexed by, so that it never holds a passphrase.
 */
SipcallEnvStatus
sipcall_kdf_fingerprint(const char *pass, size_t pass_len,
						const SipcallKdfParams *params, uint8_t *out)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint8_t		p[6];
	unsigned int out_len = 0;
	int			ok;

	if (md == NULL)
		return SIPCALL_ENV_CRYPTO_FAILED;
	p[0] = params->kdf;
	p[1] = (uint8_t) (params->iterations >> 24);
	p[2] = (uint8_t) (params->iterations >> 16);
	p[3] = (uint8_t) (params->iterations >> 8);
	p[4] = (uint8_t) params->iterations;
	p[5] = params->salt_len;
	ok = EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
		EVP_DigestUpdate(md, FINGERPRINT_CONTEXT,
						 sizeof(FINGERPRINT_CONTEXT)) == 1 &&
		EVP_DigestUpdate(md, p, sizeof(p)) == 1 &&
		EVP_DigestUpdate(md, params->salt, params->salt_len) == 1 &&
		EVP_DigestUpdate(md, pass, pass_len) == 1 &&
		EVP_DigestFinal_ex(md, out, &out_len) == 1 &&
		out_len == SIPCALL_ENV_FINGERPRINT_LEN;
	EVP_MD_CTX_free(md);
	return ok ? SIPCALL_ENV_OK : SIPCALL_ENV_CRYPTO_FAILED;
}

/*
 * Write the part of the header that precedes the nonce, which is the same
 * for every value encrypted with one key.  out needs SIPCALL_ENV_PREFIX_MAX
 * bytes; returns the length written.
 */
size_t
sipcall_envelope_prefix(const SipcallKdfParams *params, const uint8_t *key_id,
						uint8_t *out)
{
	size_t		pos = 0;

	memcpy(out, SIPCALL_ENV_MAGIC, SIPCALL_ENV_MAGIC_LEN);
	pos = SIPCALL_ENV_MAGIC_LEN;
	out[pos++] = SIPCALL_ENV_VERSION;
	out[pos++] = SIPCALL_ENV_SCHEME_PASSPHRASE;
	out[pos++] = SIPCALL_ENV_KEY_ID_LEN;
	memcpy(out + pos, key_id, SIPCALL_ENV_KEY_ID_LEN);
	pos += SIPCALL_ENV_KEY_ID_LEN;
	out[pos++] = params->kdf;
	out[pos++] = (uint8_t) (params->iterations >> 24);
	out[pos++] = (uint8_t) (params->iterations >> 16);
	out[pos++] = (uint8_t) (params->iterations >> 8);
	out[pos++] = (uint8_t) params->iterations;
	out[pos++] = params->salt_len;
	memcpy(out + pos, params->salt, params->salt_len);
	pos += params->salt_len;
	return pos;
}

/*
 * A cipher context set up for AES-256-GCM with a 12-byte nonce, without a
 * key yet; NULL when OpenSSL fails.  The caller frees it with
 * EVP_CIPHER_CTX_free (which also wipes the key schedule).
 */
EVP_CIPHER_CTX *
sipcall_cipher_ctx_new(int encrypt)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();

	if (ctx == NULL)
		return NULL;
	if (EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL,
						  encrypt ? 1 : 0) != 1 ||
		EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN,
							SIPCALL_ENV_NONCE_LEN, NULL) != 1)
	{
		EVP_CIPHER_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/*
 * Encrypt plain into out: prefix, nonce, ciphertext, tag; out needs
 * prefix_len + SIPCALL_ENV_NONCE_LEN + plain_len + SIPCALL_ENV_TAG_LEN
 * bytes.  key NULL reuses the key already loaded into ctx; nonce NULL
 * draws a fresh random one with RAND_bytes.
 */
SipcallEnvStatus
sipcall_envelope_seal(EVP_CIPHER_CTX *ctx, const uint8_t *key,
					  const uint8_t *prefix, size_t prefix_len,
					  const uint8_t *nonce, const uint8_t *plain,
					  size_t plain_len, uint8_t *out)
{
	uint8_t    *n = out + prefix_len;
	uint8_t    *ct = n + SIPCALL_ENV_NONCE_LEN;
	int			len;

	if (plain_len > (size_t) INT32_MAX - SIPCALL_ENV_HEADER_MAX)
		return SIPCALL_ENV_TOO_LONG;
	memmove(out, prefix, prefix_len);
	if (nonce != NULL)
		memcpy(n, nonce, SIPCALL_ENV_NONCE_LEN);
	else if (RAND_bytes(n, SIPCALL_ENV_NONCE_LEN) != 1)
		return SIPCALL_ENV_RANDOM_FAILED;

	if (EVP_EncryptInit_ex(ctx, NULL, NULL, key, n) != 1 ||
		EVP_EncryptUpdate(ctx, NULL, &len, out,
						  (int) (prefix_len + SIPCALL_ENV_NONCE_LEN)) != 1 ||
		EVP_EncryptUpdate(ctx, ct, &len, plain, (int) plain_len) != 1 ||
		(size_t) len != plain_len ||
		EVP_EncryptFinal_ex(ctx, ct + plain_len, &len) != 1 ||
		len != 0 ||
		EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, SIPCALL_ENV_TAG_LEN,
							ct + plain_len) != 1)
		return SIPCALL_ENV_CRYPTO_FAILED;
	return SIPCALL_ENV_OK;
}

/*
 * Decrypt and authenticate a parsed envelope into out (ciphertext_len
 * bytes).  key NULL reuses the key already loaded into ctx.  On
 * SIPCALL_ENV_CORRUPT, out may hold unauthenticated bytes: wipe it.
 */
SipcallEnvStatus
sipcall_envelope_open(EVP_CIPHER_CTX *ctx, const uint8_t *key,
					  const SipcallEnvelope *env, uint8_t *out)
{
	int			len;
	uint8_t		tag[SIPCALL_ENV_TAG_LEN];

	if (env->ciphertext_len > (size_t) INT32_MAX)
		return SIPCALL_ENV_CORRUPT;
	memcpy(tag, env->tag, SIPCALL_ENV_TAG_LEN);
	if (EVP_DecryptInit_ex(ctx, NULL, NULL, key, env->nonce) != 1 ||
		EVP_DecryptUpdate(ctx, NULL, &len, env->header,
						  (int) env->header_len) != 1 ||
		EVP_DecryptUpdate(ctx, out, &len, env->ciphertext,
						  (int) env->ciphertext_len) != 1 ||
		(size_t) len != env->ciphertext_len ||
		EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, SIPCALL_ENV_TAG_LEN,
							tag) != 1)
		return SIPCALL_ENV_CRYPTO_FAILED;
	/* the tag check: the only failure here that bad input can cause */
	if (EVP_DecryptFinal_ex(ctx, out + env->ciphertext_len, &len) != 1)
	{
		ERR_clear_error();
		return SIPCALL_ENV_CORRUPT;
	}
	return SIPCALL_ENV_OK;
}

#ifndef SIPCALL_ENVELOPE_STANDALONE

/*
 * The one place where envelope and OpenSSL failures become SQL errors.
 * No message carries a key, a plaintext or the statement (errhidestmt).
 */
void
sipcall_envelope_throw(SipcallEnvStatus status)
{
	unsigned long err = ERR_get_error();
	char		errbuf[256];

	ERR_clear_error();
	switch (status)
	{
		case SIPCALL_ENV_CORRUPT:
			ereport(ERROR,
					(errcode(ERRCODE_EXTERNAL_ROUTINE_INVOCATION_EXCEPTION),
					 errmsg("wrong key or corrupt data"),
					 errhidestmt(true)));
			break;
		case SIPCALL_ENV_TOO_LONG:
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("data too long to encrypt"),
					 errhidestmt(true)));
			break;
		case SIPCALL_ENV_RANDOM_FAILED:
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not generate a random nonce"),
					 errhidestmt(true)));
			break;
		case SIPCALL_ENV_OK:
		case SIPCALL_ENV_CRYPTO_FAILED:
			break;
	}
	if (err != 0)
		ERR_error_string_n(err, errbuf, sizeof(errbuf));
	else
		strlcpy(errbuf, "no error reported", sizeof(errbuf));
	ereport(ERROR,
			(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
			 errmsg("encryption library failure"),
			 errdetail("OpenSSL: %s", errbuf),
			 errhidestmt(true)));
}

#endif							/* !SIPCALL_ENVELOPE_STANDALONE */
