/* To be written: see store.h. */
#include "store.h"
