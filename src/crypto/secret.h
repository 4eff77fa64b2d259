/* The owner's key file, encrypted and authenticated (libsodium).
 *
 * The key file tells which bucket files are real and what the original names
 * were, so at rest it is sealed with a secret only the owner holds: either a
 * passphrase (stretched with Argon2id) or 32 raw bytes used directly as the
 * key.  The cipher is XChaCha20-Poly1305 (IETF) with the whole header as
 * associated data, so any change to the header, the nonce, the ciphertext or
 * the tag is detected.
 *
 * Sealed file layout (all integers little-endian):
 *
 *   offset  size  field
 *        0    12  magic "PROTEUS-KEY\n"
 *       12     1  format version (1)
 *       13     1  kind: 1 = passphrase (Argon2id v1.3), 2 = raw 32-byte secret
 *       14     8  Argon2id opslimit (0 for raw)
 *       22     8  Argon2id memlimit in bytes (0 for raw)
 *       30    16  Argon2id salt (zeros for raw)
 *       46    24  XChaCha20 nonce
 *       70     n  ciphertext of the n-byte plaintext
 *     70+n    16  Poly1305 tag
 *
 * Bytes 0..69 (the header) are the associated data.  A file is at least 86
 * bytes long.  On open, the KDF cost a file asks for is capped
 * (PX_KEY_MAX_OPSLIMIT, PX_KEY_MAX_MEMLIMIT) so that a hostile file cannot
 * make us allocate unbounded memory or spin for minutes.
 *
 * Every seal draws a fresh random salt and nonce (randombytes_buf): sealing
 * the same plaintext twice, with the same secret, gives different files, and
 * no two key files share a salt, so no precomputed dictionary serves more
 * than one key.  The KDF cost travels in the header (bytes 14..29) and is
 * what opening uses, within the caps.  The key file is not deterministic;
 * the bucket is (px_owner_keys below share nothing with the key file).
 *
 * Version 1 is the only version: files written before the salt was random
 * (proteus before issue 9, salt drawn from --seed) have the same layout and
 * open unchanged; `proteus key passwd` re-seals one with a fresh salt.
 *
 * A NEW key's passphrase must pass px_passphrase_check (the CLI skips it
 * with --weak-passphrase); opening an existing key never checks strength. */
#ifndef PX_CRYPTO_SECRET_H
#define PX_CRYPTO_SECRET_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

typedef enum { PX_SECRET_NONE, PX_SECRET_PASSPHRASE, PX_SECRET_RAW } px_secret_kind;

typedef struct px_secret {
    px_secret_kind kind;
    unsigned char raw[32];   /* PX_SECRET_RAW: the AEAD key itself */
    char *pass;              /* PX_SECRET_PASSPHRASE: malloc'd, NUL-terminated */
    size_t pass_len;
} px_secret;

/* The byte layout above, for readers of the format (the fuzz harness). */
enum {
    PX_KEY_MAGIC_LEN = 12,
    PX_KEY_OFF_VERSION = 12,
    PX_KEY_OFF_KIND = 13,
    PX_KEY_OFF_OPSLIMIT = 14,
    PX_KEY_OFF_MEMLIMIT = 22,
    PX_KEY_OFF_SALT = 30,
    PX_KEY_OFF_NONCE = 46,
    PX_KEY_HEADER_LEN = 70,
    PX_KEY_TAG_LEN = 16,
    PX_KEY_MIN_LEN = PX_KEY_HEADER_LEN + PX_KEY_TAG_LEN,
    PX_KEY_VERSION = 1,
    PX_KEY_KIND_PASSPHRASE = 1,
    PX_KEY_KIND_RAW = 2,
};

/* The most Argon2id cost a key file may ask for; more is refused on open. */
#define PX_KEY_MAX_OPSLIMIT 16ULL
#define PX_KEY_MAX_MEMLIMIT (1ULL << 30)

/* Picks the secret, first of:
 *   key_secret_file   (--key-secret FILE): exactly 32 raw bytes;
 *   passphrase_file   (--passphrase-file FILE): its first line, without the
 *                     newline (and a '\r' before it); refused if empty;
 *   env PROTEUS_PASSPHRASE: refused if set but empty;
 *   if allow_prompt and stdin is a terminal: a prompt on /dev/tty with echo
 *   off, "proteus: passphrase for KEY_PATH: ", asked twice when confirm is
 *   set (a new key) and refused on a mismatch.
 * Otherwise fails (PX_ERR_USAGE) naming the ways to give one.  key_path is
 * only used in the prompt and messages (may be NULL).  *out is zeroed first;
 * release it with px_secret_free even on failure (harmless). */
px_status px_secret_get(const char *key_secret_file, const char *passphrase_file,
                        const char *key_path, int allow_prompt, int confirm,
                        px_secret *out);

/* The same for the NEW secret of `proteus key passwd`: --new-key-secret
 * FILE, --new-passphrase-file FILE, env PROTEUS_NEW_PASSPHRASE, or a
 * prompt "proteus: new passphrase for KEY_PATH: " (always confirmed). */
