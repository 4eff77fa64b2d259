#include "util/cancel.h"

#include <signal.h>
#include <string.h>

static volatile sig_atomic_t cancel_sig;
static int installed;

static void on_signal(int sig) { cancel_sig = sig; }

void px_cancel_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    installed = 1;
}

int px_cancel_installed(void) { return installed; }

int px_cancelled(void) { return (int)cancel_sig; }

px_status px_cancel_check(void)
{
    int s = (int)cancel_sig;
    if (!s) return PX_OK;
    return px_fail(PX_ERR_INTERRUPTED, "interrupted (%s); nothing was written",
                   s == SIGINT ? "SIGINT" : s == SIGTERM ? "SIGTERM" : s == SIGHUP ? "SIGHUP" : "signal");
}
