/* Shared internals of shape inference: the per-node context, the rule
 * table entry, and the helpers every rule family uses.
 *
 * Conventions
 *  - Shape dims: v >= 0 known, sym != NULL symbolic, else unknown.  Rules
 *    write unknown dims freely; the driver gives every unknown dim of a
 *    node output a fresh symbol ("unk__N") right after the rule ran, as
 *    onnx does, so that a dim read twice through Shape stays the same dim.
 *  - Data (px_value.data): element e is the literal e.v when e.sym == NULL
 *    (any int64, negatives included: -1 in a Reshape target), symbolic when
 *    e.sym != NULL.  Rules mark an element they cannot compute with
 *    px_dim_unk_data(); the driver turns it into a fresh symbol, so stored
 *    data never holds an "unknown" element.
 *  - Every fallible helper returns px_status; inconsistencies are reported
 *    with px_node_fail(), which names the node. */
#ifndef PX_INFER_INTERNAL_H
#define PX_INFER_INTERNAL_H

#include <stdint.h>
#include <string.h>

#include "ir/graph.h"
#include "util/strmap.h"

/* Data propagation is for shapes and axes: bigger tensors are not tracked. */
#define PX_DATA_MAX 1024
/* Opset assumed for the default domain when the model imports none. */
#define PX_OPSET_LATEST 23

/* Mark a data element a rule could not compute (see above): any integer,
 * or a value known to be >= 0 (a dim read by Shape, an element count). */
extern const char px_unk_data_sym[];
extern const char px_unk_dim_sym[];

typedef struct px_infer_state {
    unsigned long long next_unk; /* counter for fresh symbols */
    /* Every symbol name in use: 1 = a dim (of an input or a materialized
     * output dim, so known >= 0), 2 = a data element that may be negative. */
    px_strmap taken;
} px_infer_state;

typedef struct px_ictx {
    px_graph *g;
    const px_node *n;
    int64_t opset;     /* version of the node's domain */
    px_infer_state *st;
} px_ictx;

typedef px_status (*px_rule_fn)(px_ictx *c);

typedef struct px_rule {
    const char *domain;  /* "" = ai.onnx */
    const char *op;
    int since, until;    /* inclusive opset range; until 0 = still current */
    px_rule_fn fn;
} px_rule;

/* One table per op family (each file ends its table with a {NULL} row). */
extern const px_rule px_rules_elementwise[];
extern const px_rule px_rules_conv[];
extern const px_rule px_rules_tensor[];
extern const px_rule px_rules_index[];
extern const px_rule px_rules_reduce[];
extern const px_rule px_rules_misc[];
extern const px_rule px_rules_quant[];  /* com.microsoft QOperator ops */

/* --- dims -------------------------------------------------------------- */

static inline px_dim px_dk(int64_t v) { px_dim d = {v, NULL}; return d; }
static inline px_dim px_du(void) { px_dim d = {-1, NULL}; return d; }
static inline px_dim px_dim_unk_data(void) { px_dim d = {-1, px_unk_data_sym}; return d; }
static inline int px_sym_is_marker(const char *s) { return s == px_unk_data_sym || s == px_unk_dim_sym; }
/* Product / sum of shape dims: known when both are, x*1 = x, x+0 = x;
 * unknown on overflow. */
px_dim px_dmul(px_dim a, px_dim b);
px_dim px_dadd(px_dim a, px_dim b);
/* The same for an output dim that must exist: fails (naming the node and
 * what) when both are known and the result overflows int64. */
px_status px_dmul_chk(const px_ictx *c, px_dim a, px_dim b, const char *what, px_dim *out);
px_status px_dadd_chk(const px_ictx *c, px_dim a, px_dim b, const char *what, px_dim *out);
/* Data element <-> shape dim. */
px_dim px_data_to_dim(px_dim e);   /* literal < 0 becomes unknown */
px_dim px_dim_to_data(px_dim d);   /* unknown becomes a px_unk_dim_sym element */
static inline int px_elit(px_dim e) { return e.sym == NULL; }

/* --- inputs ------------------------------------------------------------ */

