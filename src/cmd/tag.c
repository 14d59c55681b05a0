#include "cmd.h"

CMD_STUB(tag)
