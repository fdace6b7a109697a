/* Import of the public FlyWire tables into an FfConnectome (docs/design.md §2.1).
 * Every bad input stops with "FILE:LINE: reason" (FF_ERR_INPUT) and produces no connectome:
 * missing column, non-numeric field, unknown root id, negative count, duplicate row, truncated gzip.
 * Plain and gzip-compressed files are both accepted wherever a CSV is read. */
#ifndef FLYFIT_IMPORT_H
#define FLYFIT_IMPORT_H

#include <stdint.h>

#include "flyfit/connectome.h"

/* Shiu-format neuron list ("completeness" CSV): the first column is the FlyWire root id; row order
 * is the neuron index. *root_ids is allocated ([*n]). A repeated root id is an error. */
int ff_neuron_list_read(const char *path, int64_t **root_ids, int64_t *n);

/* (a) Shiu format: neuron list plus connectivity table with the columns Presynaptic_ID,
 * Postsynaptic_ID, Presynaptic_Index, Postsynaptic_Index, Connectivity, Excitatory,
 * Excitatory x Connectivity. The file has no neuropil information: the result has no neuropils. */
int ff_import_shiu(const char *neurons_csv, const char *connectivity_csv, FfConnectome *c);

/* (b) FlyWire Codex connections.csv(.gz): pre_root_id, post_root_id, neuropil, syn_count, nt_type,
 * one row per (pre, post, neuropil). Neurons are ordered by neurons_csv when given (a root id not in
 * it is an error), else by first appearance. Counts are summed per pair; the sign is -1 for GABA and
 * GLUT presynaptic neurons and +1 otherwise. */
int ff_import_codex(const char *connections_csv, const char *neurons_csv, FfConnectome *c);

#endif
