#ifndef MIGRATOR_CLIBPQ_SHIM_H
#define MIGRATOR_CLIBPQ_SHIM_H
#include <libpq-fe.h>
#endif
