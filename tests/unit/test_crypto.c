/* The sealed key file (src/crypto/secret.c) and choosing its secret. */
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "crypto/secret.h"
#include "ir/digest.h"
#include "testing.h"
#include "util/error.h"

/* The cheapest Argon2id cost: keeps the every-byte tests fast. */
#define OPS_MIN crypto_pwhash_OPSLIMIT_MIN
#define MEM_MIN crypto_pwhash_MEMLIMIT_MIN

static const char plain_text[] = "{\"format\":\"proteus-key/1\",\"files\":[\"a.onnx\",\"b.onnx\"]}";
static char tmpdir[64];

static void pass_secret(px_secret *s, const char *p)
{
    memset(s, 0, sizeof *s);
    s->kind = PX_SECRET_PASSPHRASE;
    s->pass = strdup(p);
    s->pass_len = strlen(p);
}

static void raw_secret(px_secret *s, unsigned char fill)
{
    memset(s, 0, sizeof *s);
    s->kind = PX_SECRET_RAW;
    for (int i = 0; i < 32; i++) s->raw[i] = (unsigned char)(fill + i);
}

static char *tmp_path(const char *name)
{
    static char buf[256];
    snprintf(buf, sizeof buf, "%s/%s", tmpdir, name);
    return buf;
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return;
    if (n) fwrite(data, 1, n, f);
    fclose(f);
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void test_roundtrip(void)
{
    size_t n = strlen(plain_text);
    px_secret s;
    pass_secret(&s, "correct horse battery staple");
    uint8_t *sealed = NULL, *plain = NULL;
    size_t sn = 0, pn = 0;
    /* the default (interactive) cost, once */
    CHECK_EQ_INT(px_key_seal(&s, (const uint8_t *)plain_text, n, &sealed, &sn), PX_OK);
    CHECK_EQ_INT(sn, PX_KEY_MIN_LEN + n);
    CHECK(px_key_is_sealed(sealed, sn));
    CHECK(!px_key_is_sealed((const uint8_t *)plain_text, n));
    CHECK_EQ_INT(sealed[PX_KEY_OFF_VERSION], 1);
    CHECK_EQ_INT(sealed[PX_KEY_OFF_KIND], PX_KEY_KIND_PASSPHRASE);
    CHECK(memmem(sealed, sn, "proteus-key", 11) == NULL); /* plaintext is not visible */
    CHECK_EQ_INT(px_key_open(&s, "k.key", sealed, sn, &plain, &pn), PX_OK);
    CHECK_EQ_INT(pn, n);
    CHECK(plain && memcmp(plain, plain_text, n) == 0 && plain[n] == '\0');
    px_key_plain_free(plain, pn);

    /* wrong passphrase */
    px_secret w;
    pass_secret(&w, "correct horse battery stapler");
    plain = (uint8_t *)"x";
    CHECK(px_key_open(&w, "k.key", sealed, sn, &plain, &pn) != PX_OK);
    CHECK(plain == NULL);
    CHECK_STR(px_last_error(),
              "k.key: cannot decrypt the key: wrong passphrase/secret or the key file was modified");
    px_secret_free(&w);

    /* sealing twice gives different files (random salt and nonce) */
    uint8_t *again = NULL;
    size_t an = 0;
    CHECK_EQ_INT(px_key_seal_cost(&s, OPS_MIN, MEM_MIN, (const uint8_t *)plain_text, n, &again, &an), PX_OK);
    CHECK(an == sn && memcmp(again + PX_KEY_OFF_SALT, sealed + PX_KEY_OFF_SALT, 16) != 0);
    free(again);
    free(sealed);
    px_secret_free(&s);
    CHECK_EQ_INT(s.kind, PX_SECRET_NONE);
    CHECK(s.pass == NULL);

    /* raw secret, and an empty plaintext */
    px_secret r;
    raw_secret(&r, 7);
    CHECK_EQ_INT(px_key_seal(&r, (const uint8_t *)plain_text, n, &sealed, &sn), PX_OK);
    CHECK_EQ_INT(sealed[PX_KEY_OFF_KIND], PX_KEY_KIND_RAW);
    CHECK_EQ_INT(px_key_open(&r, "r.key", sealed, sn, &plain, &pn), PX_OK);
    CHECK(pn == n && memcmp(plain, plain_text, n) == 0);
    px_key_plain_free(plain, pn);
    px_secret r2;
    raw_secret(&r2, 8);
    CHECK(px_key_open(&r2, "r.key", sealed, sn, &plain, &pn) != PX_OK);
    CHECK_CONTAINS(px_last_error(), "r.key: cannot decrypt the key: wrong passphrase/secret");
    free(sealed);
    CHECK_EQ_INT(px_key_seal(&r, NULL, 0, &sealed, &sn), PX_OK);
    CHECK_EQ_INT(sn, PX_KEY_MIN_LEN);
    CHECK_EQ_INT(px_key_open(&r, "r.key", sealed, sn, &plain, &pn), PX_OK);
    CHECK(pn == 0 && plain && plain[0] == '\0');
    px_key_plain_free(plain, pn);
    free(sealed);

    /* no secret at all */
    px_secret none;
    memset(&none, 0, sizeof none);
    CHECK_EQ_INT(px_key_seal(&none, (const uint8_t *)"x", 1, &sealed, &sn), PX_ERR_USAGE);
    CHECK(sealed == NULL);
    px_secret_free(&r);
    px_secret_free(&r2);
    px_secret_free(&none);
}

/* Every single-byte change (two flips per byte) and every truncation of a
 * sealed blob is refused, and nothing is returned. */
static void tamper_all(const px_secret *s, const uint8_t *sealed, size_t sn)
{
    uint8_t *copy = malloc(sn);
    int refused = 0, tries = 0, decrypt_msgs = 0;
    for (size_t i = 0; i < sn; i++) {
        static const uint8_t flips[2] = {0x01, 0x80};
        for (int f = 0; f < 2; f++) {
            memcpy(copy, sealed, sn);
            copy[i] ^= flips[f];
            uint8_t *plain = NULL;
            size_t pn = 0;
            px_status st = px_key_open(s, "t.key", copy, sn, &plain, &pn);
            tries++;
            if (st != PX_OK && plain == NULL) refused++;
            else fprintf(stderr, "flip at %zu (^%02x) accepted\n", i, flips[f]);
            if (i >= PX_KEY_OFF_NONCE)  /* nonce, ciphertext, tag: only the AEAD can tell */
                decrypt_msgs += strstr(px_last_error(), "t.key: cannot decrypt the key") != NULL;
            if (i < PX_KEY_MAGIC_LEN && !strstr(px_last_error(), "t.key: not a proteus key file (")) {
                fprintf(stderr, "flip in magic: %s\n", px_last_error());
                refused--;
            }
            px_key_plain_free(plain, pn);
        }
    }
    CHECK_EQ_INT(refused, tries);
    CHECK_EQ_INT(decrypt_msgs, 2 * (int)(sn - PX_KEY_OFF_NONCE));
    int trunc_refused = 0;
    for (size_t len = 0; len < sn; len++) {
        uint8_t *plain = NULL;
        size_t pn = 0;
        /* a fresh allocation of exactly len bytes, so ASan sees any overread */
        uint8_t *t = malloc(len ? len : 1);
        memcpy(t, sealed, len);
        px_status st = px_key_open(s, "t.key", t, len, &plain, &pn);
        if (st != PX_OK && plain == NULL) trunc_refused++;
        if (len >= PX_KEY_MAGIC_LEN && len < PX_KEY_MIN_LEN)
            CHECK_CONTAINS(px_last_error(), "t.key: not a proteus key file (truncated");
        px_key_plain_free(plain, pn);
        free(t);
    }
    CHECK_EQ_INT(trunc_refused, (int)sn);
    free(copy);
}

static void test_tamper(void)
{
    const uint8_t msg[] = "short key";
    px_secret r, p;
    raw_secret(&r, 1);
    pass_secret(&p, "pw");
    uint8_t *sealed;
    size_t sn;
    CHECK_EQ_INT(px_key_seal(&r, msg, sizeof msg - 1, &sealed, &sn), PX_OK);
    tamper_all(&r, sealed, sn);
    free(sealed);
    CHECK_EQ_INT(px_key_seal_cost(&p, OPS_MIN, MEM_MIN, msg, sizeof msg - 1, &sealed, &sn), PX_OK);
    uint8_t *plain;
    size_t pn;
    CHECK_EQ_INT(px_key_open(&p, "t.key", sealed, sn, &plain, &pn), PX_OK);
    px_key_plain_free(plain, pn);
    tamper_all(&p, sealed, sn);

    /* specific header messages */
    uint8_t *c = malloc(sn);
    memcpy(c, sealed, sn);
    c[PX_KEY_OFF_VERSION] = 2;
    CHECK_EQ_INT(px_key_open(&p, "t.key", c, sn, &plain, &pn), PX_ERR_UNSUPPORTED);
    CHECK_CONTAINS(px_last_error(), "t.key: key file format version 2 is not supported");
    memcpy(c, sealed, sn);
    c[PX_KEY_OFF_KIND] = 9;
    CHECK_EQ_INT(px_key_open(&p, "t.key", c, sn, &plain, &pn), PX_ERR_PARSE);
    CHECK_CONTAINS(px_last_error(), "t.key: not a proteus key file (unknown secret kind 9)");
    CHECK_EQ_INT(px_key_open(&p, "t.key", (const uint8_t *)"{\"format\":1}", 12, &plain, &pn), PX_ERR_PARSE);
    CHECK_STR(px_last_error(), "t.key: not a proteus key file (no PROTEUS-KEY header)");
    CHECK_EQ_INT(px_key_open(&p, "t.key", NULL, 0, &plain, &pn), PX_ERR_PARSE);
    free(c);
    free(sealed);
    px_secret_free(&r);
    px_secret_free(&p);
}

static void test_hostile_cost(void)
{
    px_secret p;
    pass_secret(&p, "pw");
    uint8_t *sealed, *plain;
    size_t sn, pn;
    CHECK_EQ_INT(px_key_seal_cost(&p, OPS_MIN, MEM_MIN, (const uint8_t *)"k", 1, &sealed, &sn), PX_OK);
    struct { uint64_t ops, mem; px_status want; } cases[] = {
        {1, 1ULL << 40, PX_ERR_LIMIT},                  /* 1 TiB */
        {1, UINT64_MAX, PX_ERR_LIMIT},
        {1, PX_KEY_MAX_MEMLIMIT + 1, PX_ERR_LIMIT},
        {PX_KEY_MAX_OPSLIMIT + 1, MEM_MIN, PX_ERR_LIMIT},
        {UINT64_MAX, MEM_MIN, PX_ERR_LIMIT},
        {0, MEM_MIN, PX_ERR_PARSE},
        {1, MEM_MIN - 1, PX_ERR_PARSE},
        {1, 0, PX_ERR_PARSE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        put_u64(sealed + PX_KEY_OFF_OPSLIMIT, cases[i].ops);
        put_u64(sealed + PX_KEY_OFF_MEMLIMIT, cases[i].mem);
        plain = (uint8_t *)"x";
        CHECK_EQ_INT(px_key_open(&p, "h.key", sealed, sn, &plain, &pn), cases[i].want);
        CHECK(plain == NULL);
        if (cases[i].want == PX_ERR_LIMIT)
            CHECK_CONTAINS(px_last_error(), "h.key: the key file asks for an Argon2id cost beyond the limit");
    }
    /* within the caps but not what was sealed: the header is authenticated */
    put_u64(sealed + PX_KEY_OFF_OPSLIMIT, 2);
    put_u64(sealed + PX_KEY_OFF_MEMLIMIT, MEM_MIN);
    CHECK_EQ_INT(px_key_open(&p, "h.key", sealed, sn, &plain, &pn), PX_ERR_SECURITY);
    free(sealed);
    /* sealing refuses costs open would refuse */
    CHECK_EQ_INT(px_key_seal_cost(&p, 17, MEM_MIN, (const uint8_t *)"k", 1, &sealed, &sn), PX_ERR_USAGE);
    CHECK_EQ_INT(px_key_seal_cost(&p, 1, PX_KEY_MAX_MEMLIMIT + 1, (const uint8_t *)"k", 1, &sealed, &sn),
                 PX_ERR_USAGE);
    CHECK(sealed == NULL);
    px_secret_free(&p);
}

static void test_kind_mismatch(void)
{
    px_secret r, p;
    raw_secret(&r, 3);
    pass_secret(&p, "pw");
    uint8_t *sp, *sr, *plain;
    size_t np, nr, pn;
    CHECK_EQ_INT(px_key_seal_cost(&p, OPS_MIN, MEM_MIN, (const uint8_t *)"k", 1, &sp, &np), PX_OK);
    CHECK_EQ_INT(px_key_seal(&r, (const uint8_t *)"k", 1, &sr, &nr), PX_OK);
    CHECK_EQ_INT(px_key_open(&r, "p.key", sp, np, &plain, &pn), PX_ERR_USAGE);
    CHECK_CONTAINS(px_last_error(), "p.key: the key file is sealed with a passphrase");
    CHECK_CONTAINS(px_last_error(), "give the passphrase");
    CHECK_EQ_INT(px_key_open(&p, "r.key", sr, nr, &plain, &pn), PX_ERR_USAGE);
    CHECK_CONTAINS(px_last_error(), "r.key: the key file is sealed with a raw 32-byte secret");
    CHECK_CONTAINS(px_last_error(), "--key-secret");
    /* a raw file relabelled as passphrase (or back) is refused by the AEAD */
    sr[PX_KEY_OFF_KIND] = PX_KEY_KIND_PASSPHRASE;
    put_u64(sr + PX_KEY_OFF_OPSLIMIT, OPS_MIN);
    put_u64(sr + PX_KEY_OFF_MEMLIMIT, MEM_MIN);
    CHECK_EQ_INT(px_key_open(&p, "r.key", sr, nr, &plain, &pn), PX_ERR_SECURITY);
    free(sp);
    free(sr);
    px_secret_free(&r);
    px_secret_free(&p);
}

static void test_secret_get(void)
{
    unsetenv("PROTEUS_PASSPHRASE");
    px_secret s;
    const char *pf = tmp_path("pass.txt");

    write_file(pf, "hunter2\n", 8);
    CHECK_EQ_INT(px_secret_get(NULL, pf, "k.key", 0, 0, &s), PX_OK);
    CHECK_EQ_INT(s.kind, PX_SECRET_PASSPHRASE);
    CHECK_STR(s.pass, "hunter2");
    CHECK_EQ_INT(s.pass_len, 7);
    px_secret_free(&s);

    write_file(pf, "hunter2", 7);
    CHECK_EQ_INT(px_secret_get(NULL, pf, "k.key", 0, 0, &s), PX_OK);
    CHECK_STR(s.pass, "hunter2");
    CHECK_EQ_INT(s.pass_len, 7);
    px_secret_free(&s);

    write_file(pf, "first line\r\nsecond\n", 19);
    CHECK_EQ_INT(px_secret_get(NULL, pf, "k.key", 0, 0, &s), PX_OK);
    CHECK_STR(s.pass, "first line");
    px_secret_free(&s);

    write_file(pf, "\nsecond\n", 8);
    CHECK(px_secret_get(NULL, pf, "k.key", 0, 0, &s) != PX_OK);
    CHECK_CONTAINS(px_last_error(), "pass.txt: the passphrase file is empty");
    CHECK_EQ_INT(s.kind, PX_SECRET_NONE);
    px_secret_free(&s);
    write_file(pf, "", 0);
    CHECK(px_secret_get(NULL, pf, "k.key", 0, 0, &s) != PX_OK);
    CHECK_CONTAINS(px_last_error(), "pass.txt: the passphrase file is empty");
    char missing[256];
    snprintf(missing, sizeof missing, "%s/missing.txt", tmpdir); /* not tmp_path: its buffer is pf */
    CHECK(px_secret_get(NULL, missing, "k.key", 0, 0, &s) != PX_OK);
    CHECK_CONTAINS(px_last_error(), "missing.txt");

    /* environment */
    setenv("PROTEUS_PASSPHRASE", "from env", 1);
    CHECK_EQ_INT(px_secret_get(NULL, NULL, "k.key", 0, 0, &s), PX_OK);
    CHECK_EQ_INT(s.kind, PX_SECRET_PASSPHRASE);
    CHECK_STR(s.pass, "from env");
    px_secret_free(&s);
    /* a passphrase file comes before the environment */
    write_file(pf, "file wins\n", 10);
    CHECK_EQ_INT(px_secret_get(NULL, pf, "k.key", 0, 0, &s), PX_OK);
    CHECK_STR(s.pass, "file wins");
    px_secret_free(&s);
    setenv("PROTEUS_PASSPHRASE", "", 1);
    CHECK_EQ_INT(px_secret_get(NULL, NULL, "k.key", 0, 0, &s), PX_ERR_USAGE);
    CHECK_CONTAINS(px_last_error(), "PROTEUS_PASSPHRASE is set but empty");
    unsetenv("PROTEUS_PASSPHRASE");

    /* raw secret file: exactly 32 bytes, and it comes first */
    const char *rf = tmp_path("secret.bin");
    unsigned char raw[33];
    for (int i = 0; i < 33; i++) raw[i] = (unsigned char)(0xA0 + i);
    write_file(rf, raw, 32);
    setenv("PROTEUS_PASSPHRASE", "ignored", 1);
    CHECK_EQ_INT(px_secret_get(rf, pf, "k.key", 0, 0, &s), PX_OK);
    CHECK_EQ_INT(s.kind, PX_SECRET_RAW);
    CHECK(memcmp(s.raw, raw, 32) == 0);
    CHECK(s.pass == NULL);
    px_secret_free(&s);
    unsetenv("PROTEUS_PASSPHRASE");
    size_t bad_sizes[] = {0, 31, 33};
    for (int i = 0; i < 3; i++) {
        write_file(rf, raw, bad_sizes[i]);
        CHECK_EQ_INT(px_secret_get(rf, NULL, "k.key", 1, 0, &s), PX_ERR_INVALID);
        CHECK_CONTAINS(px_last_error(), "secret.bin: a --key-secret file must hold exactly 32 raw bytes");
        CHECK_EQ_INT(s.kind, PX_SECRET_NONE);
    }

    /* the secret opens what it sealed, end to end through the files */
    write_file(rf, raw, 32);
    CHECK_EQ_INT(px_secret_get(rf, NULL, "k.key", 0, 0, &s), PX_OK);
    uint8_t *sealed, *plain;
    size_t sn, pn;
    CHECK_EQ_INT(px_key_seal(&s, (const uint8_t *)"abc", 3, &sealed, &sn), PX_OK);
    px_secret s2;
    CHECK_EQ_INT(px_secret_get(rf, NULL, "k.key", 0, 0, &s2), PX_OK);
    CHECK_EQ_INT(px_key_open(&s2, "k.key", sealed, sn, &plain, &pn), PX_OK);
    CHECK(pn == 3 && memcmp(plain, "abc", 3) == 0);
    px_key_plain_free(plain, pn);
    free(sealed);
    px_secret_free(&s);
    px_secret_free(&s2);
}

/* Owner keys: deterministic in (secret, seed, model), streams that differ
 * with each of them and with the label and arguments. */
static void test_owner_keys(void)
{
    px_secret a, b, r, r2;
    pass_secret(&a, "owner passphrase");
    pass_secret(&b, "another passphrase");
    raw_secret(&r, 7);
    raw_secret(&r2, 8);
    uint8_t m1[32], m2[32];
    memset(m1, 0x11, sizeof m1);
    memset(m2, 0x11, sizeof m2);
    m2[31] ^= 1; /* one bit of the model differs */
    px_owner_keys ka, ka2, ka3, kb, km, kr, kr2, krm, krs;
    CHECK_EQ_INT(px_owner_keys_derive(&a, 5, m1, &ka), PX_OK);
    CHECK_EQ_INT(px_owner_keys_derive(&a, 5, m1, &ka2), PX_OK);
    CHECK_EQ_INT(px_owner_keys_derive(&a, 6, m1, &ka3), PX_OK);
    CHECK_EQ_INT(px_owner_keys_derive(&b, 5, m1, &kb), PX_OK);
    CHECK_EQ_INT(px_owner_keys_derive(&a, 5, m2, &km), PX_OK);
    CHECK_EQ_INT(px_owner_keys_derive(&r, 5, m1, &kr), PX_OK);
    CHECK_EQ_INT(px_owner_keys_derive(&r2, 5, m1, &kr2), PX_OK);
    CHECK_EQ_INT(px_owner_keys_derive(&r, 5, m2, &krm), PX_OK);
    CHECK_EQ_INT(px_owner_keys_derive(&r, 6, m1, &krs), PX_OK);
    uint64_t x = px_owner_stream(&ka, "names", 1, 0);
    CHECK(x == px_owner_stream(&ka2, "names", 1, 0));
    CHECK(x != px_owner_stream(&ka3, "names", 1, 0));
    CHECK(x != px_owner_stream(&kb, "names", 1, 0));
    CHECK(x != px_owner_stream(&km, "names", 1, 0));
    CHECK(x != px_owner_stream(&ka, "names", 2, 0));
    CHECK(x != px_owner_stream(&ka, "names", 1, 1));
    CHECK(x != px_owner_stream(&ka, "sentinel", 1, 0));
    CHECK(x != px_owner_stream(&kr, "names", 1, 0));
    uint64_t y = px_owner_stream(&kr, "names", 1, 0);
    CHECK(y != px_owner_stream(&kr2, "names", 1, 0));
    CHECK(y != px_owner_stream(&krm, "names", 1, 0));
    CHECK(y != px_owner_stream(&krs, "names", 1, 0));
    CHECK(memcmp(ka.gen, km.gen, 32) != 0 && memcmp(kr.gen, krm.gen, 32) != 0);
    CHECK_EQ_INT(px_owner_keys_derive(NULL, 5, m1, &kr), PX_ERR_USAGE);
    CHECK_EQ_INT(px_owner_keys_derive(&a, 5, NULL, &kr), PX_ERR_USAGE);
    px_owner_keys *all[] = {&ka, &ka2, &ka3, &kb, &km, &kr, &kr2, &krm, &krs};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        px_owner_keys_wipe(all[i]);
        uint8_t zero[32] = {0};
        CHECK(memcmp(all[i]->gen, zero, 32) == 0);
    }
    px_secret_free(&a);
    px_secret_free(&b);
    px_secret_free(&r);
    px_secret_free(&r2);
}

/* Two seals never share a salt or a nonce (same passphrase, same plaintext),
 * and the KDF cost is read back from the header. */
static void test_fresh_salt(void)
{
    size_t n = strlen(plain_text);
    px_secret p;
    pass_secret(&p, "one passphrase for all");
    uint8_t *s1 = NULL, *s2 = NULL, *plain = NULL;
    size_t n1 = 0, n2 = 0, pn = 0;
    CHECK_EQ_INT(px_key_seal_cost(&p, OPS_MIN, MEM_MIN, (const uint8_t *)plain_text, n, &s1, &n1), PX_OK);
    CHECK_EQ_INT(px_key_seal_cost(&p, OPS_MIN, MEM_MIN, (const uint8_t *)plain_text, n, &s2, &n2), PX_OK);
    CHECK(s1 && s2 && n1 == n2);
    if (s1 && s2) {
        CHECK(memcmp(s1 + PX_KEY_OFF_SALT, s2 + PX_KEY_OFF_SALT, 16) != 0);
        CHECK(memcmp(s1 + PX_KEY_OFF_NONCE, s2 + PX_KEY_OFF_NONCE, 24) != 0);
        CHECK(memcmp(s1, s2, PX_KEY_OFF_SALT) == 0); /* magic, version, kind, cost */
        CHECK(s1[PX_KEY_OFF_OPSLIMIT] == OPS_MIN);
        CHECK_EQ_INT(px_key_open(&p, "k", s2, n2, &plain, &pn), PX_OK);
        CHECK(pn == n && memcmp(plain, plain_text, n) == 0);
        px_key_plain_free(plain, pn);
    }
    free(s1);
    free(s2);
    px_secret_free(&p);
}

/* Re-sealing: the old secret is needed, the new one opens the result, the old
 * one no longer does; a higher KDF cost than the default is kept. */
static void test_reseal(void)
{
    size_t n = strlen(plain_text);
    px_secret old_p, new_p, wrong, raw;
    pass_secret(&old_p, "the old passphrase");
    pass_secret(&new_p, "the new passphrase");
    pass_secret(&wrong, "not the old passphrase");
    raw_secret(&raw, 3);
    uint8_t *s = NULL, *r = NULL, *r2 = NULL, *plain = NULL;
    size_t sn = 0, rn = 0, rn2 = 0, pn = 0;
    uint64_t big_ops = crypto_pwhash_OPSLIMIT_INTERACTIVE + 1;
    CHECK_EQ_INT(px_key_seal_cost(&old_p, big_ops, MEM_MIN, (const uint8_t *)plain_text, n, &s, &sn), PX_OK);
    CHECK_EQ_INT(px_key_reseal(&wrong, &new_p, "k.key", s, sn, &r, &rn), PX_ERR_SECURITY);
    CHECK(r == NULL && rn == 0);
    CHECK_CONTAINS(px_last_error(), "k.key: cannot decrypt the key");
    CHECK_EQ_INT(px_key_reseal(&old_p, &new_p, "k.key", s, sn, &r, &rn), PX_OK);
    CHECK(r && rn == sn);
    if (r) {
        CHECK(memcmp(r + PX_KEY_OFF_SALT, s + PX_KEY_OFF_SALT, 16) != 0);
        uint64_t ops = 0;
        for (int i = 0; i < 8; i++) ops |= (uint64_t)r[PX_KEY_OFF_OPSLIMIT + i] << (8 * i);
        CHECK(ops == big_ops);
        CHECK_EQ_INT(px_key_open(&old_p, "k", r, rn, &plain, &pn), PX_ERR_SECURITY);
        CHECK_EQ_INT(px_key_open(&new_p, "k", r, rn, &plain, &pn), PX_OK);
        CHECK(pn == n && memcmp(plain, plain_text, n) == 0);
        px_key_plain_free(plain, pn);
        /* passphrase -> raw secret */
        CHECK_EQ_INT(px_key_reseal(&new_p, &raw, "k", r, rn, &r2, &rn2), PX_OK);
        CHECK(r2 && r2[PX_KEY_OFF_KIND] == PX_KEY_KIND_RAW);
        CHECK_EQ_INT(px_key_open(&raw, "k", r2, rn2, &plain, &pn), PX_OK);
        px_key_plain_free(plain, pn);
    }
    free(s);
    free(r);
    free(r2);
    px_secret_free(&old_p);
    px_secret_free(&new_p);
    px_secret_free(&wrong);
    px_secret_free(&raw);
}

/* The strength rule for a new key's passphrase. */
static void test_passphrase_strength(void)
{
    static const struct {
        const char *p;
        int ok;
    } cases[] = {
        {"proteus test passphrase", 1},
        {"another passphrase", 1},
        {"correct horse", 1},
        {"abcdefghijkl", 1},          /* 12 characters, 12 different */
        {"abcdefghijk", 0},           /* 11 */
        {"hunter2", 0},
        {"x", 0},
        {"abababababababababab", 0},  /* 2 different */
        {"abcabcabcabcabcabc", 0},    /* 3 different */
        {"abcdeabcdeabcde", 0},       /* 5 different */
        {"abcdefabcdef", 1},          /* 6 different */
        {"123456789012", 0},          /* digits, under 20 */
        {"1234567890123456789", 0},
        {"12345678901234567890", 1},  /* digits, 20 */
        {"\xc3\xa9\xc3\xa8\xc3\xaa\xc3\xab\xc3\xa0\xc3\xa2\xc3\xae\xc3\xaf\xc3\xb4\xc3\xb6\xc3\xb9", 0}, /* 11 letters, 22 bytes */
        {"\xc3\xa9\xc3\xa8\xc3\xaa\xc3\xab\xc3\xa0\xc3\xa2\xc3\xae\xc3\xaf\xc3\xb4\xc3\xb6\xc3\xb9\xc3\xbb", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        px_secret s;
        pass_secret(&s, cases[i].p);
        px_status st = px_passphrase_check(&s, "m.key");
        if ((st == PX_OK) != cases[i].ok) {
            fprintf(stderr, "passphrase case %zu: expected %s\n", i, cases[i].ok ? "ok" : "refused");
            CHECK(0);
        }
        if (st != PX_OK) {
            CHECK_EQ_INT(st, PX_ERR_SECURITY);
            CHECK_CONTAINS(px_last_error(), "m.key: the passphrase is too weak");
            CHECK_CONTAINS(px_last_error(), "--weak-passphrase");
            CHECK(!strchr(px_last_error(), '\n'));
        }
        px_secret_free(&s);
    }
    px_secret r;
    raw_secret(&r, 0);
    CHECK_EQ_INT(px_passphrase_check(&r, "m.key"), PX_OK);
    CHECK_EQ_INT(px_passphrase_check(NULL, "m.key"), PX_OK);
}

/* The new secret of key passwd comes from its own options and env. */
static void test_secret_get_new(void)
{
    unsetenv("PROTEUS_PASSPHRASE");
    setenv("PROTEUS_NEW_PASSPHRASE", "fresh new passphrase", 1);
    px_secret s;
    CHECK_EQ_INT(px_secret_get_new(NULL, NULL, "k.key", 0, &s), PX_OK);
    CHECK(s.kind == PX_SECRET_PASSPHRASE && s.pass_len == 20 && !strcmp(s.pass, "fresh new passphrase"));
    px_secret_free(&s);
    /* the old secret's variable is not the new one's */
    CHECK_EQ_INT(px_secret_get(NULL, NULL, "k.key", 0, 0, &s), PX_ERR_USAGE);
    setenv("PROTEUS_NEW_PASSPHRASE", "", 1);
    CHECK_EQ_INT(px_secret_get_new(NULL, NULL, "k.key", 0, &s), PX_ERR_USAGE);
    CHECK_CONTAINS(px_last_error(), "PROTEUS_NEW_PASSPHRASE is set but empty");
    unsetenv("PROTEUS_NEW_PASSPHRASE");
    CHECK_EQ_INT(px_secret_get_new(NULL, NULL, "k.key", 0, &s), PX_ERR_USAGE);
    CHECK_CONTAINS(px_last_error(), "k.key: no new passphrase or secret");
    CHECK_CONTAINS(px_last_error(), "--new-passphrase-file");
    CHECK_CONTAINS(px_last_error(), "PROTEUS_NEW_PASSPHRASE");
    CHECK_CONTAINS(px_last_error(), "--new-key-secret");
    const char *pf = tmp_path("newpass.txt");
    write_file(pf, "from a file\nignored\n", 20);
    CHECK_EQ_INT(px_secret_get_new(NULL, pf, "k.key", 0, &s), PX_OK);
    CHECK(s.kind == PX_SECRET_PASSPHRASE && !strcmp(s.pass, "from a file"));
    px_secret_free(&s);
    unlink(pf);
}

/* A small graph for the digest tests: x -> Conv(W) -> Relu -> y. */
static void digest_graph(px_graph *g, int variant)
{
    px_graph_init(g);
    int x = px_graph_add_value(g, "x"), w = px_graph_add_value(g, "W"), c = px_graph_add_value(g, "c"),
        y = px_graph_add_value(g, variant == 6 ? "yy" : "y");
    g->values[x].dtype = g->values[y].dtype = PX_DT_FLOAT;
    int64_t xd[4] = {1, 3, 8, variant == 4 ? 9 : 8};
    px_shape_set_known(g, &g->values[x].shape, 4, xd);
    px_graph_add_input(g, x);
    int64_t wd[4] = {2, 3, 1, 1};
    px_tensor *t = px_tensor_new(PX_DT_FLOAT, 4, wd);
    px_tensor_alloc_data(t);
    float *f = t->data;
    for (int i = 0; i < 6; i++) f[i] = (float)i;
    if (variant == 3) f[5] = 5.5f;
    px_graph_add_init(g, w, t);
    int n0 = px_graph_add_node(g, "Conv", "", "conv0");
    int in0[2] = {x, w};
    px_node_set_inputs(g, n0, in0, 2);
    px_node_set_outputs(g, n0, &c, 1);
    int64_t ks[2] = {1, variant == 2 ? 2 : 1};
    px_attr at = {.name = "kernel_shape", .type = PX_ATTR_INTS, .n = 2, .ints = ks};
    px_node_add_attr(g, n0, &at);
    int n1 = px_graph_add_node(g, variant == 1 ? "Sigmoid" : "Relu", "", "relu0");
    px_node_set_inputs(g, n1, &c, 1);
    px_node_set_outputs(g, n1, &y, 1);
    if (variant == 5) {
        uint8_t raw[3] = {1, 2, 3};
        px_attr gr = {.name = "body", .type = PX_ATTR_GRAPH, .raw = raw, .raw_len = 3};
        px_node_add_attr(g, n1, &gr);
    }
    px_graph_add_output(g, y);
    px_graph_set_opset(g, "", variant == 7 ? 17 : 13);
}

static void test_graph_digest(void)
{
    uint8_t d0[32], d0b[32], d[8][32];
    px_graph g;
    digest_graph(&g, 0);
    px_graph_digest(&g, d0);
    px_graph_digest(&g, d0b);
    CHECK(memcmp(d0, d0b, 32) == 0);
    px_graph_free(&g);
    digest_graph(&g, 0);
    px_graph_digest(&g, d0b); /* a second, equal graph */
    px_graph_free(&g);
    CHECK(memcmp(d0, d0b, 32) == 0);
    /* op type, attribute, weight, input shape, graph attribute, value name, opset */
    for (int v = 1; v < 8; v++) {
        digest_graph(&g, v);
        px_graph_digest(&g, d[v]);
        px_graph_free(&g);
        if (memcmp(d0, d[v], 32) == 0) {
            fprintf(stderr, "digest variant %d equals the original\n", v);
            CHECK(0);
        }
        for (int u = 1; u < v; u++) CHECK(memcmp(d[u], d[v], 32) != 0);
    }
    /* lengths are prefixed: names "ab"+"c" and "a"+"bc" differ */
    uint8_t e1[32], e2[32];
    const char *na[2][2] = {{"ab", "c"}, {"a", "bc"}};
    for (int k = 0; k < 2; k++) {
        px_graph_init(&g);
        int a = px_graph_add_value(&g, na[k][0]), b = px_graph_add_value(&g, na[k][1]);
        g.values[a].dtype = g.values[b].dtype = PX_DT_FLOAT;
        px_graph_add_input(&g, a);
        int n = px_graph_add_node(&g, "Relu", "", NULL);
        px_node_set_inputs(&g, n, &a, 1);
        px_node_set_outputs(&g, n, &b, 1);
        px_graph_add_output(&g, b);
        px_graph_digest(&g, k ? e2 : e1);
        px_graph_free(&g);
    }
    CHECK(memcmp(e1, e2, 32) != 0);
}

/* No source and no terminal: refused with a message naming the ways, and
 * stdin is left unread. */
static void test_no_source(void)
{
    unsetenv("PROTEUS_PASSPHRASE");
    int fds[2];
    if (pipe(fds) != 0) {
        CHECK(0);
        return;
    }
    CHECK(write(fds[1], "typed\n", 6) == 6);
    close(fds[1]);
    int saved = dup(STDIN_FILENO);
    dup2(fds[0], STDIN_FILENO);
    close(fds[0]);
    px_secret s;
    for (int prompt = 0; prompt < 2; prompt++) {
        CHECK_EQ_INT(px_secret_get(NULL, NULL, "k.key", prompt, 1, &s), PX_ERR_USAGE);
        CHECK_CONTAINS(px_last_error(), "k.key: no passphrase or secret");
        CHECK_CONTAINS(px_last_error(), "--passphrase-file");
        CHECK_CONTAINS(px_last_error(), "PROTEUS_PASSPHRASE");
        CHECK_CONTAINS(px_last_error(), "--key-secret");
        CHECK_EQ_INT(s.kind, PX_SECRET_NONE);
    }
    char buf[16] = {0};
    CHECK_EQ_INT(read(STDIN_FILENO, buf, sizeof buf - 1), 6);
    CHECK_STR(buf, "typed\n");
    dup2(saved, STDIN_FILENO);
    close(saved);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/px_crypto_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_roundtrip);
    RUN(test_tamper);
    RUN(test_hostile_cost);
    RUN(test_kind_mismatch);
    RUN(test_secret_get);
    RUN(test_no_source);
    RUN(test_owner_keys);
    RUN(test_fresh_salt);
    RUN(test_reseal);
    RUN(test_passphrase_strength);
    RUN(test_secret_get_new);
    RUN(test_graph_digest);
    const char *names[] = {"pass.txt", "secret.bin", "newpass.txt"};
    for (int i = 0; i < 3; i++) unlink(tmp_path(names[i]));
    if (rmdir(tmpdir) != 0) {
        perror(tmpdir); /* a test left a file behind */
        return 1;
    }
    return test_summary("crypto");
}
