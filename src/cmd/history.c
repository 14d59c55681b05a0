#include "cmd.h"

CMD_STUB(history)
