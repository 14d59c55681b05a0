#include "cmd.h"

CMD_STUB(save)
