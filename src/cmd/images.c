#include "cmd.h"

CMD_STUB(images)
