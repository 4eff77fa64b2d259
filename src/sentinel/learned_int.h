/* Internals of the learned sentinel generator, shared by learned.c (growth,
 * solving, assembly) and learned_ops.c (what each op does to shapes and how
 * it is written).  A sentinel is first a skeleton: nodes over values whose
 * dims are Z3 integer terms (or symbols passed through unchanged); free
 * attributes are Z3 variables; the real interface becomes constraints; a
 * solution fixes every attribute; then the ONNX graph is written. */
#ifndef PX_LEARNED_INT_H
#define PX_LEARNED_INT_H

#include <z3.h>

#include "ir/graph.h"
#include "sentinel/pxg.h"
#include "sentinel/weights.h"
#include "util/rng.h"

enum {
    L_MAX_VALS = 192,
    L_MAX_NODES = 160,
    L_MAX_RANK = 8,
    L_MAX_VARS = 6,
    L_MAX_WEIGHT_ELEMS = 1 << 21, /* one weight at most 8 MiB, as random.c */
    L_MAX_OPS = 40,
    L_MAX_IN = 32,
    /* solver calls for one sentinel (counted, not timed: the same input
     * gives the same sentinel on any machine); an interface no draw fits
     * costs that much, then the random generator */
    L_CHECK_BUDGET = 1500,
    L_MAX_CORE_DROPS = 64,
    L_MAX_FEEDS = 48,
    L_MAX_ATTEMPTS = 24, /* draws per sentinel before the random generator stands in */
    L_MAX_PAIRS = 256,
};

/* How the model feeds constants to one input slot of one op: of n_const
 * constant operands, n_ident came through an Identity of an initializer
 * (torch writes one for each weight it deduplicated; ONNX Runtime folds it). */
typedef struct lfeed {
    const char *op; /* the model's op_type (the model outlives the generator) */
    int slot, n_const, n_ident;
} lfeed;

/* How often, in the whole model, op read the output of prev first (next),
 * then a second activation (join) or a constant (konst), the constant a
 * scalar, a bias or per channel (cshape).  Names are the model's; prev_c:
 * prev was a binary op that read a constant (a MatMul by a weight, an Add
 * of a bias), not one that joined two activations (attention scores, a
 * residual): what follows differs, and so does what ONNX Runtime fuses. */
typedef struct lpair {
    const char *prev, *op;
    int prev_c;
    int next, join, konst, cshape[3];
    int kin; /* joins of a value with its producer's operand or a function
              * of it (x * Sigmoid(x), a Gelu's x * ...): ONNX Runtime fuses
              * these into one op */
} lpair;

/* A dim: a symbol passed through unchanged (sym != NULL: a symbolic dim of
 * the real interface, or a made-up name for an unknown one), else a Z3 term. */
typedef struct ldim {
    Z3_ast e;
    const char *sym;
} ldim;

typedef struct lval {
    int rank;
    ldim d[L_MAX_RANK];
    int producer; /* skeleton node, -1 for a subgraph input */
    int input;    /* real input index, -1 when produced */
    int uses;
    int nonfloat; /* an input of another dtype: read only by its Cast */
    int isint;    /* an int64 scalar or short vector: shape arithmetic (Shape, Gather, Unsqueeze, Concat) */
} lval;

typedef struct lnode {
    int op;          /* index into learned_ops */
    int in[2], n_in; /* skeleton values; in[1] of a binary op: -1 when its operand is a constant */
    int out;
    int choice;      /* a discrete choice made when sampling (axis, perm, constant shape) */
    int cfix;        /* a binary op's constant is the scalar cval (a motif's exact constant) */
    float cval;
    Z3_ast var[L_MAX_VARS]; /* free attributes, per op kind (see learned_ops.c) */
    int64_t val[L_MAX_VARS]; /* their solved values */
} lnode;

