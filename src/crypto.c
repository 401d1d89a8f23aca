/*-------------------------------------------------------------------------
 *
 * crypto.c
 *		The SQL functions encrypt_data and decrypt_data: argument checks,
 *		the caches of derived keys, the installation's salt, the hand-over
 *		of OpenPGP messages to pgcrypto, and wiping of secrets.
 *
 * The byte format and the OpenSSL calls live in envelope.c.  Since 1.1,
 * key_id() tells the identifier a passphrase gets in envelopes, and
 * decrypt_data(bytea, text[]) decrypts during a key rotation: an envelope
 * with the key whose identifier it carries (identifiers come from the key
 * caches, so only a key never seen before is stretched, once), an OpenPGP
 * message with each key in turn, a wrong one caught in an internal
 * subtransaction (so that function is PARALLEL UNSAFE: PostgreSQL 15
 * starts no subtransaction in parallel mode).
 *
 * Keys.  A passphrase is stretched with PBKDF2-HMAC-SHA256 and the
 * installation's salt (system_config "crypto.kdf_salt", read through
 * settings.c once per backend) into an AES-256 key.  Stretching is slow on purpose, so derived
 * keys are cached at two levels:
 *
 *	- per backend: up to sipcall.key_cache_size entries of passphrase, KDF
 *	  parameters and key, in TopMemoryContext, least recently used evicted,
 *	  each serving only the role it was stretched for (a session may SET
 *	  ROLE);
 *	- with sipcall in shared_preload_libraries, also in shared memory:
 *	  sipcall.key_cache_size entries of key indexed by a SHA-256 of
 *	  parameters and passphrase; the passphrase itself never goes there.
 *
 * A key derived for decryption enters the caches only after a value
 * decrypted with it, so forged envelopes cannot flush them, and
 * decrypt_data refuses (39000) an envelope asking for more iterations than
 * this installation writes, before stretching anything.  Stretching is
 * done SIPCALL_KDF_CHUNK iterations at a time with CHECK_FOR_INTERRUPTS in
 * between, so a cancel or statement_timeout stops it.
 *
 * The shared cache serves and can be flushed by no stranger: every entry
 * remembers the database and role that stretched it (for the export, which
 * decrypts as the extension's owner, its caller: sipcall_crypto_act_for)
 * and serves only that pair (so another role cannot test guesses of a
 * passphrase against it without paying the stretch), one such pair holds
 * at most a
 * quarter of the entries (churning its own least recently used one beyond
 * that), and a newcomer that finds the cache full takes the least recently
 * used entry of the pair holding the most.  A flood of throw-away keys from
 * one database or role thus only ever evicts keys of its own, or of
 * another pair that holds more than the victim does.
 *
 * Evicted keys and passphrases are wiped with OPENSSL_cleanse, and so is
 * the backend cache at process exit.  Copies of the key and plaintext
 * arguments, stretched keys and decrypted output are wiped on every exit,
 * errors included (PG_CATCH).
 *
 * Locking: the shared cache is guarded by one LWLock.  Lookups take it
 * shared (and bump an atomic LRU stamp), insertions exclusive.  Key
 * stretching happens with no lock held.
 *
 * The two cipher contexts (one to encrypt, one to decrypt) are made once
 * per backend and reused, so an error in the middle of a call leaks
 * nothing; each remembers which cached key it holds to skip the key setup.
 *
 * Calls: envelope.c (the format and OpenSSL), settings.c (the salt), util.c
 * (pgcrypto's schema), version.c (key_id's guard).
 *
 * Copyright (c) 2026, the sipcall authors
 *
 * IDENTIFICATION
 *		src/crypto.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "common/hashfn.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/value.h"
#include "parser/parse_func.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "envelope.h"
#include "sipcall.h"
#include "version.h"

PG_FUNCTION_INFO_V1(sipcall_encrypt_data);
PG_FUNCTION_INFO_V1(sipcall_decrypt_data);
PG_FUNCTION_INFO_V1(sipcall_key_id);
PG_FUNCTION_INFO_V1(sipcall_decrypt_data_keys);

#define SHMEM_NAME			"sipcall crypto key cache"
#define LWLOCK_TRANCHE		"sipcall crypto"

/*---- types ----*/

/* a derived key in this backend's cache, or a freshly derived one */
typedef struct LocalKey
{
	uint64		serial;			/* unique per cached key; 0 = not cached */
	uint64		last_used;
	Oid			roleid;			/* the role it serves (crypto_caller) */
	uint32		pass_hash;
	size_t		pass_len;
	char	   *pass;			/* copy of the passphrase, wiped on eviction */
	SipcallKdfParams params;
	uint8		key[SIPCALL_ENV_KEY_LEN];
	uint8		key_id[SIPCALL_ENV_KEY_ID_LEN];
	uint8		prefix[SIPCALL_ENV_PREFIX_MAX];	/* header before the nonce */
	size_t		prefix_len;
	bool		have_fingerprint;
	bool		from_shared;
	uint8		fingerprint[SIPCALL_ENV_FINGERPRINT_LEN];
} LocalKey;

/* a derived key in shared memory */
typedef struct SharedKey
{
	bool		used;
	Oid			dbid;			/* who stretched it: database ... */
	Oid			roleid;			/* ... and role */
	pg_atomic_uint64 last_used;
	uint8		fingerprint[SIPCALL_ENV_FINGERPRINT_LEN];
	uint8		key[SIPCALL_ENV_KEY_LEN];
	uint8		key_id[SIPCALL_ENV_KEY_ID_LEN];
} SharedKey;

