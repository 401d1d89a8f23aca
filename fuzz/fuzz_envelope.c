/*-------------------------------------------------------------------------
 *
 * fuzz_envelope.c
 *		libFuzzer harness for the envelope parser and the decrypt path of
 *		src/envelope.c, built standalone (no backend) by fuzz/run.
 *
 * Each input is used twice:
 *
 *	1. as an encrypted value: classified, parsed and, when it parses,
 *	   opened with a key (the harness's fixed key when the KDF parameters
 *	   match the fixed ones, else a key made up from the salt).  Parsing
 *	   must keep every field inside the input; opening must never succeed
 *	   for bytes that were not sealed with that key.
 *	2. as a plaintext: sealed, parsed and opened again, which must give the
 *	   input back; then one byte chosen by the input is flipped, and
 *	   opening must fail.
 *
 * Key stretching runs once, at start-up, for the fixed parameters (the
 * ones the seed corpus was made with), so each run stays fast.  Before
 * that, known answers: sipcall's PBKDF2, computed in chunks, must give
 * exactly what OpenSSL's PKCS5_PBKDF2_HMAC gives, and the RFC 7914
 * (section 11) vector.  With
 * FUZZ_WRITE_SEEDS=dir the binary writes a fresh seed corpus there and
 * exits (fuzz/run seeds).
 *
 * Copyright (c) 2026, the sipcall authors
 *
 * IDENTIFICATION
 *		fuzz/fuzz_envelope.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "envelope.h"

#define FUZZ_PASSPHRASE "fuzz passphrase"

int			LLVMFuzzerInitialize(int *argc, char ***argv);
int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static SipcallKdfParams fixed;
static uint8_t fixed_key[SIPCALL_ENV_KEY_LEN];
static uint8_t fixed_id[SIPCALL_ENV_KEY_ID_LEN];
static uint8_t fixed_prefix[SIPCALL_ENV_PREFIX_MAX];
static size_t fixed_prefix_len;
static EVP_CIPHER_CTX *enc;
static EVP_CIPHER_CTX *dec;

#define CHECK(cond) \
	do { \
		if (!(cond)) \
		{ \
			fprintf(stderr, "check failed: %s (line %d)\n", #cond, __LINE__); \
			abort(); \
		} \
	} while (0)

/* seal plain into a malloc'd envelope of the fixed key */
static uint8_t *
seal(const uint8_t *plain, size_t len, const uint8_t *nonce, size_t *outlen)
{
	uint8_t    *out;

	*outlen = fixed_prefix_len + SIPCALL_ENV_NONCE_LEN + len + SIPCALL_ENV_TAG_LEN;
	out = malloc(*outlen);
	CHECK(out != NULL);
	CHECK(sipcall_envelope_seal(enc, fixed_key, fixed_prefix, fixed_prefix_len,
								nonce, plain, len, out) == SIPCALL_ENV_OK);
	return out;
}

static void
write_seed(const char *dir, const char *name, const uint8_t *buf, size_t len)
{
	char		path[4096];
	FILE	   *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	CHECK(f != NULL);
	CHECK(fwrite(buf, 1, len, f) == len);
	fclose(f);
}

static void
write_seeds(const char *dir)
{
	static const char *const plains[] = {
		"", "+4915112345678", "Gr\xc3\xbc\xc3\x9f" "e, \xe6\x9d\xb1\xe4\xba\xac",
		"0123456789012345678901234567890123456789012345678901234567890123456789"
	};
	uint8_t		nonce[SIPCALL_ENV_NONCE_LEN];
	char		name[64];
	size_t		i;
	size_t		len;
	uint8_t    *e;

	for (i = 0; i < sizeof(plains) / sizeof(plains[0]); i++)
	{
		memset(nonce, (int) i + 1, sizeof(nonce));
		e = seal((const uint8_t *) plains[i], strlen(plains[i]), nonce, &len);
		snprintf(name, sizeof(name), "envelope-%zu", i);
		write_seed(dir, name, e, len);
		/* truncated in the header, and without its tag */
		snprintf(name, sizeof(name), "truncated-header-%zu", i);
		write_seed(dir, name, e, fixed_prefix_len - 5);
		snprintf(name, sizeof(name), "truncated-tag-%zu", i);
		write_seed(dir, name, e, len - 3);
		free(e);
	}
}

