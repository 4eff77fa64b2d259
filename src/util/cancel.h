/* Interruption by the user (SIGINT, SIGTERM, SIGHUP).
 *
 * Long commands must not die mid-write and leave temporaries behind: the
 * CLI installs handlers that only set a flag; the library polls it between
 * steps (px_cancelled) and unwinds through its normal failure path, which
 * removes what it had written. */
#ifndef PX_CANCEL_H
#define PX_CANCEL_H

#include "util/error.h"

/* Installs the handlers (without SA_RESTART, so a blocking read returns
 * EINTR and the caller gets to poll). */
void px_cancel_install(void);
/* Whether px_cancel_install was called (children may then leave SIGINT
 * to us: we stop them). */
int px_cancel_installed(void);
/* The signal that asked us to stop, or 0. */
int px_cancelled(void);
/* If interrupted: sets "interrupted (SIGNAME)" and returns PX_ERR_INTERRUPTED. */
px_status px_cancel_check(void);

#endif
