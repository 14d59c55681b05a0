/* To be written: see ref.h. */
#include "ref.h"
