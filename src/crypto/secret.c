/* The owner's key file sealed with libsodium; the layout is in secret.h. */
#include "crypto/secret.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <sodium.h>

#include "util/fileio.h"

static const uint8_t key_magic[PX_KEY_MAGIC_LEN] = {'P', 'R', 'O', 'T', 'E', 'U', 'S',
                                                    '-', 'K', 'E', 'Y', '\n'};

#define PASS_MAX 4096 /* longest passphrase a file line or the prompt gives */

_Static_assert(crypto_aead_xchacha20poly1305_ietf_KEYBYTES == 32, "key size");
_Static_assert(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES == 24, "nonce size");
_Static_assert(crypto_aead_xchacha20poly1305_ietf_ABYTES == PX_KEY_TAG_LEN, "tag size");
_Static_assert(crypto_pwhash_argon2id_SALTBYTES == 16, "salt size");
_Static_assert(PX_KEY_OFF_NONCE + 24 == PX_KEY_HEADER_LEN, "header layout");

/* ---- libsodium initialisation (once per process) ---- */

static pthread_once_t sodium_once = PTHREAD_ONCE_INIT;
static int sodium_state = -1;

static void sodium_init_once(void) { sodium_state = sodium_init() < 0 ? -1 : 0; }

static px_status sodium_ready(void)
{
    pthread_once(&sodium_once, sodium_init_once);
    if (sodium_state != 0) return px_fail(PX_ERR_IO, "libsodium: initialisation failed (sodium_init)");
    return PX_OK;
}

/* ---- choosing the secret ---- */

void px_secret_free(px_secret *s)
{
    if (!s) return;
    if (s->pass) {
        sodium_memzero(s->pass, s->pass_len + 1);
        free(s->pass);
    }
    sodium_memzero(s, sizeof *s);
    s->kind = PX_SECRET_NONE;
}

static px_status set_pass(px_secret *out, const char *p, size_t n)
{
    out->pass = malloc(n + 1);
    if (!out->pass) return px_nomem();
    memcpy(out->pass, p, n);
    out->pass[n] = '\0';
    out->pass_len = n;
    out->kind = PX_SECRET_PASSPHRASE;
    return PX_OK;
}

static px_status secret_from_raw_file(const char *file, px_secret *out)
{
    char *data;
    size_t len;
    px_status st = px_read_file(file, &data, &len);
    if (st != PX_OK) return st;
    if (len != sizeof out->raw) {
        st = px_fail(PX_ERR_INVALID,
                     "%s: a --key-secret file must hold exactly %zu raw bytes, this one holds %zu",
                     file, sizeof out->raw, len);
    } else {
        memcpy(out->raw, data, sizeof out->raw);
        out->kind = PX_SECRET_RAW;
    }
    sodium_memzero(data, len);
    free(data);
    return st;
}

static px_status secret_from_pass_file(const char *file, px_secret *out)
{
    char *data;
    size_t len;
    px_status st = px_read_file(file, &data, &len);
    if (st != PX_OK) return st;
    const char *nl = memchr(data, '\n', len);
    size_t n = nl ? (size_t)(nl - data) : len;
    if (n > 0 && data[n - 1] == '\r') n--;
    if (n == 0)
        st = px_fail(PX_ERR_INVALID, "%s: the passphrase file is empty (its first line is the passphrase)",
                     file);
    else if (n > PASS_MAX)
        st = px_fail(PX_ERR_LIMIT, "%s: the passphrase is longer than %d bytes", file, PASS_MAX);
    else
        st = set_pass(out, data, n);
    sodium_memzero(data, len);
    free(data);
    return st;
}

static volatile sig_atomic_t prompt_signal;

static void prompt_on_signal(int sig) { prompt_signal = sig; }

static const int prompt_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
#define N_PROMPT_SIGNALS (sizeof prompt_signals / sizeof prompt_signals[0])

/* Writes prompt to the terminal, reads one line with echo off into buf
 * (NUL-terminated, without the newline).  A signal that arrives meanwhile is
 * re-raised after the terminal is restored, so Ctrl-C never leaves echo off. */
