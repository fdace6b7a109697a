/* The figures of a finished run: tools/flyfit-plot (Python) run on DIR/results.h5 into DIR/figures. */
#ifndef FLYFIT_PLOT_H
#define FLYFIT_PLOT_H

/* Rank 0: /usr/bin/python3 TOOL DIR/results.h5 -o DIR/figures --quiet, awaited. A missing tool (NULL) or a failure is
 * a warning naming it, never an error: the results are written already. */
void ff_plot_draw(const char *tool, const char *out_dir);

#endif