/* sipcall_kdf_begin/step/end against PKCS5_PBKDF2_HMAC, chunk by chunk */
static void
check_kdf(const char *pass, const uint8_t *salt, uint8_t salt_len,
		  uint32_t iterations, uint32_t chunk)
{
	SipcallKdfParams p;
	SipcallKdfState st;
	uint8_t		ours[SIPCALL_ENV_KEY_LEN];
	uint8_t		id[SIPCALL_ENV_KEY_ID_LEN];
	uint8_t		ref[SIPCALL_ENV_KEY_LEN];

	memset(&p, 0, sizeof(p));
	p.kdf = SIPCALL_ENV_KDF_PBKDF2_SHA256;
	p.iterations = iterations;
	p.salt_len = salt_len;
	memcpy(p.salt, salt, salt_len);
	CHECK(sipcall_kdf_begin(&st, pass, strlen(pass), &p) == SIPCALL_ENV_OK);
	while (!sipcall_kdf_done(&st))
		CHECK(sipcall_kdf_step(&st, chunk) == SIPCALL_ENV_OK);
	CHECK(sipcall_kdf_end(&st, ours, id) == SIPCALL_ENV_OK);
	CHECK(PKCS5_PBKDF2_HMAC(pass, (int) strlen(pass), salt, salt_len,
							(int) iterations, EVP_sha256(),
							sizeof(ref), ref) == 1);
	CHECK(memcmp(ours, ref, sizeof(ref)) == 0);
}

