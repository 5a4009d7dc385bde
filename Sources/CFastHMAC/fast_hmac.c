/*
 * HMAC-SHA-256 for libpq's SCRAM login, without OpenSSL 3.0's per-call digest fetch.
 *
 * libpq (15 to 17) derives the SCRAM salted password with 4096 iterations (the server's count) of
 * HMAC_Init_ex(key, EVP_sha256()) + HMAC_Update + HMAC_Final. In OpenSSL 3.0 every HMAC_Init_ex
 * fetches the digest implementation from the provider store again, which made a login cost about
 * 8 ms of client CPU on the 0.25-vCPU task: the largest single cost of a run with nothing to apply
 * (callgrind: 76M of 148M instructions). This file defines the legacy HMAC_CTX API in the
 * executable, which the dynamic linker binds ahead of libcrypto's (the executable comes first in
 * the lookup order, as with any malloc replacement). For SHA-256 it keeps the two padded-key states
 * and uses libcrypto's provider-free SHA256_* functions (the same assembly); everything else
 * (another digest, an ENGINE) is handed to libcrypto's own functions, found with RTLD_NEXT.
 *
 * A context that libcrypto made itself, without this HMAC_CTX_new, is recognised by the tag below
 * and passed through untouched. The fast path does not consult OPENSSL_CONF's default properties
 * (a FIPS-only configuration would not apply to it); the image configures none.
 *
 * Linux only: elsewhere (macOS's two-level namespaces) libpq binds to libcrypto directly, so the
 * file only defines the two functions the tests call.
 */
#define _GNU_SOURCE
#define OPENSSL_SUPPRESS_DEPRECATED
#include "CFastHMAC.h"

#ifdef __linux__

#include <dlfcn.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A non-canonical x86-64/arm64 address: a real HMAC_CTX starts with a pointer, never this value. */
#define TAG UINT64_C(0xF457AC5A4D0C0DE5)

enum mode { UNSET, FAST, DELEGATED };

struct context {
    uint64_t tag;
    enum mode mode;
    SHA256_CTX inner, outer;            /* the running hashes */
    SHA256_CTX keyed_inner, keyed_outer; /* the states after the padded key, reused on re-init */
    HMAC_CTX *real;                     /* libcrypto's own context, for DELEGATED */
};

static struct {
    HMAC_CTX *(*new)(void);
    void (*free)(HMAC_CTX *);
    int (*reset)(HMAC_CTX *);
    int (*copy)(HMAC_CTX *, HMAC_CTX *);
    int (*init_ex)(HMAC_CTX *, const void *, int, const EVP_MD *, ENGINE *);
    int (*update)(HMAC_CTX *, const unsigned char *, size_t);
    int (*final)(HMAC_CTX *, unsigned char *, unsigned int *);
    size_t (*size)(const HMAC_CTX *);
    const EVP_MD *(*get_md)(const HMAC_CTX *);
    void (*set_flags)(HMAC_CTX *, unsigned long);
} libcrypto;

static pthread_once_t once = PTHREAD_ONCE_INIT;
/* Per thread, so a test can tell its own login from the others running beside it. */
static _Thread_local unsigned long fast_keys;

static void load_libcrypto(void) {
    libcrypto.new = (HMAC_CTX * (*)(void)) dlsym(RTLD_NEXT, "HMAC_CTX_new");
    libcrypto.free = (void (*)(HMAC_CTX *))dlsym(RTLD_NEXT, "HMAC_CTX_free");
    libcrypto.reset = (int (*)(HMAC_CTX *))dlsym(RTLD_NEXT, "HMAC_CTX_reset");
    libcrypto.copy = (int (*)(HMAC_CTX *, HMAC_CTX *))dlsym(RTLD_NEXT, "HMAC_CTX_copy");
    libcrypto.init_ex =
        (int (*)(HMAC_CTX *, const void *, int, const EVP_MD *, ENGINE *))dlsym(RTLD_NEXT, "HMAC_Init_ex");
    libcrypto.update = (int (*)(HMAC_CTX *, const unsigned char *, size_t))dlsym(RTLD_NEXT, "HMAC_Update");
    libcrypto.final = (int (*)(HMAC_CTX *, unsigned char *, unsigned int *))dlsym(RTLD_NEXT, "HMAC_Final");
    libcrypto.size = (size_t(*)(const HMAC_CTX *))dlsym(RTLD_NEXT, "HMAC_size");
    libcrypto.get_md = (const EVP_MD *(*)(const HMAC_CTX *))dlsym(RTLD_NEXT, "HMAC_CTX_get_md");
    libcrypto.set_flags = (void (*)(HMAC_CTX *, unsigned long))dlsym(RTLD_NEXT, "HMAC_CTX_set_flags");
}

