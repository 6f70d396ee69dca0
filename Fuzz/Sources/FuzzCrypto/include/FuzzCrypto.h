#include <stddef.h>
#include <stdint.h>

// The few NaCl primitives FuzzCurveTraffic needs to play a CURVE peer of its own, as thin
// wrappers over the system's libsodium. Names of our own, and no <sodium.h> in this header, so
// this module never clashes with the library's CSodium, which declares the same functions.
// Every function returns 0 on success, as libsodium does.
int fuzz_crypto_init(void);
void fuzz_crypto_public_key(uint8_t *public_key, const uint8_t *secret_key);
int fuzz_crypto_box(uint8_t *box, const uint8_t *message, size_t length, const uint8_t *nonce,
                    const uint8_t *public_key, const uint8_t *secret_key);
int fuzz_crypto_box_open(uint8_t *message, const uint8_t *box, size_t length, const uint8_t *nonce,
                         const uint8_t *public_key, const uint8_t *secret_key);
int fuzz_crypto_shared_key(uint8_t *key, const uint8_t *public_key, const uint8_t *secret_key);
int fuzz_crypto_seal(uint8_t *box, const uint8_t *message, size_t length, const uint8_t *nonce, const uint8_t *key);
int fuzz_crypto_open(uint8_t *message, const uint8_t *box, size_t length, const uint8_t *nonce, const uint8_t *key);

// LeakSanitizer: allocations made between these two calls are never reported. The templates
// FuzzCurveTraffic builds once and keeps for the whole run hold arrays inside enum payloads,
// where Swift packs its case tag into a pointer's spare bits: LSan does not see those pointers
// and would report the arrays as leaked. No-ops without LSan.
void fuzz_ignore_leaks_begin(void);
void fuzz_ignore_leaks_end(void);