typedef struct SharedKeyCache
{
	LWLock	   *lock;
	pg_atomic_uint64 clock;
	int			nentries;
	SharedKey	entries[FLEXIBLE_ARRAY_MEMBER];
} SharedKeyCache;

/* what a decryption holds that must be wiped when it fails */
typedef struct DecryptState
{
	LocalKey	tmp;			/* a stretched key not (yet) cached */
	text	   *volatile result;	/* the plaintext being made */
	volatile size_t result_len;
} DecryptState;

/* the keys of decrypt_data(bytea, text[]), pointing into the array */
typedef struct DecryptKeys
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
} DecryptKeys;

/*---- static state ----*/

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
static SharedKeyCache *shared_cache = NULL;

static LocalKey *local_keys = NULL;
static int	n_local_keys = 0;
static LocalKey *last_key = NULL;
static uint64 local_clock = 0;
static uint64 next_serial = 1;

static EVP_CIPHER_CTX *enc_ctx = NULL;
static EVP_CIPHER_CTX *dec_ctx = NULL;
static uint64 enc_loaded = 0;	/* serial of the key in enc_ctx, 0 none */
static uint64 dec_loaded = 0;

/*
 * Nonces are drawn from OpenSSL's generator in batches: a call of
 * RAND_bytes costs about the same whatever the length, and far more than
 * the cipher for a phone number (README, "Benchmarks").
 * A nonce need not be secret, only unique, and the pool is per process
 * (never filled in the postmaster, so no forked child inherits it).
 */
#define NONCE_POOL_SIZE		(SIPCALL_ENV_NONCE_LEN * 340)
static uint8 nonce_pool[NONCE_POOL_SIZE];
static int	nonce_pool_pos = NONCE_POOL_SIZE;

static bool install_params_valid = false;
static SipcallKdfParams install_params;

static bool pgp_valid = false;
static bool pgp_callback_registered = false;
static Oid	pgp_oid = InvalidOid;
static FmgrInfo pgp_flinfo;

/*---- forward declarations ----*/

static Size shared_cache_size(void);
static void crypto_shmem_request(void);
static void crypto_shmem_startup(void);
static void crypto_backend_init(void);
static void crypto_proc_exit(int code, Datum arg);
static void load_install_params(void);
static const SipcallKdfParams *backend_install_params(void);
static void check_key(size_t pass_len);
static LocalKey *install_key(const char *pass, size_t pass_len,
							 LocalKey *tmp);
static LocalKey *find_key(const char *pass, size_t pass_len,
						  const SipcallKdfParams *params, LocalKey *tmp);
static LocalKey *remember_key(LocalKey *tmp, const char *pass,
							  size_t pass_len);
static void forget_local_key(LocalKey *k);
static bool shared_lookup(LocalKey *tmp);
static void shared_insert(const LocalKey *k);
static SharedKey *shared_victim_of_biggest(void);
static SipcallEnvStatus derive_key(const char *pass, size_t pass_len,
								   const SipcallKdfParams *params,
								   uint8 *key, uint8 *key_id);
static Datum pgp_decrypt(Datum data, Datum key, Oid collation);
static void pgp_invalidate(Datum arg, int cacheid, uint32 hashvalue);
static const uint8 *next_nonce(void);
static void wipe_arg_copy(FunctionCallInfo fcinfo, int argno, void *copy);
static Oid	crypto_caller(void);
static void parse_envelope(const uint8 *buf, size_t len, SipcallEnvelope *env);
static LocalKey *matching_key(DecryptState *ds, const char *pass,
							  size_t pass_len, const SipcallEnvelope *env,
							  bool keep);
static bool open_envelope(DecryptState *ds, LocalKey *k,
						  const SipcallEnvelope *env, const char *pass,
						  size_t pass_len);
static void decrypt_state_wipe(DecryptState *ds);
static bool usable_key(const DecryptKeys *keys, int i, const char **pass,
					   size_t *pass_len);
static void decrypt_envelope_keys(DecryptState *ds, const uint8 *buf,
								  size_t len, const DecryptKeys *keys);
static void pgp_try(void *arg);
static bool pgp_try_key(Datum data, Datum key, Oid collation, Datum *result);
static Datum pgp_decrypt_keys(Datum data, const DecryptKeys *keys,
							  Oid collation);

/*
 * The role a decryption is done for, when that is not the current user:
 * the export decrypts as the extension's owner on behalf of its caller,
 * and the caller is the one charged in the shared cache and checked for
 * EXECUTE on pgcrypto.  InvalidOid: the current user.
 */
static Oid	acting_for = InvalidOid;

/*---- initialisation and shared memory ----*/

/*
 * Decrypt on behalf of role (InvalidOid: the current user again) until the
 * next call; the export sets it around its privileged section and clears
 * it on every exit, errors included.
 */
void
sipcall_crypto_act_for(Oid role)
{
	acting_for = role;
}

static Oid
crypto_caller(void)
{
	return OidIsValid(acting_for) ? acting_for : GetUserId();
}

/*
 * Called by _PG_init: with preloading, ask for the shared key cache.
 */
void
sipcall_crypto_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		return;
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = crypto_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = crypto_shmem_startup;
}

static Size
shared_cache_size(void)
{
	return add_size(offsetof(SharedKeyCache, entries),
					mul_size(sipcall_key_cache_size, sizeof(SharedKey)));
}

static void
crypto_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(shared_cache_size());
	RequestNamedLWLockTranche(LWLOCK_TRANCHE, 1);
}