static int loaded(void) {
    pthread_once(&once, load_libcrypto);
    return libcrypto.new && libcrypto.free && libcrypto.reset && libcrypto.copy && libcrypto.init_ex
        && libcrypto.update && libcrypto.final && libcrypto.size && libcrypto.get_md && libcrypto.set_flags;
}

static struct context *ours(const HMAC_CTX *ctx) {
    struct context *c = (struct context *)ctx;
    return c != NULL && c->tag == TAG ? c : NULL;
}

static HMAC_CTX *real_of(struct context *c) {
    if (c->real == NULL && loaded()) c->real = libcrypto.new();
    return c->real;
}

unsigned long migrator_fast_hmac_keys(void) { return fast_keys; }

HMAC_CTX *HMAC_CTX_new(void) {
    struct context *c = OPENSSL_zalloc(sizeof *c);
    if (c == NULL) return NULL;
    c->tag = TAG;
    return (HMAC_CTX *)c;
}

void HMAC_CTX_free(HMAC_CTX *ctx) {
    struct context *c = ours(ctx);
    if (c == NULL) {
        if (ctx != NULL && loaded()) libcrypto.free(ctx);
        return;
    }
    if (c->real != NULL) libcrypto.free(c->real);
    OPENSSL_clear_free(c, sizeof *c);
}

int HMAC_CTX_reset(HMAC_CTX *ctx) {
    struct context *c = ours(ctx);
    if (c == NULL) return loaded() && libcrypto.reset(ctx);
    OPENSSL_cleanse(&c->inner, sizeof c->inner);
    OPENSSL_cleanse(&c->outer, sizeof c->outer);
    OPENSSL_cleanse(&c->keyed_inner, sizeof c->keyed_inner);
    OPENSSL_cleanse(&c->keyed_outer, sizeof c->keyed_outer);
    c->mode = UNSET;
    return c->real == NULL || libcrypto.reset(c->real);
}

static int set_key(struct context *c, const void *key, int len) {
    unsigned char block[SHA256_CBLOCK] = {0};
    unsigned char pad[SHA256_CBLOCK];
    int ok = 1;
    if (len > SHA256_CBLOCK) {
        /* Not SHA256(): in 3.0 that one fetches from the provider store too, and can fail. */
        SHA256_CTX long_key;
        ok = SHA256_Init(&long_key) && SHA256_Update(&long_key, key, (size_t)len) && SHA256_Final(block, &long_key);
        OPENSSL_cleanse(&long_key, sizeof long_key);
    } else if (len > 0) {
        memcpy(block, key, (size_t)len);
    }
    for (int i = 0; i < SHA256_CBLOCK; i++) pad[i] = block[i] ^ 0x36;
    ok = ok && SHA256_Init(&c->keyed_inner) && SHA256_Update(&c->keyed_inner, pad, sizeof pad);
    for (int i = 0; i < SHA256_CBLOCK; i++) pad[i] = block[i] ^ 0x5c;
    ok = ok && SHA256_Init(&c->keyed_outer) && SHA256_Update(&c->keyed_outer, pad, sizeof pad);
    OPENSSL_cleanse(block, sizeof block);
    OPENSSL_cleanse(pad, sizeof pad);
    if (ok) fast_keys++;
    return ok;
}

int HMAC_Init_ex(HMAC_CTX *ctx, const void *key, int len, const EVP_MD *md, ENGINE *impl) {
    struct context *c = ours(ctx);
    if (c == NULL) return loaded() && libcrypto.init_ex(ctx, key, len, md, impl);
    int sha256 = md == EVP_sha256() || (md == NULL && c->mode == FAST);
    if (!sha256 || impl != NULL || (key == NULL && c->mode != FAST)) {
        /* Without a key only the delegated context can go on (OpenSSL: a new digest needs a key,
         * md NULL reuses the last one); its own rules apply from there. */
        if (key == NULL && c->mode != DELEGATED) return 0;
        HMAC_CTX *real = real_of(c);
        if (real == NULL) return 0;
        if (!libcrypto.init_ex(real, key, len, md, impl)) return 0;
        c->mode = DELEGATED;
        return 1;
    }
    if (key != NULL) {
        if (len < 0 || !set_key(c, key, len)) return 0;
    }
    c->inner = c->keyed_inner;
    c->outer = c->keyed_outer;
    c->mode = FAST;
    return 1;
}

int HMAC_Init(HMAC_CTX *ctx, const void *key, int len, const EVP_MD *md) {
    if (key != NULL && md != NULL) HMAC_CTX_reset(ctx);
    return HMAC_Init_ex(ctx, key, len, md, NULL);
}