typedef struct lgen {
    const px_generator *gen;
    px_rng *rng;
    px_rng *wrng; /* float weight values */
    const px_graph *real;
    int weightless;
    const px_wstats *wstats; /* the model's weight statistics (may be NULL) */
    int64_t opset;
    Z3_context z;
    Z3_solver sol;
    Z3_sort I;
    Z3_model model; /* the solution, once solved */
    Z3_ast *assume; /* preferred values, as Boolean literals */
    int n_assume, cap_assume;
    int scopes; /* solver scopes pushed */
    lval v[L_MAX_VALS];
    int nv;
    lnode n[L_MAX_NODES];
    int nn;
    int64_t max_weight; /* elements of one weight, at most */
    int64_t iface[32]; /* the interface's known dims > 1: values a free channel count may take */
    int n_iface;
    int n_unknown; /* made-up symbols for unknown dims */
    char unknown_names[L_MAX_VALS][16];
    /* assembly */
    px_graph *g;
    int *map; /* skeleton value -> graph value */
    int counter;
    double style[L_MAX_OPS]; /* per op: 1 when the model uses it, else rare (see learned.c) */
    /* the model's own kernel sizes (Conv, MaxPool, AveragePool) and channel
     * or feature counts: preferred over other values real models use (at
     * the corpus's odds: at the model's own, mobilenet_v2's sentinels fused
     * under ort:all 11 points less often than its reals) */
    int64_t style_k[3][16];
    int n_style_k[3];
    int64_t style_c[64];
    int n_style_c;
    /* its Convs (0, not depthwise) and MatMul/Gemm weights (1) that follow
     * one of their kind in their part, and those whose width (output
     * channels, features) one of those has: a part keeps few widths (a
     * stage's convs share them), which a count drawn per node does not */
    int m_reuse[2], m_reuse_of[2];
    int domain_no_prefer; /* set around l_domain when the caller prefers a value of its own */
    int64_t style_pad[8]; /* the spatial pads of the model's own Pads (constant mode, rank 4) */
    int n_style_pad;
    int style_seen, style_grouped; /* a model was given; it has grouped (depthwise) Convs */
    int checks;   /* solver calls so far (bounded: CHECK_BUDGET) */
    int fails[7]; /* draws that failed, by stage (for the strict mode's message) */
    int target;   /* the node count drawn for this sentinel (learned_draw_target) */
    int target_part; /* the model part it was drawn from (-1: none) */
    int target_ops[L_MAX_OPS]; /* that part's nodes by learned op (when part_of is given) */
    int has_target_ops;
    int64_t target_w; /* the float weight elements drawn with it (-1: none, a weightless model) */
    double size_miss;  /* how far (a log factor) the solved draw's weights are from target_w */
    px_graph best;     /* the nearest draw that missed its size window (has_best), a last resort */
    int has_best;
    double best_miss;
    int const_nodes; /* the model writes small constants as Constant nodes (torch exports do) */
    int64_t embed_rows; /* rows of the model's largest Gather table (0: none): ids in its range fit */
    int attempt;  /* the draw under way */
    lfeed feed[L_MAX_FEEDS]; /* the model's constant operands by (op, slot) */
    int n_feed;
    lpair pair[L_MAX_PAIRS]; /* the model's transitions (learned_style.c) */
    int n_pair;
    int m_last;             /* the model's last node that read an activation */
    int m_newest, m_older;  /* its nodes whose first activation came from that node, or an older one */
    int m_convs;            /* its Conv nodes (how many have a bias: feed Conv slot 2) */
    struct lmotifs *motifs; /* the motifs the model itself writes (learned_motif.c) */
    int m_reshape[L_MAX_RANK + 1][L_MAX_RANK + 1]; /* its Reshapes by input and output rank */
    /* its Reshapes [B, S, E] -> [B * S, E] and [N, F] -> [1, N, F] (gpt2's
     * Conv1D around its Gemm), counted here instead of in m_reshape */
    int m_reshape_lead[2];
    int m_gather_idx[2]; /* its Gathers of a shape vector by a scalar index, or by a 1-element one */
    /* its Identities of an initializer, those whose initializer another
     * Identity reads too (torch deduplicates equal tensors, such as the zero
     * biases of a fresh model, into one initializer behind Identities), and
     * in node order, those that found an earlier one of the same type and
     * those of them that read an earlier one's (the odds of sharing where
     * it can be shared) */
    int m_ident, m_ident_shared, m_ident_cand, m_ident_reuse;
    int m_concat, m_concat_wide; /* its float Concats, and those of three inputs or more */
    /* per real input (the first L_MAX_IN): the model op that produced it,
     * in the part before the cut (NULL: a model input), and whether that op
     * read a constant (lpair's prev_c): a sentinel starts as the model goes
     * on after that op, as its real does */
    const char *in_prev[L_MAX_IN];
    int in_prev_c[L_MAX_IN];
    int ident_init[L_MAX_NODES]; /* the sentinel's initializers read through an Identity so far */
    int n_ident_init;
} lgen;

typedef enum lkind {
    LK_UNARY, LK_CLIP, LK_SOFTMAX, LK_BINARY, LK_CONV, LK_POOL, LK_GAP, LK_BN, LK_MATMUL, LK_GEMM,
    LK_LN, LK_FLATTEN, LK_CONCAT, LK_TRANSPOSE, LK_REDUCE, LK_RESHAPE, LK_SHAPE, LK_GATHER, LK_UNSQUEEZE,
    LK_EMBED, LK_CAST, LK_POW, LK_PAD, LK_SQUEEZE, LK_RESIZE
} lkind;

typedef struct lopdef {
    const char *name;
    lkind kind;
    int min_opset;
} lopdef;

