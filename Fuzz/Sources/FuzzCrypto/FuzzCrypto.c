#include "FuzzCrypto.h"

// libsodium is linked already (the ZMTP module's CSodium, found through pkg-config); its header
// may not be on this target's include path (Homebrew), so declare what is used when it is not.
#if __has_include(<sodium.h>)
#include <sodium.h>
#else
#define crypto_box_MACBYTES 16U
int sodium_init(void);
int crypto_scalarmult_base(unsigned char *q, const unsigned char *n);
int crypto_box_easy(unsigned char *c, const unsigned char *m, unsigned long long mlen, const unsigned char *n,
                    const unsigned char *pk, const unsigned char *sk);
int crypto_box_open_easy(unsigned char *m, const unsigned char *c, unsigned long long clen, const unsigned char *n,
                         const unsigned char *pk, const unsigned char *sk);
int crypto_box_beforenm(unsigned char *k, const unsigned char *pk, const unsigned char *sk);
int crypto_box_easy_afternm(unsigned char *c, const unsigned char *m, unsigned long long mlen, const unsigned char *n,
                            const unsigned char *k);
int crypto_box_open_easy_afternm(unsigned char *m, const unsigned char *c, unsigned long long clen, const unsigned char *n,
                                 const unsigned char *k);
#endif

int fuzz_crypto_init(void) { return sodium_init() < 0 ? -1 : 0; }

void fuzz_crypto_public_key(uint8_t *public_key, const uint8_t *secret_key) {
    crypto_scalarmult_base(public_key, secret_key);
}

int fuzz_crypto_box(uint8_t *box, const uint8_t *message, size_t length, const uint8_t *nonce,
                    const uint8_t *public_key, const uint8_t *secret_key) {
    return crypto_box_easy(box, message, length, nonce, public_key, secret_key);
}

int fuzz_crypto_box_open(uint8_t *message, const uint8_t *box, size_t length, const uint8_t *nonce,
                         const uint8_t *public_key, const uint8_t *secret_key) {
    if (length < crypto_box_MACBYTES) return -1;
    return crypto_box_open_easy(message, box, length, nonce, public_key, secret_key);
}

int fuzz_crypto_shared_key(uint8_t *key, const uint8_t *public_key, const uint8_t *secret_key) {
    return crypto_box_beforenm(key, public_key, secret_key);
}

int fuzz_crypto_seal(uint8_t *box, const uint8_t *message, size_t length, const uint8_t *nonce, const uint8_t *key) {
    return crypto_box_easy_afternm(box, message, length, nonce, key);
}

int fuzz_crypto_open(uint8_t *message, const uint8_t *box, size_t length, const uint8_t *nonce, const uint8_t *key) {
    if (length < crypto_box_MACBYTES) return -1;
    return crypto_box_open_easy_afternm(message, box, length, nonce, key);
}

void __lsan_disable(void) __attribute__((weak));
void __lsan_enable(void) __attribute__((weak));

void fuzz_ignore_leaks_begin(void) {
    if (__lsan_disable) __lsan_disable();
}

void fuzz_ignore_leaks_end(void) {
    if (__lsan_enable) __lsan_enable();
}