static void
crypto_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared_cache = ShmemInitStruct(SHMEM_NAME, shared_cache_size(), &found);
	if (!found)
	{
		int			i;

		memset(shared_cache, 0, shared_cache_size());
		shared_cache->lock = &(GetNamedLWLockTranche(LWLOCK_TRANCHE))->lock;
		pg_atomic_init_u64(&shared_cache->clock, 0);
		shared_cache->nentries = sipcall_key_cache_size;
		for (i = 0; i < shared_cache->nentries; i++)
			pg_atomic_init_u64(&shared_cache->entries[i].last_used, 0);
	}
	LWLockRelease(AddinShmemInitLock);
}

/* the per-backend cache and cipher contexts, on first use */
static void
crypto_backend_init(void)
{
	if (local_keys != NULL)
		return;

	enc_ctx = sipcall_cipher_ctx_new(1);
	dec_ctx = sipcall_cipher_ctx_new(0);
	if (enc_ctx == NULL || dec_ctx == NULL)
	{
		EVP_CIPHER_CTX_free(enc_ctx);
		EVP_CIPHER_CTX_free(dec_ctx);
		enc_ctx = dec_ctx = NULL;
		sipcall_envelope_throw(SIPCALL_ENV_CRYPTO_FAILED);
	}
	n_local_keys = sipcall_key_cache_size;
	local_keys = MemoryContextAllocZero(TopMemoryContext,
										n_local_keys * sizeof(LocalKey));
	on_proc_exit(crypto_proc_exit, (Datum) 0);
}

/* wipe every key this backend holds */
static void
crypto_proc_exit(int code, Datum arg)
{
	int			i;

	for (i = 0; i < n_local_keys; i++)
		if (local_keys[i].serial != 0)
			forget_local_key(&local_keys[i]);
	EVP_CIPHER_CTX_free(enc_ctx);
	EVP_CIPHER_CTX_free(dec_ctx);
	enc_ctx = dec_ctx = NULL;
}

/*---- the installation's KDF parameters ----*/

/* The installation's KDF parameters, its salt read once per backend. */
static void
load_install_params(void)
{
	SipcallKdfParams p;

	memset(&p, 0, sizeof(p));
	p.kdf = SIPCALL_ENV_KDF_PBKDF2_SHA256;
	p.iterations = SIPCALL_KDF_ITERATIONS;
	p.salt_len = (uint8) sipcall_config_kdf_salt(p.salt, SIPCALL_ENV_SALT_MIN,
												 SIPCALL_ENV_SALT_MAX);
	install_params = p;
	install_params_valid = true;
}

/*
 * Ready this backend for a key operation (contexts, caches) and return the
 * installation's KDF parameters, read on first use.
 */
static const SipcallKdfParams *
backend_install_params(void)
{
	crypto_backend_init();
	if (!install_params_valid)
		load_install_params();
	return &install_params;
}

/*---- key caches ----*/

static void
check_key(size_t pass_len)
{
	if (pass_len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("encryption key must not be empty"),
				 errhidestmt(true)));
}

/*
 * The key for a passphrase and KDF parameters: from this backend's cache,
 * else from the shared cache (then cached here too), else stretched into
 * *tmp and returned uncached (serial 0): remember_key() caches it.
 */
static LocalKey *
find_key(const char *pass, size_t pass_len, const SipcallKdfParams *params,
		 LocalKey *tmp)
{
	uint32		h;
	Oid			roleid = crypto_caller();
	int			i;
	SipcallEnvStatus st;

	/* the common case: the same key as last time */
	if (last_key != NULL && last_key->serial != 0 &&
		last_key->roleid == roleid && last_key->pass_len == pass_len &&
		sipcall_kdf_params_equal(&last_key->params, params) &&
		CRYPTO_memcmp(last_key->pass, pass, pass_len) == 0)
	{
		last_key->last_used = ++local_clock;
		return last_key;
	}

	h = hash_bytes((const unsigned char *) pass, (int) pass_len);
	for (i = 0; i < n_local_keys; i++)
	{
		LocalKey   *k = &local_keys[i];

		if (k->serial != 0 && k->roleid == roleid && k->pass_hash == h &&
			k->pass_len == pass_len &&
			sipcall_kdf_params_equal(&k->params, params) &&
			CRYPTO_memcmp(k->pass, pass, pass_len) == 0)
		{
			k->last_used = ++local_clock;
			last_key = k;
			return k;
		}
	}

	memset(tmp, 0, sizeof(*tmp));
	tmp->roleid = roleid;
	tmp->pass_hash = h;
	tmp->pass_len = pass_len;
	tmp->params = *params;

	if (shared_cache != NULL)
	{
		st = sipcall_kdf_fingerprint(pass, pass_len, params, tmp->fingerprint);
		if (st != SIPCALL_ENV_OK)
			sipcall_envelope_throw(st);
		tmp->have_fingerprint = true;
		if (shared_lookup(tmp))
		{
			ereport(DEBUG1,
					(errmsg_internal("sipcall: derived key found in the shared key cache")));
			tmp->from_shared = true;
			return remember_key(tmp, pass, pass_len);
		}
	}

	st = derive_key(pass, pass_len, params, tmp->key, tmp->key_id);
	if (st != SIPCALL_ENV_OK)
	{
		OPENSSL_cleanse(tmp, sizeof(*tmp));
		sipcall_envelope_throw(st);
	}
	tmp->prefix_len = sipcall_envelope_prefix(params, tmp->key_id, tmp->prefix);
	return tmp;
}

/*
 * The key of a passphrase under this installation's KDF parameters, as
 * encrypt_data uses it: from a cache, or stretched into *tmp and cached.
 */
static LocalKey *
install_key(const char *pass, size_t pass_len, LocalKey *tmp)
{
	LocalKey   *k;

	check_key(pass_len);
	k = find_key(pass, pass_len, backend_install_params(), tmp);
	if (k->serial == 0)
		k = remember_key(k, pass, pass_len);
	return k;
}

