#ifndef MIGRATOR_CFASTHMAC_H
#define MIGRATOR_CFASTHMAC_H

#include <stddef.h>

/// How many HMAC-SHA-256 keys the calling thread has set up on the fast path (see fast_hmac.c). A
/// password login through libpq's SCRAM sets up thousands; tests read this to prove the path ran.
unsigned long migrator_fast_hmac_keys(void);

/// HMAC of `data` with the digest OpenSSL calls `digest` ("SHA256", "SHA1", "SHA512"...), through the
/// HMAC_CTX calls libpq makes: a keyed init, the data in two updates, a final, then a re-init that
/// reuses the key and a second pass whose result must match. For tests: writes the MAC to `out`
/// (64 bytes of room) and returns its length, or 0 on any failure or mismatch.
unsigned int migrator_hmac_through_openssl_api(
    const char *digest, const void *key, int key_length, const unsigned char *data, size_t length,
    unsigned char *out);

#endif
