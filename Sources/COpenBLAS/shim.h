#ifndef TRIMTAB_COPENBLAS_SHIM_H
#define TRIMTAB_COPENBLAS_SHIM_H
#include <cblas.h>
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
char *openblas_get_corename(void);
#endif