static px_status tty_read_line(int fd, const char *prompt, char *buf, size_t cap, size_t *len)
{
    *len = 0;
    buf[0] = '\0';
    struct termios old, quiet;
    if (tcgetattr(fd, &old) != 0)
        return px_fail(PX_ERR_IO, "/dev/tty: cannot read the terminal settings: %s", strerror(errno));
    struct sigaction act, saved[N_PROMPT_SIGNALS];
    memset(&act, 0, sizeof act);
    act.sa_handler = prompt_on_signal; /* no SA_RESTART: read() returns EINTR */
    sigemptyset(&act.sa_mask);
    prompt_signal = 0;
    for (size_t i = 0; i < N_PROMPT_SIGNALS; i++) sigaction(prompt_signals[i], &act, &saved[i]);
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
    quiet.c_lflag |= ICANON;
    px_status st = PX_OK;
    size_t n = 0;
    int too_long = 0;
    if (write(fd, prompt, strlen(prompt)) < 0 || tcsetattr(fd, TCSAFLUSH, &quiet) != 0) {
        st = px_fail(PX_ERR_IO, "/dev/tty: cannot prompt for the passphrase: %s", strerror(errno));
    } else {
        while (!prompt_signal) {
            char c;
            ssize_t r = read(fd, &c, 1);
            if (r < 0 && errno == EINTR) continue;
            if (r < 0) {
                st = px_fail(PX_ERR_IO, "/dev/tty: cannot read the passphrase: %s", strerror(errno));
                break;
            }
            if (r == 0 || c == '\n') break;
            if (n + 1 < cap)
                buf[n++] = c;
            else
                too_long = 1; /* keep reading to the end of the line */
        }
        /* the newline the user typed was not echoed */
        if (write(fd, "\n", 1) < 0) {
            /* cosmetic only */
        }
    }
    tcsetattr(fd, TCSAFLUSH, &old);
    for (size_t i = 0; i < N_PROMPT_SIGNALS; i++) sigaction(prompt_signals[i], &saved[i], NULL);
    if (n > 0 && buf[n - 1] == '\r') n--;
    if (n > cap - 2) too_long = 1; /* cap holds the longest line plus '\r' or NUL */
    buf[n] = '\0';
    *len = n;
    if (prompt_signal) {
        sodium_memzero(buf, cap);
        *len = 0;
        raise(prompt_signal); /* now that echo is back on */
        return px_fail(PX_ERR_USAGE, "passphrase prompt interrupted");
    }
    if (st == PX_OK && too_long)
        st = px_fail(PX_ERR_LIMIT, "the passphrase is longer than %zu bytes", cap - 2);
    return st;
}

static px_status secret_from_prompt(const char *key_path, const char *what, int confirm, px_secret *out)
{
    int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) return px_fail(PX_ERR_IO, "/dev/tty: cannot open the terminal: %s", strerror(errno));
    const char *name = key_path ? key_path : "the key";
    size_t plen = strlen(name) + strlen(what) + 64;
    char *prompt = malloc(plen);
    char *a = malloc(PASS_MAX + 2), *b = malloc(PASS_MAX + 2);
    px_status st = PX_OK;
    size_t na = 0, nb = 0;
    if (!prompt || !a || !b) {
        st = px_nomem();
        goto done;
    }
    snprintf(prompt, plen, "proteus: %s for %s: ", what, name);
    st = tty_read_line(fd, prompt, a, PASS_MAX + 2, &na);
    if (st != PX_OK) goto done;
    if (na == 0) {
        st = px_fail(PX_ERR_USAGE, "%s: empty passphrase refused", name);
        goto done;
    }
    if (confirm) {
        snprintf(prompt, plen, "proteus: %s for %s (again): ", what, name);
        st = tty_read_line(fd, prompt, b, PASS_MAX + 2, &nb);
        if (st != PX_OK) goto done;
        if (na != nb || sodium_memcmp(a, b, na) != 0) {
            st = px_fail(PX_ERR_USAGE, "%s: the two passphrases differ", name);
            goto done;
        }
    }
    st = set_pass(out, a, na);
