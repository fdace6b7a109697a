/* The host side's state of a device backend, private to src/sim/sim_dev_setup.c (which builds it:
 * host tables, the memory plan, the uploads) and src/sim/sim_dev.c (which runs the windows and the
 * exchange with it). The device's own view is d (include/flyfit/sim_dev.h). */
#ifndef FLYFIT_SIM_DEV_HOST_H
#define FLYFIT_SIM_DEV_HOST_H

#include "flyfit/arrivals.h"
#include "flyfit/sim.h"
#include "flyfit/sim_dev.h"

typedef struct {
  FfSimSetup s;
  const FfDevOps *ops;
  void *ctx;
  FfDev d;
  int32_t n, B, D;
  int64_t n_steps;
  int rank, size;
  int nccl;                   /* [run] transport = nccl: spikes move between the devices */
  MPI_Comm comm;
  /* host tables */
  uint8_t *flags;             /* [n] FF_NF_* */
  int64_t *slot_off;          /* [n + 1] each neuron's first spike slot in a trial's slots */
  int32_t *poisson;           /* [n_poisson] local neurons with Poisson input */
  int32_t n_poisson;
  int32_t *state_i;           /* [n_state] local neuron of each recorded-state column */
  int32_t n_state;
  int64_t plan_bytes;         /* device bytes allocated */
  /* the last window's spikes, on the host */
  int64_t n_win, win_cap;
  int32_t *h_cell, *h_step;   /* [win_cap] cell and step of each */
  /* recorded spikes, whole run */
  int32_t *rec_b, *rec_step;  /* [rec_cap] */
  int64_t *rec_gid, n_rec, rec_cap;
  /* arrivals */
  int64_t arr_cap;            /* bound on the arrivals of one window */
  int64_t n_arr;              /* arrivals delivered for the next window */
  FfArrivals arr;             /* MPI transport: sorted on the host, step-major with trials */
  /* file input of local neurons, sorted by step */
  int32_t *file_i, *file_step; /* [n_file] */
  int64_t n_file, file_pos, file_cap; /* file_cap: most file spikes in one window */
  int64_t *h_file_off;        /* [D + 1] */
  /* NCCL transport */
  int64_t word_cap;           /* per-rank words: the largest window bound of any rank */
  uint64_t *d_recv;           /* [size x word_cap] on the device */
  int32_t *d_n0;
} Dev;

/* Collective: all ranks of s->comm must call it. Builds the state for s on the device of ops (the
 * table's create). */
int ff_dev_create(const FfSimSetup *s, void **state, const FfDevOps *ops);
/* Frees what ff_dev_create built, the device's arrays with it (NULL allowed). */
void ff_dev_destroy(void *state);
/* Copies bytes to the device (nothing for none). */
int ff_dev_upload(Dev *v, void *dst, const void *src, int64_t bytes);

#endif