extern const lopdef learned_ops[];
extern const int learned_n_ops;
/* The op index of LK_CAST (inputs of another dtype; sampled only from int64
 * values, as exporters turn a length into a float scale). */
int learned_cast_op(void);
/* Whether op makes int64 values (shape arithmetic): drawn only for a model
 * that has them (see learned.c). */
int learned_int_op(int op);
/* Whether op is drawn only for a model that writes it (Pad, Squeeze,
 * Resize: what a model without them never shows in any file). */
int learned_own_op(int op);
/* The op index of kind k's first entry (-1 when none). */
int learned_op_of_kind(lkind k);
/* Whether an interface value is one the generator computes as int64 shape
 * arithmetic (an int64 scalar or a vector of known length) rather than a
 * float tensor cast to its dtype. */
int learned_int_bound(const px_value *v);

/* Sizes (learned_size.c): draws L->target and L->target_w from the model's
 * real parts (opts: px_sentinel_opts); the cap on one weight's elements for
 * the attempt under way; and, once solved, whether every weight is within
 * the cap (0 when not) and all of them near the target (1; -1: they miss,
 * by L->size_miss); it fills each node's val. */
struct px_sentinel_opts;
void learned_draw_target(lgen *L, const struct px_sentinel_opts *opts);
int64_t learned_weight_cap(const lgen *L);
int learned_sizes_ok(lgen *L);
/* Whether the sentinel should stop drawing and take L->best: its attempts
 * at a size within the window are spent. */
int learned_size_settled(const lgen *L);

/* Z3 helpers */
Z3_ast l_int(lgen *L, int64_t v);
Z3_ast l_var(lgen *L, const char *prefix);
/* var takes one of vals (and the extra value, if > 0); prefers a value
 * drawn from the counts (an assumption the solver may drop). */
void l_domain(lgen *L, Z3_ast var, const char *const *words, const double *counts, int n, const int64_t *extra,
              int n_extra, const int64_t *style, int n_style);
void l_prefer(lgen *L, Z3_ast lit);
int l_draw(lgen *L, const double *w, int n); /* index by weight; -1 if all zero */
/* A solver check within the budget (over it: as if unsatisfiable). */
int learned_sat(lgen *L);
/* Solves with as many preferred values as can hold; L->model is the solution. */
int learned_solve(lgen *L);

/* Whether op applies to x (rank, symbols), whether it can join x with y
 * (binary, concat, matmul of two values); and building the node: its output
 * value and constraints.  Returns 0 when it does not fit after all. */
int learned_applies(lgen *L, int op, const lval *x);
int learned_can_join(lgen *L, int op, const lval *x, const lval *y);
int learned_build(lgen *L, lnode *nd);

/* A symbol of its own for a dim nothing else has (an unknown input dim, an
 * upsampled symbolic one): equal to no other. */
const char *learned_fresh_sym(lgen *L);

/* The solved value of a dim that is a term (0 for a symbol). */
int64_t learned_dim_value(lgen *L, ldim d);

/* The model's style (learned_style.c): notes node nd of model m (how it
 * reads its constants, which op it follows); then the counts by (op,
 * constant slot), by (prev, op) (NULL: none), and of all ops after prev. */
void learned_note_model(lgen *L, const px_graph *m, const px_node *nd);
/* Counts the model's Identities of an initializer and how many share theirs
 * (m_ident, m_ident_shared, m_ident_cand, m_ident_reuse). */
px_status learned_note_dedup(lgen *L, const px_graph *m);
/* Merges a Concat that only feeds a Concat on the same axis into it, as
 * often as the model's Concats take three inputs or more (densenets,
 * inception blocks): after shape inference, on L->g. */
px_status learned_merge_concats(lgen *L);
/* Fills in_prev and in_prev_c from the model (real's inputs by name). */
void learned_note_inputs(lgen *L, const px_graph *m, const px_graph *real);
const lfeed *learned_feed(lgen *L, const char *op, int slot);
const lpair *learned_pair(lgen *L, const char *prev, int prev_c, const char *op);
int learned_pairs_after(lgen *L, const char *prev, int prev_c);
/* Whether op is one whose prev_c is told (Add, Sub, Mul, Div, MatMul). */
int learned_const_sided(const char *op);
/* The weight of the model's own habits against the fitted counts, for the
 * draw under way. */
double learned_model_share(const lgen *L);
/* How often op read a second activation (*pj) or a constant (*pc) after
 * prev (prev_c: see lpair). */
void learned_join_or_const(lgen *L, const char *prev, int prev_c, int op, double *pj, double *pc);
/* Sets the shape of binary node nd's constant (its choice mod 3) as real
 * ones are after prev. */
void learned_const_shape(lgen *L, const char *prev, int prev_c, lnode *nd);
/* Nodes of the model that read two activations (op: of that op; NULL: any). */
int learned_model_joins(lgen *L, const char *op);