done:
    if (a) sodium_memzero(a, PASS_MAX + 2);
    if (b) sodium_memzero(b, PASS_MAX + 2);
    free(a);
    free(b);
    free(prompt);
    close(fd);
    return st;
}

/* The options a secret may come from (old or new one). */
typedef struct secret_source {
    const char *env;          /* PROTEUS_PASSPHRASE or PROTEUS_NEW_PASSPHRASE */
    const char *what;         /* "passphrase" or "new passphrase" (prompt) */
    const char *opt_pass, *opt_raw;
    int confirm;
} secret_source;

static px_status secret_get(const secret_source *src, const char *key_secret_file, const char *passphrase_file,
                            const char *key_path, int allow_prompt, px_secret *out)
{
    memset(out, 0, sizeof *out);
    out->kind = PX_SECRET_NONE;
    px_status st;
    const char *env = getenv(src->env);
    if (key_secret_file)
        st = secret_from_raw_file(key_secret_file, out);
    else if (passphrase_file)
        st = secret_from_pass_file(passphrase_file, out);
    else if (env) {
        size_t n = strlen(env);
        if (n == 0)
            st = px_fail(PX_ERR_USAGE, "%s is set but empty: an empty passphrase is refused", src->env);
        else if (n > PASS_MAX)
            st = px_fail(PX_ERR_LIMIT, "%s is longer than %d bytes", src->env, PASS_MAX);
        else
            st = set_pass(out, env, n);
    } else if (allow_prompt && isatty(STDIN_FILENO))
        st = secret_from_prompt(key_path, src->what, src->confirm, out);
    else
        st = px_fail(PX_ERR_USAGE,
                     "%s: no %s or secret for the key file: give %s FILE (first line), set %s, or give %s "
                     "FILE (32 raw bytes)%s",
                     key_path ? key_path : "key", src->what, src->opt_pass, src->env, src->opt_raw,
                     allow_prompt ? "; or run on a terminal to be asked" : "");
    if (st != PX_OK) px_secret_free(out);
    return st;
}

px_status px_secret_get(const char *key_secret_file, const char *passphrase_file,
                        const char *key_path, int allow_prompt, int confirm, px_secret *out)
{
    secret_source src = {"PROTEUS_PASSPHRASE", "passphrase", "--passphrase-file", "--key-secret", confirm};
    return secret_get(&src, key_secret_file, passphrase_file, key_path, allow_prompt, out);
}

px_status px_secret_get_new(const char *key_secret_file, const char *passphrase_file,
                            const char *key_path, int allow_prompt, px_secret *out)
{
    secret_source src = {"PROTEUS_NEW_PASSPHRASE", "new passphrase", "--new-passphrase-file",
                         "--new-key-secret", 1};
    return secret_get(&src, key_secret_file, passphrase_file, key_path, allow_prompt, out);
}

/* ---- passphrase strength (new keys only) ---- */

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

