/* Where the Python half of proteus lives (ONNX Runtime, optimizer drivers,
 * verification, the audit).  Nothing is compiled in: it is found from the
 * environment, else from the location of the running executable
 * (/proc/self/exe):
 *   source tree  <root>/build/proteus   -> <root>/python, <root>/.venv/bin/python
 *   installed    <pkg>/_bin/proteus     -> <pkg>/_py (pip install .; the
 *                `proteus` console script also sets PROTEUS_PYDIR and
 *                PROTEUS_PYTHON to the installing venv)
 * Overrides: PROTEUS_PYDIR (the folder holding proteus_py/), PROTEUS_PYTHON
 * (the interpreter), PROTEUS_ROOT (a source tree), PROTEUS_AUDIT_PYTHON. */
#ifndef PX_PYENV_H
#define PX_PYENV_H

/* Interpreter path (static storage): PROTEUS_PYTHON, else the venv found
 * next to the executable, else "python3". */
const char *px_python(void);
/* The interpreter for the learned audit (needs torch: Debian's
 * python3-torch lives in /usr/bin/python3, not in a venv).
 * PROTEUS_AUDIT_PYTHON overrides it. */
const char *px_python_audit(void);
/* The folder that holds proteus_py/ (NULL when not found). */
const char *px_python_dir(void);
/* Prepends px_python_dir() to PYTHONPATH so that `-m proteus_py.X`
 * resolves, and (installed layout, PROTEUS unset) sets PROTEUS to this
 * executable for the Python half to call back; call before exec. */
void px_python_env(void);

#endif
