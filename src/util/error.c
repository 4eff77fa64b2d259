#include "util/error.h"

#include <stdio.h>
#include <string.h>

static _Thread_local char err_msg[1024];

px_status px_vfail(px_status code, const char *fmt, va_list ap)
{
    /* format aside first: an argument may be px_last_error() itself */
    char buf[sizeof err_msg];
    vsnprintf(buf, sizeof buf, fmt, ap);
    memcpy(err_msg, buf, sizeof err_msg);
    return code;
}

px_status px_fail(px_status code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    px_vfail(code, fmt, ap);
    va_end(ap);
    return code;
}

px_status px_fail_prefix(px_status code, const char *fmt, ...)
{
    char prefix[512], old[sizeof err_msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err_msg, sizeof old);
    size_t n = strlen(prefix);
    if (n > sizeof err_msg - 3) n = sizeof err_msg - 3;
    memcpy(err_msg, prefix, n);
    err_msg[n] = ':';
    err_msg[n + 1] = ' ';
    size_t rest = sizeof err_msg - n - 3;
    size_t m = strlen(old);
    if (m > rest) m = rest;
    memcpy(err_msg + n + 2, old, m);
    err_msg[n + 2 + m] = '\0';
    return code;
}

px_status px_nomem(void)
{
    snprintf(err_msg, sizeof err_msg, "out of memory");
    return PX_ERR_NOMEM;
}

const char *px_last_error(void) { return err_msg; }

void px_clear_error(void) { err_msg[0] = '\0'; }

const char *px_status_name(px_status s)
{
    static const char *names[PX_STATUS_COUNT] = {
        [PX_OK] = "ok",
        [PX_ERR_IO] = "io",
        [PX_ERR_PARSE] = "parse",
        [PX_ERR_INVALID] = "invalid",
        [PX_ERR_NOMEM] = "nomem",
        [PX_ERR_UNSUPPORTED] = "unsupported",
        [PX_ERR_LIMIT] = "limit",
        [PX_ERR_SHAPE] = "shape",
        [PX_ERR_SECURITY] = "security",
        [PX_ERR_USAGE] = "usage",
        [PX_ERR_MISMATCH] = "mismatch",
        [PX_ERR_INTERRUPTED] = "interrupted",
    };
    return (s >= 0 && s < PX_STATUS_COUNT) ? names[s] : "unknown";
}
