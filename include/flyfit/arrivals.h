/* The spikes that arrive at a rank in one delay window, sorted into slots by (step in window,
 * trial): the received spike words (spike.h) whose neuron has a stand-in here (net.h), each as its
 * stand-in. The CPU backend, the device backends' host side (MPI transport) and the fitting stepper
 * all deliver through this one counting sort; it is stable, so a slot keeps the order of the words
 * (round 1's emulated NCCL transport fills the same slots in a device's order, ff_arrivals_place).
 * Slots are trial-major (b D + k, the CPU backend's per-trial units) or step-major (k B + b). */
#ifndef FLYFIT_ARRIVALS_H
#define FLYFIT_ARRIVALS_H

#include <stdint.h>

#include "flyfit/net.h"

typedef struct {
  int32_t B, D;        /* trials, steps per window */
  int trial_major;     /* slot of (step k, trial b): b D + k when set, else k B + b */
  int64_t *off;        /* [B D + 1] the arrivals of slot s are pre[off[s] .. off[s + 1]) */
  int32_t *pre;        /* [n] stand-in of each arrival */
  int keep_trial;      /* fill trial too */
  int32_t *trial;      /* [n] the trial of each arrival (NULL unless keep_trial) */
  int64_t n;           /* arrivals of the last sort */
  int64_t cap;         /* room in pre and trial */
  int32_t *look;       /* [look_cap] stand-in of each received word, -1 = none here */
  int64_t look_cap;
  int64_t *fill;       /* [B D] ff_arrivals_place's next free place of each slot (NULL until used) */
} FfArrivals;

/* Empty arrivals (every slot empty) for B trials and windows of D steps; keep_trial: fill a->trial. */
int ff_arrivals_create(FfArrivals *a, int32_t B, int32_t D, int trial_major, int keep_trial);
/* Sorts the n received words into the slots, replacing what was there. */
int ff_arrivals_sort(FfArrivals *a, const FfNet *net, const uint64_t *words, int64_t n);
/* The same slots filled as a device fills them (round 1's transport = nccl, emulated): each word's
 * stand-in looked up and its slot counted, a scan, then each word put at its slot's next free place,
 * the words visited in a scrambled order (scramble.h) both times, so that a slot's order differs from
 * the sort's (what the slots feed are integer sums, so results do not). */
int ff_arrivals_place(FfArrivals *a, const FfNet *net, const uint64_t *words, int64_t n);
/* Every slot empty. */
void ff_arrivals_clear(FfArrivals *a);
/* Frees the arrays (a NULL or never-created a allowed) and clears a. */
void ff_arrivals_destroy(FfArrivals *a);

#endif
