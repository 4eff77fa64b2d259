/* Types from ONNX Runtime for the values proteus' shape inference cannot
 * type: outputs of ops it has no rules for (com.microsoft contrib ops such
 * as the QOperator QLinearAdd, custom domains), of an If whose bodies
 * declare no types, and what follows them.  If ONNX Runtime runs the model,
 * obfuscate must be able to cut it anywhere.
 *
 * The model runs once (python -m proteus_py.capture types) on the owner's
 * --input-shape / --input inputs (random ones otherwise) with those values
 * as extra outputs; their dtype and shape go into the IR, dims that change
 * with the model's symbolic input dims as symbols of their own ("ort_N"),
 * and shape inference runs again so that what follows them is typed too.
 * Shape inference keeps such types when it runs again (shape_infer.h). */
#ifndef PX_BUCKET_CAPTURE_H
#define PX_BUCKET_CAPTURE_H

#include "bucket/bucket.h"
#include "ir/graph.h"
#include "shape/shape_infer.h"

typedef struct px_capture_note {
    int n_wanted;   /* values nodes read or graph outputs without a dtype or rank */
    int n_typed;    /* of those, typed from ONNX Runtime */
    int n_unknown;  /* still without a type */
    /* why the rest stayed unknown ("" when none did): ONNX Runtime was not
     * asked (--no-probe) or could not run the model (the reason), or the
     * values are not in the file (an inlined function) */
    char why[512];
    /* the flags that could help ("" when none would) */
    char hint[160];
} px_capture_note;

/* After px_shape_infer(g, rep): asks ONNX Runtime for the types of the
 * values inference left unknown (unless o->no_probe), sets them in g and
 * infers again (rep updated).  Failing to ask is not an error: the values
 * stay unknown, note says why, and px_capture_explain() adds it to the
 * error a cut there meets.  o->warn gets one line when values were typed.
 * Fails only on out of memory or a contradiction inference finds. */
px_status px_capture_types(px_graph *g, const px_obfuscate_opts *o, px_shape_report *rep, px_capture_note *note);

/* st unchanged; when it is an unknown-type error (a cut at an untyped value,
 * a sentinel for one) and note has a reason, the message gets it and the
 * hint appended. */
px_status px_capture_explain(const px_capture_note *note, px_status st);

#endif