/*
 * Stretch a passphrase (the slow part), a chunk of iterations at a time,
 * checking for interrupts in between; the KDF state is wiped whatever
 * happens.
 */
static SipcallEnvStatus
derive_key(const char *pass, size_t pass_len, const SipcallKdfParams *params,
		   uint8 *key, uint8 *key_id)
{
	SipcallKdfState st;
	volatile SipcallEnvStatus rc;

	ereport(DEBUG1,
			(errmsg_internal("sipcall: stretching a key (%u iterations)",
							 params->iterations)));
	rc = sipcall_kdf_begin(&st, pass, pass_len, params);
	PG_TRY();
	{
		while (rc == SIPCALL_ENV_OK && !sipcall_kdf_done(&st))
		{
			CHECK_FOR_INTERRUPTS();
			rc = sipcall_kdf_step(&st, SIPCALL_KDF_CHUNK);
		}
	}
	PG_CATCH();
	{
		sipcall_kdf_free(&st);
		PG_RE_THROW();
	}
	PG_END_TRY();
	if (rc != SIPCALL_ENV_OK)
	{
		sipcall_kdf_free(&st);
		return rc;
	}
	return sipcall_kdf_end(&st, key, key_id);
}

/*
 * Cache a key found in shared memory or freshly stretched, evicting (and
 * wiping) the least recently used entry when the cache is full.  Wipes
 * *tmp and returns the cache entry.
 */
static LocalKey *
remember_key(LocalKey *tmp, const char *pass, size_t pass_len)
{
	LocalKey   *victim = NULL;
	int			i;

	if (shared_cache != NULL && !tmp->from_shared && tmp->have_fingerprint)
		shared_insert(tmp);

	for (i = 0; i < n_local_keys; i++)
	{
		LocalKey   *k = &local_keys[i];

		if (k->serial == 0)
		{
			victim = k;
			break;
		}
		if (victim == NULL || k->last_used < victim->last_used)
			victim = k;
	}
	if (victim->serial != 0)
		forget_local_key(victim);

	*victim = *tmp;
	OPENSSL_cleanse(tmp, sizeof(*tmp));
	victim->pass = MemoryContextAlloc(TopMemoryContext, pass_len + 1);
	memcpy(victim->pass, pass, pass_len);
	victim->pass[pass_len] = '\0';
	victim->prefix_len = sipcall_envelope_prefix(&victim->params,
												 victim->key_id,
												 victim->prefix);
	victim->serial = next_serial++;
	victim->last_used = ++local_clock;
	last_key = victim;
	return victim;
}

static void
forget_local_key(LocalKey *k)
{
	if (k->pass != NULL)
	{
		OPENSSL_cleanse(k->pass, k->pass_len);
		pfree(k->pass);
	}
	if (last_key == k)
		last_key = NULL;
	OPENSSL_cleanse(k, sizeof(*k));
}

/*
 * Fill tmp's key from the shared cache; false when it is not there.  Only
 * an entry this database and role stretched serves: were any entry to
 * serve anyone, another role could test guesses of the app's passphrase
 * at the cost of a hash (a hit returns at once, a miss can be cut short by
 * statement_timeout) instead of a stretch.
 */
static bool
shared_lookup(LocalKey *tmp)
{
	Oid			dbid = MyDatabaseId;
	Oid			roleid = crypto_caller();
	bool		found = false;
	int			i;

	LWLockAcquire(shared_cache->lock, LW_SHARED);
	for (i = 0; i < shared_cache->nentries; i++)
	{
		SharedKey  *e = &shared_cache->entries[i];

		if (e->used && e->dbid == dbid && e->roleid == roleid &&
			memcmp(e->fingerprint, tmp->fingerprint,
				   SIPCALL_ENV_FINGERPRINT_LEN) == 0)
		{
			memcpy(tmp->key, e->key, SIPCALL_ENV_KEY_LEN);
			memcpy(tmp->key_id, e->key_id, SIPCALL_ENV_KEY_ID_LEN);
			pg_atomic_write_u64(&e->last_used,
								pg_atomic_add_fetch_u64(&shared_cache->clock, 1));
			found = true;
			break;
		}
	}
	LWLockRelease(shared_cache->lock);
	return found;
}

/* order of entry indexes by who stretched them */
static int
shared_owner_cmp(const void *a, const void *b)
{
	const SharedKey *x = &shared_cache->entries[*(const int *) a];
	const SharedKey *y = &shared_cache->entries[*(const int *) b];

	if (x->dbid != y->dbid)
		return x->dbid < y->dbid ? -1 : 1;
	if (x->roleid != y->roleid)
		return x->roleid < y->roleid ? -1 : 1;
	return 0;
}

/*
 * In a full cache (lock held exclusively): the least recently used entry
 * of the database and role that hold the most entries.
 */
static SharedKey *
shared_victim_of_biggest(void)
{
	int			n = shared_cache->nentries;
	int		   *idx = palloc(sizeof(int) * n);
	SharedKey  *victim = NULL;
	int			victim_count = 0;
	int			i;
	int			start;

	for (i = 0; i < n; i++)
		idx[i] = i;
	qsort(idx, n, sizeof(int), shared_owner_cmp);
	for (start = 0; start < n; start = i)
	{
		SharedKey  *lru = &shared_cache->entries[idx[start]];

		for (i = start + 1; i < n && shared_owner_cmp(&idx[start], &idx[i]) == 0; i++)
		{
			SharedKey  *e = &shared_cache->entries[idx[i]];

			if (pg_atomic_read_u64(&e->last_used) < pg_atomic_read_u64(&lru->last_used))
				lru = e;
		}
		if (victim == NULL || i - start > victim_count ||
			(i - start == victim_count &&
			 pg_atomic_read_u64(&lru->last_used) < pg_atomic_read_u64(&victim->last_used)))
		{
			victim = lru;
			victim_count = i - start;
		}
	}
	pfree(idx);
	return victim;
}

