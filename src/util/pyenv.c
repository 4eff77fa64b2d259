#include "util/pyenv.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Where things are is found at run time, never compiled in: from the
 * environment, else from where this executable lies.  Two layouts:
 *   source tree: <root>/build[/X]/proteus, Python half in <root>/python,
 *                interpreter <root>/.venv/bin/python
 *   installed:   <pkg>/_bin/proteus (pkg = the `proteus` Python package),
 *                Python half in <pkg>/_py, interpreter the venv's python
 *                (<prefix>/lib/pythonX.Y/site-packages/proteus -> <prefix>/bin/python) */

typedef struct {
    int in_tree;           /* a source tree's build: its Python half finds <root>/build/proteus itself */
    char pydir[PATH_MAX];  /* the folder that holds proteus_py/ ("" if not found) */
    char python[PATH_MAX]; /* the interpreter found next to it ("" if none) */
} layout;

static int is_file(const char *p)
{
    return access(p, R_OK) == 0;
}

static int join(char *out, size_t n, const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la + lb >= n) {
        if (n) out[0] = 0;
        return 0;
    }
    memmove(out, a, la);
    memcpy(out + la, b, lb + 1);
    return 1;
}

/* dirname in place; returns 0 when nothing is left to strip */
static int up(char *p)
{
    char *s = strrchr(p, '/');
    if (!s || s == p) return 0;
    *s = 0;
    return 1;
}

static void find_layout(layout *L)
{
    char exe[PATH_MAX], d[PATH_MAX], t[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return;
    exe[n] = 0;
    if (!join(d, sizeof d, exe, "") || !up(d)) return; /* d = the executable's folder */
    /* installed: <pkg>/_bin/proteus with <pkg>/_py/proteus_py */
    char pkg[PATH_MAX];
    if (join(pkg, sizeof pkg, d, "") && up(pkg) && join(t, sizeof t, pkg, "/_py/proteus_py/__init__.py") &&
        is_file(t)) {
        join(L->pydir, sizeof L->pydir, pkg, "/_py");
        /* <prefix>/lib/pythonX.Y/site-packages/proteus: the venv's interpreter */
        char prefix[PATH_MAX];
        if (join(prefix, sizeof prefix, pkg, "") && up(prefix) && up(prefix) && up(prefix) && up(prefix) &&
            join(t, sizeof t, prefix, "/bin/python") && access(t, X_OK) == 0)
            join(L->python, sizeof L->python, t, "");
        return;
    }
    /* source tree: <root>/build/proteus, <root>/build/X/proteus, ... */
    char root[PATH_MAX];
    if (!join(root, sizeof root, d, "")) return;
    for (int depth = 0; depth < 4; depth++) {
        if (!up(root)) return;
        if (join(t, sizeof t, root, "/python/proteus_py/__init__.py") && is_file(t)) {
            join(L->pydir, sizeof L->pydir, root, "/python");
            L->in_tree = 1;
            if (join(t, sizeof t, root, "/.venv/bin/python") && access(t, X_OK) == 0)
                join(L->python, sizeof L->python, t, "");
            return;
        }
    }
}

static layout the_layout;

static void init_layout(void)
{
    const char *r = getenv("PROTEUS_ROOT"); /* a source tree, named explicitly */
    char t[PATH_MAX];
    if (r && *r) {
        join(the_layout.pydir, sizeof the_layout.pydir, r, "/python");
        the_layout.in_tree = 1;
        if (join(t, sizeof t, r, "/.venv/bin/python") && access(t, X_OK) == 0)
            join(the_layout.python, sizeof the_layout.python, t, "");
    } else {
        find_layout(&the_layout);
    }
}

static const layout *get_layout(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, init_layout);
    return &the_layout;
}

const char *px_python(void)
{
    const char *p = getenv("PROTEUS_PYTHON");
    if (p && *p) return p;
    const layout *L = get_layout();
    return L->python[0] ? L->python : "python3";
}

const char *px_python_audit(void)
{
    const char *p = getenv("PROTEUS_AUDIT_PYTHON");
    if (p && *p) return p;
    return access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
}

const char *px_python_dir(void)
{
    const char *p = getenv("PROTEUS_PYDIR");
    if (p && *p) return p;
    const layout *L = get_layout();
    return L->pydir[0] ? L->pydir : NULL;
}

void px_python_env(void)
{
    const char *dir = px_python_dir();
    const char *old = getenv("PYTHONPATH");
    if (dir) {
        size_t n = strlen(dir) + (old ? strlen(old) : 0) + 2;
        char *buf = malloc(n);
        if (buf) {
            snprintf(buf, n, "%s%s%s", dir, old && *old ? ":" : "", old && *old ? old : "");
            setenv("PYTHONPATH", buf, 1);
            free(buf);
        }
    }
    /* Installed, the Python half calls this very tool back (the audit builds
     * its zoo with $PROTEUS); in a source tree it uses <root>/build/proteus. */
    const char *self = getenv("PROTEUS");
    if ((!self || !*self) && !get_layout()->in_tree) {
        char exe[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n > 0) {
            exe[n] = 0;
            setenv("PROTEUS", exe, 1);
        }
    }
    setenv("PYTHONUNBUFFERED", "1", 1);
}
