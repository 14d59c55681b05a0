#include "cmd.h"

CMD_STUB(import)
