/* libFuzzer harness: opening a sealed key file (src/crypto/secret.c).
 *
 * Every input is opened with a fixed raw secret and, where cheap, with a
 * fixed passphrase; whatever opens is sealed again and must open to the same
 * bytes.  The seeds in fuzz/seeds-key/ are sealed with these two secrets
 * (the passphrase one at the minimum Argon2id cost), so the fuzzer starts
 * from files that decrypt.
 *
 * The KDF cost: a passphrase file's header chooses its Argon2id cost, and
 * px_key_open accepts anything up to PX_KEY_MAX_OPSLIMIT / MAX_MEMLIMIT
 * (16 passes over 1 GiB), seconds per run.  Rather than a PX_FUZZING build
 * macro that would lower those caps (the library would then be fuzzed with
 * different limits than it ships with, and the fuzz library build would need
 * its own flags), this harness skips only the passphrase attempt whose KDF
 * would actually run at a cost above a small budget.  Everything else still
 * runs with the shipped code: header parsing, the kind check, the cap check
 * (a cost above the caps is refused before any KDF, so it is cheap and is
 * fuzzed), the raw-secret path in full, and the passphrase path in full for
 * cheap costs.  Every input is also checked as a new key's passphrase
 * (px_passphrase_check). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/secret.h"

#define FUZZ_MAX_OPSLIMIT 4ULL
#define FUZZ_MAX_MEMLIMIT (64ULL << 10)

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* 1 when px_key_open with a passphrase would run Argon2id above the budget. */
static int kdf_too_slow(const uint8_t *data, size_t size)
{
    if (size < PX_KEY_MIN_LEN || !px_key_is_sealed(data, size)) return 0;
    if (data[PX_KEY_OFF_KIND] != PX_KEY_KIND_PASSPHRASE) return 0;
    uint64_t ops = get_u64(data + PX_KEY_OFF_OPSLIMIT), mem = get_u64(data + PX_KEY_OFF_MEMLIMIT);
    if (ops > PX_KEY_MAX_OPSLIMIT || mem > PX_KEY_MAX_MEMLIMIT) return 0; /* refused before the KDF */
    return ops > FUZZ_MAX_OPSLIMIT || mem > FUZZ_MAX_MEMLIMIT;
}

static void open_and_reseal(const px_secret *s, const uint8_t *data, size_t size)
{
    uint8_t *plain = NULL;
    size_t plain_n = 0;
    if (px_key_open(s, "fuzz", data, size, &plain, &plain_n) != PX_OK) {
        if (plain) abort(); /* a refusal returns nothing */
        return;
    }
    if (plain_n + PX_KEY_MIN_LEN != size || plain[plain_n] != '\0') abort();
    uint8_t *sealed = NULL, *again = NULL;
    size_t sealed_n = 0, again_n = 0;
    if (px_key_seal_cost(s, 1, 8192, plain, plain_n, &sealed, &sealed_n) != PX_OK) abort();
    if (px_key_open(s, "fuzz", sealed, sealed_n, &again, &again_n) != PX_OK) abort();
    if (again_n != plain_n || memcmp(again, plain, plain_n) != 0) abort();
    px_key_plain_free(again, again_n);
    free(sealed);
    px_key_plain_free(plain, plain_n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    px_secret raw, pass;
    memset(&raw, 0, sizeof raw);
    raw.kind = PX_SECRET_RAW;
    for (int i = 0; i < 32; i++) raw.raw[i] = (unsigned char)i;
    memset(&pass, 0, sizeof pass);
    pass.kind = PX_SECRET_PASSPHRASE;
    pass.pass = (char *)"proteus-fuzz";
    pass.pass_len = strlen(pass.pass);

    (void)px_key_is_sealed(data, size);
    /* the input as a new key's passphrase: the strength rule decodes UTF-8
     * (malformed sequences, NULs) and must only ever say yes or no */
    if (size <= 4096) {
        px_secret typed;
        memset(&typed, 0, sizeof typed);
        typed.kind = PX_SECRET_PASSPHRASE;
        typed.pass = (char *)(size ? (const char *)data : "");
        typed.pass_len = size;
        px_status st = px_passphrase_check(&typed, "fuzz");
        if (st != PX_OK && st != PX_ERR_SECURITY && st != PX_ERR_NOMEM) abort();
        if (size < PX_PASS_MIN_CHARS && st == PX_OK) abort();
    }
    open_and_reseal(&raw, data, size);
    if (!kdf_too_slow(data, size)) open_and_reseal(&pass, data, size);
    return 0;
}
