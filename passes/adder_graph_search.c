/* The subexpression search of rtl-adder-graph (passes/adder_graph.py, Cmvm._share_block), in C.
 *
 * The same greedy search as the Python implementation, step for step, so that both give the
 * same graph: repeatedly take the two-term pattern  a + sign * (b << d)  that occurs in the most
 * outputs (ties: the shallower, then the narrower node, then the smaller packed key), make it a
 * node, substitute it wherever it occurs without overlap, until no pattern occurs twice.
 * Terms, patterns and places are packed into 64-bit integers exactly as in Python:
 *
 *   term    = shift << 24 | node
 *   pattern = ((a << 24 | b) << 10 | d) << 1 | (sign > 0)      (a's term ordering first)
 *   place   = output << 12 | shift
 *
 * Built by fmlc on first use with the system C compiler (cc -O2 -shared) and loaded with
 * ctypes; without a compiler fmlc runs the Python implementation.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NODE_BITS 24
#define SHIFT_BITS 12
#define D_BITS 10
#define NODE_MASK ((1LL << NODE_BITS) - 1)
#define SHIFT_MASK ((1LL << SHIFT_BITS) - 1)
#define LIMIT (1LL << 60) /* larger ranges: give up, Python's integers take over */

enum { OK = 0, E_MEMORY = -1, E_RANGE = -2, E_CAPACITY = -3 };

/* ---- an open-addressing map from int64 keys to int64 values (no deletion; -1 = free) ---- */

typedef struct {
    int64_t *keys;
    int64_t *vals;
    int64_t cap, size;
} Map;