/*
 * Put a freshly stretched key into the shared cache, where this database
 * and role may hold a quarter of the entries (see the header comment).
 */
static void
shared_insert(const LocalKey *k)
{
	Oid			dbid = MyDatabaseId;
	Oid			roleid = crypto_caller();
	int			quota = Max(1, shared_cache->nentries / 4);
	int			mine = 0;
	SharedKey  *mine_lru = NULL;
	SharedKey  *free_slot = NULL;
	SharedKey  *victim;
	int			i;

	LWLockAcquire(shared_cache->lock, LW_EXCLUSIVE);
	for (i = 0; i < shared_cache->nentries; i++)
	{
		SharedKey  *e = &shared_cache->entries[i];

		if (!e->used)
		{
			if (free_slot == NULL)
				free_slot = e;
			continue;
		}
		if (e->dbid != dbid || e->roleid != roleid)
			continue;
		if (memcmp(e->fingerprint, k->fingerprint,
				   SIPCALL_ENV_FINGERPRINT_LEN) == 0)
		{
			/* another backend of ours was quicker */
			LWLockRelease(shared_cache->lock);
			return;
		}
		mine++;
		if (mine_lru == NULL ||
			pg_atomic_read_u64(&e->last_used) <
			pg_atomic_read_u64(&mine_lru->last_used))
			mine_lru = e;
	}
	if (mine >= quota)
		victim = mine_lru;
	else if (free_slot != NULL)
		victim = free_slot;
	else
		victim = shared_victim_of_biggest();

	OPENSSL_cleanse(victim->key, SIPCALL_ENV_KEY_LEN);
	memcpy(victim->fingerprint, k->fingerprint, SIPCALL_ENV_FINGERPRINT_LEN);
	memcpy(victim->key, k->key, SIPCALL_ENV_KEY_LEN);
	memcpy(victim->key_id, k->key_id, SIPCALL_ENV_KEY_ID_LEN);
	victim->dbid = dbid;
	victim->roleid = roleid;
	pg_atomic_write_u64(&victim->last_used,
						pg_atomic_add_fetch_u64(&shared_cache->clock, 1));
	victim->used = true;
	LWLockRelease(shared_cache->lock);
}

/*---- OpenPGP messages, through pgcrypto ----*/

/*
 * pgcrypto's pgp_sym_decrypt(bytea, text), found in the schema pgcrypto
 * is installed in (pg_extension.extnamespace), whatever the search path.
 * Looked up once per backend, again after pg_proc changes.
 */
static void
pgp_lookup(void)
{
	Oid			nspoid;
	char	   *nspname;
	Oid			argtypes[2] = {BYTEAOID, TEXTOID};
	List	   *name;

	nspoid = sipcall_extension_schema("pgcrypto");
	nspname = OidIsValid(nspoid) ? get_namespace_name(nspoid) : NULL;
	if (nspname == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("extension \"pgcrypto\" is needed to decrypt OpenPGP data"),
				 errhidestmt(true)));

	name = list_make2(makeString(nspname), makeString("pgp_sym_decrypt"));
	pgp_oid = LookupFuncName(name, 2, argtypes, true);
	list_free(name);
	if (!OidIsValid(pgp_oid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("function %s.pgp_sym_decrypt(bytea, text) does not exist",
						quote_identifier(nspname)),
				 errhidestmt(true)));

	if (!pgp_callback_registered)
	{
		CacheRegisterSyscacheCallback(PROCOID, pgp_invalidate, (Datum) 0);
		pgp_callback_registered = true;
	}
	fmgr_info_cxt(pgp_oid, &pgp_flinfo, TopMemoryContext);
	pgp_valid = true;
}

static void
pgp_invalidate(Datum arg, int cacheid, uint32 hashvalue)
{
	pgp_valid = false;
}

/*
 * Decrypt an OpenPGP message with pgcrypto.  Its "wrong key or corrupt
 * data" and other faults of the message become ours; every error it
 * raises loses the statement, which holds the key.
 */
static Datum
pgp_decrypt(Datum data, Datum key, Oid collation)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	Datum		result = (Datum) 0;

	if (!pgp_valid)
		pgp_lookup();
	if (pg_proc_aclcheck(pgp_oid, crypto_caller(), ACL_EXECUTE) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for function pgp_sym_decrypt"),
				 errhidestmt(true)));

	PG_TRY();
	{
		result = FunctionCall2Coll(&pgp_flinfo, collation, data, key);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		if (edata->sqlerrcode == ERRCODE_EXTERNAL_ROUTINE_INVOCATION_EXCEPTION)
		{
			FreeErrorData(edata);
			sipcall_envelope_throw(SIPCALL_ENV_CORRUPT);
		}
		edata->hide_stmt = true;
		ReThrowError(edata);
	}
	PG_END_TRY();
	return result;
}

/*---- SQL functions ----*/

/* a fresh random nonce from the pool, refilled when empty */
static const uint8 *
next_nonce(void)
{
	const uint8 *n;

	if (nonce_pool_pos + SIPCALL_ENV_NONCE_LEN > NONCE_POOL_SIZE)
	{
		if (RAND_bytes(nonce_pool, NONCE_POOL_SIZE) != 1)
			sipcall_envelope_throw(SIPCALL_ENV_RANDOM_FAILED);
		nonce_pool_pos = 0;
	}
	n = nonce_pool + nonce_pool_pos;
	nonce_pool_pos += SIPCALL_ENV_NONCE_LEN;
	return n;
}