/* The value of input i, NULL when absent (past the end or omitted). */
px_value *px_in(const px_ictx *c, int i);
static inline int px_has_in(const px_ictx *c, int i) { return px_in(c, i) != NULL; }
px_dtype px_in_dtype(const px_ictx *c, int i);
/* Shape of input i; rank -1 when absent or unknown. */
const px_shape *px_in_shape(const px_ictx *c, int i);
static inline int px_in_rank(const px_ictx *c, int i) { return px_in_shape(c, i)->rank; }
/* Fails unless inputs 0..n-1 are present. */
px_status px_need_inputs(px_ictx *c, int n);
/* Known contents of input i (NULL when not known); *n gets the count. */
const px_dim *px_in_data(const px_ictx *c, int i, int *n);
/* Input i as literal integers: 1 when every element is a known literal and
 * they fit in cap (buf[0..*n)), else 0. */
int px_in_ints(const px_ictx *c, int i, int64_t *buf, int cap, int *n);
/* The constant tensor behind input i (an initializer with data, or the
 * value of a Constant node), NULL otherwise.  Used for float constants
 * (Resize scales) that data propagation does not carry. */
const px_tensor *px_in_tensor(const px_ictx *c, int i);
/* Input i as numbers (any numeric dtype, from px_in_tensor, a Constant's
 * value_floats/value_ints, or literal data): 1 when all are known. */
int px_in_doubles(const px_ictx *c, int i, double *buf, int cap, int *n);

/* --- outputs ----------------------------------------------------------- */

static inline int px_n_out(const px_ictx *c) { return c->n->n_outputs; }
px_value *px_out(const px_ictx *c, int o);
/* Sets dtype and shape of output o (no-op when the output is omitted);
 * rank -1 = unknown rank. */
px_status px_set_out(px_ictx *c, int o, px_dtype dt, int rank, const px_dim *dims);
px_status px_set_out_shape(px_ictx *c, int o, px_dtype dt, const px_shape *s);
/* Records the contents of output o (ignored past PX_DATA_MAX elements). */
px_status px_set_out_data(px_ictx *c, int o, int n, const px_dim *d);

/* --- checks and errors ------------------------------------------------- */

/* px_fail(PX_ERR_SHAPE, "node 'NAME' (OP): ...") */
px_status px_node_fail(const px_ictx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Checks axis in [-rank, rank) (or [-rank, rank] when inclusive_end) and
 * adds rank to a negative one. */
px_status px_axis(const px_ictx *c, int64_t axis, int rank, int inclusive_end, const char *what, int *out);
/* Fails when rank exceeds PX_MAX_RANK. */
px_status px_check_rank(const px_ictx *c, int64_t rank);

/* --- shape building blocks --------------------------------------------- */

/* Multidirectional (numpy) broadcast of n shapes, as onnx does it:
 * known dims must agree or be 1, a known dim > 1 wins over symbols, one
 * distinct symbol survives, two distinct ones give unknown.  *rank = -1
 * when any input rank is unknown. */
px_status px_broadcast(const px_ictx *c, const px_shape *const *shapes, int n, px_dim *out, int *rank);
/* Merges src into dst the way onnx merges declared and inferred dims:
 * values win over symbols, differing values fail (returns 0). */
int px_merge_dim(px_dim *dst, px_dim src);
/* Output 0 has input 0's type and shape (normalizations, quantized unary ops). */
px_status px_rule_same(px_ictx *c);
/* Concat's output dims over inputs first, first + step, ... < end. */
px_status px_concat_dims(px_ictx *c, int first, int step, int end, int rank, int axis, px_dim *out);

/* Reads an INTS attribute into buf; returns count or -1 when absent;
 * fails (PX_ERR_SHAPE) when it has more than cap entries. */
px_status px_attr_ints_cap(const px_ictx *c, const char *name, int64_t *buf, int cap, int *n);

/* Whether a symbol names a tensor dim (hence is >= 0). */
int px_sym_is_dim(const px_ictx *c, const char *sym);

/* An element-type attribute (Cast's to, dtype, stash_type, ...) checked as
 * int64 before it is narrowed: 1 when it names a defined type. */
static inline int px_dtype_attr_valid(int64_t v) { return v > 0 && v < PX_DT_COUNT && px_dtype_valid((int)v); }

/* Integer dtypes whose values data propagation tracks. */
int px_dtype_is_index(px_dtype dt);

#endif
