/* Where the Python half of proteus lives (ONNX Runtime, optimizer drivers,
 * verification).  PROTEUS_PYTHON overrides the interpreter; PROTEUS_ROOT the
 * source tree (default: the tree this binary was built from). */
#ifndef PX_PYENV_H
#define PX_PYENV_H

/* Interpreter path (static storage). */
const char *px_python(void);
/* The interpreter for the learned audit (needs torch: Debian's
 * python3-torch lives in /usr/bin/python3, not in the .venv).
 * PROTEUS_AUDIT_PYTHON overrides it. */
const char *px_python_audit(void);
/* Sets PYTHONPATH so that `-m proteus_py.X` resolves; call before exec. */
void px_python_env(void);

#endif