static void
known_answers(void)
{
	/* RFC 7914, section 11: PBKDF2-HMAC-SHA256("passwd", "salt", 1), first 32 bytes */
	static const uint8_t rfc[32] = {
		0x55, 0xac, 0x04, 0x6e, 0x56, 0xe3, 0x08, 0x9f,
		0xec, 0x16, 0x91, 0xc2, 0x25, 0x44, 0xb6, 0x05,
		0xf9, 0x41, 0x85, 0x21, 0x6d, 0xde, 0x04, 0x65,
		0xe6, 0x8b, 0x9d, 0x57, 0xc2, 0x0d, 0xac, 0xbc};
	SipcallKdfParams p;
	uint8_t		key[SIPCALL_ENV_KEY_LEN];
	uint8_t		id[SIPCALL_ENV_KEY_ID_LEN];
	uint8_t		salt[64];

	memset(&p, 0, sizeof(p));
	p.kdf = SIPCALL_ENV_KDF_PBKDF2_SHA256;
	p.iterations = 1;
	p.salt_len = 4;
	memcpy(p.salt, "salt", 4);
	CHECK(sipcall_kdf_derive("passwd", 6, &p, key, id) == SIPCALL_ENV_OK);
	CHECK(memcmp(key, rfc, sizeof(rfc)) == 0);

	memset(salt, 0xa5, sizeof(salt));
	check_kdf("k", salt, 16, 1, 1);
	check_kdf("k", salt, 16, 2, 1);
	check_kdf("fuzz passphrase", salt, 16, SIPCALL_KDF_CHUNK + 1, SIPCALL_KDF_CHUNK);
	check_kdf("schl\xc3\xbcssel", salt, 64, 3 * SIPCALL_KDF_CHUNK - 1, SIPCALL_KDF_CHUNK);
	check_kdf("p", salt, 16, SIPCALL_ENV_ITER_MIN, 999);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *seeds = getenv("FUZZ_WRITE_SEEDS");

	(void) argc;
	(void) argv;
	known_answers();
	fixed.kdf = SIPCALL_ENV_KDF_PBKDF2_SHA256;
	fixed.iterations = SIPCALL_ENV_ITER_MIN;
	fixed.salt_len = SIPCALL_ENV_SALT_MIN;
	memset(fixed.salt, 0x5a, fixed.salt_len);
	CHECK(sipcall_kdf_derive(FUZZ_PASSPHRASE, strlen(FUZZ_PASSPHRASE), &fixed,
							 fixed_key, fixed_id) == SIPCALL_ENV_OK);
	fixed_prefix_len = sipcall_envelope_prefix(&fixed, fixed_id, fixed_prefix);
	enc = sipcall_cipher_ctx_new(1);
	dec = sipcall_cipher_ctx_new(0);
	CHECK(enc != NULL && dec != NULL);
	if (seeds != NULL)
	{
		write_seeds(seeds);
		exit(0);
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	SipcallEnvelope env;
	SipcallEnvelope env2;
	SipcallEnvStatus st;
	uint8_t		key[SIPCALL_ENV_KEY_LEN];
	const uint8_t *k;
	uint8_t    *out;
	uint8_t    *sealed;
	size_t		sealed_len;
	size_t		pos;
	uint8_t		nonce[SIPCALL_ENV_NONCE_LEN] = {0};

	/* 1. the input as an encrypted value */
	(void) sipcall_envelope_format(data, size);
	if (sipcall_envelope_parse(data, size, &env) == SIPCALL_ENV_OK)
	{
		CHECK(env.header == data);
		CHECK(env.header_len + env.ciphertext_len + SIPCALL_ENV_TAG_LEN == size);
		CHECK(env.ciphertext == data + env.header_len);
		CHECK(env.tag == data + size - SIPCALL_ENV_TAG_LEN);
		CHECK(env.nonce + SIPCALL_ENV_NONCE_LEN == env.ciphertext);
		CHECK(env.params.salt_len >= SIPCALL_ENV_SALT_MIN &&
			  env.params.salt_len <= SIPCALL_ENV_SALT_MAX);
		if (sipcall_kdf_params_equal(&env.params, &fixed))
			k = fixed_key;
		else
		{
			memset(key, env.params.salt[0], sizeof(key));
			k = key;
		}
		out = malloc(env.ciphertext_len + 1);
		CHECK(out != NULL);
		st = sipcall_envelope_open(dec, k, &env, out);
		CHECK(st == SIPCALL_ENV_OK || st == SIPCALL_ENV_CORRUPT);
		/* a made-up key can never authenticate anything */
		CHECK(st != SIPCALL_ENV_OK || k == fixed_key);
		free(out);
	}

	/* 2. the input as a plaintext: round trip, then one flipped byte */
	if (size >= SIPCALL_ENV_NONCE_LEN)
		memcpy(nonce, data, SIPCALL_ENV_NONCE_LEN);
	sealed = seal(data, size, nonce, &sealed_len);
	CHECK(sipcall_envelope_format(sealed, sealed_len) == SIPCALL_FORMAT_ENVELOPE);
	CHECK(sipcall_envelope_parse(sealed, sealed_len, &env2) == SIPCALL_ENV_OK);
	CHECK(env2.ciphertext_len == size);
	out = malloc(size + 1);
	CHECK(out != NULL);
	CHECK(sipcall_envelope_open(dec, fixed_key, &env2, out) == SIPCALL_ENV_OK);
	CHECK(size == 0 || memcmp(out, data, size) == 0);

	pos = 0;
	if (size > 0)
		pos = ((size_t) data[0] * 257 + (size > 1 ? data[1] : 0)) % sealed_len;
	sealed[pos] ^= (uint8_t) (1u << (size > 2 ? data[2] % 8 : 0));
	if (sipcall_envelope_parse(sealed, sealed_len, &env2) == SIPCALL_ENV_OK)
		CHECK(sipcall_envelope_open(dec, fixed_key, &env2, out) == SIPCALL_ENV_CORRUPT);
	free(out);
	free(sealed);
	return 0;
}
