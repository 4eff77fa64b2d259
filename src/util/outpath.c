#include "util/outpath.h"

#include <sys/stat.h>

px_status px_output_check(const char *out, const char *const *inputs, int n, int force, const char *what)
{
    struct stat os;
    if (stat(out, &os) != 0) {
        if (lstat(out, &os) == 0) /* a dangling link: writing would follow it somewhere */
            return force ? PX_OK : px_fail(PX_ERR_IO, "%s: already exists (a link); give --force to replace it", out);
        return PX_OK;
    }
    for (int i = 0; i < n; i++) {
        struct stat is;
        if (inputs[i] && stat(inputs[i], &is) == 0 && is.st_dev == os.st_dev && is.st_ino == os.st_ino)
            return px_fail(PX_ERR_USAGE, "%s: %s is the input %s; pick another path", out, what, inputs[i]);
    }
    if (S_ISDIR(os.st_mode)) return px_fail(PX_ERR_IO, "%s: is a folder", out);
    if (!force) return px_fail(PX_ERR_IO, "%s: already exists; give --force to replace it", out);
    return PX_OK;
}
