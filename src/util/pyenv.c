#include "util/pyenv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef PX_SOURCE_ROOT
#define PX_SOURCE_ROOT "."
#endif

static const char *root(void)
{
    const char *r = getenv("PROTEUS_ROOT");
    return r && *r ? r : PX_SOURCE_ROOT;
}

const char *px_python(void)
{
    static char buf[4096];
    const char *p = getenv("PROTEUS_PYTHON");
    if (p && *p) return p;
    snprintf(buf, sizeof buf, "%s/.venv/bin/python", root());
    if (access(buf, X_OK) == 0) return buf;
    return "python3";
}

const char *px_python_audit(void)
{
    const char *p = getenv("PROTEUS_AUDIT_PYTHON");
    if (p && *p) return p;
    return access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
}

void px_python_env(void)
{
    char buf[8192];
    const char *old = getenv("PYTHONPATH");
    snprintf(buf, sizeof buf, "%s/python%s%s", root(), old && *old ? ":" : "", old && *old ? old : "");
    setenv("PYTHONPATH", buf, 1);
    setenv("PYTHONUNBUFFERED", "1", 1);
}
