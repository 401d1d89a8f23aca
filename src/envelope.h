/*-------------------------------------------------------------------------
 *
 * envelope.h
 *		The byte format of sipcall's encrypted values and the OpenSSL calls
 *		that make and open them.
 *
 * This header and envelope.c depend on nothing from the PostgreSQL
 * backend except the error helper sipcall_envelope_throw(), so that the
 * fuzz harness (fuzz/) can build them standalone with
 * -DSIPCALL_ENVELOPE_STANDALONE.  No function here allocates memory or
 * keeps state; callers own every buffer and cipher context.
 *
 * Envelope version 1 (README, "Encryption", has the same table):
 *
 *	offset	size	field
 *	0		3		magic "SCE" (0x53 0x43 0x45)
 *	3		1		format version, 1
 *	4		1		key scheme, 1 = passphrase stretched with an installation salt
 *	5		1		key identifier length K, 4 in version 1
 *	6		K		key identifier: first K bytes of HMAC-SHA256(key, "sipcall key id")
 *	6+K		1		KDF, 1 = PBKDF2-HMAC-SHA256
 *	7+K		4		KDF iterations, big-endian
 *	11+K	1		salt length S, 16 to 64
 *	12+K	S		salt
 *	12+K+S	12		AES-256-GCM nonce
 *	24+K+S	n		ciphertext (n = length of the plaintext)
 *	..		16		GCM tag
 *
 * Everything before the ciphertext (header and nonce) is the GCM
 * additional authenticated data, so a change to any byte fails the tag.
 *
 * Copyright (c) 2026, the sipcall authors
 *
 * IDENTIFICATION
 *		src/envelope.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef SIPCALL_ENVELOPE_H
#define SIPCALL_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#define SIPCALL_ENV_MAGIC			"SCE"
#define SIPCALL_ENV_MAGIC_LEN		3
#define SIPCALL_ENV_VERSION			1
#define SIPCALL_ENV_SCHEME_PASSPHRASE 1
#define SIPCALL_ENV_KDF_PBKDF2_SHA256 1

#define SIPCALL_ENV_KEY_LEN			32	/* AES-256 */
#define SIPCALL_ENV_KEY_ID_LEN		4
#define SIPCALL_ENV_NONCE_LEN		12
#define SIPCALL_ENV_TAG_LEN			16
#define SIPCALL_ENV_SALT_MIN		16
#define SIPCALL_ENV_SALT_MAX		64
#define SIPCALL_ENV_ITER_MIN		100000
#define SIPCALL_ENV_ITER_MAX		10000000
#define SIPCALL_ENV_FINGERPRINT_LEN 32	/* SHA-256 */

/* iterations sipcall writes into new envelopes (OWASP 2023 for SHA-256) */
#define SIPCALL_KDF_ITERATIONS		600000

/* longest header before the nonce, and the whole header with the nonce */
#define SIPCALL_ENV_PREFIX_MAX \
	(SIPCALL_ENV_MAGIC_LEN + 3 + SIPCALL_ENV_KEY_ID_LEN + 6 + SIPCALL_ENV_SALT_MAX)
#define SIPCALL_ENV_HEADER_MAX	(SIPCALL_ENV_PREFIX_MAX + SIPCALL_ENV_NONCE_LEN)

/* what a run of bytes looks like, judged by its first bytes */
typedef enum SipcallEnvFormat
{
	SIPCALL_FORMAT_UNKNOWN,
	SIPCALL_FORMAT_ENVELOPE,	/* starts with our magic */
	SIPCALL_FORMAT_OPENPGP		/* an OpenPGP symmetric-key message */
} SipcallEnvFormat;

/* outcome of every function below; sipcall_envelope_throw() maps them */
typedef enum SipcallEnvStatus
{
	SIPCALL_ENV_OK = 0,
	SIPCALL_ENV_CORRUPT,		/* wrong key, tampered, truncated, foreign */
	SIPCALL_ENV_TOO_LONG,		/* the result would exceed a bytea */
	SIPCALL_ENV_RANDOM_FAILED,	/* RAND_bytes failed */
	SIPCALL_ENV_CRYPTO_FAILED	/* any other OpenSSL failure */
} SipcallEnvStatus;