px_status px_passphrase_check(const px_secret *s, const char *key_path)
{
    if (!s || s->kind != PX_SECRET_PASSPHRASE) return PX_OK;
    const unsigned char *p = (const unsigned char *)(s->pass ? s->pass : "");
    size_t n = s->pass_len;
    /* code points (a malformed sequence counts byte by byte: strength is
     * about what the user typed, not about validating UTF-8) */
    uint32_t *cp = malloc((n + 1) * sizeof *cp);
    if (!cp) return px_nomem();
    size_t nc = 0;
    int digits = 1;
    for (size_t i = 0; i < n;) {
        uint32_t c = p[i];
        size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
        if (i + len > n) len = 1;
        for (size_t j = 1; j < len; j++)
            if ((p[i + j] & 0xC0) != 0x80) len = 1;
        for (size_t j = 1; j < len; j++) c = (c << 8) | p[i + j];
        if (c < '0' || c > '9') digits = 0;
        cp[nc++] = c;
        i += len;
    }
    qsort(cp, nc, sizeof *cp, cmp_u32);
    size_t distinct = 0;
    for (size_t i = 0; i < nc; i++)
        if (i == 0 || cp[i] != cp[i - 1]) distinct++;
    sodium_memzero(cp, (n + 1) * sizeof *cp);
    free(cp);
    const char *why = NULL;
    if (nc < PX_PASS_MIN_CHARS) why = "too short";
    else if (distinct < PX_PASS_MIN_DISTINCT) why = "too repetitive";
    else if (digits && nc < PX_PASS_MIN_DIGITS) why = "digits only and too short";
    if (!why) return PX_OK;
    return px_fail(PX_ERR_SECURITY,
                   "%s: the passphrase is too weak (%s: %zu characters, %zu different): a new key needs at "
                   "least %d characters, %d different ones, and %d if only digits; choose a stronger one or "
                   "give --weak-passphrase",
                   key_path ? key_path : "key", why, nc, distinct, PX_PASS_MIN_CHARS, PX_PASS_MIN_DISTINCT,
                   PX_PASS_MIN_DIGITS);
}

/* ---- sealing and opening ---- */

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static int cost_ok(uint64_t ops, uint64_t mem)
{
    return ops >= crypto_pwhash_OPSLIMIT_MIN && ops <= PX_KEY_MAX_OPSLIMIT &&
           mem >= crypto_pwhash_MEMLIMIT_MIN && mem <= PX_KEY_MAX_MEMLIMIT;
}

/* The AEAD key: the raw secret, or Argon2id(passphrase, salt, cost). */
static px_status derive_key(const px_secret *s, const uint8_t *header, const char *path,
                            unsigned char key[32])
{
    if (s->kind == PX_SECRET_RAW) {
        memcpy(key, s->raw, 32);
        return PX_OK;
    }
    uint64_t ops = get_u64(header + PX_KEY_OFF_OPSLIMIT), mem = get_u64(header + PX_KEY_OFF_MEMLIMIT);
    if (crypto_pwhash(key, 32, s->pass ? s->pass : "", s->pass_len, header + PX_KEY_OFF_SALT,
                      (unsigned long long)ops, (size_t)mem, crypto_pwhash_ALG_ARGON2ID13) != 0)
        return px_fail(PX_ERR_NOMEM, "%s: cannot derive the key from the passphrase "
                                     "(Argon2id needs %llu MiB of memory)",
                       path, (unsigned long long)(mem >> 20));
    return PX_OK;
}