static uint64_t mix(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static int map_init(Map *m, int64_t cap) {
    int64_t c = 16;
    while (c < 2 * cap) c <<= 1;
    m->keys = malloc(sizeof(int64_t) * c);
    m->vals = malloc(sizeof(int64_t) * c);
    if (!m->keys || !m->vals) return E_MEMORY;
    memset(m->keys, 0xff, sizeof(int64_t) * c); /* every key -1: free */
    m->cap = c;
    m->size = 0;
    return OK;
}

static void map_free(Map *m) {
    free(m->keys);
    free(m->vals);
}

static int64_t *map_slot(Map *m, int64_t key) { /* the value slot of key, or NULL */
    uint64_t i = mix((uint64_t)key) & (uint64_t)(m->cap - 1);
    while (m->keys[i] != -1) {
        if (m->keys[i] == key) return &m->vals[i];
        i = (i + 1) & (uint64_t)(m->cap - 1);
    }
    return NULL;
}

static int map_put(Map *m, int64_t key, int64_t val) {
    if (2 * (m->size + 1) > m->cap) {
        Map bigger;
        if (map_init(&bigger, m->cap) != OK) return E_MEMORY;
        for (int64_t i = 0; i < m->cap; i++)
            if (m->keys[i] != -1) map_put(&bigger, m->keys[i], m->vals[i]);
        map_free(m);
        *m = bigger;
    }
    uint64_t i = mix((uint64_t)key) & (uint64_t)(m->cap - 1);
    while (m->keys[i] != -1 && m->keys[i] != key) i = (i + 1) & (uint64_t)(m->cap - 1);
    if (m->keys[i] == -1) m->size++;
    m->keys[i] = key;
    m->vals[i] = val;
    return OK;
}

/* ---- growable arrays ---- */

typedef struct {
    int64_t *v;
    int64_t n, cap;
} Vec;

static int vec_push(Vec *a, int64_t x) {
    if (a->n == a->cap) {
        int64_t c = a->cap ? 2 * a->cap : 4;
        int64_t *v = realloc(a->v, sizeof(int64_t) * c);
        if (!v) return E_MEMORY;
        a->v = v;
        a->cap = c;
    }
    a->v[a->n++] = x;
    return OK;
}

/* ---- a column: its live terms and their signs (dead entries have sign 0) ---- */

typedef struct {
    Vec terms;
    Vec signs;
    Map where; /* term -> index in terms */
} Column;

static int64_t col_get(Column *c, int64_t term) {
    int64_t *at = map_slot(&c->where, term);
    return at ? c->signs.v[*at] : 0;
}

static int col_set(Column *c, int64_t term, int64_t sign) {
    int64_t *at = map_slot(&c->where, term);
    if (at) {
        c->signs.v[*at] = sign;
        return OK;
    }
    if (vec_push(&c->terms, term) || vec_push(&c->signs, sign)) return E_MEMORY;
    return map_put(&c->where, term, c->terms.n - 1);
}

/* ---- nodes: depth, exact range, linear form over the inputs ---- */

typedef struct {
    int64_t depth, lo, hi;
    int64_t *idx, *coef, len; /* the form: sum coef * input */
} Node;

typedef struct {
    Node *v;
    int64_t n, cap;
} Nodes;

/* ---- the heap of (-saving, -count, depth, bits, key), smallest first ---- */

typedef struct {
    int64_t neg_saving, neg, depth, bits, key;
} Entry;

typedef struct {
    Entry *v;
    int64_t n, cap;
} Heap;

static int less(const Entry *a, const Entry *b) {
    if (a->neg_saving != b->neg_saving) return a->neg_saving < b->neg_saving;
    if (a->neg != b->neg) return a->neg < b->neg;
    if (a->depth != b->depth) return a->depth < b->depth;
    if (a->bits != b->bits) return a->bits < b->bits;
    return a->key < b->key;
}

static int heap_push(Heap *h, Entry e) {
    if (h->n == h->cap) {
        int64_t c = h->cap ? 2 * h->cap : 1024;
        Entry *v = realloc(h->v, sizeof(Entry) * c);
        if (!v) return E_MEMORY;
        h->v = v;
        h->cap = c;
    }
    int64_t i = h->n++;
    h->v[i] = e;
    while (i > 0) {
        int64_t p = (i - 1) / 2;
        if (!less(&h->v[i], &h->v[p])) break;
        Entry t = h->v[i];
        h->v[i] = h->v[p];
        h->v[p] = t;
        i = p;
    }
    return OK;
}

static Entry heap_pop(Heap *h) {
    Entry top = h->v[0];
    h->v[0] = h->v[--h->n];
    int64_t i = 0;
    for (;;) {
        int64_t l = 2 * i + 1, r = l + 1, s = i;
        if (l < h->n && less(&h->v[l], &h->v[s])) s = l;
        if (r < h->n && less(&h->v[r], &h->v[s])) s = r;
        if (s == i) break;
        Entry t = h->v[i];
        h->v[i] = h->v[s];
        h->v[s] = t;
        i = s;
    }
    return top;
}

/* ---- the search ---- */

static int64_t bit_length(int64_t x) {
    int64_t n = 0;
    while (x) {
        n++;
        x >>= 1;
    }
    return n;
}

static int64_t pack(int64_t a, int64_t b, int64_t d, int64_t sign) {
    return ((((a << NODE_BITS) | b) << D_BITS | d) << 1) | (sign > 0);
}

typedef struct {
    Nodes nodes;
    Column *cols;
    Map patterns; /* key -> index into places */
    Vec *places;  /* per pattern: its places */
    int64_t n_patterns, cap_patterns;
    Heap heap;
} Search;

static int priority(Search *s, int64_t key, int64_t count, Entry *e) {
    int64_t sign = (key & 1) ? 1 : -1, k = key >> 1;
    int64_t d = k & ((1 << D_BITS) - 1);
    k >>= D_BITS;
    Node *a = &s->nodes.v[k >> NODE_BITS], *b = &s->nodes.v[k & NODE_MASK];
    if (d >= 62 || (b->lo < 0 ? -b->lo : b->lo) >= (LIMIT >> d) || (b->hi < 0 ? -b->hi : b->hi) >= (LIMIT >> d)) return E_RANGE;
    int64_t blo = b->lo * ((int64_t)1 << d), bhi = b->hi * ((int64_t)1 << d);
    int64_t lo = sign > 0 ? a->lo + blo : a->lo - bhi, hi = sign > 0 ? a->hi + bhi : a->hi - blo;
    int64_t m = (lo < 0 ? -lo : lo) > (hi < 0 ? -hi : hi) ? (lo < 0 ? -lo : lo) : (hi < 0 ? -hi : hi);
    e->depth = (a->depth > b->depth ? a->depth : b->depth) + 1;
    e->bits = bit_length(m);
    /* sharing saves count - 1 adders, each a LUT per bit where a and b << d both have bits
       (each as wide as its range, offset binary) plus a carry chain, counted as one bit */
    int64_t wa = bit_length(a->hi - a->lo), wb = bit_length(b->hi - b->lo) + d;
    int64_t overlap = (wa < wb ? wa : wb) - d;
    if (overlap < 0) overlap = 0;
    e->neg_saving = -(count - 1) * (overlap + 1);
    e->neg = -count;
    e->key = key;
    return OK;
}

static int push(Search *s, int64_t count, int64_t key) {
    Entry e;
    int err = priority(s, key, count, &e);
    if (err) return err;
    return heap_push(&s->heap, e);
}

static int add_place(Search *s, int64_t key, int64_t place) {
    int64_t *at = map_slot(&s->patterns, key);
    if (!at) {
        if (s->n_patterns == s->cap_patterns) {
            int64_t c = s->cap_patterns ? 2 * s->cap_patterns : 1024;
            Vec *v = realloc(s->places, sizeof(Vec) * c);
            if (!v) return E_MEMORY;
            memset(v + s->cap_patterns, 0, sizeof(Vec) * (c - s->cap_patterns));
            s->places = v;
            s->cap_patterns = c;
        }
        if (map_put(&s->patterns, key, s->n_patterns)) return E_MEMORY;
        return vec_push(&s->places[s->n_patterns++], place);
    }
    Vec *p = &s->places[*at];
    if (vec_push(p, place)) return E_MEMORY;
    return p->n >= 2 ? push(s, p->n, key) : OK;
}

static int link(Search *s, int64_t m, int64_t t, int64_t g) {
    Column *col = &s->cols[m];
    int64_t tn = t & NODE_MASK;
    for (int64_t i = 0; i < col->terms.n; i++) {
        int64_t h = col->signs.v[i];
        if (!h) continue;
        int64_t u = col->terms.v[i], un = u & NODE_MASK, key, sh;
        /* the shift difference from the shifts themselves: (u - t) >> NODE_BITS borrows
           when the later term has the smaller node number */
        if (t < u) {
            key = pack(tn, un, (u >> NODE_BITS) - (t >> NODE_BITS), g * h);
            sh = t >> NODE_BITS;
        } else {
            key = pack(un, tn, (t >> NODE_BITS) - (u >> NODE_BITS), g * h);
            sh = u >> NODE_BITS;
        }
        int err = add_place(s, key, m << SHIFT_BITS | sh);
        if (err) return err;
    }
    return col_set(col, t, g);
}

static int new_node(Search *s, int64_t a, int64_t b, int64_t d, int64_t sign, const int64_t *in_lo, const int64_t *in_hi) {
    Node *na = &s->nodes.v[a], *nb = &s->nodes.v[b];
    Node n = {0};
    n.idx = malloc(sizeof(int64_t) * (na->len + nb->len + 1));
    n.coef = malloc(sizeof(int64_t) * (na->len + nb->len + 1));
    if (!n.idx || !n.coef) return E_MEMORY;
    int64_t i = 0, j = 0;
    while (i < na->len || j < nb->len) { /* merge the sorted forms: a + sign * (b << d) */
        int64_t k, c;
        if (j >= nb->len || (i < na->len && na->idx[i] < nb->idx[j])) {
            k = na->idx[i];
            c = na->coef[i++];
        } else {
            if (nb->coef[j] >= (LIMIT >> d) || -nb->coef[j] >= (LIMIT >> d)) return E_RANGE;
            int64_t cb = sign * nb->coef[j] * ((int64_t)1 << d);
            k = nb->idx[j++];
            c = cb;
            if (i < na->len && na->idx[i] == k) c += na->coef[i++];
        }
        n.idx[n.len] = k;
        n.coef[n.len++] = c; /* zero coefficients stay, as in Python's dict */
    }
    for (int64_t q = 0; q < n.len; q++) {
        int64_t c = n.coef[q], lo = in_lo[n.idx[q]], hi = in_hi[n.idx[q]];
        int64_t ac = c < 0 ? -c : c, m = (lo < 0 ? -lo : lo) > (hi < 0 ? -hi : hi) ? (lo < 0 ? -lo : lo) : (hi < 0 ? -hi : hi);
        if (m && ac >= LIMIT / m) return E_RANGE;
        int64_t x = c * lo, y = c * hi;
        n.lo += x < y ? x : y;
        n.hi += x < y ? y : x;
        if (n.lo <= -LIMIT || n.hi >= LIMIT) return E_RANGE;
    }
    n.depth = (na->depth > nb->depth ? na->depth : nb->depth) + 1;
    if (s->nodes.n == s->nodes.cap) {
        int64_t c = 2 * s->nodes.cap;
        Node *v = realloc(s->nodes.v, sizeof(Node) * c);
        if (!v) return E_MEMORY;
        s->nodes.v = v;
        s->nodes.cap = c;
    }
    s->nodes.v[s->nodes.n++] = n;
    return OK;
}

static int cmp64(const void *x, const void *y) {
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return (a > b) - (a < b);
}

/* The search over one block.
 *   n_inputs inputs (node k = input k; its range in_lo/in_hi, unit form when in_form[k]),
 *   new nodes numbered from first_new (nodes of earlier blocks, n_inputs..first_new-1, do not
 *   occur in this block's columns),
 *   columns in CSR form (col_ptr[n_cols + 1], terms and signs),
 * Fills new_nodes (4 int64 per node: a, b, d, sign) and the final columns (out_ptr,
 * out_terms, out_signs, each with the capacity of the input); returns the number of new
 * nodes, or a negative error. */
int64_t fmlc_cse_search(int64_t n_inputs, const int64_t *in_lo, const int64_t *in_hi, const int8_t *in_form,
                        int64_t first_new, int64_t n_cols, const int64_t *col_ptr, const int64_t *col_terms, const int8_t *col_signs,
                        int64_t *new_nodes, int64_t *out_ptr, int64_t *out_terms, int8_t *out_signs) {
    Search s;
    Vec chosen = {0};
    memset(&s, 0, sizeof s);
    int64_t total = col_ptr[n_cols], result = 0;
    int err = OK;
    s.nodes.cap = first_new + total + 1;
    s.nodes.v = calloc(s.nodes.cap, sizeof(Node));
    s.cols = calloc(n_cols ? n_cols : 1, sizeof(Column));
    if (!s.nodes.v || !s.cols || map_init(&s.patterns, 1024)) {
        err = E_MEMORY;
        goto done;
    }
    for (int64_t k = 0; k < n_inputs; k++) {
        Node *n = &s.nodes.v[k];
        n->lo = in_lo[k];
        n->hi = in_hi[k];
        n->idx = malloc(sizeof(int64_t));
        n->coef = malloc(sizeof(int64_t));
        if (!n->idx || !n->coef) {
            err = E_MEMORY;
            goto done;
        }
        n->idx[0] = k;
        n->coef[0] = 1;
        n->len = in_form[k] ? 1 : 0;
    }
    s.nodes.n = first_new;
    /* the initial patterns: every pair of terms of each column (the order of discovery does
       not matter: what is popped depends on the heap entries alone) */
    for (int64_t m = 0; m < n_cols; m++) {
        Column *col = &s.cols[m];
        if (map_init(&col->where, col_ptr[m + 1] - col_ptr[m] + 1)) {
            err = E_MEMORY;
            goto done;
        }
        for (int64_t i = col_ptr[m]; i < col_ptr[m + 1]; i++)
            if ((err = col_set(col, col_terms[i], col_signs[i]))) goto done;
    }
    for (int64_t m = 0; m < n_cols; m++) {
        Column *col = &s.cols[m];
        int64_t n = col->terms.n;
        int64_t *sorted = malloc(sizeof(int64_t) * (n ? n : 1));
        if (!sorted) {
            err = E_MEMORY;
            goto done;
        }
        memcpy(sorted, col->terms.v, sizeof(int64_t) * n);
        qsort(sorted, n, sizeof(int64_t), cmp64);
        for (int64_t i = 0; i < n && !err; i++)
            for (int64_t j = i + 1; j < n && !err; j++) {
                int64_t t = sorted[i], u = sorted[j];
                int64_t key = pack(t & NODE_MASK, u & NODE_MASK, (u >> NODE_BITS) - (t >> NODE_BITS), col_get(col, t) * col_get(col, u));
                int64_t *at = map_slot(&s.patterns, key);
                if (!at) { /* as in Python, the heap gets one entry per pattern seen twice, after counting */
                    if (s.n_patterns == s.cap_patterns) {
                        int64_t c = s.cap_patterns ? 2 * s.cap_patterns : 1024;
                        Vec *v = realloc(s.places, sizeof(Vec) * c);
                        if (!v) {
                            err = E_MEMORY;
                            break;
                        }
                        memset(v + s.cap_patterns, 0, sizeof(Vec) * (c - s.cap_patterns));
                        s.places = v;
                        s.cap_patterns = c;
                    }
                    if ((err = map_put(&s.patterns, key, s.n_patterns))) break;
                    at = map_slot(&s.patterns, key);
                    s.n_patterns++;
                }
                err = vec_push(&s.places[*at], m << SHIFT_BITS | (t >> NODE_BITS));
            }
        free(sorted);
        if (err) goto done;
    }
    for (int64_t p = 0; p < s.patterns.cap; p++) { /* Python keeps a pattern's places sorted by key, then by place */
        if (s.patterns.keys[p] == -1) continue;
        Vec *v = &s.places[s.patterns.vals[p]];
        qsort(v->v, v->n, sizeof(int64_t), cmp64);
        if (v->n >= 2 && (err = push(&s, v->n, s.patterns.keys[p]))) goto done;
    }
    while (s.heap.n) {
        Entry e = heap_pop(&s.heap);
        Vec *places = &s.places[*map_slot(&s.patterns, e.key)];
        if (places->n < -e.neg) continue; /* pruned since pushed */
        int64_t sign = (e.key & 1) ? 1 : -1, k = e.key >> 1;
        int64_t d = k & ((1 << D_BITS) - 1);
        k >>= D_BITS;
        int64_t a = k >> NODE_BITS, b = k & NODE_MASK, live = 0;
        for (int64_t i = 0; i < places->n; i++) {
            int64_t pl = places->v[i], m = pl >> SHIFT_BITS, sh = pl & SHIFT_MASK;
            int64_t ga = col_get(&s.cols[m], sh << NODE_BITS | a), gb = col_get(&s.cols[m], (sh + d) << NODE_BITS | b);
            if (ga && gb && ga * gb == sign) places->v[live++] = pl;
        }
        places->n = live;
        if (live != -e.neg) {
            if (live >= 2 && (err = push(&s, live, e.key))) goto done;
            continue;
        }
        int64_t *order = malloc(sizeof(int64_t) * live);
        if (!order) {
            err = E_MEMORY;
            goto done;
        }
        memcpy(order, places->v, sizeof(int64_t) * live);
        qsort(order, live, sizeof(int64_t), cmp64);
        chosen.n = 0;
        Map taken;
        if (map_init(&taken, 2 * live + 2)) {
            free(order);
            err = E_MEMORY;
            goto done;
        }
        for (int64_t i = 0; i < live; i++) { /* non-overlapping occurrences, in order of place */
            int64_t m = order[i] >> SHIFT_BITS, sh = order[i] & SHIFT_MASK;
            int64_t ta = (m << 40) ^ (sh << NODE_BITS | a), tb = (m << 40) ^ ((sh + d) << NODE_BITS | b);
            if (map_slot(&taken, ta) || map_slot(&taken, tb)) continue;
            if (vec_push(&chosen, order[i]) || map_put(&taken, ta, 1) || map_put(&taken, tb, 1)) {
                err = E_MEMORY;
                break;
            }
        }
        map_free(&taken);
        free(order);
        if (err) goto done;
        if (chosen.n < 2) continue; /* overlapping occurrences only (x + 2x + 4x): nothing to share */
        if ((err = new_node(&s, a, b, d, sign, in_lo, in_hi))) goto done;
        int64_t node = s.nodes.n - 1;
        new_nodes[4 * result] = a;
        new_nodes[4 * result + 1] = b;
        new_nodes[4 * result + 2] = d;
        new_nodes[4 * result + 3] = sign;
        result++;
        for (int64_t i = 0; i < chosen.n; i++) {
            int64_t m = chosen.v[i] >> SHIFT_BITS, sh = chosen.v[i] & SHIFT_MASK;
            Column *col = &s.cols[m];
            int64_t g = col_get(col, sh << NODE_BITS | a);
            col_set(col, sh << NODE_BITS | a, 0);
            col_set(col, (sh + d) << NODE_BITS | b, 0);
            if ((err = link(&s, m, sh << NODE_BITS | node, g))) goto done;
        }
    }
    out_ptr[0] = 0;
    for (int64_t m = 0; m < n_cols; m++) {
        int64_t n = out_ptr[m];
        Column *col = &s.cols[m];
        for (int64_t i = 0; i < col->terms.n; i++)
            if (col->signs.v[i]) {
                if (n >= total) {
                    err = E_CAPACITY;
                    goto done;
                }
                out_terms[n] = col->terms.v[i];
                out_signs[n++] = (int8_t)col->signs.v[i];
            }
        out_ptr[m + 1] = n;
    }
done:
    free(chosen.v);
    for (int64_t k = 0; k < s.nodes.n; k++) {
        free(s.nodes.v[k].idx);
        free(s.nodes.v[k].coef);
    }
    free(s.nodes.v);
    if (s.cols)
        for (int64_t m = 0; m < n_cols; m++) {
            free(s.cols[m].terms.v);
            free(s.cols[m].signs.v);
            if (s.cols[m].where.keys) map_free(&s.cols[m].where);
        }
    free(s.cols);
    for (int64_t p = 0; p < s.n_patterns; p++) free(s.places[p].v);
    free(s.places);
    if (s.patterns.keys) map_free(&s.patterns);
    free(s.heap.v);
    return err ? err : result;
}