/* wipe and free an argument that detoasting copied */
static void
wipe_arg_copy(FunctionCallInfo fcinfo, int argno, void *copy)
{
	if (copy != DatumGetPointer(PG_GETARG_DATUM(argno)))
	{
		OPENSSL_cleanse(copy, VARSIZE_ANY(copy));
		pfree(copy);
	}
}

/*
 * encrypt_data(data text, key text) RETURNS bytea
 *
 * Copies of the arguments that detoasting made, and the stretched key
 * while it is not cached, are wiped on every way out, errors included.
 */
Datum
sipcall_encrypt_data(PG_FUNCTION_ARGS)
{
	text	   *data = PG_GETARG_TEXT_PP(0);
	text	   *keyt = PG_GETARG_TEXT_PP(1);
	LocalKey	tmp;
	bytea	   *result = NULL;

	memset(&tmp, 0, sizeof(tmp));
	PG_TRY();
	{
		const char *pass = VARDATA_ANY(keyt);
		size_t		pass_len = VARSIZE_ANY_EXHDR(keyt);
		size_t		plain_len = VARSIZE_ANY_EXHDR(data);
		size_t		total;
		LocalKey   *k;
		SipcallEnvStatus st;

		k = install_key(pass, pass_len, &tmp);
		total = k->prefix_len + SIPCALL_ENV_NONCE_LEN + SIPCALL_ENV_TAG_LEN;
		if (plain_len > MaxAllocSize - VARHDRSZ - total)
			sipcall_envelope_throw(SIPCALL_ENV_TOO_LONG);
		total += plain_len;

		result = (bytea *) palloc(VARHDRSZ + total);
		SET_VARSIZE(result, VARHDRSZ + total);
		st = sipcall_envelope_seal(enc_ctx,
								   enc_loaded == k->serial ? NULL : k->key,
								   k->prefix, k->prefix_len, next_nonce(),
								   (const uint8 *) VARDATA_ANY(data), plain_len,
								   (uint8 *) VARDATA(result));
		if (st != SIPCALL_ENV_OK)
		{
			enc_loaded = 0;
			sipcall_envelope_throw(st);
		}
		enc_loaded = k->serial;
	}
	PG_CATCH();
	{
		OPENSSL_cleanse(&tmp, sizeof(tmp));
		wipe_arg_copy(fcinfo, 0, data);
		wipe_arg_copy(fcinfo, 1, keyt);
		PG_RE_THROW();
	}
	PG_END_TRY();

	wipe_arg_copy(fcinfo, 0, data);
	wipe_arg_copy(fcinfo, 1, keyt);
	PG_RETURN_BYTEA_P(result);
}

/*
 * An envelope, parsed; 39000 for anything but a well-formed one that asks
 * for no more iterations than this installation writes (a forged count
 * would cost seconds of CPU per call), before anything is stretched.
 */
static void
parse_envelope(const uint8 *buf, size_t len, SipcallEnvelope *env)
{
	SipcallEnvStatus st = sipcall_envelope_parse(buf, len, env);

	if (st != SIPCALL_ENV_OK)
		sipcall_envelope_throw(st);
	if (env->params.iterations > SIPCALL_KDF_ITERATIONS)
		sipcall_envelope_throw(SIPCALL_ENV_CORRUPT);
}

/*
 * The key of a passphrase under an envelope's KDF parameters if its
 * identifier is the envelope's, else NULL.  A freshly stretched key that
 * does not match is wiped, or, when keep is set, cached, so that the next
 * call learns its identifier without stretching.
 */
static LocalKey *
matching_key(DecryptState *ds, const char *pass, size_t pass_len,
			 const SipcallEnvelope *env, bool keep)
{
	LocalKey   *k = find_key(pass, pass_len, &env->params, &ds->tmp);

	if (CRYPTO_memcmp(k->key_id, env->key_id, SIPCALL_ENV_KEY_ID_LEN) == 0)
		return k;
	if (k->serial == 0)
	{
		if (keep)
			(void) remember_key(k, pass, pass_len);
		else
			OPENSSL_cleanse(&ds->tmp, sizeof(ds->tmp));
	}
	return NULL;
}

/*
 * Open an envelope with key k into ds->result; false when the tag does not
 * verify (the buffer may then hold unauthenticated plaintext, wiped by the
 * caller).  A freshly stretched key that proved right is cached.
 */
static bool
open_envelope(DecryptState *ds, LocalKey *k, const SipcallEnvelope *env,
			  const char *pass, size_t pass_len)
{
	char	   *out;
	SipcallEnvStatus st;

	if (ds->result == NULL)
	{
		ds->result_len = env->ciphertext_len;
		ds->result = (text *) palloc(VARHDRSZ + env->ciphertext_len + 1);
	}
	out = VARDATA(ds->result);
	st = sipcall_envelope_open(dec_ctx,
							   (k->serial != 0 && dec_loaded == k->serial) ?
							   NULL : k->key,
							   env, (uint8 *) out);
	dec_loaded = (st == SIPCALL_ENV_OK) ? k->serial : 0;
	if (st == SIPCALL_ENV_CORRUPT)
		return false;
	if (st != SIPCALL_ENV_OK)
		sipcall_envelope_throw(st);
	if (!pg_verifymbstr(out, (int) env->ciphertext_len, true))
		ereport(ERROR,
				(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
				 errmsg("decrypted data is not valid in the database encoding"),
				 errhidestmt(true)));
	if (k->serial == 0)
		dec_loaded = remember_key(k, pass, pass_len)->serial;
	SET_VARSIZE(ds->result, VARHDRSZ + env->ciphertext_len);
	return true;
}