px_status px_key_seal_cost(const px_secret *s, uint64_t opslimit, uint64_t memlimit,
                           const uint8_t *plain, size_t n, uint8_t **out, size_t *out_n)
{
    *out = NULL;
    *out_n = 0;
    px_status st = sodium_ready();
    if (st != PX_OK) return st;
    if (!s || (s->kind != PX_SECRET_PASSPHRASE && s->kind != PX_SECRET_RAW))
        return px_fail(PX_ERR_USAGE, "sealing the key: no passphrase or secret given");
    if (!plain && n) return px_fail(PX_ERR_USAGE, "sealing the key: no data");
    if (s->kind == PX_SECRET_PASSPHRASE && !cost_ok(opslimit, memlimit))
        return px_fail(PX_ERR_USAGE,
                       "sealing the key: Argon2id cost opslimit %llu, memlimit %llu outside "
                       "[%llu, %llu] x [%llu, %llu]",
                       (unsigned long long)opslimit, (unsigned long long)memlimit,
                       (unsigned long long)crypto_pwhash_OPSLIMIT_MIN, PX_KEY_MAX_OPSLIMIT,
                       (unsigned long long)crypto_pwhash_MEMLIMIT_MIN, PX_KEY_MAX_MEMLIMIT);
    if (n > crypto_aead_xchacha20poly1305_ietf_MESSAGEBYTES_MAX || n > SIZE_MAX - PX_KEY_MIN_LEN)
        return px_fail(PX_ERR_LIMIT, "sealing the key: %zu bytes is too large", n);

    size_t total = PX_KEY_MIN_LEN + n;
    uint8_t *buf = malloc(total);
    if (!buf) return px_nomem();
    memcpy(buf, key_magic, PX_KEY_MAGIC_LEN);
    buf[PX_KEY_OFF_VERSION] = PX_KEY_VERSION;
    memset(buf + PX_KEY_OFF_OPSLIMIT, 0, PX_KEY_OFF_NONCE - PX_KEY_OFF_OPSLIMIT);
    if (s->kind == PX_SECRET_PASSPHRASE) {
        buf[PX_KEY_OFF_KIND] = PX_KEY_KIND_PASSPHRASE;
        put_u64(buf + PX_KEY_OFF_OPSLIMIT, opslimit);
        put_u64(buf + PX_KEY_OFF_MEMLIMIT, memlimit);
        randombytes_buf(buf + PX_KEY_OFF_SALT, crypto_pwhash_argon2id_SALTBYTES);
    } else {
        buf[PX_KEY_OFF_KIND] = PX_KEY_KIND_RAW;
    }
    /* Random salt and nonce: a fresh file every time (not deterministic by
     * design; a 24-byte random nonce never repeats in practice). */
    randombytes_buf(buf + PX_KEY_OFF_NONCE, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);

    unsigned char key[32];
    st = derive_key(s, buf, "sealing the key", key);
    if (st == PX_OK) {
        static const uint8_t empty[1] = {0};
        unsigned long long clen = 0;
        if (crypto_aead_xchacha20poly1305_ietf_encrypt(
                buf + PX_KEY_HEADER_LEN, &clen, n ? plain : empty, n, buf, PX_KEY_HEADER_LEN,
                NULL, buf + PX_KEY_OFF_NONCE, key) != 0 ||
            clen != (unsigned long long)n + PX_KEY_TAG_LEN)
            st = px_fail(PX_ERR_IO, "sealing the key: encryption failed");
    }
    sodium_memzero(key, sizeof key);
    if (st != PX_OK) {
        free(buf);
        return st;
    }
    *out = buf;
    *out_n = total;
    return PX_OK;
}

px_status px_key_seal(const px_secret *s, const uint8_t *plain, size_t n, uint8_t **out, size_t *out_n)
{
    return px_key_seal_cost(s, crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE,
                            plain, n, out, out_n);
}

static void keyed_hash(unsigned char *out, size_t out_len, const char *label, const uint8_t *msg, size_t n,
                       const uint8_t *msg2, size_t n2, const unsigned char key[32])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, key, 32, out_len);
    crypto_generichash_update(&st, (const unsigned char *)label, strlen(label) + 1);
    if (n) crypto_generichash_update(&st, msg, n);
    if (n2) crypto_generichash_update(&st, msg2, n2);
    crypto_generichash_final(&st, out, out_len);
}

