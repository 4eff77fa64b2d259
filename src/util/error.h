/* Error codes and the per-thread error message.
 *
 * Every fallible function returns px_status.  On failure it also leaves a
 * one-line message (naming the file or object and the problem) that the CLI
 * prints as is; px_fail() sets both in one statement. */
#ifndef PX_ERROR_H
#define PX_ERROR_H

#include <stdarg.h>

typedef enum px_status {
    PX_OK = 0,
    PX_ERR_IO,          /* open/read/write/rename failed */
    PX_ERR_PARSE,       /* not a valid protobuf / JSON / ONNX model */
    PX_ERR_INVALID,     /* well-formed but semantically invalid graph */
    PX_ERR_NOMEM,       /* allocation failed */
    PX_ERR_UNSUPPORTED, /* valid but beyond what proteus handles */
    PX_ERR_LIMIT,       /* a defensive cap was exceeded */
    PX_ERR_SHAPE,       /* shape inference found an inconsistency */
    PX_ERR_SECURITY,    /* refused for safety (e.g. external data outside dir) */
    PX_ERR_USAGE,       /* bad command-line or API arguments */
    PX_ERR_MISMATCH,    /* a comparison or verification failed */
    PX_ERR_INTERRUPTED, /* stopped by a signal (SIGINT, SIGTERM) */
    PX_STATUS_COUNT
} px_status;

/* Set the thread's error message and return code.  printf-style. */
px_status px_fail(px_status code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
px_status px_vfail(px_status code, const char *fmt, va_list ap);

/* Prefix the current message with "prefix: " (used to add a file name as an
 * error travels up).  Returns code unchanged. */
px_status px_fail_prefix(px_status code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

const char *px_last_error(void);
const char *px_status_name(px_status s);
void px_clear_error(void);

/* Out-of-memory shortcut: sets a fixed message without allocating. */
px_status px_nomem(void);

#endif