/* how the key was stretched from the passphrase */
typedef struct SipcallKdfParams
{
	uint8_t		kdf;
	uint32_t	iterations;
	uint8_t		salt_len;
	uint8_t		salt[SIPCALL_ENV_SALT_MAX];
} SipcallKdfParams;

/*
 * PBKDF2-HMAC-SHA256 for one 32-byte block, computed a chunk of iterations
 * at a time so that the caller can check for interrupts in between:
 * sipcall_kdf_begin, then sipcall_kdf_step until sipcall_kdf_done, then
 * sipcall_kdf_end.  sipcall_kdf_free wipes and frees it, whatever state it
 * is in (also after a failure, and more than once).
 */
typedef struct SipcallKdfState
{
	EVP_MAC    *mac;
	EVP_MAC_CTX *ctx;			/* HMAC-SHA256 keyed with the passphrase */
	uint32_t	iterations;
	uint32_t	done;
	uint8_t		u[SIPCALL_ENV_KEY_LEN];	/* the last U_j */
	uint8_t		t[SIPCALL_ENV_KEY_LEN];	/* U_1 ^ ... ^ U_j */
} SipcallKdfState;

/* iterations between two interrupt checks: about a millisecond */
#define SIPCALL_KDF_CHUNK			4096

/* a parsed envelope; the pointers point into the caller's buffer */
typedef struct SipcallEnvelope
{
	SipcallKdfParams params;
	const uint8_t *key_id;		/* SIPCALL_ENV_KEY_ID_LEN bytes */
	const uint8_t *nonce;		/* SIPCALL_ENV_NONCE_LEN bytes */
	const uint8_t *header;		/* AAD: everything before the ciphertext */
	size_t		header_len;
	const uint8_t *ciphertext;
	size_t		ciphertext_len;
	const uint8_t *tag;			/* SIPCALL_ENV_TAG_LEN bytes */
} SipcallEnvelope;

extern SipcallEnvFormat sipcall_envelope_format(const uint8_t *buf, size_t len);
extern SipcallEnvStatus sipcall_envelope_parse(const uint8_t *buf, size_t len,
											   SipcallEnvelope *env);
extern int	sipcall_kdf_params_equal(const SipcallKdfParams *a,
									 const SipcallKdfParams *b);
extern SipcallEnvStatus sipcall_kdf_derive(const char *pass, size_t pass_len,
										   const SipcallKdfParams *params,
										   uint8_t *key, uint8_t *key_id);
extern SipcallEnvStatus sipcall_kdf_begin(SipcallKdfState *st,
										  const char *pass, size_t pass_len,
										  const SipcallKdfParams *params);
extern SipcallEnvStatus sipcall_kdf_step(SipcallKdfState *st, uint32_t chunk);
extern int	sipcall_kdf_done(const SipcallKdfState *st);
extern SipcallEnvStatus sipcall_kdf_end(SipcallKdfState *st, uint8_t *key,
										uint8_t *key_id);
extern void sipcall_kdf_free(SipcallKdfState *st);
extern SipcallEnvStatus sipcall_kdf_fingerprint(const char *pass,
												size_t pass_len,
												const SipcallKdfParams *params,
												uint8_t *out);
extern size_t sipcall_envelope_prefix(const SipcallKdfParams *params,
									  const uint8_t *key_id, uint8_t *out);
extern EVP_CIPHER_CTX *sipcall_cipher_ctx_new(int encrypt);
extern SipcallEnvStatus sipcall_envelope_seal(EVP_CIPHER_CTX *ctx,
											  const uint8_t *key,
											  const uint8_t *prefix,
											  size_t prefix_len,
											  const uint8_t *nonce,
											  const uint8_t *plain,
											  size_t plain_len,
											  uint8_t *out);
extern SipcallEnvStatus sipcall_envelope_open(EVP_CIPHER_CTX *ctx,
											  const uint8_t *key,
											  const SipcallEnvelope *env,
											  uint8_t *out);

#ifndef SIPCALL_ENVELOPE_STANDALONE
extern void sipcall_envelope_throw(SipcallEnvStatus status) pg_attribute_noreturn();
#endif

#endif							/* SIPCALL_ENVELOPE_H */
