/* The learned generator's use of Z3: integer terms and variables, value
 * domains with a preferred value (an assumption the solver may drop),
 * bounded checks and the final solve that keeps as many preferences as can
 * hold. */
#include <stdlib.h>

#include "sentinel/learned_int.h"

Z3_ast l_int(lgen *L, int64_t v) { return Z3_mk_int64(L->z, v, L->I); }

Z3_ast l_var(lgen *L, const char *prefix) { return Z3_mk_fresh_const(L->z, prefix, L->I); }

void l_prefer(lgen *L, Z3_ast lit)
{
    if (L->n_assume == L->cap_assume) {
        int cap = L->cap_assume ? L->cap_assume * 2 : 64;
        Z3_ast *a = realloc(L->assume, (size_t)cap * sizeof *a);
        if (!a) return; /* a preference lost under memory pressure changes nothing that matters */
        L->assume = a;
        L->cap_assume = cap;
    }
    /* check_assumptions takes Boolean constants: p -> lit */
    Z3_ast p = Z3_mk_fresh_const(L->z, "pref", Z3_mk_bool_sort(L->z));
    Z3_solver_assert(L->z, L->sol, Z3_mk_implies(L->z, p, lit));
    L->assume[L->n_assume++] = p;
}

int l_draw(lgen *L, const double *w, int n)
{
    double total = 0;
    for (int i = 0; i < n; i++) total += w[i];
    if (!(total > 0)) return -1;
    double r = px_rng_unit(L->rng) * total;
    for (int i = 0; i < n; i++) {
        if (r < w[i]) return i;
        r -= w[i];
    }
    for (int i = n - 1; i >= 0; i--)
        if (w[i] > 0) return i;
    return -1;
}

void l_domain(lgen *L, Z3_ast var, const char *const *words, const double *counts, int n, const int64_t *extra,
              int n_extra, const int64_t *style, int n_style)
{
    Z3_ast opts[320];
    int64_t vals[320];
    double w[320];
    int k = 0;
    for (int i = 0; i < n && k < 256; i++) {
        char *end;
        long long v = strtoll(words[i], &end, 10);
        if (*end || v <= 0) continue;
        int mine = !n_style;
        for (int j = 0; j < n_style && !mine; j++) mine = style[j] == v;
        if (!mine) continue; /* the model's own values (and the interface's, below) only: a smaller search, and its style */
        vals[k] = v;
        w[k++] = counts[i];
    }
    for (int i = 0; i < n_extra && k < 320; i++) {
        vals[k] = extra[i];
        w[k++] = 0; /* allowed, never preferred: the real interface is no style to copy */
    }
    if (!k) {
        Z3_solver_assert(L->z, L->sol, Z3_mk_ge(L->z, var, l_int(L, 1)));
        return;
    }
    for (int i = 0; i < k; i++) opts[i] = Z3_mk_eq(L->z, var, l_int(L, vals[i]));
    Z3_solver_assert(L->z, L->sol, Z3_mk_or(L->z, (unsigned)k, opts));
    int pick = l_draw(L, w, k);
    if (pick >= 0 && !L->domain_no_prefer) l_prefer(L, opts[pick]);
}

int64_t learned_dim_value(lgen *L, ldim d)
{
    Z3_ast r;
    int64_t v = 0;
    if (d.sym || !L->model) return 0;
    if (Z3_model_eval(L->z, L->model, d.e, 1, &r) && Z3_get_numeral_int64(L->z, r, &v)) return v;
    return 0;
}

/* A solver check within the budget (over it: as if unsatisfiable). */
int learned_sat(lgen *L)
{
    if (L->checks >= L_CHECK_BUDGET) return 0;
    L->checks++;
    return Z3_solver_check(L->z, L->sol) == Z3_L_TRUE;
}

/* Solves with as many preferred values as can hold. */
int learned_solve(lgen *L)
{
    for (int drops = 0; drops < L_MAX_CORE_DROPS; drops++) {
        L->checks++;
        Z3_lbool r = Z3_solver_check_assumptions(L->z, L->sol, (unsigned)L->n_assume, L->assume);
        if (r == Z3_L_TRUE) {
            L->model = Z3_solver_get_model(L->z, L->sol);
            Z3_model_inc_ref(L->z, L->model);
            return 1;
        }
        if (r != Z3_L_FALSE) return 0;
        Z3_ast_vector core = Z3_solver_get_unsat_core(L->z, L->sol);
        Z3_ast_vector_inc_ref(L->z, core);
        unsigned n = Z3_ast_vector_size(L->z, core);
        Z3_ast drop = n ? Z3_ast_vector_get(L->z, core, (unsigned)px_rng_below(L->rng, n)) : NULL;
        Z3_ast_vector_dec_ref(L->z, core);
        if (!drop) return 0;
        for (int i = 0; i < L->n_assume; i++)
            if (Z3_is_eq_ast(L->z, L->assume[i], drop)) {
                L->assume[i] = L->assume[--L->n_assume];
                break;
            }
    }
    return 0;
}