/* wipe what a failed decryption leaves: plaintext, an uncached key */
static void
decrypt_state_wipe(DecryptState *ds)
{
	if (ds->result != NULL)
		OPENSSL_cleanse(VARDATA(ds->result), ds->result_len);
	OPENSSL_cleanse(&ds->tmp, sizeof(ds->tmp));
}

/*
 * decrypt_data(encrypted_data bytea, key text) RETURNS text
 *
 * The key argument's copy, a stretched key that is not cached and any
 * plaintext that is not returned are wiped on every way out, errors
 * included: one PG_TRY covers every copy of key and plaintext that the
 * envelope and the OpenPGP paths make (a DecryptState holds the
 * envelope's), so that one PG_CATCH wipes them all.
 */
Datum
sipcall_decrypt_data(PG_FUNCTION_ARGS)
{
	bytea	   *enc = PG_GETARG_BYTEA_PP(0);
	text	   *keyt = PG_GETARG_TEXT_PP(1);
	DecryptState ds;
	Datum		pgp_result = (Datum) 0;
	volatile bool pgp = false;

	memset(&ds, 0, sizeof(ds));
	PG_TRY();
	{
		const char *pass = VARDATA_ANY(keyt);
		size_t		pass_len = VARSIZE_ANY_EXHDR(keyt);
		const uint8 *buf = (const uint8 *) VARDATA_ANY(enc);
		size_t		len = VARSIZE_ANY_EXHDR(enc);
		SipcallEnvelope env;
		LocalKey   *k;

		check_key(pass_len);

		switch (sipcall_envelope_format(buf, len))
		{
			case SIPCALL_FORMAT_ENVELOPE:
				break;
			case SIPCALL_FORMAT_OPENPGP:
				pgp = true;
				pgp_result = pgp_decrypt(PointerGetDatum(enc),
										 PointerGetDatum(keyt),
										 PG_GET_COLLATION());
				break;
			case SIPCALL_FORMAT_UNKNOWN:
				sipcall_envelope_throw(SIPCALL_ENV_CORRUPT);
		}

		if (!pgp)
		{
			parse_envelope(buf, len, &env);
			crypto_backend_init();
			k = matching_key(&ds, pass, pass_len, &env, false);
			if (k == NULL || !open_envelope(&ds, k, &env, pass, pass_len))
				sipcall_envelope_throw(SIPCALL_ENV_CORRUPT);
		}
	}
	PG_CATCH();
	{
		decrypt_state_wipe(&ds);
		wipe_arg_copy(fcinfo, 1, keyt);
		PG_RE_THROW();
	}
	PG_END_TRY();

	wipe_arg_copy(fcinfo, 1, keyt);
	if (pgp)
		PG_RETURN_DATUM(pgp_result);
	PG_FREE_IF_COPY(enc, 0);
	PG_RETURN_TEXT_P(ds.result);
}

/*---- decryption with several keys (since 1.1) ----*/

/* the passphrase of keys[i], false when it is NULL or empty */
static bool
usable_key(const DecryptKeys *keys, int i, const char **pass,
		   size_t *pass_len)
{
	text	   *t;

	if (keys->nulls[i])
		return false;
	t = (text *) DatumGetPointer(keys->elems[i]);
	*pass = VARDATA_ANY(t);
	*pass_len = VARSIZE_ANY_EXHDR(t);
	return *pass_len > 0;
}

/*
 * Open an envelope with the first key whose identifier matches it (and
 * whose tag then verifies: identifiers are four bytes and may collide);
 * 39000 when none does.  Keys that do not match are cached when the
 * envelope has this installation's KDF parameters, as every envelope that
 * encrypt_data writes here has: repeated calls then stretch nothing, and
 * forged parameters cannot fill the caches.
 */
static void
decrypt_envelope_keys(DecryptState *ds, const uint8 *buf, size_t len,
					  const DecryptKeys *keys)
{
	SipcallEnvelope env;
	bool		keep;
	int			i;

	parse_envelope(buf, len, &env);
	keep = sipcall_kdf_params_equal(&env.params, backend_install_params());

	for (i = 0; i < keys->n; i++)
	{
		const char *pass;
		size_t		pass_len;
		LocalKey   *k;

		if (!usable_key(keys, i, &pass, &pass_len))
			continue;
		k = matching_key(ds, pass, pass_len, &env, keep);
		if (k != NULL && open_envelope(ds, k, &env, pass, pass_len))
			return;
	}
	sipcall_envelope_throw(SIPCALL_ENV_CORRUPT);
}

/* one try of pgp_try_key() */
typedef struct PgpTry
{
	Datum		data;
	Datum		key;
	Oid			collation;
	Datum		result;
} PgpTry;

static void
pgp_try(void *arg)
{
	PgpTry	   *t = (PgpTry *) arg;

	t->result = pgp_decrypt(t->data, t->key, t->collation);
}

/*
 * Try one key on an OpenPGP message inside an internal subtransaction:
 * false when it is the wrong one (39000, rolled back and forgotten); any
 * other error is raised (pgp_decrypt has hidden its statement).
 */
static bool
pgp_try_key(Datum data, Datum key, Oid collation, Datum *result)
{
	static const int codes[1] = {ERRCODE_EXTERNAL_ROUTINE_INVOCATION_EXCEPTION};
	PgpTry		t;

	t.data = data;
	t.key = key;
	t.collation = collation;
	t.result = (Datum) 0;
	if (!sipcall_try_in_subxact(pgp_try, &t, codes, 1))
		return false;
	*result = t.result;
	return true;
}

