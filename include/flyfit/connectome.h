/* The whole-brain connectome as stored in connectome.h5 (docs/design.md §4.2), in memory.
 * Invariants (checked by ff_connectome_validate): indptr is a CSR by presynaptic neuron with
 * indptr[0] = 0 and indptr[n] = n_conn; within a row, post is strictly ascending (so each ordered
 * pair appears once) and every count is nonzero; np_indptr/np_id/np_syn list, per neuron, the
 * neuropils in which it makes presynaptic synapses (np_id strictly ascending within a row). */
#ifndef FLYFIT_CONNECTOME_H
#define FLYFIT_CONNECTOME_H

#include <stdint.h>

typedef struct {
  int64_t n;             /* neurons */
  int64_t *root_id;      /* [n] FlyWire root ids; the array index is the neuron index */
  int16_t *home;         /* [n] home neuropil (most presynaptic synapses), -1 = none */
  int64_t *indptr;       /* [n+1] CSR row offsets, by presynaptic neuron */
  int32_t *post;         /* [n_conn] postsynaptic neuron index */
  int32_t *count;        /* [n_conn] signed synapse count: > 0 excitatory, < 0 inhibitory */
  int32_t n_neuropils;   /* P */
  char **neuropil_names; /* [P] e.g. "AL_L" */
  int64_t *np_indptr;    /* [n+1] row offsets into np_id / np_syn */
  int16_t *np_id;        /* [np_indptr[n]] neuropil index */
  int32_t *np_syn;       /* [np_indptr[n]] presynaptic synapses of the neuron in that neuropil */
  char source[256];      /* what the file was made from */
  char release[64];      /* FlyWire release ("783") or "synthetic" */
} FfConnectome;

static inline int64_t ff_connectome_n_conn(const FfConnectome *c) { return c->indptr ? c->indptr[c->n] : 0; }

/* Checks the invariants above; `what` names the data in the message (a file name). */
int ff_connectome_validate(const FfConnectome *c, const char *what);
/* The one check of the home neuropils /neurons/neuropil[first, first + n) (home [n]): each -1 (none) or
 * one of the n_neuropils; FF_ERR_INPUT naming the entry otherwise. ff_connectome_validate and every
 * rank's loader (ff_net_load) run it, so every program and rank count refuses the same file alike. */
int ff_connectome_check_home(const int16_t *home, int64_t first, int64_t n, int32_t n_neuropils, const char *what);
/* Sets home[] from the neuropil table (argmax of presynaptic synapses, lowest index on ties). */
int ff_connectome_set_home(FfConnectome *c);
/* Writes the file atomically (temporary name, then rename). created_by goes into an attribute. */
int ff_connectome_write(const FfConnectome *c, const char *path, const char *created_by);
/* Reads the whole file and validates it. For tools and tests; flyfit itself reads only its part. */
int ff_connectome_read(const char *path, FfConnectome *c);
/* Frees all arrays; the struct is left zeroed. NULL is allowed. */
void ff_connectome_destroy(FfConnectome *c);

#endif
