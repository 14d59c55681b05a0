#include "cmd.h"

CMD_STUB(load)