/* Growth steps learned_motif.c places motifs with (learned.c): a mark to
 * roll back to, and one node added if it fits (1) or nothing (0). */
typedef struct lsnap {
    int nv, nn, n_assume, scopes;
} lsnap;
lsnap learned_take(const lgen *L);
void learned_rollback(lgen *L, lsnap s);
int learned_try_node(lgen *L, int op, int x, int y);
/* ... without the solver check (check 0: the next check covers it) */
int learned_try_node_ex(lgen *L, int op, int x, int y, int check);
/* ... with its choice given (>= 0; L_FORCE + i names a form or perm) */
int learned_try_node_as(lgen *L, int op, int x, int y, int choice, int check);
void learned_push(lgen *L); /* a solver scope that learned_rollback pops */
int learned_op_named(const char *name); /* the first op of that name, or -1 */
/* The op that produced value x as the transitions name it ("^", or the
 * model op before the cut, for an input), and whether it read a constant. */
const char *learned_prev_op(const lgen *L, int x);
int learned_prev_const(const lgen *L, int x);

/* Closing a draw (learned_close.c): the unread values (sinks[], their
 * count); whether a real symbolic dim is one of the inputs'; every input
 * read and at most n_out unread values left (1) or not (0); each real
 * output bound to a value, outv[o] (1), or not (0). */
int learned_n_sinks(const lgen *L, int *sinks);
int learned_sym_bound(const px_graph *real, const char *sym);
int learned_close_ends(lgen *L, int n_out);
int learned_bind_outputs(lgen *L, int *outv);
/* Value v becomes output rv when its dims can equal rv's (1; 0 with
 * nothing left behind). */
int learned_bind_output(lgen *L, int v, const px_value *rv);

/* Attention (learned_attn.c): value i as output rv through a named chain
 * of Reshapes and Transposes, or as attention scores (the bound value, or
 * -1 with nothing added); whole attention reading mask input m (1 when
 * placed, satisfiable). */
int learned_reach_named(lgen *L, int i, const px_value *rv);
int learned_attend(lgen *L, int m);
/* Whether v is an input shaped as an attention mask, [B, 1, 1, S], for a
 * model that writes batch-first attention (read by learned_attend, not by
 * the grower). */
int learned_mask_like(const lgen *L, const lval *v);
/* The named chains: how many; chain c from value i (nodes unchecked), its
 * last value or -1 with nothing added. */
int learned_n_chains(void);
int learned_run_chain(lgen *L, int c, int i);

/* Motifs (learned_motif.c): the pxg's motif lines the model itself writes,
 * counted in it; freed with learned_motifs_free. */
px_status learned_motifs_init(lgen *L, const px_graph *model);
void learned_motifs_free(lgen *L);
/* When op was drawn for operand x: as often as the model's own op nodes
 * start a motif, places one whole (its nodes within size); 1 when placed,
 * or when op is not to be placed alone (the model never writes it so). */
int learned_motif_place(lgen *L, int op, int x, int size);

/* *safe: 0 when g holds a structure ONNX Runtime fails to optimize
 * (learned_lint.c); indexes g's consumers. */
px_status learned_ort_safe(px_graph *g, int *safe);

/* Tables learned_ops.c (shapes) and learned_emit.c (writing) share: the
 * constants shape arithmetic reads, the Transposes exporters write by rank,
 * the scalars real graphs multiply or divide by; lnode.var slots. */
enum { L_N_INT_CONSTS = 8, L_N_SCALARS = 8 };
extern const int64_t learned_int_consts[L_N_INT_CONSTS];
extern const int64_t learned_perms3[3][3];
/* The perm of Transpose nd over rank r: by its choice (a choice of
 * L_FORCE + i names perm i itself, as the chains closing a draw need). */
const int64_t *learned_perm(const lnode *nd, int r);
enum { L_FORCE = 1000 }; /* a node's choice from L_FORCE on: a form or perm named, not drawn */
/* Reshape form f (learned_ops.c) for x, named: f when it fits x and the
 * model writes it, else -1. */
int learned_reshape_named(lgen *L, int f, const lval *x);
extern const int64_t learned_perms4[4][4];
extern const float learned_scalars[L_N_SCALARS];
enum { V_OUT, V_K, V_S, V_P, V_DW };
/* Whether Gather nd (shape arithmetic) indexes with a [1] vector. */
int learned_gather_vec(const lgen *L, const lnode *nd);

/* The axes Squeeze nd removes from x (learned_ops.c); their count. */
int learned_squeeze_axes(lgen *L, const lnode *nd, const lval *x, int64_t *axes);

/* Writes node nd (solved) into L->g. */
px_status learned_emit(lgen *L, const lnode *nd);

#endif
