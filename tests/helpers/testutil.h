/* Small helpers for the cmocka unit tests (cmocka 1.1 has no floating-point assertion). */
#ifndef FLYFIT_TESTUTIL_H
#define FLYFIT_TESTUTIL_H

#include <math.h>

#define assert_close(a, b, tol)                                                                    \
  do {                                                                                             \
    const double ff_a_ = (a), ff_b_ = (b), ff_t_ = (tol);                                          \
    if (!(fabs(ff_a_ - ff_b_) <= ff_t_))                                                           \
      fail_msg("%s = %.17g and %s = %.17g differ by %.3g (tolerance %.3g)", #a, ff_a_, #b, ff_b_,  \
               fabs(ff_a_ - ff_b_), ff_t_);                                                        \
  } while (0)

#endif