px_status px_owner_keys_derive(const px_secret *s, uint64_t seed, const uint8_t model_digest[32],
                               px_owner_keys *k)
{
    memset(k, 0, sizeof *k);
    px_status st = sodium_ready();
    if (st != PX_OK) return st;
    if (!s || (s->kind != PX_SECRET_PASSPHRASE && s->kind != PX_SECRET_RAW))
        return px_fail(PX_ERR_USAGE, "no passphrase or secret given to key the bucket");
    if (!model_digest) return px_fail(PX_ERR_USAGE, "keying the bucket: no model digest");
    uint8_t seed_le[8];
    put_u64(seed_le, seed);
    unsigned char master[32];
    if (s->kind == PX_SECRET_PASSPHRASE) {
        static const char label[] = "proteus-owner/2";
        unsigned char salt[crypto_pwhash_argon2id_SALTBYTES];
        crypto_generichash_state hs;
        crypto_generichash_init(&hs, NULL, 0, sizeof salt);
        crypto_generichash_update(&hs, (const unsigned char *)label, sizeof label); /* with its NUL */
        crypto_generichash_update(&hs, model_digest, 32);
        crypto_generichash_update(&hs, seed_le, sizeof seed_le);
        crypto_generichash_final(&hs, salt, sizeof salt);
        if (crypto_pwhash(master, sizeof master, s->pass ? s->pass : "", s->pass_len, salt,
                          crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE,
                          crypto_pwhash_ALG_ARGON2ID13) != 0)
            return px_fail(PX_ERR_NOMEM, "cannot derive the owner's keys from the passphrase "
                                         "(Argon2id needs %llu MiB of memory)",
                           (unsigned long long)(crypto_pwhash_MEMLIMIT_INTERACTIVE >> 20));
    } else {
        keyed_hash(master, sizeof master, "proteus-owner/2/master", NULL, 0, NULL, 0, s->raw);
    }
    keyed_hash(k->gen, sizeof k->gen, "proteus-owner/2/gen", model_digest, 32, seed_le, sizeof seed_le, master);
    sodium_memzero(master, sizeof master);
    return PX_OK;
}

void px_owner_keys_wipe(px_owner_keys *k) { sodium_memzero(k, sizeof *k); }

uint64_t px_owner_stream(const px_owner_keys *k, const char *label, uint64_t a, uint64_t b)
{
    uint8_t msg[16];
    put_u64(msg, a);
    put_u64(msg + 8, b);
    unsigned char h[16];
    keyed_hash(h, sizeof h, label, msg, sizeof msg, NULL, 0, k->gen);
    return get_u64(h);
}

int px_key_is_sealed(const uint8_t *data, size_t n)
{
    return data && n >= PX_KEY_MAGIC_LEN && memcmp(data, key_magic, PX_KEY_MAGIC_LEN) == 0;
}

void px_key_plain_free(uint8_t *plain, size_t plain_n)
{
    if (!plain) return;
    sodium_memzero(plain, plain_n + 1);
    free(plain);
}

static int all_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++) acc |= p[i];
    return acc == 0;
}