int HMAC_Update(HMAC_CTX *ctx, const unsigned char *data, size_t len) {
    struct context *c = ours(ctx);
    if (c == NULL) return loaded() && libcrypto.update(ctx, data, len);
    switch (c->mode) {
    case FAST: return SHA256_Update(&c->inner, data, len);
    case DELEGATED: return libcrypto.update(c->real, data, len);
    default: return 0;
    }
}

int HMAC_Final(HMAC_CTX *ctx, unsigned char *out, unsigned int *len) {
    struct context *c = ours(ctx);
    if (c == NULL) return loaded() && libcrypto.final(ctx, out, len);
    switch (c->mode) {
    case FAST: {
        unsigned char inner[SHA256_DIGEST_LENGTH];
        int ok = SHA256_Final(inner, &c->inner) && SHA256_Update(&c->outer, inner, sizeof inner)
            && SHA256_Final(out, &c->outer);
        OPENSSL_cleanse(inner, sizeof inner);
        if (ok && len != NULL) *len = SHA256_DIGEST_LENGTH;
        return ok;
    }
    case DELEGATED: return libcrypto.final(c->real, out, len);
    default: return 0;
    }
}

int HMAC_CTX_copy(HMAC_CTX *dctx, HMAC_CTX *sctx) {
    struct context *d = ours(dctx), *s = ours(sctx);
    if (d == NULL && s == NULL) return loaded() && libcrypto.copy(dctx, sctx);
    if (d == NULL || s == NULL) return 0;
    switch (s->mode) {
    case UNSET: return 0; /* as OpenSSL: nothing to copy from a context never initialised */
    case DELEGATED: {
        HMAC_CTX *real = real_of(d);
        if (real == NULL || !libcrypto.copy(real, s->real)) return 0;
        break;
    }
    case FAST:
        d->inner = s->inner;
        d->outer = s->outer;
        d->keyed_inner = s->keyed_inner;
        d->keyed_outer = s->keyed_outer;
    }
    d->mode = s->mode;
    return 1;
}

size_t HMAC_size(const HMAC_CTX *ctx) {
    struct context *c = ours(ctx);
    if (c == NULL) return loaded() ? libcrypto.size(ctx) : 0;
    switch (c->mode) {
    case FAST: return SHA256_DIGEST_LENGTH;
    case DELEGATED: return libcrypto.size(c->real);
    default: return 0;
    }
}

const EVP_MD *HMAC_CTX_get_md(const HMAC_CTX *ctx) {
    struct context *c = ours(ctx);
    if (c == NULL) return loaded() ? libcrypto.get_md(ctx) : NULL;
    switch (c->mode) {
    case FAST: return EVP_sha256();
    case DELEGATED: return libcrypto.get_md(c->real);
    default: return NULL;
    }
}

void HMAC_CTX_set_flags(HMAC_CTX *ctx, unsigned long flags) {
    struct context *c = ours(ctx);
    if (c == NULL) {
        if (loaded()) libcrypto.set_flags(ctx, flags);
        return;
    }
    HMAC_CTX *real = real_of(c);
    if (real != NULL) libcrypto.set_flags(real, flags);
}

unsigned int migrator_hmac_through_openssl_api(
    const char *digest, const void *key, int key_length, const unsigned char *data, size_t length,
    unsigned char *out) {
    const EVP_MD *md = EVP_get_digestbyname(digest);
    HMAC_CTX *ctx = HMAC_CTX_new();
    unsigned char again[EVP_MAX_MD_SIZE];
    unsigned int first = 0, second = 0;
    int ok = md != NULL && ctx != NULL && HMAC_Init_ex(ctx, key, key_length, md, NULL)
        && HMAC_Update(ctx, data, length / 2) && HMAC_Update(ctx, data + length / 2, length - length / 2)
        && HMAC_Final(ctx, out, &first) && HMAC_size(ctx) == first && HMAC_CTX_get_md(ctx) == md
        && HMAC_Init_ex(ctx, NULL, 0, NULL, NULL) && HMAC_Update(ctx, data, length)
        && HMAC_Final(ctx, again, &second) && first == second && memcmp(out, again, first) == 0;
    HMAC_CTX_free(ctx);
    return ok ? first : 0;
}

#else

unsigned long migrator_fast_hmac_keys(void) { return 0; }

unsigned int migrator_hmac_through_openssl_api(
    const char *digest, const void *key, int key_length, const unsigned char *data, size_t length,
    unsigned char *out) {
    (void)digest, (void)key, (void)key_length, (void)data, (void)length, (void)out;
    return 0;
}

#endif
