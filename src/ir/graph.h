/* The graph IR: one struct for a whole ONNX model.
 *
 * Nodes and values live in growable arrays and refer to each other by index
 * (value id, node id).  Small, graph-lifetime objects (names, dims,
 * attribute lists) live in the graph's arena; tensor payloads are malloc'd
 * separately because they can be large and are replaced (rehydrate) or
 * handed between graphs.
 *
 * What the IR does not model (graph-valued attributes, sparse initializers,
 * functions, training info, fields newer than the build's onnx.proto) is
 * kept as packed protobuf bytes and written back verbatim. */
#ifndef PX_GRAPH_H
#define PX_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#include "ir/dtype.h"
#include "util/arena.h"
#include "util/error.h"
#include "util/strmap.h"

/* One dimension: known (v >= 0), symbolic (sym != NULL, v = -1), or
 * unknown (v = -1, sym = NULL). */
typedef struct px_dim {
    int64_t v;
    const char *sym;
} px_dim;

/* rank = -1: unknown rank (dims NULL). */
typedef struct px_shape {
    int rank;
    px_dim *dims;
} px_shape;

typedef struct px_tensor {
    px_dtype dtype;
    int rank;
    int64_t *dims;
    int64_t numel;
    void *data;         /* raw little-endian payload, malloc'd; NULL when absent */
    size_t nbytes;
    char **strings;     /* STRING tensors: numel entries, malloc'd */
    size_t *string_lens;
    char *name;         /* a tensor attribute's own name (malloc'd), or NULL;
                           initializers are named by their value */
} px_tensor;

/* Attribute kinds, numbered as ONNX's AttributeProto.AttributeType. */
typedef enum px_attr_type {
    PX_ATTR_UNDEFINED = 0,
    PX_ATTR_FLOAT = 1,
    PX_ATTR_INT = 2,
    PX_ATTR_STRING = 3,
    PX_ATTR_TENSOR = 4,
    PX_ATTR_GRAPH = 5,
    PX_ATTR_FLOATS = 6,
    PX_ATTR_INTS = 7,
    PX_ATTR_STRINGS = 8,
    PX_ATTR_TENSORS = 9,
    PX_ATTR_GRAPHS = 10,
    PX_ATTR_SPARSE_TENSOR = 11,
    PX_ATTR_SPARSE_TENSORS = 12,
    PX_ATTR_TYPE_PROTO = 13,
    PX_ATTR_TYPE_PROTOS = 14,
} px_attr_type;

typedef struct px_attr {
    const char *name;
    px_attr_type type;
    int64_t i;
    float f;
    const char *s;          /* STRING (may hold bytes; s_len is the length) */
    size_t s_len;
    int n;                  /* element count of INTS / FLOATS / STRINGS */
    int64_t *ints;
    float *floats;
    const char **strings;
    size_t *string_lens;
    px_tensor *t;           /* TENSOR */
    /* Anything else (graphs, sparse tensors, type protos, tensor lists,
     * references): the packed AttributeProto, written back as is. */
    uint8_t *raw;
    size_t raw_len;
} px_attr;

typedef struct px_node {
    const char *name;
    const char *op_type;
    const char *domain;     /* "" for the default ai.onnx domain */
    const char *doc_string; /* NULL when absent */
    int n_inputs, n_outputs, n_attrs;
    /* value ids; -1 for an omitted optional input.  The last n_implicit
     * are implicit: values of this graph that the node's bodies (If/Loop/
     * Scan) read by name (see ir/body.h); they are not written as inputs. */
    int *inputs;
    int n_implicit;
    const char **implicit_names; /* the name each implicit input has inside the bodies */
    int *outputs;           /* value ids; -1 for an omitted optional output */
    px_attr *attrs;
} px_node;

enum px_value_flags {
    PX_VAL_INPUT = 1 << 0,     /* listed in graph.input */
    PX_VAL_OUTPUT = 1 << 1,    /* listed in graph.output */
    PX_VAL_INIT = 1 << 2,      /* an initializer (init != NULL) */
    PX_VAL_DECLARED = 1 << 3,  /* had a value_info entry in the file */
    PX_VAL_SEAM = 1 << 4,      /* crosses a cut: set by reassemble's stitch, in memory only */
};

typedef struct px_value {
    const char *name;
    px_dtype dtype;            /* PX_DT_UNDEFINED when unknown */
    px_shape shape;
    int producer;              /* node id, or -1 */
    unsigned flags;
    px_tensor *init;
    /* Non-tensor types (sequence, map, optional): the packed TypeProto. */
    uint8_t *type_raw;
    size_t type_raw_len;
    /* Known contents of small integer tensors (shapes, axes), filled by shape
     * inference for data propagation; n_data = -1 when not known.  Element e
     * is the literal e.v when e.sym == NULL (negative values allowed, e.g. -1
     * in a Reshape target) and a symbolic dim otherwise. */
    int n_data;
    px_dim *data;
} px_value;

typedef struct px_opset {
    const char *domain;        /* "" for ai.onnx */
    int64_t version;
} px_opset;

typedef struct px_graph {
    px_arena arena;

    px_node *nodes;
    int n_nodes, cap_nodes;
    px_value *values;
    int n_values, cap_values;
    int *inputs, n_inputs, cap_inputs;     /* graph inputs, in file order */
    int *outputs, n_outputs, cap_outputs;  /* graph outputs, in file order */
    int *inits, n_inits, cap_inits;        /* initializers, in file order */
    px_strmap by_name;                     /* value name -> value id */

    /* Model-level fields. */
    int64_t ir_version;
    int64_t model_version;
    const char *producer_name, *producer_version, *model_domain, *doc_string;
    const char *graph_name, *graph_doc_string;
    px_opset *opsets;
    int n_opsets;
    const char **meta_keys, **meta_values;
    int n_meta;
    /* Packed ModelProto of the fields not modelled above; appended on save
     * (protobuf merges repeated and nested fields on concatenation). */
    uint8_t *extra;
    size_t extra_len;
    int n_functions;   /* model-local functions (ModelProto.functions, kept in extra) */

    /* Consumer index, built by px_graph_index(): the consumers of value v
     * are cons[cons_start[v] .. cons_start[v+1]) (node ids, a node may
     * appear twice if it reads v twice). */
    int *cons_start, *cons;
    int index_valid;
} px_graph;

