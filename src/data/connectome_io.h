/* The connectome writer with a hook, for files derived from a connectome that record how (the
 * shuffled twin's /shuffle group, shuffle.c). Private to src/data. */
#ifndef FLYFIT_SRC_CONNECTOME_IO_H
#define FLYFIT_SRC_CONNECTOME_IO_H

#include "flyfit/connectome.h"
#include "flyfit/h5.h"

/* ff_connectome_write, then more(f, more_ctx) on the open file before it is committed: a failing
 * hook leaves no file, as any other failure of the writer. */
int ff_connectome_write_with(const FfConnectome *c, const char *path, const char *created_by, FfH5Body more,
                             void *more_ctx);

#endif
