#ifndef TRIMTAB_CDNNL_SHIM_H
#define TRIMTAB_CDNNL_SHIM_H
#include <dnnl.h>
#endif