/* Defensive caps (issue: hardening).  Loading refuses models beyond them. */
#define PX_MAX_NODES 10000000
#define PX_MAX_RANK 64
#define PX_MAX_TENSOR_BYTES ((int64_t)1 << 40)

void px_graph_init(px_graph *g);
void px_graph_free(px_graph *g);

/* --- building --------------------------------------------------------- */

/* Returns the value id for name, creating an empty value if absent; -1 on
 * out of memory (error set). */
int px_graph_value(px_graph *g, const char *name);
/* Looks a value up; -1 when absent. */
int px_graph_find(const px_graph *g, const char *name);
/* Adds a new value whose name must not exist yet; -1 on error (set). */
int px_graph_add_value(px_graph *g, const char *name);
/* Adds a node (no inputs/outputs/attrs yet); returns node id or -1. */
int px_graph_add_node(px_graph *g, const char *op_type, const char *domain, const char *name);
px_status px_node_set_inputs(px_graph *g, int node, const int *vals, int n);
/* Marks the last n inputs implicit, with the names the bodies read them by. */
px_status px_node_set_implicit(px_graph *g, int node, int n, const char *const *names);
px_status px_node_set_outputs(px_graph *g, int node, const int *vals, int n);
/* Copies node src (of another graph) into g under name: its inputs and
 * outputs mapped through vmap (source value id -> id in g; -1 entries and
 * omitted optionals stay omitted), attributes deep-copied.  Returns the new
 * node id, or -1 (error set). */
int px_graph_copy_node(px_graph *g, const px_node *src, const int *vmap, const char *name);
px_status px_graph_add_input(px_graph *g, int value);
px_status px_graph_add_output(px_graph *g, int value);
px_status px_graph_add_init(px_graph *g, int value, px_tensor *t); /* takes t */
/* The reverse: value is no longer an initializer; its tensor is returned,
 * the caller's (NULL when it was none). */
px_tensor *px_graph_take_init(px_graph *g, int value);
px_status px_graph_set_opset(px_graph *g, const char *domain, int64_t version);
/* Renames a value (the new name must be free). */
px_status px_graph_rename_value(px_graph *g, int value, const char *name);

/* Removes the nodes with dead[i] != 0 (values stay; unused ones are not
 * written). */
px_status px_graph_remove_nodes(px_graph *g, const char *dead);
/* Makes every node that reads value `from` read `to` instead. */
void px_graph_replace_uses(px_graph *g, int from, int to);

/* Version of an opset domain ("" or "ai.onnx" for the default), 0 if not
 * imported. */
int64_t px_graph_opset(const px_graph *g, const char *domain);

/* Shape helpers. */
px_status px_shape_set(px_graph *g, px_shape *dst, int rank, const px_dim *dims);
px_status px_shape_set_known(px_graph *g, px_shape *dst, int rank, const int64_t *dims);
/* Copies from (possibly another graph's) into dst, symbols into g's arena. */
px_status px_shape_copy(px_graph *g, px_shape *dst, const px_shape *from);
/* Product of the dims, -1 if any is unknown or the product overflows. */
int64_t px_shape_numel(const px_shape *s);
int px_dim_known(px_dim d);

/* --- attributes ------------------------------------------------------- */

const px_attr *px_node_attr(const px_node *n, const char *name);
int64_t px_attr_int(const px_node *n, const char *name, int64_t dflt);
float px_attr_float(const px_node *n, const char *name, float dflt);
/* Returns the string or dflt. */
const char *px_attr_string(const px_node *n, const char *name, const char *dflt);
/* Returns the list and sets *count, or NULL (count 0) when absent. */
const int64_t *px_attr_ints(const px_node *n, const char *name, int *count);
px_status px_node_add_attr(px_graph *g, int node, const px_attr *a); /* deep copy */

/* --- tensors ---------------------------------------------------------- */

px_tensor *px_tensor_new(px_dtype dt, int rank, const int64_t *dims);
void px_tensor_free(px_tensor *t);
px_tensor *px_tensor_clone(const px_tensor *t);
/* Allocates a zeroed payload of the right size. */
px_status px_tensor_alloc_data(px_tensor *t);
/* Reads element i of an integer tensor as int64 (0 on a dtype mismatch). */
int64_t px_tensor_get_int(const px_tensor *t, int64_t i);
double px_tensor_get_double(const px_tensor *t, int64_t i);

/* --- analysis --------------------------------------------------------- */

/* Builds the consumer index (idempotent until the graph changes; call again
 * after edits). */
px_status px_graph_index(px_graph *g);
/* Fills order[0..n_nodes) with a topological order, stable with respect to
 * the current node order.  PX_ERR_INVALID (naming a node) on a cycle. */
px_status px_graph_topo_order(const px_graph *g, int *order);
/* Checks structure: every node input is produced, is an initializer or a
 * graph input; no value is produced twice; acyclic; dtypes valid. */
px_status px_graph_validate(const px_graph *g);
/* Reorders g->nodes topologically (stable). */
px_status px_graph_sort(px_graph *g);

/* Parameters (elements) and bytes of all initializers. */
void px_graph_param_count(const px_graph *g, int64_t *params, int64_t *bytes);

#endif