/*
 * For key rotation (rotation.c): an OpenPGP message decrypted with key as
 * decrypt_data would (an empty key is 22023), into *result; false instead
 * of 39000 when the key is the wrong one.
 */
bool
sipcall_pgp_try_decrypt(Datum data, Datum key, Datum *result)
{
	text	   *k = DatumGetTextPP(key);

	check_key(VARSIZE_ANY_EXHDR(k));
	if ((Pointer) k != DatumGetPointer(key))
	{
		OPENSSL_cleanse(k, VARSIZE_ANY(k));
		pfree(k);
	}
	return pgp_try_key(data, key, DEFAULT_COLLATION_OID, result);
}

/*
 * An OpenPGP message, tried with each key in order.  The last usable key
 * is tried without a subtransaction (its error is the answer), so a
 * single key costs what the single-key form costs.
 */
static Datum
pgp_decrypt_keys(Datum data, const DecryptKeys *keys, Oid collation)
{
	const char *pass;
	size_t		pass_len;
	Datum		result;
	int			last;
	int			i;

	for (last = keys->n - 1; last >= 0; last--)
		if (usable_key(keys, last, &pass, &pass_len))
			break;
	if (last < 0)
		sipcall_envelope_throw(SIPCALL_ENV_CORRUPT);

	for (i = 0; i < last; i++)
		if (usable_key(keys, i, &pass, &pass_len) &&
			pgp_try_key(data, keys->elems[i], collation, &result))
			return result;
	return pgp_decrypt(data, keys->elems[last], collation);
}

/*
 * decrypt_data(encrypted_data bytea, keys text[]) RETURNS text (since 1.1)
 *
 * An envelope is opened with the key whose identifier it carries, an
 * OpenPGP message with the first key that opens it.  NULL and empty keys
 * match nothing; no match is 39000 "wrong key or corrupt data", as a wrong
 * key is for the single-key form.  Wiping as there: the array's copy (when
 * detoasting made one), uncached keys, plaintext not returned.
 */
Datum
sipcall_decrypt_data_keys(PG_FUNCTION_ARGS)
{
	bytea	   *enc;
	ArrayType  *arr;
	DecryptState ds;
	DecryptKeys keys;
	volatile Datum pgp_result = (Datum) 0;
	volatile bool pgp = false;

	sipcall_require_version(fcinfo, SIPCALL_VERSION_1_1);
	enc = PG_GETARG_BYTEA_PP(0);
	arr = PG_GETARG_ARRAYTYPE_P(1);
	memset(&ds, 0, sizeof(ds));
	PG_TRY();
	{
		const uint8 *buf = (const uint8 *) VARDATA_ANY(enc);
		size_t		len = VARSIZE_ANY_EXHDR(enc);

		if (ARR_ELEMTYPE(arr) != TEXTOID)
			elog(ERROR, "decrypt_data keys are not text[]");
		deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT,
						  &keys.elems, &keys.nulls, &keys.n);

		switch (sipcall_envelope_format(buf, len))
		{
			case SIPCALL_FORMAT_ENVELOPE:
				decrypt_envelope_keys(&ds, buf, len, &keys);
				break;
			case SIPCALL_FORMAT_OPENPGP:
				pgp = true;
				pgp_result = pgp_decrypt_keys(PointerGetDatum(enc), &keys,
											  PG_GET_COLLATION());
				break;
			case SIPCALL_FORMAT_UNKNOWN:
				sipcall_envelope_throw(SIPCALL_ENV_CORRUPT);
		}
	}
	PG_CATCH();
	{
		decrypt_state_wipe(&ds);
		wipe_arg_copy(fcinfo, 1, arr);
		PG_RE_THROW();
	}
	PG_END_TRY();

	OPENSSL_cleanse(&ds.tmp, sizeof(ds.tmp));
	wipe_arg_copy(fcinfo, 1, arr);
	if (pgp)
		PG_RETURN_DATUM(pgp_result);
	PG_FREE_IF_COPY(enc, 0);
	PG_RETURN_TEXT_P(ds.result);
}

/*
 * key_id(key text) RETURNS text (since 1.1)
 *
 * The identifier that encrypt_data writes into every envelope it makes
 * with this passphrase in this installation, in hex: an operator matches
 * it against the key inventory.  It is a truncated HMAC of the stretched
 * key, so it tells nothing about the passphrase that the envelopes do not
 * already show.
 */
Datum
sipcall_key_id(PG_FUNCTION_ARGS)
{
	text	   *keyt = PG_GETARG_TEXT_PP(0);
	LocalKey	tmp;
	char		hex[SIPCALL_ENV_KEY_ID_LEN * 2 + 1];

	sipcall_require_version(fcinfo, SIPCALL_VERSION_1_1);
	memset(&tmp, 0, sizeof(tmp));
	PG_TRY();
	{
		const char *pass = VARDATA_ANY(keyt);
		size_t		pass_len = VARSIZE_ANY_EXHDR(keyt);
		LocalKey   *k;

		k = install_key(pass, pass_len, &tmp);
		hex[hex_encode((const char *) k->key_id, SIPCALL_ENV_KEY_ID_LEN,
					   hex)] = '\0';
	}
	PG_CATCH();
	{
		OPENSSL_cleanse(&tmp, sizeof(tmp));
		wipe_arg_copy(fcinfo, 0, keyt);
		PG_RE_THROW();
	}
	PG_END_TRY();

	wipe_arg_copy(fcinfo, 0, keyt);
	PG_RETURN_TEXT_P(cstring_to_text(hex));
}
