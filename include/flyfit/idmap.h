/* A hash map from int64 keys (FlyWire root ids) to int32 values (neuron indices): open
 * addressing with linear probing, kept at most half full. */
#ifndef FLYFIT_IDMAP_H
#define FLYFIT_IDMAP_H

#include <stdint.h>

typedef struct {
  int64_t *keys;
  int32_t *values; /* -1 marks an empty slot */
  int64_t cap;     /* power of two */
  int64_t size;
} FfIdMap;

int ff_idmap_create(FfIdMap *m, int64_t expected);
void ff_idmap_destroy(FfIdMap *m);
/* The value of key, or -1. */
int32_t ff_idmap_find(const FfIdMap *m, int64_t key);
/* Inserts (key, value) unless key is present; *existing gets the value already there, or -1. */
int ff_idmap_insert(FfIdMap *m, int64_t key, int32_t value, int32_t *existing);

#endif