px_status px_key_open(const px_secret *s, const char *path_for_messages, const uint8_t *sealed,
                      size_t n, uint8_t **plain, size_t *plain_n)
{
    const char *path = path_for_messages ? path_for_messages : "key";
    *plain = NULL;
    *plain_n = 0;
    px_status st = sodium_ready();
    if (st != PX_OK) return st;
    if (!s || (s->kind != PX_SECRET_PASSPHRASE && s->kind != PX_SECRET_RAW))
        return px_fail(PX_ERR_USAGE, "%s: no passphrase or secret given to open the key file", path);

    if (!px_key_is_sealed(sealed, n))
        return px_fail(PX_ERR_PARSE, "%s: not a proteus key file (no PROTEUS-KEY header)", path);
    if (n < PX_KEY_MIN_LEN)
        return px_fail(PX_ERR_PARSE, "%s: not a proteus key file (truncated: %zu bytes, at least %d expected)",
                       path, n, (int)PX_KEY_MIN_LEN);
    if (sealed[PX_KEY_OFF_VERSION] != PX_KEY_VERSION)
        return px_fail(PX_ERR_UNSUPPORTED, "%s: key file format version %u is not supported (this proteus reads %d)",
                       path, sealed[PX_KEY_OFF_VERSION], (int)PX_KEY_VERSION);
    int kind = sealed[PX_KEY_OFF_KIND];
    if (kind != PX_KEY_KIND_PASSPHRASE && kind != PX_KEY_KIND_RAW)
        return px_fail(PX_ERR_PARSE, "%s: not a proteus key file (unknown secret kind %d)", path, kind);
    if (kind == PX_KEY_KIND_PASSPHRASE && s->kind != PX_SECRET_PASSPHRASE)
        return px_fail(PX_ERR_USAGE,
                       "%s: the key file is sealed with a passphrase, but a raw secret (--key-secret) was "
                       "given: give the passphrase (--passphrase-file, PROTEUS_PASSPHRASE or the prompt)",
                       path);
    if (kind == PX_KEY_KIND_RAW && s->kind != PX_SECRET_RAW)
        return px_fail(PX_ERR_USAGE,
                       "%s: the key file is sealed with a raw 32-byte secret, but a passphrase was given: "
                       "give the secret with --key-secret FILE",
                       path);
    if (kind == PX_KEY_KIND_PASSPHRASE) {
        uint64_t ops = get_u64(sealed + PX_KEY_OFF_OPSLIMIT), mem = get_u64(sealed + PX_KEY_OFF_MEMLIMIT);
        if (ops > PX_KEY_MAX_OPSLIMIT || mem > PX_KEY_MAX_MEMLIMIT)
            return px_fail(PX_ERR_LIMIT,
                           "%s: the key file asks for an Argon2id cost beyond the limit (opslimit %llu, "
                           "memlimit %llu bytes; at most %llu and %llu): refused",
                           path, (unsigned long long)ops, (unsigned long long)mem, PX_KEY_MAX_OPSLIMIT,
                           PX_KEY_MAX_MEMLIMIT);
        if (!cost_ok(ops, mem))
            return px_fail(PX_ERR_PARSE, "%s: not a proteus key file (Argon2id cost below the minimum)", path);
    } else if (!all_zero(sealed + PX_KEY_OFF_OPSLIMIT, PX_KEY_OFF_NONCE - PX_KEY_OFF_OPSLIMIT)) {
        return px_fail(PX_ERR_PARSE, "%s: not a proteus key file (KDF fields set in a raw-secret file)", path);
    }

    size_t m = n - PX_KEY_MIN_LEN;
    uint8_t *buf = malloc(m + 1);
    if (!buf) return px_nomem();
    unsigned char key[32];
    st = derive_key(s, sealed, path, key);
    if (st == PX_OK) {
        unsigned long long mlen = 0;
        if (crypto_aead_xchacha20poly1305_ietf_decrypt(buf, &mlen, NULL, sealed + PX_KEY_HEADER_LEN,
                                                       n - PX_KEY_HEADER_LEN, sealed, PX_KEY_HEADER_LEN,
                                                       sealed + PX_KEY_OFF_NONCE, key) != 0 ||
            mlen != (unsigned long long)m)
            st = px_fail(PX_ERR_SECURITY,
                         "%s: cannot decrypt the key: wrong passphrase/secret or the key file was modified",
                         path);
    }
    sodium_memzero(key, sizeof key);
    if (st != PX_OK) {
        sodium_memzero(buf, m + 1);
        free(buf);
        return st;
    }
    buf[m] = '\0';
    *plain = buf;
    *plain_n = m;
    return PX_OK;
}

px_status px_key_reseal(const px_secret *old_s, const px_secret *new_s, const char *path_for_messages,
                        const uint8_t *sealed, size_t n, uint8_t **out, size_t *out_n)
{
    *out = NULL;
    *out_n = 0;
    uint8_t *plain = NULL;
    size_t plain_n = 0;
    px_status st = px_key_open(old_s, path_for_messages, sealed, n, &plain, &plain_n);
    if (st != PX_OK) return st;
    uint64_t ops = crypto_pwhash_OPSLIMIT_INTERACTIVE, mem = crypto_pwhash_MEMLIMIT_INTERACTIVE;
    if (sealed[PX_KEY_OFF_KIND] == PX_KEY_KIND_PASSPHRASE) {
        /* px_key_open checked the cost against the caps */
        uint64_t o = get_u64(sealed + PX_KEY_OFF_OPSLIMIT), m = get_u64(sealed + PX_KEY_OFF_MEMLIMIT);
        if (o > ops) ops = o;
        if (m > mem) mem = m;
    }
    st = px_key_seal_cost(new_s, ops, mem, plain, plain_n, out, out_n);
    px_key_plain_free(plain, plain_n);
    return st;
}