px_status px_secret_get_new(const char *key_secret_file, const char *passphrase_file,
                            const char *key_path, int allow_prompt, px_secret *out);

/* The minimum strength of a passphrase that seals a NEW key:
 * PX_PASS_MIN_CHARS characters (UTF-8 code points) or more, at least
 * PX_PASS_MIN_DISTINCT different ones, and PX_PASS_MIN_DIGITS or more when
 * it is made of digits only.  A raw secret always passes.  On a weak
 * passphrase fails (PX_ERR_SECURITY) with one line naming key_path and the
 * rule; nothing else is checked (no dictionary). */
#define PX_PASS_MIN_CHARS 12
#define PX_PASS_MIN_DISTINCT 6
#define PX_PASS_MIN_DIGITS 20
px_status px_passphrase_check(const px_secret *s, const char *key_path);

/* Wipes (sodium_memzero) and frees the secret; leaves it PX_SECRET_NONE. */
void px_secret_free(px_secret *s);

/* Seals n bytes of plaintext into a malloc'd *out of *out_n bytes.  A
 * passphrase is stretched with Argon2id at crypto_pwhash_OPSLIMIT_INTERACTIVE
 * / MEMLIMIT_INTERACTIVE. */
px_status px_key_seal(const px_secret *s, const uint8_t *plain, size_t n,
                      uint8_t **out, size_t *out_n);

/* The same with an explicit Argon2id cost (ignored for a raw secret); it must
 * lie within [crypto_pwhash_OPSLIMIT_MIN, PX_KEY_MAX_OPSLIMIT] and
 * [crypto_pwhash_MEMLIMIT_MIN, PX_KEY_MAX_MEMLIMIT].  For tests and fuzz
 * seeds (cheap) or for owners who want a stronger KDF. */
px_status px_key_seal_cost(const px_secret *s, uint64_t opslimit, uint64_t memlimit,
                           const uint8_t *plain, size_t n, uint8_t **out, size_t *out_n);

/* Checks and decrypts a sealed key file.  *plain is malloc'd with a NUL after
 * its *plain_n bytes (handy for JSON); release it with px_key_plain_free.
 * path_for_messages names the file in every message.  On failure *plain is
 * NULL and the message says what is wrong: not a key file, unsupported
 * version, the wrong kind of secret (and which is needed), a KDF cost beyond
 * the caps, or "cannot decrypt the key: wrong passphrase/secret or the key
 * file was modified". */
px_status px_key_open(const px_secret *s, const char *path_for_messages,
                      const uint8_t *sealed, size_t n, uint8_t **plain, size_t *plain_n);

/* Opens a sealed key file with old_s and seals its plaintext again with
 * new_s (fresh salt and nonce); a passphrase keeps the old file's Argon2id
 * cost when it was higher than the default.  *out as px_key_seal; on failure
 * (wrong old secret, modified file) nothing is returned. */
px_status px_key_reseal(const px_secret *old_s, const px_secret *new_s, const char *path_for_messages,
                        const uint8_t *sealed, size_t n, uint8_t **out, size_t *out_n);

/* The owner's streams for one bucket: every random choice an attacker must
 * not replay from the public source and a guessed seed (which file names
 * are real, what each sentinel looks like) is keyed by gen.  gen depends on
 * the secret, a seed and a model digest; the bucket writer passes seed 0 and
 * the architecture digest (px_graph_arch_digest), so two architectures
 * obfuscated with one secret draw unrelated names and sentinels, and one
 * architecture (whatever its weights or --seed) draws the same ones: two
 * buckets of one model cannot be intersected (bucket.c, track.h).  It shares
 * nothing with the key file's random salt:
 *
 *   passphrase: master = Argon2id13(passphrase,
 *                          salt = BLAKE2b-128("proteus-owner/2\0" || model_digest || seed_le64),
 *                          OPSLIMIT_INTERACTIVE, MEMLIMIT_INTERACTIVE)
 *   raw secret: master = BLAKE2b-256(key = secret, "proteus-owner/2/master\0")
 *   gen = BLAKE2b-256(key = master, "proteus-owner/2/gen\0" || model_digest || seed_le64)
 *
 * The salt here is a function of the model and seed (it has to be, for
 * reproducibility); it is never written anywhere, and an attacker without
 * the model cannot compute it. */
typedef struct px_owner_keys {
    unsigned char gen[32];
} px_owner_keys;

px_status px_owner_keys_derive(const px_secret *s, uint64_t seed, const uint8_t model_digest[32],
                               px_owner_keys *k);
void px_owner_keys_wipe(px_owner_keys *k);
/* A 64-bit seed for a px_rng stream named label, a, b; unpredictable
 * without the secret. */
uint64_t px_owner_stream(const px_owner_keys *k, const char *label, uint64_t a, uint64_t b);

/* Wipes and frees a plaintext returned by px_key_open (NULL is fine). */
void px_key_plain_free(uint8_t *plain, size_t plain_n);

/* 1 when data starts with the magic (only the magic: a truncated sealed file
 * still counts, so px_key_open can say it is truncated), else 0. */
int px_key_is_sealed(const uint8_t *data, size_t n);

#endif
